"""Generated kernels run through the host dialect against the op table's NumPy compute.

Two sources of samples: every case of the op-table harness (``tests/ops``)
whose op the renderer handles, and a sweep of every storage dtype over odd,
broadcast, empty and 0-d shapes.  All kernels of a test are compiled into one
library (and, where NVRTC is installed, once more in the CUDA dialect), then
each runs on its sample and must equal ``compute`` (bit for bit for integers
and data movement, to a few float ulps for transcendental functions, whose libm
and NumPy implementations differ in the last bits).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from singa.codegen import host, nvrtc
from singa.codegen.elementwise import elementwise_kernel
from singa.codegen.kernels import launcher
from singa.ir.types import DType, TensorType
from singa.ops import OPS

from ..ops.test_table import CASES, IDS

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler")


def _type(a):
    return None if a is None else TensorType.of(np.asarray(a))


def _sample(op, inputs, attrs):
    """(kernel, inputs, expected) for one sample, or None when no kernel applies."""
    attrs = OPS[op].attrs(attrs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ref = OPS[op].compute(np, list(inputs), attrs)
        except Exception:
            return None
    if len(ref) != 1:
        return None
    ref = np.asarray(ref[0])
    k = elementwise_kernel(op, attrs, [_type(a) for a in inputs], TensorType.of(ref))
    return None if k is None else (k, inputs, ref)


def _compare(got, ref, op):
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.dtype, ref.dtype)
    if ref.dtype.kind in "fc" or "float" in ref.dtype.name:
        g, r = got.astype(np.float64), ref.astype(np.float64)
        # 16-bit floats: NumPy rounds after every step of a function (exp, add,
        # divide in a sigmoid), the kernel once at the end: two ulps of the type
        tol = 4e-6 if ref.itemsize >= 4 else (2 ** -9 if ref.dtype == np.float16 else 2 ** -6)
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol, equal_nan=True, err_msg=op)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=op)


def _run(samples):
    fns = host.build([k for k, _, _ in samples])
    for k, inputs, ref in samples:
        with np.errstate(all="ignore"):
            got = launcher(k, host.caller(fns[k.name]))(np, list(inputs), {})[0]
        _compare(got, ref, k.group)


# ---------------------------------------------------------------- the op-table cases

@functools.lru_cache(maxsize=None)
def _table_samples():
    out = {}
    for case, cid in zip(CASES, IDS):
        if OPS[case.op].cuda is None:
            continue
        s = _sample(case.op, case.inputs, case.attrs)
        if s is not None:
            out[cid] = s
    return out


def test_table_cases_have_kernels():
    samples = _table_samples()
    ops = {s[0].group for s in samples.values()}
    templated = {n for n, d in OPS.items() if d.cuda is not None}
    assert len(samples) > 150
    assert templated - ops <= {"Identity"}, sorted(templated - ops)


def test_table_cases_match_compute():
    _run(list(_table_samples().values()))


def test_table_kernels_compile_with_nvrtc():
    if not nvrtc.available():
        pytest.skip("NVRTC not installed")
    nvrtc.compile_ptx(list({s[0].name: s[0] for s in _table_samples().values()}.values()))


# ---------------------------------------------------------------- dtype and shape sweep

DTYPES = [DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
          DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64]
SHAPES = [((3, 5, 7), (3, 5, 7)), ((3, 1, 7), (5, 1)), ((1, 7), (3, 5, 1)), ((0, 3), (3,)),
          ((), ()), ((2, 3), ()), ((65537,), (1,)),
          # rows (elementwise.row_code): a per-row constant, a row vector, both broadcast
          ((4, 3, 17), (3, 1)), ((2, 1, 40), (5, 40)), ((1, 20), (7, 1))]


def _values(shape, dt, rng):
    npdt = dt.np
    if dt.is_float:
        return rng.uniform(-4, 4, size=shape).astype(npdt)
    info = np.iinfo(npdt)
    lo, hi = max(info.min, -100), min(info.max, 100)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(npdt)


def _sweep():
    rng = np.random.default_rng(0)
    samples = []
    for dt in DTYPES:
        for sa, sb in SHAPES:
            a, b = _values(sa, dt, rng), _values(sb, dt, rng)
            nz = np.where(b == 0, np.ones_like(b), b)
            for op, ins in [("Add", [a, b]), ("Mul", [a, b]), ("Sub", [a, b]),
                            ("Div", [a, nz]), ("Max", [a, b]), ("Min", [a, b]),
                            ("Neg", [a]), ("Abs", [a]), ("Equal", [a, b]),
                            ("Less", [a, b]), ("Where", [a > 0, a, b]),
                            ("Cast", [a]), ("Mod", [a, nz])]:
                attrs = {"to": DType.FLOAT.value} if op == "Cast" else {}
                if op == "Mod" and dt.is_float:
                    attrs = {"fmod": 1}
                s = _sample(op, ins, attrs)
                if s is not None:
                    samples.append(s)
            if dt.is_float:
                for op in ("Sigmoid", "Tanh", "Exp", "Relu", "Floor"):
                    s = _sample(op, [a], {})
                    if s is not None:
                        samples.append(s)
    # a fused chain over broadcast operands, in every float dtype
    for dt in (DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16):
        a, b = _values((3, 1, 7), dt, rng), _values((5, 1), dt, rng)
        body = {"body_ops": ["Add", "Relu", "Mul"], "body_args": [[0, 1], [2], [3, 0]],
                "body_attrs": [[], [], []]}
        s = _sample("FusedElementwise", [a, b], body)
        assert s is not None
        samples.append(s)
    return samples


def test_sweep_covers_every_dtype_and_shape():
    samples = _sweep()
    seen = {(k.params[-1].dtype, ref.shape) for k, _, ref in samples}
    assert {dt for dt, _ in seen} >= set(DTYPES)
    assert {(3, 5, 7), (0, 3), (), (65537,)} <= {s for _, s in seen}
    assert {ref.shape for k, _, ref in samples if k.inner} >= {(4, 3, 17), (2, 5, 40), (7, 20)}


def test_sweep_matches_compute():
    _run(_sweep())


def test_sweep_compiles_with_nvrtc():
    if not nvrtc.available():
        pytest.skip("NVRTC not installed")
    nvrtc.compile_ptx(list({k.name: k for k, _, _ in _sweep()}.values()))


def test_broadcast_and_strides_collapse():
    from singa.codegen.elementwise import broadcast_view, index_code

    # same-shape operands index with i alone; a bias along the last dim with c1
    lines, idx = index_code((4, 6, 8), [(0, (48, 8, 1)), broadcast_view((8,), (4, 6, 8))])
    assert idx[0] == "i" and "c1" in idx[1] and "% 8u" in "".join(lines)
    lines, idx = index_code((4, 6), [(0, (6, 1)), (0, (0, 0))])
    assert idx == ["i", "0LL"] and lines == []


EDGES = np.array([-np.inf, -1e4, -104.0, -88.5, -87.0, -20.0, -3.5, -1e-3, -0.0, 0.0, 1e-30,
                  0.5, 3.9, 9.0, 44.3, 88.0, 88.8, 1e4, np.inf, np.nan], np.float32)


@pytest.mark.parametrize("op", ["Exp", "Tanh", "Erf", "Sigmoid", "Log", "Sin", "Cos", "Softplus",
                                "Atan", "Asinh"])
def test_vector_math_on_edge_values(op):
    """Vectorised libm calls (glibc's libmvec, declared simd by the host dialect) keep
    NumPy's values at the edges: infinities, NaN, under/overflow, signed zeros."""
    from singa.codegen.dialect import HOST

    assert "declare simd" in HOST.declarations
    x = np.concatenate([EDGES, np.linspace(-6, 6, 1021, dtype=np.float32)])
    if op == "Log":
        x = np.abs(x)
    sample = _sample(op, [x], {})
    assert sample is not None
    _run([sample])
