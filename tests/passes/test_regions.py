"""Passes over regions: shape inference through loop carries and branches,
folding an If on a constant condition and a Loop of constants, dead code in
bodies and captures nobody reads.  IR text in, IR text out."""

import numpy as np

from singa.passes import EliminateDeadCode, FoldConstants, InferShapes

from ._helpers import assert_ir, assert_same_outputs, run_pass


def test_infer_shapes_types_bodies_and_generalises_a_growing_carry():
    _, g = run_pass(InferShapes(), '''
        graph @g(%M: i64[], %v0: f32[2]) -> (f32[?]) {
          %v = Loop(%M, _, %v0) {captures=0}  # grow
            body: graph @body(%i: i64[], %c: bool[], %v: ?) -> (?, ?) {
              %0 = Concat(%v, %v) {axis=0}
              return %c, %0
            }
          return %v
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%M: i64[], %v0: f32[2]) -> (f32[?]) {
          %v = Loop(%M, _, %v0) {captures=0} : f32[?]  # grow
            body: graph @body(%i: i64[], %c: bool[], %v: f32[?]) -> (bool[], f32[?]) {
              %0 = Concat(%v, %v) {axis=0} : f32[?]
              return %c, %0
            }
          return %v
        }
    ''')


def test_infer_shapes_merges_the_branches_of_an_if():
    _, g = run_pass(InferShapes(), '''
        graph @g(%c: bool[], %x: f32[2,3]) -> (f32[?,3]) {
          %y = If(%c, %x) {captures=1}
            then_branch: graph @t(%x: ?) -> (?) {
              %0 = Concat(%x, %x) {axis=0}
              return %0
            }
            else_branch: graph @e(%x: ?) -> (?) {
              %0 = Neg(%x)
              return %0
            }
          return %y
        }
    ''', expect_changed=True)
    assert "%y = If(%c, %x) {captures=1} : f32[?,3]" in str(g)
    assert "%0 = Concat(%x, %x) {axis=0} : f32[4,3]" in str(g)


IF_CONST = '''
    graph @g(%x: f32[3]) -> (f32[3]) {
      %c = const bool[] {value=[false]}
      %y = If(%c, %x) {captures=1} : f32[3]  # pick
        then_branch: graph @t(%x: f32[3]) -> (f32[3]) {
          %0 = Neg(%x) : f32[3]
          return %0
        }
        else_branch: graph @e(%x: f32[3]) -> (f32[3]) {
          %two = const f32[] {value=[2.0]}
          %0 = Mul(%x, %two) : f32[3]
          return %0
        }
      return %y
    }
'''


def test_fold_constants_replaces_an_if_on_a_constant_by_its_branch():
    before, g = run_pass(FoldConstants(), IF_CONST, expect_changed=True)
    EliminateDeadCode().run(g)
    assert_ir(g, '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %two = const f32[] {value=[2.0]}
          %0 = Mul(%x, %two) : f32[3]  # pick.else_branch/
          return %0
        }
    ''')
    assert_same_outputs(before, g, [np.array([1, -2, 3], np.float32)])


def test_fold_constants_evaluates_a_loop_of_constants():
    before, g = run_pass(FoldConstants(), '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %M = const i64[] {value=[4]}
          %one = const f32[3] {value=[1.0,1.0,1.0]}
          %s = Loop(%M, _, %one) {captures=0} : f32[3]
            body: graph @body(%i: i64[], %c: bool[], %s: f32[3]) -> (bool[], f32[3]) {
              %0 = Add(%s, %s) : f32[3]
              return %c, %0
            }
          %y = Mul(%x, %s) : f32[3]
          return %y
        }
    ''', expect_changed=True)
    EliminateDeadCode().run(g)
    assert_ir(g, '''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %s = const f32[3] {value=[16.0,16.0,16.0]}
          %y = Mul(%x, %s) : f32[3]
          return %y
        }
    ''')


def test_fold_constants_folds_inside_bodies():
    _, g = run_pass(FoldConstants(), '''
        graph @g(%c: bool[], %x: f32[2]) -> (f32[2]) {
          %y = If(%c, %x) {captures=1} : f32[2]
            then_branch: graph @t(%x: f32[2]) -> (f32[2]) {
              %a = const f32[2] {value=[1.0,2.0]}
              %0 = Add(%a, %a) : f32[2]
              %1 = Mul(%x, %0) : f32[2]
              return %1
            }
            else_branch: graph @e(%x: f32[2]) -> (f32[2]) {
              return %x
            }
          return %y
        }
    ''', expect_changed=True)
    assert "%0 = const f32[2] {value=[2.0,4.0]}" in str(g)


def test_dead_code_in_bodies_and_unread_captures_go():
    before, g = run_pass(EliminateDeadCode(), '''
        graph @g(%c: bool[], %x: f32[2], %unused: f32[2]) -> (f32[2]) {
          %y = If(%c, %x, %unused) {captures=2} : f32[2]
            then_branch: graph @t(%x: f32[2], %unused: f32[2]) -> (f32[2]) {
              %0 = Exp(%x) : f32[2]
              %1 = Neg(%x) : f32[2]
              return %1
            }
            else_branch: graph @e(%x: f32[2], %unused: f32[2]) -> (f32[2]) {
              return %x
            }
          return %y
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%c: bool[], %x: f32[2], %unused: f32[2]) -> (f32[2]) {
          %y = If(%c, %x) {captures=1} : f32[2]
            then_branch: graph @t(%x: f32[2]) -> (f32[2]) {
              %0 = Neg(%x) : f32[2]
              return %0
            }
            else_branch: graph @e(%x: f32[2]) -> (f32[2]) {
              return %x
            }
          return %y
        }
    ''')
    x = np.array([1, -2], np.float32)
    for c in (True, False):
        assert_same_outputs(before, g, [np.array(c), x, x])
