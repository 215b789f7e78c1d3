"""append_gradients: VJP ops for the loss's gradient w.r.t. params, as graph outputs."""

import numpy as np
import pytest

from singa.errors import GradError, IRError
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.passes.append_gradients import AppendGradients

from ._helpers import assert_ir, ir, run_pass

RNG = np.random.default_rng(0)

MLP = '''
    graph @g(%x: f32[2,3]) -> (f32[]) {
      %w = param f32[3,4]
      %b = param f32[4]
      %0 = MatMul(%x, %w) : f32[2,4]
      %1 = Add(%0, %b) : f32[2,4]
      %2 = Tanh(%1) : f32[2,4]
      %3 = Mul(%2, %2) : f32[2,4]
      %4 = ReduceSum(%3) {keepdims=0} : f32[]
      return %4
    }
'''


def _mlp_data():
    return {"w": RNG.standard_normal((3, 4)).astype(np.float32),
            "b": RNG.standard_normal(4).astype(np.float32)}


def test_each_op_gets_one_vjp_and_a_reused_value_sums_its_contributions():
    _, g = run_pass(AppendGradients(), MLP, _mlp_data(), expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[2,3]) -> (f32[], f32[3,4], f32[4]) {
          %w = param f32[3,4]
          %b = param f32[4]
          %0 = const f32[] {value=[1.0]}
          %1 = MatMul(%x, %w) : f32[2,4]
          %2 = Add(%1, %b) : f32[2,4]
          %3 = Tanh(%2) : f32[2,4]
          %4 = Mul(%3, %3) : f32[2,4]
          %5 = ReduceSum(%4) {keepdims=0} : f32[]
          %6 = VJP(%4, %5, %0) {grad_arity=[1,1], grad_needs=[1], grad_of="ReduceSum", keepdims=0} : f32[2,4]
          %7, %8 = VJP(%3, %3, %4, %6) {grad_arity=[2,1], grad_needs=[1,1], grad_of="Mul"} : f32[2,4], f32[2,4]
          %9 = Add(%7, %8) : f32[2,4]
          %10 = VJP(%2, %3, %9) {grad_arity=[1,1], grad_needs=[1], grad_of="Tanh"} : f32[2,4]
          %11, %b.grad = VJP(%1, %b, %2, %10) {grad_arity=[2,1], grad_needs=[1,1], grad_of="Add"} : f32[2,4], f32[4]
          %w.grad = VJP(%x, %w, %1, %11) {grad_arity=[2,1], grad_needs=[0,1], grad_of="MatMul"} : f32[3,4]
          return %5, %w.grad, %b.grad
        }
    ''')


def _loss64(x, w, b):
    return float((np.tanh(x @ w + b) ** 2).sum())


def test_gradients_match_finite_differences_in_float64():
    data = _mlp_data()
    p = AppendGradients(wrt=["b", "w"])
    _, g = run_pass(p, MLP, data)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    loss, dw_b, dw_w = interpret(g, [x])
    x64, w64, b64 = (a.astype(np.float64) for a in (x, data["w"], data["b"]))
    assert loss == pytest.approx(_loss64(x64, w64, b64), rel=1e-5)
    eps = 1e-6
    for got, name, arr in ((dw_w, "w", w64), (dw_b, "b", b64)):
        want = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[i] += eps
            lo[i] -= eps
            args = {"w": w64, "b": b64, name: hi}
            f_hi = _loss64(x64, args["w"], args["b"])
            args[name] = lo
            want[i] = (f_hi - _loss64(x64, args["w"], args["b"])) / (2 * eps)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert list(p.grads) == ["b", "w"]


def test_a_param_the_loss_ignores_gets_zeros_and_integer_operands_none():
    _, g = run_pass(AppendGradients(), '''
        graph @g(%x: f32[2,3]) -> (f32[]) {
          %w = param f32[6]
          %unused = param f32[2]
          %s = const i64[2] {value=[2,3]}
          %0 = Reshape(%w, %s) : f32[2,3]
          %1 = Mul(%x, %0) : f32[2,3]
          %2 = ReduceSum(%1) {keepdims=0} : f32[]
          return %2
        }
    ''', {"w": np.arange(6, dtype=np.float32), "unused": np.ones(2, np.float32)})
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    _, dw, dunused = interpret(g, [x])
    np.testing.assert_array_equal(dw, x.reshape(-1))
    np.testing.assert_array_equal(dunused, np.zeros(2, np.float32))
    reshape_vjp = [op for op in g.ops if op.attrs.get("grad_of") == "Reshape"][0]
    assert reshape_vjp.attrs["grad_needs"] == [1, 0]


def test_bad_requests_are_named():
    g = parse_graph(ir(MLP), data=_mlp_data())
    with pytest.raises(IRError, match="no param named 'v'"):
        AppendGradients(wrt=["v"]).run(g)
    with pytest.raises(IRError, match="loss index 3"):
        AppendGradients(loss=3).run(g)
    g = parse_graph(ir('''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %w = param f32[3]
          %0 = Mul(%x, %w) : f32[3]
          %1 = ArgMax(%0) {keepdims=0} : i64[]
          %2 = Cast(%1) {to=1} : f32[]
          %3 = Mul(%0, %2) : f32[3]
          return %3
        }
    '''), data={"w": np.ones(3, np.float32)})
    AppendGradients().run(g)  # non-scalar loss of static shape: seeded with ones
    x = np.array([1, 3, 2], np.float32)
    _, dw = interpret(g, [x])
    np.testing.assert_array_equal(dw, x * 1.0)  # d(sum(x*w*argmax))/dw at argmax=1


def test_an_op_without_a_gradient_rule_is_named():
    g = parse_graph(ir('''
        graph @g(%x: f32[3]) -> (f32[6]) {
          %w = param f32[3]
          %s = const f32[1] {value=[2.0]}
          %0 = Mul(%x, %w) : f32[3]
          %1 = Upsample(%0, %s) : f32[6]  # upsampling
          return %1
        }
    '''), data={"w": np.ones(3, np.float32)})
    with pytest.raises(GradError, match="Upsample \\(upsampling\\)"):
        AppendGradients().run(g)
