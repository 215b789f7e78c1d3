"""codegen.cpu / ExecutionPlan: structure, text form, and results equal to the interpreter.

Reference: ``singa.ir.interpret`` (the plain op-by-op evaluator) on the same graph.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa import device
from singa.codegen.cpu import lower
from singa.errors import OpError, ShapeError
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.passes import InferShapes, PlanMemory
from singa.runtime.executor import run_plan

TEXT = """
graph @g(%x: f32[2,3]) -> (f32[2,4], f32[2,4]) opset 13 {
  %w = param f32[3,4]
  %s = const i64[2] {value=[4,2]}
  %h = MatMul(%x, %w)  # fc
  %a = LeakyRelu(%h)  # act
  %r = Reshape(%a, %s)  # r
  %t = Transpose(%r) {perm=[1,0]}  # t
  %sg = Sigmoid(%h)  # sig
  return %t, %sg
}
"""

W = np.arange(12, dtype=np.float32).reshape(3, 4) / 6 - 1
X = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)


def graph():
    g = parse_graph(TEXT, data={"w": W})
    InferShapes().run(g)
    PlanMemory().run(g)
    return g


def test_structure_and_text():
    g = graph()
    plan = lower(g, device.get_default_device(), live_params={"w"})
    kinds = [b.kind for b in plan.buffers]
    assert kinds[:3] == ["input", "param", "const"] and kinds[3:] == ["temp"] * 5
    assert plan.live_params == {1: "w"}
    assert [s.op for s in plan.steps] == ["MatMul", "LeakyRelu", "Reshape", "Transpose", "Sigmoid"]
    # defaults are completed once, at build time
    assert plan.steps[1].attrs["alpha"] == pytest.approx(0.01)
    # %h feeds LeakyRelu and Sigmoid: freed after its last reader (Sigmoid, step 4)
    b0 = plan.buffer_of("h").id
    assert b0 in plan.steps[4].frees and all(b0 not in s.frees for s in plan.steps[:4])
    # outputs are never freed
    for b in plan.outputs:
        assert all(b not in s.frees for s in plan.steps)
    # temps carry the slots plan_memory assigned
    assert all(b.slot is not None for b in plan.buffers if b.kind == "temp"
               and b.id not in plan.outputs)
    text = str(plan)
    for needle in ("MatMul(b0, b1)", "# fc", "Transpose", "perm=[1,0]", "f32[2,4]", "slot",
                   "inputs: b0", "outputs: "):
        assert needle in text


def test_results_equal_interpreter():
    g = graph()
    ref = interpret(g, [X])
    plan = lower(g, device.get_default_device(), live_params={"w"})
    got = run_plan(plan, [X], {"w": W})
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_live_param_read_each_run_const_bound_once():
    g = graph()
    live = lower(g, device.get_default_device(), live_params={"w"})
    bound = lower(g, device.get_default_device(), live_params=())
    assert bound.live_params == {} and bound.buffers[1].kind == "const"
    w2 = W * 3
    np.testing.assert_allclose(run_plan(live, [X], {"w": w2})[1], 1 / (1 + np.exp(-(X @ w2))),
                               rtol=1e-6)
    # the bound plan ignores the caller's weights: it holds the graph's data
    np.testing.assert_allclose(run_plan(bound, [X], {"w": w2})[1], 1 / (1 + np.exp(-(X @ W))),
                               rtol=1e-6)


def test_collect_all_lists_every_result_in_order():
    g = graph()
    plan = lower(g, device.get_default_device(), live_params={"w"}, collect_all=True)
    env = interpret(g, [X], return_env=True)
    got = run_plan(plan, [X], {"w": W}, collect=True)
    assert list(got) == ["h", "a", "r", "t", "sg"]
    by_name = {v.name: a for v, a in env.items() if v.kind == "op"}
    for k, a in got.items():
        np.testing.assert_array_equal(a, by_name[k])
    assert all(s.frees == () for s in plan.steps)


def test_outputs_do_not_alias_weights_or_inputs():
    g = parse_graph("""
graph @g(%x: f32[3]) -> (f32[3], f32[3], f32[2]) {
  %w = param f32[2]
  %0 = Identity(%x)
  return %0, %x, %w
}""", data={"w": np.ones(2, np.float32)})
    InferShapes().run(g)
    plan = lower(g, device.get_default_device(), live_params={"w"})
    x, w = np.zeros(3, np.float32), np.ones(2, np.float32)
    outs = run_plan(plan, [x], {"w": w})
    for o in outs:
        o += 5
    assert (x == 0).all() and (w == 1).all()


def test_a_failing_step_names_its_node_and_keeps_the_error_class():
    g = parse_graph("""
graph @g(%x: f32[6], %s: i64[2]) -> (f32[?,?]) {
  %0 = Reshape(%x, %s)  # my_reshape
  return %0
}""")
    plan = lower(g, device.get_default_device())
    with pytest.raises(ShapeError, match=r"Reshape \(my_reshape\): cannot reshape"):
        run_plan(plan, [np.zeros(6, np.float32), np.array([4, 4])], {})
    # anything else a compute raises is an OpError naming the node (the safety net)
    step = plan.steps[0]
    step.compute = lambda *a: {}["boom"]
    with pytest.raises(OpError, match=r"Reshape \(my_reshape\).*KeyError"):
        run_plan(plan, [np.zeros(6, np.float32), np.array([2, 3])], {})
