"""strength_reduce: Pow by a constant 1..4 -> multiplies; same values within an ulp or two."""

import numpy as np
import pytest

from singa.passes import StrengthReduce

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(0)


def _text(e, t="f32", et="f32"):
    return f'''
        graph @g(%x: {t}[2,5]) -> ({t}[2,5]) {{
          %e = const {et}[] {{value={e}}}
          %y = Pow(%x, %e) : {t}[2,5]  # pow1
          return %y
        }}
    '''


def test_cube_becomes_two_multiplies():
    _, g = run_pass(StrengthReduce(), _text("3.0"), expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[2,5]) -> (f32[2,5]) {
          %e = const f32[] {value=[3.0]}
          %0 = Mul(%x, %x) : f32[2,5]  # pow1
          %y = Mul(%0, %x) : f32[2,5]  # pow1
          return %y
        }
    ''')


@pytest.mark.parametrize("e,et", [("1.0", "f32"), ("2.0", "f32"), ("3.0", "f32"), ("4", "i64"),
                                  ("2.0", "f64")])
def test_same_values(e, et):
    before, g = run_pass(StrengthReduce(), _text(e, et=et), expect_changed=True)
    assert not any(op.name == "Pow" for op in g.ops)
    x = RNG.uniform(-3, 3, (2, 5)).astype(np.float32)  # negative bases too
    assert_same_outputs(before, g, [x], rtol=3e-7, atol=0)


@pytest.mark.parametrize("e,t", [("2.5", "f32"), ("5.0", "f32"), ("-1.0", "f32"),
                                 ("2", "i32")])
def test_left_alone(e, t):
    run_pass(StrengthReduce(), _text(e, t=t, et="i32" if t == "i32" else "f32"),
             expect_changed=False)
