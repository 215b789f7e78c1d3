"""The host GEMM kernel (codegen/gemm.py) against NumPy in float64."""

import math

import numpy as np
import pytest
from onnx import TensorProto, helper

from singa import sonnx
from singa.codegen import dialect, gemm, host, render

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no usable C compiler")


def _model(op, shapes, **attrs):
    names = "abc"[:len(shapes)]
    g = helper.make_graph([helper.make_node(op, list(names), ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                           for n, s in zip(names, shapes)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(op, arrays, **attrs):
    rep = sonnx.prepare(_model(op, [a.shape for a in arrays], **attrs), target="c")
    y = rep.run(list(arrays))[0].numpy()
    plan = next(iter(rep.executor._cache.values())).plan
    return y, [s.kernel.base if s.kernel is not None else s.op for s in plan.steps]


def _close(y, ref, k):
    # float32 products summed over k terms of order 1: a few roundings per term
    assert y.shape == ref.shape
    assert np.abs(y - ref).max() <= 4 * np.finfo(np.float32).eps * k * max(1.0, np.abs(ref).max())


MATMUL = [((3, 4), (4, 5)), ((70, 300), (300, 77)), ((9, 600), (600, 33)),  # K over KC
          ((17, 40), (40, 700)),  # N over NC, ragged last panel
          ((2, 3, 16, 20), (20, 10)),  # a stack by one matrix: one tall product
          ((64, 27), (3, 27, 50)),  # one matrix by a stack: a convolution's form
          ((12, 33, 8), (12, 8, 33)),  # small products, split by batch
          ((2, 9, 33), (2, 33, 1)), ((5,), (5, 7)), ((6, 5), (5,)), ((5,), (5,)),
          ((1, 0), (0, 3)), ((300, 260), (260, 300)),
          ((1, 1280), (1280, 1000)), ((3, 70), (70, 1100)),  # a few rows: B streamed once
          ((2, 5, 37), (37, 9)),
          ((20, 50), (50, 49)), ((13, 70), (70, 18)), ((11, 30), (30, 52)),  # edges of 17-20
          ((9, 40), (40, 68)),  # a column edge of 4 or fewer
          # the last column or two by dot products (gemm.c singa_gemm_thin)
          ((24, 300), (300, 33)), ((2, 11, 37), (37, 50)),
          # B read in place (gemm.DIRECT_ROWS rows a thread or fewer), over KC and NC
          ((64, 300), (300, 560)), ((23, 270), (270, 300))]


@pytest.mark.parametrize("sa,sb", MATMUL)
def test_matmul_kernel_matches_float64(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    y, steps = _run("MatMul", [a, b])
    assert steps == ["matmul"]
    _close(y, np.matmul(a.astype(np.float64), b), sa[-1])


def _weight_model(op, sa, w, **attrs):
    from onnx import numpy_helper

    g = helper.make_graph([helper.make_node(op, ["a", "w"], ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, sa)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op,sa,sw", [
    ("MatMul", (1, 200, 300), (300, 77)),  # past DIRECT_ROWS a thread, K over KC, an edge of 13
    ("MatMul", (3, 100, 40), (40, 560)),  # a stack by the weight, N over NC
    ("Gemm", (130, 270), (270, 45))])
def test_weight_read_in_place_matches_float64(op, sa, sw):
    """B a weight: read in place by up to WEIGHT_DIRECT_ROWS rows a thread
    (more than DIRECT_ROWS), the ragged last panel packed."""
    rng = np.random.default_rng(4)
    a, w = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sw).astype(np.float32)
    rep = sonnx.prepare(_weight_model(op, sa, w), target="c")
    y = rep.run([a])[0].numpy()
    (k,) = next(iter(rep.executor._cache.values())).plan.kernels
    assert "singa_gemm_weight(" in render.render(k, dialect.HOST)
    assert gemm.DIRECT_ROWS < math.prod(sa[:-1]) // 2 <= gemm.WEIGHT_DIRECT_ROWS
    _close(y, np.matmul(a.astype(np.float64), w), sa[-1])


def test_partly_broadcast_stacks_stay_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 1, 9, 6)).astype(np.float32)
    b = rng.standard_normal((1, 3, 6, 4)).astype(np.float32)
    y, steps = _run("MatMul", [a, b])
    assert steps == ["MatMul"]
    _close(y, np.matmul(a.astype(np.float64), b), 6)


GEMM = [((3, 4), (4, 5), (5,), {}), ((70, 300), (77, 300), (70, 77),
                                     dict(transB=1, alpha=0.5, beta=2.0)),
        ((8, 512), (1000, 512), (1000,), dict(transB=1)), ((9, 33), (33, 40), None, {}),
        ((9, 33), (40, 33), (9, 1), dict(transB=1)), ((9, 33), (33, 40), (), dict(beta=0.0)),
        ((7, 30), (30, 5), (1, 5), dict(alpha=3.0)),
        ((1, 1280), (1000, 1280), (1000,), dict(transB=1)),  # a classifier at batch 1
        ((2, 37), (37, 700), (700,), {}),
        ((40, 70), (50, 70), (50,), dict(transB=1)),  # B transposed, two thin columns
        ((200, 40), (40, 300), (300,), {}),  # the bias added over the threads (GPT-2's)
        ((190, 40), (300, 40), (190, 1), dict(transB=1, alpha=0.5, beta=-1.0))]


@pytest.mark.parametrize("sa,sb,sc,attrs", GEMM)
def test_gemm_kernel_matches_float64(sa, sb, sc, attrs):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (sa, sb, sc) if s is not None]
    y, steps = _run("Gemm", arrays, **attrs)
    assert steps == ["gemm"]
    a, b = arrays[0].astype(np.float64), arrays[1].astype(np.float64)
    ref = attrs.get("alpha", 1.0) * (a @ (b.T if attrs.get("transB") else b))
    if sc is not None:
        ref = ref + attrs.get("beta", 1.0) * arrays[2]
    _close(y, ref, sa[1])


def test_gemm_is_host_only():
    from singa.codegen.kernels import kernel_for

    rep = sonnx.prepare(_model("MatMul", [(4, 8), (8, 3)]), target="c")
    rep.run([np.ones((4, 8), np.float32), np.ones((8, 3), np.float32)])
    c = next(iter(rep.executor._cache.values()))
    (k,) = c.plan.kernels
    assert k.host_only and "(4 x 8) by (8 x 3)" in render.render(k, dialect.HOST)
    with pytest.raises(ValueError, match="host dialect only"):
        render.render(k, dialect.CUDA)
    (op,) = [o for o in c.graph.ops if o.name == "MatMul"]
    assert kernel_for(op, lambda v: None, "cuda") is None
    assert kernel_for(op, lambda v: None, "c").base == "matmul"
    assert gemm.SUPPORT.count("singa_gemm(") == 1


CONVS = [  # x shape, w shape, attrs: the columns packed from the image
    ((1, 3, 9, 11), (8, 3, 3, 3), dict(pads=[1, 1, 1, 1])),
    ((2, 5, 12, 10), (13, 5, 3, 2), dict(strides=[2, 1], pads=[1, 0, 2, 1])),  # M edge
    ((1, 40, 9, 9), (9, 40, 3, 3), dict(dilations=[2, 2], pads=[2, 2, 2, 2])),  # K > KC
    ((1, 4, 30, 30), (16, 4, 5, 5), dict(strides=[3, 3])),  # N over NC, stride 3
    ((3, 6, 40), (8, 6, 4), dict(strides=[2], pads=[3, 1])),  # 1-D
    ((1, 2, 4, 4), (4, 2, 5, 5), dict(pads=[2, 2, 2, 2])),  # windows mostly in the padding
    # output rows of 16 or more: columns read from the padded phase planes
    ((1, 3, 20, 37), (5, 3, 3, 3), dict(pads=[1, 2, 1, 2])),  # blocks start mid-row
    ((2, 4, 18, 24), (6, 4, 3, 3), dict(dilations=[1, 2], pads=[0, 3, 2, 1])),
    ((2, 3, 41, 45), (6, 3, 3, 5), dict(strides=[2, 2], pads=[1, 2, 0, 1], dilations=[1, 2])),
    ((1, 3, 37, 37), (5, 3, 7, 7), dict(strides=[2, 2], pads=[3, 3, 3, 3])),  # a stem
    ((1, 8, 40, 40), (4, 8, 1, 1), dict(strides=[2, 2])),  # a 1x1 downsampling
    ((1, 2, 5, 70), (3, 2, 3, 3), dict(strides=[3, 3], pads=[1, 1, 1, 1])),  # one output row
    ((1, 6, 7, 7), (9, 6, 3, 3), dict(pads=[1, 1, 1, 1])),  # 49 columns: one thin
    ((1, 5, 13, 13), (11, 5, 3, 3), dict(strides=[2, 2], pads=[1, 0, 1, 2])),  # and padded
    ((2, 40, 9, 12), (20, 40, 3, 3), dict(dilations=[2, 1])),  # 50: two thin, dilated
    # 1x1 windows: the image subsampled into a compact copy, then a plain product
    ((2, 3, 11, 9), (7, 3, 1, 1), dict(strides=[2, 3], pads=[1, 0, 2, 2])),  # padded
    ((1, 300, 14, 14), (20, 300, 1, 1), dict(strides=[2, 2])),  # K over KC
    ((2, 4, 30), (5, 4, 1), dict(strides=[2], pads=[1, 0])),  # 1-D
]


@pytest.mark.parametrize("sx,sw,attrs", CONVS)
def test_conv_packs_its_columns_from_the_image(sx, sw, attrs):
    """A group-1 Conv on the c target is one ConvGemm kernel (plus its bias Add),
    matching the convolution computed by definition in float64."""
    from tests.ops.cases_nn import ref_im2col

    rng = np.random.default_rng(3)
    x = rng.standard_normal(sx).astype(np.float32)
    w = rng.standard_normal(sw).astype(np.float32)
    y, steps = _run("Conv", [x, w], **attrs)
    assert {"conv_gemm", "conv_winograd"} & set(steps), steps
    window = dict(kernel_shape=list(sw[2:]), **attrs)
    col = ref_im2col(x.astype(np.float64), **window)[0]
    ref = (w.reshape(sw[0], -1).astype(np.float64) @ col).reshape(y.shape)
    _close(y, ref, col.shape[1])


def test_an_image_too_big_to_copy_padded_is_packed_from_itself():
    """Past gemm.PADDED_MAX floats the padded copy is not made: the same columns
    come from the image itself (3x3, stride 2, over 1040 channels of 126x126)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1040, 126, 126)).astype(np.float32)
    w = rng.standard_normal((8, 1040, 3, 3)).astype(np.float32)
    assert 1040 * 2 * 127 * 64 > gemm.PADDED_MAX  # channels x phases x rows x width
    y, steps = _run("Conv", [x, w], strides=[2, 2], pads=[1, 1, 1, 1])
    assert {"conv_gemm", "conv_winograd"} & set(steps), steps
    xp = np.pad(x[0].astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    ref = sum(np.tensordot(w[:, :, r, s].astype(np.float64), xp[:, r:r + 125:2, s:s + 125:2], 1)
              for r in range(3) for s in range(3))
    _close(y, ref[None], 1040 * 9)
