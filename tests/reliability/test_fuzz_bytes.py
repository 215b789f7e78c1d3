"""Fuzzing the importer with flipped bytes in the initializers and huge attribute sizes.

Two mutations of the small valid models of ``tests/frontends/test_fuzz_import.py``
(plus one model whose sizes come from initializers: Pad, Tile):

- (a) random bytes flipped inside the serialized initializers of the model (their
  TensorProto bytes, located in ``model.SerializeToString()``): dims, data type,
  name and raw data all get hit, so the model may stop parsing, declare other
  shapes, or just carry other weights;
- (b) size attributes (kernel_shape, pads, strides, dilations, group, axis) and size
  initializers (pads, repeats) set to values from the thousands to 1e12.

Every outcome must be a ``singa.errors`` exception, or a result equal to
onnxruntime's (when onnxruntime runs the mutated model too).  The budget is
``max_bytes=50 MB``, so a huge size is refused, not allocated; an alarm turns a
hang into a failure.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx
from singa.errors import OpError, SingaError

from ..frontends import test_fuzz_import as base
from ._models import no_hang

ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.usefixtures("inference_mode")

LIMIT = 50_000_000


def size_net():
    """y = Tile(Pad(x, pads), repeats) * 0.5: sizes come from int64 initializers."""
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], name="pad1", mode="constant"),
             helper.make_node("Tile", ["p", "reps"], ["t"], name="tile1"),
             helper.make_node("Mul", ["t", "half"], ["y"], name="mul1")]
    inits = {"pads": np.array([0, 1, 1, 0, 0, 1], np.int64),
             "reps": np.array([1, 2, 1], np.int64),
             "half": np.array(0.5, np.float32)}
    return base._model(nodes, [1, 2, 3], inits)


MODELS = base.MODELS + [size_net]
HUGE = st.sampled_from([1000, 4096, 65_536, 10 ** 6, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 10 ** 9,
                        10 ** 12, 2 ** 62])
SIZE_ATTRS = ["kernel_shape", "pads", "strides", "dilations", "group", "axis"]


# ---------------------------------------------------------------- the mutations


def initializer_spans(m: onnx.ModelProto, data: bytes) -> list[tuple[int, int, int]]:
    """``(start, raw data start, end)`` of each of the graph's initializers inside
    ``data`` (the serialized model)."""
    spans, at = [], 0
    for t in m.graph.initializer:
        blob = t.SerializeToString()
        i = data.find(blob, at)
        assert i >= 0, f"initializer {t.name!r} not found in the serialized model"
        raw = blob.rfind(t.raw_data) if t.raw_data else len(blob)
        spans.append((i, i + raw, i + len(blob)))
        at = i + len(blob)
    return spans


@st.composite
def flipped_models(draw):
    """(model bytes with flips in its initializers, the original model)."""
    m = draw(st.sampled_from([f for f in MODELS if f().graph.initializer]))()
    data = bytearray(m.SerializeToString())
    spans = initializer_spans(m, bytes(data))
    for _ in range(draw(st.integers(1, 3))):
        lo, raw, hi = draw(st.sampled_from(spans))
        # the header (tag, length, dims, type, name) is where bytes change meaning and
        # mostly stop the model parsing; flips in the raw data give other weights
        where = draw(st.sampled_from(["header", "raw", "raw", "anywhere"]))
        if where == "header" or raw >= hi:
            i = draw(st.integers(lo, max(lo, raw - 1)))
        elif where == "raw":
            i = draw(st.integers(raw, hi - 1))
        else:
            i = draw(st.integers(lo, hi - 1))
        data[i] ^= draw(st.integers(1, 255))
    return bytes(data), m


def _set_attr(node, name, value):
    keep = [a for a in node.attribute if a.name != name]
    keep.append(helper.make_attribute(name, value))
    del node.attribute[:]
    node.attribute.extend(keep)


@st.composite
def huge_size_models(draw):
    m = draw(st.sampled_from(MODELS))()
    g = m.graph
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()) or not any(t.data_type == TP.INT64 for t in g.initializer):
            node = draw(st.sampled_from(list(g.node)))
            names = [a.name for a in node.attribute if a.name in SIZE_ATTRS]
            name = draw(st.sampled_from(names or SIZE_ATTRS))
            old = next((a for a in node.attribute if a.name == name), None)
            if old is not None and old.type == onnx.AttributeProto.INTS:
                vals = list(old.ints) or [1]
                j = draw(st.integers(0, len(vals) - 1))
                vals[j] = draw(HUGE) * draw(st.sampled_from([1, 1, -1]))
                if draw(st.booleans()):
                    vals = [draw(HUGE) for _ in vals]
                _set_attr(node, name, vals)
            else:
                _set_attr(node, name, draw(HUGE) * draw(st.sampled_from([1, 1, -1])))
        else:
            ints = [t for t in g.initializer if t.data_type == TP.INT64]
            t = draw(st.sampled_from(ints))
            a = numpy_helper.to_array(t).copy()
            if a.size:
                a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(HUGE)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    return m


# ---------------------------------------------------------------- the rule


def _ort(model_bytes: bytes, x):
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})
    except Exception:
        return None


def check(model_bytes: bytes, x: np.ndarray) -> None:
    """A SingaError, or onnxruntime's answer (within 1e-5) where it gives one."""
    try:
        with no_hang(20), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = sonnx.prepare(model_bytes, max_bytes=LIMIT).run([x])
    except OpError as e:  # the safety net: an op's stray exception, not validation
        assert isinstance(e.__cause__, SingaError), f"OpError wraps {e.__cause__!r}: {e}"
        return
    except SingaError:
        return
    want = _ort(model_bytes, x)
    if want is None:
        return
    assert len(got) == len(want), (len(got), len(want))
    for a, b in zip(got, want):
        a = np.asarray(a)
        assert a.shape == b.shape, (a.shape, b.shape)
        if b.dtype.kind in "fc":
            a = a.astype(b.dtype)
            # weights made huge by a flip: sums of such terms are exact only to the
            # float32 epsilon of their size, whatever the summation order
            finite = np.isfinite(b)
            scale = float(np.max(np.abs(b[finite]), initial=1.0)) if finite.any() else 1.0
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__)
def test_unmutated_models_match_onnxruntime(make):
    m = make()
    data = m.SerializeToString()
    x = base._input_for(m)
    assert _ort(data, x) is not None
    spans = initializer_spans(m, data)
    for t, (lo, raw, hi) in zip(m.graph.initializer, spans):
        assert data[lo:hi] == t.SerializeToString() and data[raw:hi] == t.raw_data
    check(data, x)


@settings(max_examples=300, deadline=5000, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(flipped_models())
def test_flipped_initializer_bytes_raise_singa_errors_or_match_onnxruntime(case):
    data, m = case
    check(data, base._input_for(m))  # x is outside the initializers


@settings(max_examples=300, deadline=5000, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(huge_size_models())
def test_huge_sizes_raise_singa_errors_or_match_onnxruntime(m):
    check(m.SerializeToString(), base._input_for(m))


# ---------------------------------------------------------------- found by the fuzz


@pytest.mark.parametrize("idx", [[2, 2 ** 31 - 1], [0, 111]])
def test_out_of_range_constant_gather_indices_are_a_shape_error(idx):
    m = base.shape_net()
    t = next(t for t in m.graph.initializer if t.name == "idx")
    t.CopyFrom(numpy_helper.from_array(np.array(idx, np.int64), "idx"))
    with pytest.raises(SingaError) as info:
        sonnx.prepare(m, max_bytes=LIMIT).run([base._input_for(m)])
    assert "gather1" in str(info.value)
    assert type(info.value).__name__ == "ShapeError", repr(info.value)
