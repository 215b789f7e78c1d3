"""Epilogue chains the numpy target adds (codegen.cpu ``NUMPY_HEADS``): MatMul,
Div, Sigmoid and Erf as heads, Div and Erf as in-place epilogues, so a BERT
GELU (Div, Erf, Add, Mul, Mul) and an EfficientNet Swish (Sigmoid, Mul) each
run in one array.

Reference: ``singa.ir.interpret`` (every op allocating its result), bitwise, as
in test_epilogues.py; integer Div against NumPy's truncation computed here.
"""

from __future__ import annotations

import numpy as np

from singa import device
from singa.codegen.cpu import _chains, lower
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.passes import InferShapes, PlanMemory
from singa.runtime.executor import run_plan

RNG = np.random.default_rng(3)

GELU_SWISH = """
graph @g(%x: f32[4,8]) -> (f32[4,16]) {
  %W = param f32[8,16]
  %b = param f32[16]
  %m = MatMul(%x, %W)  # matmul
  %h = Add(%m, %b)  # bias
  %r2 = const f32[] {value=1.4142135}
  %d = Div(%h, %r2)  # div
  %e = Erf(%d)  # erf
  %one = const f32[] {value=1.0}
  %a = Add(%e, %one)
  %p = Mul(%h, %a)
  %half = const f32[] {value=0.5}
  %y = Mul(%p, %half)
  %s = Sigmoid(%y)  # sigmoid
  %z = Mul(%y, %s)  # swish
  return %z
}
"""


def _plan(text, data, **kw):
    g = parse_graph(text, data=data)
    InferShapes().run(g)
    PlanMemory().run(g)
    return g, lower(g, device.get_default_device(), live_params=set(data), **kw)


def test_gelu_and_swish_chains_run_in_place_and_bitwise_equal():
    data = {"W": RNG.standard_normal((8, 16)).astype(np.float32),
            "b": RNG.standard_normal(16).astype(np.float32)}
    g, plan = _plan(GELU_SWISH, data)
    assert [s.op for s in plan.steps] == ["MatMul+Add", "Div+Erf+Add+Mul+Mul", "Sigmoid+Mul"]
    # Mul(y, s) takes the sigmoid's array as its second operand
    assert plan.steps[2].epilogue[0][2] == 1
    x = (RNG.standard_normal((4, 8)) * 2).astype(np.float32)
    x0 = x.copy()
    for _ in range(2):
        got = run_plan(plan, [x], data)[0]
        want = interpret(g, [x])[0]
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, x0)


def test_kernel_targets_keep_their_heads():
    # BatchNormalization has no C template, so on the kernel targets it could
    # still follow a head; MatMul is a GEMM kernel there and must stay one
    text = """
graph @g(%x: f32[4,8]) -> (f32[4,16]) {
  %W = param f32[8,16]
  %scale = param f32[16]
  %B = param f32[16]
  %mean = param f32[16]
  %var = param f32[16]
  %m = MatMul(%x, %W)
  %y = BatchNormalization(%m, %scale, %B, %mean, %var)
  return %y
}"""
    g = parse_graph(text, data={})
    InferShapes().run(g)
    outputs = set(g.outputs)
    assert [op.name for op in g.ops if id(op) in _chains(g, outputs)] == ["MatMul"]
    assert not _chains(g, outputs, kernels=True)


def test_integer_div_epilogue_truncates_like_the_op():
    text = """
graph @g(%a: i32[3,4], %b: i32[3,4]) -> (i32[3,4]) {
  %k = const i32[] {value=3}
  %s = Add(%a, %b)
  %q = Div(%s, %k)
  return %q
}"""
    g, plan = _plan(text, {})
    assert [s.op for s in plan.steps] == ["Add+Div"]
    a = RNG.integers(-20, 20, (3, 4)).astype(np.int32)
    b = RNG.integers(-20, 20, (3, 4)).astype(np.int32)
    got = run_plan(plan, [a, b], {})[0]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.trunc((a + b) / 3).astype(np.int32))
    np.testing.assert_array_equal(got, interpret(g, [a, b])[0])
