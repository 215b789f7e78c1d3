"""truncate(last_layers): SINGA's cut, Python slice semantics over the ops."""

import numpy as np
import pytest

from singa.errors import IRError
from singa.ir.interpret import interpret
from singa.passes import Truncate

from ._helpers import assert_ir, run_pass

MLP = '''
    graph @mlp(%x: f32[N,4]) -> (f32[N,2]) {
      %w1 = param f32[4,8]
      %b1 = param f32[8]
      %w2 = param f32[8,2]
      %0 = MatMul(%x, %w1) : f32[N,8]  # fc1
      %1 = Add(%0, %b1) : f32[N,8]  # fc1.bias
      %2 = Relu(%1) : f32[N,8]  # relu1
      %3 = MatMul(%2, %w2) : f32[N,2]  # fc2
      return %3
    }
'''
DATA = {"w1": np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8),
        "b1": np.linspace(-0.5, 0.5, 8, dtype=np.float32),
        "w2": np.linspace(1, -1, 16, dtype=np.float32).reshape(8, 2)}
X = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)


def test_minus_one_drops_the_last_layer_and_its_weights():
    before, g = run_pass(Truncate(-1), MLP, DATA, expect_changed=True)
    assert_ir(g, '''
        graph @mlp(%x: f32[N,4]) -> (f32[N,8]) {
          %w1 = param f32[4,8]
          %b1 = param f32[8]
          %0 = MatMul(%x, %w1) : f32[N,8]  # fc1
          %1 = Add(%0, %b1) : f32[N,8]  # fc1.bias
          %2 = Relu(%1) : f32[N,8]  # relu1
          return %2
        }
    ''')
    # the output is what the full graph computed at that layer
    env = interpret(before, [X], return_env=True)
    np.testing.assert_array_equal(interpret(g, [X])[0], env[before.ops[2].results[0]])


@pytest.mark.parametrize("k, kept", [(1, 1), (2, 2), (-2, 2), (-3, 1)])
def test_slice_semantics(k, kept):
    _, g = run_pass(Truncate(k), MLP, DATA)
    assert len(g.ops) == kept
    assert g.outputs == g.ops[-1].results


@pytest.mark.parametrize("k", [None, 4])
def test_keeping_everything_changes_nothing(k):
    before, g = run_pass(Truncate(k), MLP, DATA, expect_changed=False)
    assert_ir(g, MLP)


@pytest.mark.parametrize("k", [0, 5, -4, -10])
def test_cuts_that_keep_nothing_or_overshoot_are_errors(k):
    with pytest.raises(IRError, match=f"last_layers={k} is out of range: the graph has 4 "
                                      "layers"):
        run_pass(Truncate(k), MLP, DATA)


def test_non_int_is_rejected():
    with pytest.raises(IRError, match="must be an int"):
        Truncate(1.5)


def test_side_branches_not_feeding_the_cut_are_removed():
    _, g = run_pass(Truncate(3), '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0 = Exp(%x) : f32[3]
          %1 = Neg(%x) : f32[3]
          %2 = Relu(%1) : f32[3]
          %3 = Add(%0, %2) : f32[3]
          return %3
        }
    ''')
    assert_ir(g, '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0 = Neg(%x) : f32[3]
          %1 = Relu(%0) : f32[3]
          return %1
        }
    ''')


def test_every_result_of_the_last_kept_op_becomes_an_output():
    _, g = run_pass(Truncate(-1), '''
        graph @g(%x: f32[4]) -> (f32[2]) {
          %a, %b = Split(%x) {num_outputs=2} : f32[2], f32[2]
          %0 = Add(%a, %b) : f32[2]
          return %0
        }
    ''')
    assert_ir(g, '''
        graph @g(%x: f32[4]) -> (f32[2], f32[2]) {
          %a, %b = Split(%x) {num_outputs=2} : f32[2], f32[2]
          return %a, %b
        }
    ''')
