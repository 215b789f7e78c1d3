"""lower_conv: Conv -> Im2Col, MatMul, Reshape, bias Add; same values as the Conv."""

import numpy as np
import pytest

from singa.passes import LowerConv

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(0)


def _text(x, w, y, attrs, bias=True, t="f32"):
    b = ", %b" if bias else ""
    return f'''
        graph @g(%x: {t}{x}) -> ({t}{y}) {{
          %W = param {t}{w}
          {"%b = param " + t + "[" + w[1:].split(",")[0] + "]" if bias else ""}
          %y = Conv(%x, %W{b}) {attrs} : {t}{y}  # conv1
          return %y
        }}
    '''


def _data(w, bias=True, dt=np.float32):
    shape = tuple(int(d) for d in w.strip("[]").split(","))
    d = {"W": RNG.standard_normal(shape).astype(dt)}
    if bias:
        d["b"] = RNG.standard_normal(shape[0]).astype(dt)
    return d


def test_conv_becomes_columns_product_and_bias():
    _, g = run_pass(LowerConv(), _text("[2,3,7,7]", "[4,3,3,3]", "[2,4,4,4]",
                                       "{kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]}"),
                    _data("[4,3,3,3]"), expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[2,3,7,7]) -> (f32[2,4,4,4]) {
          %W = param f32[4,3,3,3]
          %b = param f32[4]
          %0 = const i64[2] {value=[4,27]}
          %1 = const i64[4] {value=[2,4,4,4]}
          %2 = const i64[3] {value=[4,1,1]}
          %3 = Reshape(%W, %0) : f32[4,27]  # conv1
          %4 = Im2Col(%x) {dilations=[1,1], kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]} : f32[2,27,16]  # conv1
          %5 = MatMul(%3, %4) : f32[2,4,16]  # conv1
          %6 = Reshape(%5, %1) : f32[2,4,4,4]  # conv1
          %7 = Reshape(%b, %2) : f32[4,1,1]  # conv1
          %y = Add(%6, %7) : f32[2,4,4,4]  # conv1
          return %y
        }
    ''')


CASES = [
    ("[2,3,7,7]", "[4,3,3,3]", "[2,4,4,4]", "{kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]}"),
    ("[1,5,9,8]", "[6,5,3,2]", "[1,6,5,7]", "{dilations=[2,1], kernel_shape=[3,2]}"),
    ("[3,4,6,6]", "[2,4,1,1]", "[3,2,6,6]", "{kernel_shape=[1,1]}"),
    ("[2,4,11]", "[3,4,4]", "[2,3,4]", "{kernel_shape=[4], pads=[2,1], strides=[3]}"),
    ("[1,2,5,5]", "[3,2,3,3]", "[1,3,5,5]", "{auto_pad=\"SAME_UPPER\", kernel_shape=[3,3]}"),
    ("[2,6,7,7]", "[4,3,3,3]", "[2,4,5,5]", "{group=2, kernel_shape=[3,3]}"),
    ("[1,6,5,5]", "[9,2,1,1]", "[1,9,5,5]", "{group=3, kernel_shape=[1,1]}"),
    ("[2,4,9]", "[8,2,3]", "[2,8,5]", "{group=2, kernel_shape=[3], pads=[1,1], strides=[2]}"),
    # one input channel, group 1 (a grey image's first layer): depthwise in form only,
    # the window kernel does not take it, so it must be lowered
    ("[2,1,8,8]", "[5,1,3,3]", "[2,5,6,6]", "{kernel_shape=[3,3]}"),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x,w,y,attrs", CASES)
def test_same_values_as_the_conv(x, w, y, attrs, bias):
    before, g = run_pass(LowerConv(), _text(x, w, y, attrs, bias), _data(w, bias),
                         expect_changed=True)
    assert not any(op.name == "Conv" for op in g.ops)
    xs = RNG.standard_normal(tuple(int(d) for d in x.strip("[]").split(","))).astype(np.float32)
    assert_same_outputs(before, g, [xs], rtol=1e-5, atol=1e-5)


def test_one_by_one_needs_no_columns():
    _, g = run_pass(LowerConv(), _text("[3,4,6,6]", "[2,4,1,1]", "[3,2,6,6]",
                                       "{kernel_shape=[1,1]}", bias=False),
                    _data("[2,4,1,1]", False), expect_changed=True)
    assert [op.name for op in g.ops] == ["Reshape", "Reshape", "MatMul", "Reshape"]


@pytest.mark.parametrize("t,w,y,attrs", [
    ("f32", "[4,1,3,3]", "[1,4,3,3]", "{group=4, kernel_shape=[3,3]}"),  # depthwise kernel
    ("f32", "[8,1,3,3]", "[1,8,3,3]", "{group=4, kernel_shape=[3,3]}"),  # multiplier 2
    ("f16", "[4,4,3,3]", "[1,4,3,3]", "{kernel_shape=[3,3]}"),  # 16-bit: NumPy's GEMM path
])
def test_left_alone(t, w, y, attrs):
    dt = np.float16 if t == "f16" else np.float32
    run_pass(LowerConv(), _text("[1,4,5,5]", w, y, attrs, False, t),
             _data(w, False, dt), expect_changed=False)


def test_a_big_batch_makes_its_columns_a_few_images_at_a_time(monkeypatch):
    """Columns of the whole batch would take kernel-size times the input's memory."""
    import singa.passes.lower_conv as lc

    per_image = 3 * 9 * 16 * 4  # C*K*P floats of one image
    monkeypatch.setattr(lc, "COLUMN_BYTES", 2 * per_image)
    before, g = run_pass(LowerConv(), _text("[5,3,7,7]", "[4,3,3,3]", "[5,4,4,4]",
                                            "{kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]}"),
                         _data("[4,3,3,3]"), expect_changed=True)
    ops = [op.name for op in g.ops]
    assert ops.count("Im2Col") == 3 and ops.count("Slice") == 3 and ops.count("Concat") == 1
    assert [op.results[0].type.shape[0] for op in g.ops if op.name == "Im2Col"] == [2, 2, 1]
    xs = RNG.standard_normal((5, 3, 7, 7)).astype(np.float32)
    assert_same_outputs(before, g, [xs], rtol=1e-5, atol=1e-5)
