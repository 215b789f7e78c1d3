"""Elementwise groups run inside the matrix product before them (codegen/epilogue.py),
against NumPy in float64."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from singa import sonnx
from singa.codegen import host

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no usable C compiler")
F = TensorProto.FLOAT


def _prepare(nodes, inputs, inits=(), outputs=("y",)):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, F, a.shape)
                                       for n, a in inputs.items()],
                          [helper.make_tensor_value_info(o, F, None) for o in outputs],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    return sonnx.prepare(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                         target="c")


def _steps(rep):
    plan = next(iter(rep.executor._cache.values())).plan
    return [s.kernel.base if s.kernel is not None else s.op for s in plan.steps]


def _silu(t):
    return t / (1 + np.exp(-t))


def _close(y, ref, k):
    assert y.shape == ref.shape
    tol = 8 * np.finfo(np.float32).eps * k * max(1.0, np.abs(ref).max())
    assert np.abs(y - ref).max() <= tol


PRODUCTS = [(3, 40, 20),  # fewer rows than a tile: B streamed, then the epilogue
            (70, 300, 77),  # K over one block: the epilogue after the last
            (17, 40, 700),  # N over one block of columns, ragged last panel
            (40, 0, 9)]  # no terms: zeros, then the epilogue


@pytest.mark.parametrize("m,k,n", PRODUCTS)
def test_matmul_bias_silu_and_residual_run_in_the_product(m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    skip = rng.standard_normal((m, n)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["p"]),
             helper.make_node("Add", ["p", "bias"], ["t"]),
             helper.make_node("Sigmoid", ["t"], ["s"]),
             helper.make_node("Mul", ["t", "s"], ["u"]),
             helper.make_node("Add", ["skip", "u"], ["y"])]
    rep = _prepare(nodes, {"a": a, "skip": skip}, [("w", w), ("bias", bias)])
    y = rep.run([a, skip])[0].numpy()
    steps = _steps(rep)
    assert len(steps) == 1 and steps[0].startswith("matmul_add_sigmoid"), steps
    ref = _silu(a.astype(np.float64) @ w + bias) + skip
    _close(y, ref, max(k, 1))


@pytest.mark.parametrize("strides,kernel", [([1, 1], "conv_winograd_add_relu"),
                                            ([2, 2], "conv_gemm_add_relu")])
def test_convolution_bias_and_relu_run_in_each_images_product(strides, kernel):
    """Two images (two products), bias per output channel through the convolution's
    Reshape, 3x3 windows over 20x20 of 32 channels: by Winograd's F(2x2, 3x3) at stride 1 (the
    group after each channel's plane), else the direct product (after each block
    of columns)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 20, 20)).astype(np.float32)
    w = rng.standard_normal((36, 32, 3, 3)).astype(np.float32)
    b = rng.standard_normal(36).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1],
                              strides=strides),
             helper.make_node("Relu", ["c"], ["y"])]
    rep = _prepare(nodes, {"x": x}, [("w", w), ("b", b)])
    y = rep.run([x])[0].numpy()
    assert any(s.startswith(kernel) for s in _steps(rep)), _steps(rep)
    from tests.ops.cases_nn import ref_im2col

    (col,) = ref_im2col(x.astype(np.float64), kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                        strides=strides)
    ref = np.maximum(np.einsum("mk,ikn->imn", w.reshape(36, -1).astype(np.float64), col)
                     + b[:, None], 0).reshape(y.shape)
    _close(y, ref, 4 * 288)  # Winograd's transforms: a few roundings more per term


def test_a_product_read_by_two_groups_or_returned_keeps_its_own_step():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((8, 16)).astype(np.float32)
    w = rng.standard_normal((16, 24)).astype(np.float32)
    p = a.astype(np.float64) @ w
    two = [helper.make_node("MatMul", ["a", "w"], ["p"]),
           helper.make_node("Relu", ["p"], ["y"]),
           helper.make_node("Tanh", ["p"], ["z"])]
    rep = _prepare(two, {"a": a}, [("w", w)], outputs=("y", "z"))
    y, z = (t.numpy() for t in rep.run([a]))
    assert _steps(rep)[0] == "matmul", _steps(rep)
    _close(y, np.maximum(p, 0), 16)
    _close(z, np.tanh(p), 16)

    returned = [helper.make_node("MatMul", ["a", "w"], ["p"]),
                helper.make_node("Relu", ["p"], ["y"])]
    rep = _prepare(returned, {"a": a}, [("w", w)], outputs=("p", "y"))
    p32, y = (t.numpy() for t in rep.run([a]))
    assert _steps(rep)[0] == "matmul", _steps(rep)
    _close(p32, p, 16)
    _close(y, np.maximum(p, 0), 16)


def test_a_gemm_scaling_its_product_keeps_the_group_apart():
    """Gemm's alpha and C come after the product: a group may not run before them."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 10)).astype(np.float32)
    w = rng.standard_normal((7, 10)).astype(np.float32)
    c = rng.standard_normal(7).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["p"], transB=1, alpha=0.5),
             helper.make_node("Tanh", ["p"], ["y"])]
    rep = _prepare(nodes, {"a": a}, [("w", w), ("c", c)])
    y = rep.run([a])[0].numpy()
    assert len(_steps(rep)) == 2, _steps(rep)
    _close(y, np.tanh(0.5 * (a.astype(np.float64) @ w.T) + c), 10)
    plain = [helper.make_node("Gemm", ["a", "w"], ["p"], transB=1),
             helper.make_node("Tanh", ["p"], ["y"])]
    rep = _prepare(plain, {"a": a}, [("w", w)])
    y = rep.run([a])[0].numpy()
    steps = _steps(rep)
    assert len(steps) == 1 and steps[0].startswith("gemm_tanh"), steps
    _close(y, np.tanh(a.astype(np.float64) @ w.T), 10)


@pytest.mark.parametrize("hw,strides,fused", [((13, 11), [2, 1], True),
                                              ((9, 64), [2, 1], True), ((9, 64), [1, 1], True),
                                              ((140, 130), [2, 1], False)])
def test_depthwise_planes_take_their_activation_after_each_plane(hw, strides, fused):
    """ReLU6 after a depthwise convolution runs on each plane as it is made (on
    each of its rows, where rows are long); planes too big for the stack copy are
    made row by row, and the Clip stays apart."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3) + hw).astype(np.float32)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32) * 2
    b = rng.standard_normal(3).astype(np.float32)
    lo, hi = np.float32(0), np.float32(6)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=3, pads=[1, 1, 1, 1],
                              strides=strides),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"])]
    rep = _prepare(nodes, {"x": x}, [("w", w), ("b", b), ("lo", np.array(lo)),
                                     ("hi", np.array(hi))])
    y = rep.run([x])[0].numpy()
    assert ("depthwise_conv_clip" in _steps(rep)) == fused, _steps(rep)
    from tests.ops.cases_nn import ref_im2col

    (col,) = ref_im2col(x.astype(np.float64), kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                        strides=strides)
    conv = np.einsum("mt,imtp->imp", w.reshape(3, 9).astype(np.float64),
                     col.reshape(2, 3, 9, -1)) + b[:, None]
    _close(y, np.clip(conv, 0, 6).reshape(y.shape), 9)


def test_depthwise_channel_blocks_take_their_activation_after_each_block():
    """Small planes are made 16 channels at a time (codegen/window.py): the ReLU6
    after them runs on each block's planes, here over two images of 32 channels."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 32, 7, 7)).astype(np.float32)
    w = rng.standard_normal((32, 1, 5, 5)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    lo, hi = np.float32(0), np.float32(6)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=32, pads=[2, 2, 2, 2]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"])]
    rep = _prepare(nodes, {"x": x}, [("w", w), ("b", b), ("lo", np.array(lo)),
                                     ("hi", np.array(hi))])
    y = rep.run([x])[0].numpy()
    plan = next(iter(rep.executor._cache.values())).plan
    notes = [line for k in plan.kernels for line in k.shapes]
    assert "depthwise_conv_clip" in _steps(rep), _steps(rep)
    assert any("blocks of 16 channels" in n for n in notes), notes
    from tests.ops.cases_nn import ref_im2col

    (col,) = ref_im2col(x.astype(np.float64), kernel_shape=[5, 5], pads=[2, 2, 2, 2])
    conv = np.einsum("mt,imtp->imp", w.reshape(32, 25).astype(np.float64),
                     col.reshape(2, 32, 25, -1)) + b[:, None]
    _close(y, np.clip(conv, 0, 6).reshape(y.shape), 25)
