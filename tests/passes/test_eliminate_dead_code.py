"""eliminate_dead_code: unused ops (whole chains) and unused params/consts go."""

import numpy as np

from singa.passes import EliminateDeadCode

from ._helpers import assert_ir, assert_same_outputs, run_pass


def test_dead_chains_and_unused_weights_go_inputs_stay():
    before, g = run_pass(EliminateDeadCode(), '''
        graph @g(%x: f32[3], %unused: f32[3]) -> (f32[3]) {
          %w = param f32[3]
          %v = param f32[3]
          %c = const f32[1] {value=[2.0]}
          %0 = Mul(%x, %v) : f32[3]
          %1 = Exp(%0) : f32[3]
          %2 = Add(%1, %c) : f32[3]
          %3 = Relu(%x) : f32[3]
          %4 = Add(%3, %w) : f32[3]
          return %4
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[3], %unused: f32[3]) -> (f32[3]) {
          %w = param f32[3]
          %0 = Relu(%x) : f32[3]
          %1 = Add(%0, %w) : f32[3]
          return %1
        }
    ''')
    x = np.array([-1, 0, 2], np.float32)
    assert_same_outputs(before, g, [x, x])


def test_an_op_stays_when_any_result_is_used():
    text = '''
        graph @g(%x: f32[4]) -> (f32[2]) {
          %a, %b = Split(%x) {num_outputs=2} : f32[2], f32[2]
          return %b
        }
    '''
    _, g = run_pass(EliminateDeadCode(), text, expect_changed=False)
    assert_ir(g, text)


def test_unused_random_ops_are_dead_too():
    _, g = run_pass(EliminateDeadCode(), '''
        graph @g(%x: f32[4]) -> (f32[4]) {
          %0 = Dropout(%x) : f32[4]
          return %x
        }
    ''')
    assert not g.ops
