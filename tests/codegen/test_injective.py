"""codegen.injective's Concat kernel: the parts copied into their ranges of the
result over the threads (host dialect), against NumPy's concatenate."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from singa import sonnx
from singa.codegen import host, injective

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no usable C compiler")

ONNX_TYPE = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
             np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int8): TensorProto.INT8,
             np.dtype(np.bool_): TensorProto.BOOL}


def _concat(parts, axis):
    """The c target's Concat of ``parts`` (graph inputs); its result and whether
    the plan launched the concat kernel."""
    names = [f"x{p}" for p in range(len(parts))]
    inputs = [helper.make_tensor_value_info(n, ONNX_TYPE[a.dtype], a.shape)
              for n, a in zip(names, parts)]
    # an Identity after the Concat: a graph output is never arena memory, and
    # the Concat must not be the last step that could be assembled
    nodes = [helper.make_node("Concat", names, ["c"], axis=axis),
             helper.make_node("Identity", ["c"], ["y"])]
    g = helper.make_graph(nodes, "g", inputs,
                          [helper.make_tensor_value_info("y", ONNX_TYPE[parts[0].dtype], None)])
    rep = sonnx.prepare(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                        target="c")
    outs = [rep.run(list(parts))[0].numpy() for _ in range(2)]  # recorded, then replayed
    plan = next(iter(rep.executor._cache.values())).plan
    launched = any(k.base == "concat" for k in plan.kernels) and any(
        s.kernel is not None and s.kernel.base == "concat" for s in plan.steps)
    return outs, launched


def _parts(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return [rng.random(s) < 0.5 for s in shapes]
    if np.dtype(dtype).kind == "i":
        return [rng.integers(-100, 100, s).astype(dtype) for s in shapes]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("shapes,axis,dtype", [
    ([(1, 64, 30, 30), (1, 32, 30, 30), (1, 32, 30, 30)], 1, np.float32),  # DenseNet's
    ([(3, 5, 7), (3, 2, 7), (3, 9, 7)], 1, np.float64),  # outer 3: pieces interleave
    ([(2, 3, 4), (2, 3, 1), (2, 3, 6)], -1, np.int64),  # the last axis, negative
    ([(4, 33), (5, 33)], 0, np.int8),  # one byte an element
    ([(6, 2), (6, 3)], 1, np.bool_),
    ([(1, 300, 100)] * 3, 1, np.float32)])  # big enough for both threads
def test_concat_matches_numpy(shapes, axis, dtype):
    parts = _parts(shapes, dtype, 1)
    outs, launched = _concat(parts, axis)
    assert launched
    want = np.concatenate(parts, axis=axis)
    for y in outs:
        assert y.dtype == want.dtype and y.shape == want.shape
        np.testing.assert_array_equal(y, want)


def test_concats_of_too_many_pieces_stay_numpy(monkeypatch):
    monkeypatch.setattr(injective, "CONCAT_MAX_PIECES", 8)
    parts = _parts([(5, 2), (5, 3)], np.float32, 2)  # 5 outer indices x 2 parts
    outs, launched = _concat(parts, 1)
    assert not launched
    np.testing.assert_array_equal(outs[0], np.concatenate(parts, axis=1))
