"""fold_batchnorm: BN(Conv) -> Conv with rescaled weights, exact vs the interpreter."""

import numpy as np
import pytest

from singa.passes import EliminateDeadCode, FoldBatchNorm

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(0)


def _data(dt, bias=True, m=3):
    d = {"W": RNG.standard_normal((m, 2, 3, 3)).astype(dt),
         "scale": RNG.uniform(0.5, 2, m).astype(dt),
         "B": RNG.standard_normal(m).astype(dt),
         "mean": RNG.standard_normal(m).astype(dt),
         "var": RNG.uniform(0.1, 3, m).astype(dt)}
    if bias:
        d["b"] = RNG.standard_normal(m).astype(dt)
    return d


def _text(t="f32", bias=True, extra=""):
    b = ", %b" if bias else ""
    return f'''
        graph @g(%x: {t}[N,2,5,5]) -> ({t}[N,3,3,3]) {{
          %W = param {t}[3,2,3,3]
          {"%b = param " + t + "[3]" if bias else ""}
          %scale = param {t}[3]
          %B = param {t}[3]
          %mean = param {t}[3]
          %var = param {t}[3]
          %0 = Conv(%x, %W{b}) {{kernel_shape=[3,3]}} : {t}[N,3,3,3]  # conv1
          %y = BatchNormalization(%0, %scale, %B, %mean, %var) {{epsilon=0.001{extra}}} : {t}[N,3,3,3]  # bn1
          return %y
        }}
    '''


@pytest.mark.parametrize("dt, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("bias", [True, False])
def test_fold_is_exact(dt, tol, bias):
    t = "f64" if dt == np.float64 else "f32"
    before, g = run_pass(FoldBatchNorm(), _text(t, bias), _data(dt, bias), expect_changed=True)
    EliminateDeadCode().run(g)
    bname = "b_bnfold" if bias else "W_bias_bnfold"
    assert_ir(g, f'''
        graph @g(%x: {t}[N,2,5,5]) -> ({t}[N,3,3,3]) {{
          %W_bnfold = param {t}[3,2,3,3]
          %{bname} = param {t}[3]
          %y = Conv(%x, %W_bnfold, %{bname}) {{kernel_shape=[3,3]}} : {t}[N,3,3,3]  # conv1
          return %y
        }}
    ''')
    x = RNG.standard_normal((2, 2, 5, 5)).astype(dt)
    assert_same_outputs(before, g, [x], rtol=tol, atol=tol)
    # the old weights are untouched (they may be shared)
    assert before.params[0].data is not g.params[0].data


def test_conv_with_another_user_is_left_alone():
    text = _text().replace("return %y", "%z = Relu(%0) : f32[N,3,3,3]\n          return %y")
    _, g = run_pass(FoldBatchNorm(), text, _data(np.float32), expect_changed=False)
    assert [op.name for op in g.ops] == ["Conv", "BatchNormalization", "Relu"]


def test_training_mode_and_non_constant_stats_are_left_alone():
    _, g = run_pass(FoldBatchNorm(), _text(extra=", training_mode=1"), _data(np.float32),
                    expect_changed=False)
    text = _text().replace("%mean = param f32[3]\n", "").replace(
        "(%x: f32[N,2,5,5])", "(%x: f32[N,2,5,5], %mean: f32[3])")
    _, g = run_pass(FoldBatchNorm(), text, _data(np.float32), expect_changed=False)


def test_bn_after_something_else_is_left_alone():
    text = '''
        graph @g(%x: f32[N,3,4,4]) -> (f32[N,3,4,4]) {
          %scale = param f32[3]
          %B = param f32[3]
          %mean = param f32[3]
          %var = param f32[3]
          %0 = Relu(%x) : f32[N,3,4,4]
          %1 = BatchNormalization(%0, %scale, %B, %mean, %var) : f32[N,3,4,4]
          return %1
        }
    '''
    _, g = run_pass(FoldBatchNorm(), text, expect_changed=False)
    assert_ir(g, text)
