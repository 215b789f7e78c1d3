"""Memory at import (issue #11, items 4 and 5).

An array that cannot be allocated is a ``ResourceError`` naming the tensor and
its size, never a bare ``MemoryError``; external data is read into place, so a
tensor costs about its own size in peak memory (measured in a fresh process),
with the values onnx's own loader gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa.errors import ExternalDataError, ResourceError
from singa.frontends import onnx_data, onnx_import
from singa.frontends.onnx_import import import_model

from ._models import W, external, save, tiny, tiny_external


def test_sparse_initializer_too_big_to_allocate():
    # 10^16 float32 elements: past any address space, so a real allocation failure
    values = numpy_helper.from_array(np.ones(1, np.float32), "huge")
    indices = numpy_helper.from_array(np.array([0], np.int64), "huge_idx")
    m = tiny()
    m.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [10**8, 10**8]))
    with pytest.raises(ResourceError) as e:
        import_model(m)
    assert isinstance(e.value, MemoryError)
    assert "'huge'" in str(e.value) and f"{4 * 10**16:,} bytes" in str(e.value)


def test_memory_error_converting_an_initializer_names_it(monkeypatch):
    def no_memory(t):
        raise MemoryError()

    monkeypatch.setattr(onnx_data.numpy_helper, "to_array", no_memory)
    with pytest.raises(ResourceError, match=r"'W' \(f32\[3, 4\], 48 bytes\)"):
        import_model(tiny())


class _NoEmpty:
    """numpy, except that ``empty`` cannot allocate."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(*a, **kw):
        raise MemoryError()


def test_memory_error_reading_external_data_names_it(tmp_path, monkeypatch):
    path = tiny_external(str(tmp_path))
    monkeypatch.setattr(onnx_data, "np", _NoEmpty())
    with pytest.raises(ResourceError, match=r"'W' \(f32\[3, 4\], 48 bytes\)"):
        import_model(path)


def test_memory_error_elsewhere_in_import_is_a_resource_error(monkeypatch):
    def no_memory(*a, **kw):
        raise MemoryError()

    monkeypatch.setattr(onnx_import, "check_schema", no_memory)
    with pytest.raises(ResourceError, match="import the model"):
        import_model(tiny())


# ------------------------------------------------------------------ external data read into place

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128,
          ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.int4,
          ml_dtypes.uint4]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_external_data_equals_onnx_loader(tmp_path, dtype):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "b":
        a = rng.random((3, 5)) < 0.5
    elif np.dtype(dtype).kind in "fcV":  # ml_dtypes' types are kind V
        a = (rng.normal(size=(3, 5)) * 4).astype(dtype)
    else:
        a = rng.integers(0, 7, (3, 5)).astype(dtype)
    t = numpy_helper.from_array(a, "T")
    raw = t.raw_data
    (tmp_path / "t.bin").write_bytes(b"\x07" * 5 + raw)
    external(t, "t.bin", offset=5, length=len(raw))
    g = helper.make_graph([helper.make_node("Identity", ["T"], ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", t.data_type, None)], [t])
    path = save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]),
                tmp_path / "m.onnx")
    ref = numpy_helper.to_array(onnx.load(path).graph.initializer[0])  # onnx's own loader
    got = import_model(path).params[0].data
    assert got.dtype == ref.dtype and got.shape == ref.shape == (3, 5)
    np.testing.assert_array_equal(got.view(np.uint8) if got.dtype.kind == "V" else got,
                                  ref.view(np.uint8) if ref.dtype.kind == "V" else ref)
    assert got.flags.writeable and got.flags.c_contiguous


def test_external_length_must_match_dims(tmp_path):
    W.tofile(tmp_path / "weights.bin")
    m = tiny()
    external(m.graph.initializer[0], "weights.bin", 0, 44)
    with pytest.raises(ExternalDataError, match=r"'W'.*needs 48 bytes.*gives 44"):
        import_model(save(m, tmp_path / "m.onnx"))
    external(m.graph.initializer[0], "weights.bin", 8)  # no length: the rest of the file
    with pytest.raises(ExternalDataError, match=r"'W'.*needs 48 bytes.*gives 40"):
        import_model(save(m, tmp_path / "m.onnx"))


_PEAK = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from singa.frontends.onnx_import import import_model
    import singa.ops
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = import_model(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    a = g.params[0].data
    assert a.shape == (int(sys.argv[2]),) and a[-1] == np.float32(a.size - 1)
    print((after - before) * 1024)
""")


def test_external_data_peak_memory_near_its_size(tmp_path):
    n = 64 * 2**20 // 4  # a 64 MiB float32 tensor
    np.arange(n, dtype=np.float32).tofile(tmp_path / "w.bin")
    t = onnx.TensorProto()
    t.name, t.data_type = "W", TP.FLOAT
    t.dims.append(n)
    external(t, "w.bin", 0, n * 4)
    g = helper.make_graph([helper.make_node("Relu", ["W"], ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [n])], [t])
    path = save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
                tmp_path / "m.onnx")
    r = subprocess.run([sys.executable, "-c", _PEAK, path, str(n)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    growth = int(r.stdout.split()[-1])
    assert growth < 1.5 * n * 4, f"peak RSS grew {growth / 2**20:.0f} MiB for a 64 MiB tensor"
