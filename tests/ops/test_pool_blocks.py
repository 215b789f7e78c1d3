"""Pooling computed by blocks of the (N, C) axes, each block padded on its own
(ops/pool.py ``_window_reduce``).

Reference: onnxruntime (MaxPool, AveragePool) and onnx.reference (LpPool) on
the same node.  The block size is made tiny so that small tensors run through
many blocks, both ways of cutting them (whole outer indices, or one outer index
split along the other axis), in NCHW and in the channel-major layout Conv
returns.  The memory test counts NumPy's allocations: before, MaxPool made a
padded copy of its whole input plus a partial result half its size.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from singa.ops import OPS, pool

RNG = np.random.default_rng(5)

CASES = [
    ((4, 6, 9, 11), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ((3, 5, 8, 8), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ((2, 7, 10, 9), dict(kernel_shape=[3, 2], strides=[1, 2], pads=[0, 1, 2, 0],
                         ceil_mode=1)),
    ((2, 3, 13), dict(kernel_shape=[4], strides=[3], pads=[2, 1])),
    ((2, 3, 5, 6, 7), dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 1])),
    ((1, 4, 12, 12), dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER")),
]


def _model(op, shape, attrs, opset=18):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _layouts(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    yield "nchw", x
    # channel-major: the transposed view of a contiguous (C, N, ...) block
    yield "cn", np.ascontiguousarray(x.swapaxes(0, 1)).swapaxes(0, 1)


@pytest.mark.parametrize("block", [1, 16, 200, 1 << 40])
@pytest.mark.parametrize("shape,attrs", CASES)
def test_max_and_average_pool_match_onnxruntime(monkeypatch, block, shape, attrs):
    monkeypatch.setattr(pool, "_BLOCK", block)
    for op in ("MaxPool", "AveragePool"):
        sess = ort.InferenceSession(_model(op, shape, attrs).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        for name, x in _layouts(shape):
            want = sess.run(None, {"x": np.ascontiguousarray(x)})[0]
            got = OPS[op].compute(np, [x], OPS[op].attrs(attrs))[0]
            assert got.shape == want.shape, (op, name)
            assert got.strides == np.empty_like(x, shape=got.shape).strides or x.ndim < 2
            if op == "MaxPool":
                np.testing.assert_array_equal(got, want, err_msg=f"{op} {name}")
            else:
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{op} {name}")


@pytest.mark.parametrize("block", [1, 40])
def test_lp_pool_and_max_pool_indices_match_the_onnx_reference(monkeypatch, block):
    monkeypatch.setattr(pool, "_BLOCK", block)
    shape, attrs = (2, 3, 7, 6), dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1])
    for name, x in _layouts(shape):
        for p in (1, 2, 3):
            lp = dict(attrs, p=p)
            want = ReferenceEvaluator(_model("LpPool", shape, lp)).run(None, {"x": x})[0]
            got = OPS["LpPool"].compute(np, [x], OPS["LpPool"].attrs(lp))[0]
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
        node = helper.make_node("MaxPool", ["x"], ["y", "i"], **attrs)
        m = helper.make_model(helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
             helper.make_tensor_value_info("i", TensorProto.INT64, None)]),
            opset_imports=[helper.make_opsetid("", 18)])
        want_y, want_i = ort.InferenceSession(m.SerializeToString(),
                                              providers=["CPUExecutionProvider"]).run(
            None, {"x": np.ascontiguousarray(x)})
        got_y, got_i = OPS["MaxPool"].compute(
            np, [x], dict(OPS["MaxPool"].attrs(attrs), _num_outputs=2))
        np.testing.assert_array_equal(got_y, want_y, err_msg=name)
        np.testing.assert_array_equal(got_i, want_i, err_msg=name)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_no_padded_copy_of_the_input(op):
    x = RNG.standard_normal((16, 32, 64, 64)).astype(np.float32)  # 8 MiB
    attrs = OPS[op].attrs(dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = OPS[op].compute(np, [x], attrs)[0]
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # the result and a few blocks; a padded copy of x alone would be more than x
    assert peak < y.nbytes + 4 * pool._BLOCK * 4 < x.nbytes, peak
