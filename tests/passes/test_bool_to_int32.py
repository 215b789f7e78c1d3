"""bool_to_int32: int32 0/1 storage for bool intermediates, semantics unchanged."""

import numpy as np

from singa.passes import BoolToInt32, EliminateDeadCode

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(1)
X = RNG.uniform(-1, 1, (4, 3)).astype(np.float32)
Y = RNG.uniform(-1, 1, (4, 3)).astype(np.float32)


def test_comparisons_cast_logic_consumes_int32_outputs_cast_back():
    before, g = run_pass(BoolToInt32(), '''
        graph @g(%x: f32[N,3], %y: f32[N,3]) -> (bool[N,3], f32[N,3]) {
          %c = const f32[] {value=[0.5]}
          %0 = Less(%x, %y) : bool[N,3]
          %1 = Greater(%x, %c) : bool[N,3]
          %2 = And(%0, %1) : bool[N,3]
          %3 = Not(%2) : bool[N,3]
          %4 = Where(%3, %x, %y) : f32[N,3]
          %m = Or(%3, %0) : bool[N,3]
          return %m, %4
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[N,3], %y: f32[N,3]) -> (bool[N,3], f32[N,3]) {
          %c = const f32[] {value=[0.5]}
          %0 = Less(%x, %y) : bool[N,3]
          %1 = Cast(%0) {to=6} : i32[N,3]
          %2 = Greater(%x, %c) : bool[N,3]
          %3 = Cast(%2) {to=6} : i32[N,3]
          %4 = And(%1, %3) : i32[N,3]
          %5 = Not(%4) : i32[N,3]
          %6 = Where(%5, %x, %y) : f32[N,3]
          %m_i32 = Or(%5, %1) : i32[N,3]
          %m = Cast(%m_i32) {to=9} : bool[N,3]
          return %m, %6
        }
    ''')
    assert_same_outputs(before, g, [X, Y])


def test_bool_inputs_consts_and_data_movement():
    before, g = run_pass(BoolToInt32(), '''
        graph @g(%b: bool[4,3], %x: f32[4,3]) -> (bool[3,4], f32[4,3], bool[4,3]) {
          %k = const bool[3] {value=[true,false,true]}
          %0 = Xor(%b, %k) : bool[4,3]
          %1 = Transpose(%0) {perm=[1,0]} : bool[3,4]
          %2 = Cast(%0) {to=1} : f32[4,3]
          %3 = Mul(%2, %x) : f32[4,3]
          return %1, %3, %b
        }
    ''')
    assert_ir(g, '''
        graph @g(%b: bool[4,3], %x: f32[4,3]) -> (bool[3,4], f32[4,3], bool[4,3]) {
          %k = const bool[3] {value=[true,false,true]}
          %0 = const i32[3] {value=[1,0,1]}
          %1 = Cast(%b) {to=6} : i32[4,3]
          %2 = Xor(%1, %0) : i32[4,3]
          %3 = Transpose(%2) {perm=[1,0]} : i32[3,4]
          %4 = Cast(%2) {to=1} : f32[4,3]
          %5 = Mul(%4, %x) : f32[4,3]
          %6 = Cast(%3) {to=9} : bool[3,4]
          return %6, %5, %b
        }
    ''')
    b = RNG.uniform(size=(4, 3)) > 0.5
    assert_same_outputs(before, g, [b, X])
    EliminateDeadCode().run(g)
    # the int32 copy took over the name once the bool const was gone
    assert [c.name for c in g.consts] == ["k"] and g.consts[0].data.dtype == np.int32


def test_casts_to_bool_of_a_converted_value_are_aliases_casts_to_int32_numbers():
    before, g = run_pass(BoolToInt32(), '''
        graph @g(%x: f32[3], %y: f32[3]) -> (bool[3], i32[3], i32[3]) {
          %k = const i32[] {value=[5]}
          %0 = Less(%x, %y) : bool[3]
          %1 = Cast(%0) {to=9} : bool[3]
          %2 = Not(%1) : bool[3]
          %3 = Cast(%2) {to=6} : i32[3]
          %4 = Add(%3, %k) : i32[3]
          return %1, %3, %4
        }
    ''')
    # %1's readers read the int32 form; %3 is a number that Add reads as is
    assert_ir(g, '''
        graph @g(%x: f32[3], %y: f32[3]) -> (bool[3], i32[3], i32[3]) {
          %k = const i32[] {value=[5]}
          %0 = Less(%x, %y) : bool[3]
          %1 = Cast(%0) {to=6} : i32[3]
          %2 = Cast(%1) {to=9} : bool[3]
          %3 = Not(%1) : i32[3]
          %4 = Cast(%3) {to=6} : i32[3]
          %5 = Add(%4, %k) : i32[3]
          return %2, %4, %5
        }
    ''')
    assert_same_outputs(before, g, [X[0], Y[0]])


def test_ops_that_need_a_real_bool_get_one():
    # CastLike to a bool tensor is "nonzero"; on int32 it would truncate instead
    before, g = run_pass(BoolToInt32(), '''
        graph @g(%x: f32[3], %y: f32[3]) -> (bool[3]) {
          %0 = Less(%x, %y) : bool[3]
          %1 = CastLike(%x, %0) : bool[3]
          %2 = And(%1, %0) : bool[3]
          return %2
        }
    ''')
    assert_ir(g, '''
        graph @g(%x: f32[3], %y: f32[3]) -> (bool[3]) {
          %0 = Less(%x, %y) : bool[3]
          %1 = Cast(%0) {to=6} : i32[3]
          %2 = Cast(%1) {to=9} : bool[3]
          %3 = CastLike(%x, %2) : bool[3]
          %4 = Cast(%3) {to=6} : i32[3]
          %5 = And(%4, %1) : i32[3]
          %6 = Cast(%5) {to=9} : bool[3]
          return %6
        }
    ''')
    x = np.array([0.5, 0.0, -2.0], np.float32)
    assert_same_outputs(before, g, [x, x[::-1].copy()])


def test_graphs_without_bools_are_unchanged():
    text = '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0 = Relu(%x) : f32[3]
          return %0
        }
    '''
    _, g = run_pass(BoolToInt32(), text, expect_changed=False)
    assert_ir(g, text)
