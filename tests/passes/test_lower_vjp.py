"""lower_vjp: VJPs with a rule become forward ops computing the same gradients.

The reference for every rule is the VJP itself, i.e. the op table's own NumPy
gradient rule (checked against finite differences by tests/ops/test_table.py).
"""

import numpy as np
import pytest

from singa.passes.lower_vjp import RULES, LowerVJP

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(0)


def R(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_a_linear_layer_backward_becomes_two_products():
    _, g = run_pass(LowerVJP(), '''
        graph @g(%x: f32[4,3], %w: f32[3,5], %dy: f32[4,5]) -> (f32[4,3], f32[3,5]) {
          %y = MatMul(%x, %w) : f32[4,5]
          %dx, %dw = VJP(%x, %w, %y, %dy) {grad_arity=[2,1], grad_needs=[1,1], grad_of="MatMul"} : f32[4,3], f32[3,5]
          return %dx, %dw
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[4,3], %w: f32[3,5], %dy: f32[4,5]) -> (f32[4,3], f32[3,5]) {
          %y = MatMul(%x, %w) : f32[4,5]
          %0 = Gemm(%dy, %w) {transB=1} : f32[4,3]
          %1 = Transpose(%x) {perm=[1,0]} : f32[3,4]
          %2 = MatMul(%1, %dy) : f32[3,5]
          return %0, %2
        }
    ''')


CASES = {
    # name: (IR text, inputs)
    "matmul_stack_by_matrix": ('''
        graph @g(%x: f32[2,4,3], %w: f32[3,5], %dy: f32[2,4,5]) -> (f32[2,4,3], f32[3,5]) {
          %y = MatMul(%x, %w) : f32[2,4,5]
          %dx, %dw = VJP(%x, %w, %y, %dy) {grad_arity=[2,1], grad_needs=[1,1], grad_of="MatMul"} : f32[2,4,3], f32[3,5]
          return %dx, %dw
        }''', [R(2, 4, 3), R(3, 5), R(2, 4, 5)]),
    "matmul_lowered_conv": ('''
        graph @g(%w: f32[6,12], %col: f32[2,12,9], %dy: f32[2,6,9]) -> (f32[6,12], f32[2,12,9]) {
          %y = MatMul(%w, %col) : f32[2,6,9]
          %dw, %dcol = VJP(%w, %col, %y, %dy) {grad_arity=[2,1], grad_needs=[1,1], grad_of="MatMul"} : f32[6,12], f32[2,12,9]
          return %dw, %dcol
        }''', [R(6, 12), R(2, 12, 9), R(2, 6, 9)]),
    "matmul_batched": ('''
        graph @g(%q: f32[2,3,4,5], %k: f32[2,3,5,6], %dy: f32[2,3,4,6]) -> (f32[2,3,4,5], f32[2,3,5,6]) {
          %y = MatMul(%q, %k) : f32[2,3,4,6]
          %dq, %dk = VJP(%q, %k, %y, %dy) {grad_arity=[2,1], grad_needs=[1,1], grad_of="MatMul"} : f32[2,3,4,5], f32[2,3,5,6]
          return %dq, %dk
        }''', [R(2, 3, 4, 5), R(2, 3, 5, 6), R(2, 3, 4, 6)]),
    "matmul_weight_only": ('''
        graph @g(%x: f32[4,3], %w: f32[3,5], %dy: f32[4,5]) -> (f32[3,5]) {
          %y = MatMul(%x, %w) : f32[4,5]
          %dw = VJP(%x, %w, %y, %dy) {grad_arity=[2,1], grad_needs=[0,1], grad_of="MatMul"} : f32[3,5]
          return %dw
        }''', [R(4, 3), R(3, 5), R(4, 5)]),
    "relu": ('''
        graph @g(%x: f32[3,4], %dy: f32[3,4]) -> (f32[3,4]) {
          %y = Relu(%x) : f32[3,4]
          %dx = VJP(%x, %y, %dy) {grad_arity=[1,1], grad_needs=[1], grad_of="Relu"} : f32[3,4]
          return %dx
        }''', [R(3, 4), R(3, 4)]),
    "reshape": ('''
        graph @g(%x: f32[2,3,4], %dy: f32[6,4]) -> (f32[2,3,4]) {
          %s = const i64[2] {value=[6,4]}
          %y = Reshape(%x, %s) : f32[6,4]
          %dx = VJP(%x, %s, %y, %dy) {grad_arity=[2,1], grad_needs=[1,0], grad_of="Reshape"} : f32[2,3,4]
          return %dx
        }''', [R(2, 3, 4), R(6, 4)]),
    "flatten": ('''
        graph @g(%x: f32[2,3,4], %dy: f32[2,12]) -> (f32[2,3,4]) {
          %y = Flatten(%x) {axis=1} : f32[2,12]
          %dx = VJP(%x, %y, %dy) {axis=1, grad_arity=[1,1], grad_needs=[1], grad_of="Flatten"} : f32[2,3,4]
          return %dx
        }''', [R(2, 3, 4), R(2, 12)]),
    "add_broadcast_both_ways": ('''
        graph @g(%a: f32[2,1,4], %b: f32[3,1], %dy: f32[2,3,4]) -> (f32[2,1,4], f32[3,1]) {
          %y = Add(%a, %b) : f32[2,3,4]
          %da, %db = VJP(%a, %b, %y, %dy) {grad_arity=[2,1], grad_needs=[1,1], grad_of="Add"} : f32[2,1,4], f32[3,1]
          return %da, %db
        }''', [R(2, 1, 4), R(3, 1), R(2, 3, 4)]),
    "im2col": ('''
        graph @g(%x: f32[2,3,7,6], %dcol: f32[2,27,12]) -> (f32[2,3,7,6]) {
          %col = Im2Col(%x) {kernel_shape=[3,3], pads=[1,0,1,1], strides=[2,2]} : f32[2,27,12]
          %dx = VJP(%x, %col, %dcol) {grad_arity=[1,1], grad_needs=[1], grad_of="Im2Col", kernel_shape=[3,3], pads=[1,0,1,1], strides=[2,2]} : f32[2,3,7,6]
          return %dx
        }''', [R(2, 3, 7, 6), R(2, 27, 12)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rule_computes_the_tables_gradient(name):
    text, inputs = CASES[name]
    before, g = run_pass(LowerVJP(), text, expect_changed=True)
    assert not any(op.name == "VJP" for op in g.ops)
    assert_same_outputs(before, g, inputs, rtol=1e-5, atol=1e-6)


def test_every_rule_is_tested():
    covered = {op for text, _ in CASES.values()
               for op in RULES if f'grad_of="{op}"' in text}
    assert covered == set(RULES)


def test_a_form_without_rule_stays_a_vjp():
    text = '''
        graph @g(%x: f32[2,3,4], %w: f32[1,4,5], %dy: f32[2,3,5]) -> (f32[1,4,5]) {
          %y = MatMul(%x, %w) : f32[2,3,5]
          %dw = VJP(%x, %w, %y, %dy) {grad_arity=[2,1], grad_needs=[0,1], grad_of="MatMul"} : f32[1,4,5]
          return %dw
        }
    '''
    _, g = run_pass(LowerVJP(), text, expect_changed=False)
    assert_ir(g, text)
