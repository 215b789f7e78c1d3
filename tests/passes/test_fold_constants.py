"""fold_constants: const-only ops, Shape of static values, never params/random/huge."""

import numpy as np

from singa.passes import FoldConstants

from ._helpers import assert_ir, assert_same_outputs, run_pass

X = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5


def test_const_chains_fold_in_one_run_and_outputs_may_become_consts():
    before, g = run_pass(FoldConstants(), '''
        graph @g(%x: f32[2,3]) -> (f32[2,3], f32[3]) {
          %a = const f32[3] {value=[1,2,3]}
          %b = const f32[] {value=[0.5]}
          %0 = Mul(%a, %b) : f32[3]
          %k = Sub(%0, %b) : f32[3]  # kept name
          %1 = Add(%x, %k) : f32[2,3]
          return %1, %k
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[2,3]) -> (f32[2,3], f32[3]) {
          %a = const f32[3] {value=[1.0,2.0,3.0]}
          %b = const f32[] {value=[0.5]}
          %0 = const f32[3] {value=[0.5,1.0,1.5]}
          %k = const f32[3] {value=[0.0,0.5,1.0]}
          %1 = Add(%x, %k) : f32[2,3]
          return %1, %k
        }
    ''')
    assert_same_outputs(before, g, [X])


def test_shape_of_static_values_folds_symbolic_does_not():
    before, g = run_pass(FoldConstants(), '''
        graph @g(%x: f32[N,3], %y: f32[2,3]) -> (f32[?,?]) {
          %i = const i64[1] {value=[1]}
          %z = const i64[1] {value=[0]}
          %0 = Shape(%y) : i64[2]
          %1 = Gather(%0, %i) {axis=0} : i64[1]
          %2 = Shape(%x) : i64[2]
          %3 = Gather(%2, %z) {axis=0} : i64[1]
          %4 = Concat(%1, %3) {axis=0} : i64[2]
          %5 = Reshape(%x, %4) : f32[?,?]
          return %5
        }
    ''')
    assert_ir(g, '''
        graph @g(%x: f32[N,3], %y: f32[2,3]) -> (f32[?,?]) {
          %i = const i64[1] {value=[1]}
          %z = const i64[1] {value=[0]}
          %0 = const i64[2] {value=[2,3]}
          %1 = const i64[1] {value=[3]}
          %2 = Shape(%x) : i64[2]
          %3 = Gather(%2, %z) {axis=0} : i64[1]
          %4 = Concat(%1, %3) {axis=0} : i64[2]
          %5 = Reshape(%x, %4) : f32[?,?]
          return %5
        }
    ''')
    assert_same_outputs(before, g, [X, X])


def test_folding_sharpens_downstream_types():
    _, g = run_pass(FoldConstants(), '''
        graph @g(%x: f32[N,6]) -> (f32[*]) {
          %a = const i64[1] {value=[-1]}
          %b = const i64[1] {value=[2]}
          %0 = Concat(%a, %b) {axis=0} : i64[2]
          %1 = Reshape(%x, %0) : f32[*]
          return %1
        }
    ''')
    assert g.ops[-1].name == "Reshape" and str(g.outputs[0].type) == "f32[?,2]"


def test_float_params_are_weights_and_fold_only_when_asked():
    text = '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %w = param f32[3]
          %shape = param i64[1]
          %0 = Neg(%w) : f32[3]
          %1 = Add(%x, %0) : f32[3]
          %2 = Abs(%shape) : i64[1]
          %3 = Reshape(%1, %2) : f32[3]
          return %3
        }
    '''
    data = {"w": np.array([1, 2, 3], np.float32), "shape": np.array([-3], np.int64)}
    # integer params (shape tensors) are not trainable: they fold
    before, g = run_pass(FoldConstants(), text, data)
    assert [op.name for op in g.ops] == ["Neg", "Add", "Reshape"]
    assert g.consts[0].data.tolist() == [3]
    assert_same_outputs(before, g, [X[0]])
    before, g = run_pass(FoldConstants(fold_params=True), text, data)
    assert [op.name for op in g.ops] == ["Add", "Reshape"]
    assert g.ops[0].operands[1].data.tolist() == [-1, -2, -3]
    assert_same_outputs(before, g, [X[0]])


def test_random_ops_never_fold():
    _, g = run_pass(FoldConstants(), '''
        graph @g() -> (f32[3]) {
          %a = const f32[3] {value=[1.0,2.0,3.0]}
          %0 = Dropout(%a) : f32[3]
          return %0
        }
    ''', expect_changed=False)
    assert [op.name for op in g.ops] == ["Dropout"]


def test_results_over_the_size_cap_stay_ops():
    text = '''
        graph @g() -> (f32[2,3], f32[2]) {
          %a = const f32[] {value=[1.5]}
          %s = const i64[2] {value=[2,3]}
          %t = const i64[1] {value=[2]}
          %0 = Expand(%a, %s) : f32[2,3]
          %1 = Expand(%a, %t) : f32[2]
          return %0, %1
        }
    '''
    _, g = run_pass(FoldConstants(max_elements=4), text)
    assert [op.name for op in g.ops] == ["Expand"]
    assert g.outputs[1].kind == "const" and g.outputs[1].data.tolist() == [1.5, 1.5]
    _, g = run_pass(FoldConstants(), text)
    assert not g.ops and g.outputs[0].data.tolist() == [[1.5] * 3] * 2
