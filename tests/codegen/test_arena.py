"""The kernel arena and replayed segments (codegen.arena), on the host dialect:
results against onnx.reference on every run, lifetimes through NumPy views,
replays after the first run, and threads that share one plan."""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from singa import sonnx
from singa.codegen import host

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler")

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "arena", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _chain_model():
    """Softmax (a templated kernel) -> a reduction -> elementwise over constants:
    every kernel after the first reads only fixed addresses, so they replay."""
    c = numpy_helper.from_array(np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8), "c")
    nodes = [
        helper.make_node("Softmax", ["x"], ["s"], axis=-1),
        helper.make_node("Mul", ["s", "c"], ["m"]),
        helper.make_node("ReduceSum", ["m"], ["r"], keepdims=1),
        helper.make_node("Softmax", ["m"], ["s2"], axis=0),
        helper.make_node("Sub", ["s2", "r"], ["y"]),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
                  [helper.make_tensor_value_info("y", F, [4, 8])], [c])


def _plan(rep):
    return next(iter(rep.executor._cache.values())).plan


def _check(model, feeds_list, rep):
    ref = ReferenceEvaluator(model)
    for feeds in feeds_list:
        want = ref.run(None, feeds)
        got = rep.run(list(feeds.values()))
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g.data), w, rtol=1e-5, atol=1e-6)


def test_kernel_results_live_in_the_arena_and_segments_replay():
    m = _chain_model()
    rep = sonnx.prepare(m, target="c")
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((4, 8), dtype=np.float32)} for _ in range(4)]
    _check(m, feeds, rep)
    plan = _plan(rep)
    assert plan.arena_bytes > 0 and plan.places
    assert plan.segments, str(plan)
    arena = plan.pool._free[0]
    first, stop = plan.segments[0]
    assert len(arena.replays[first].calls) == stop - first
    assert "replayed segments: s" in str(plan)


def test_outputs_are_never_arena_memory():
    """An output reached through a view of a kernel result (Reshape) is copied:
    the next run must not change what the caller holds."""
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=-1),
             helper.make_node("Exp", ["s"], ["e"]),
             helper.make_node("Reshape", ["e", "shape"], ["y"])]
    shape = numpy_helper.from_array(np.array([32], np.int64), "shape")
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
               [helper.make_tensor_value_info("y", F, [32])], [shape])
    rep = sonnx.prepare(m, target="c")
    x1 = np.arange(32, dtype=np.float32).reshape(4, 8) / 7
    y1 = np.asarray(rep.run([x1])[0].data)
    keep = y1.copy()
    rep.run([-x1])
    np.testing.assert_array_equal(y1, keep)


def test_a_view_keeps_its_kernel_result_alive():
    """s is a kernel result; r, a NumPy Reshape of it, is read after s's own last
    use.  Its slot must not go to the kernels that run in between."""
    shape = numpy_helper.from_array(np.array([8, 4], np.int64), "shape")
    back = numpy_helper.from_array(np.array([4, 8], np.int64), "back")
    nodes = [
        helper.make_node("Softmax", ["x"], ["s"], axis=-1),
        helper.make_node("Reshape", ["s", "shape"], ["r"]),
        helper.make_node("Softmax", ["x"], ["t"], axis=0),
        helper.make_node("Exp", ["t"], ["u"]),
        helper.make_node("Reshape", ["r", "back"], ["rb"]),
        helper.make_node("Add", ["u", "rb"], ["y"]),
    ]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
               [helper.make_tensor_value_info("y", F, [4, 8])], [shape, back])
    rep = sonnx.prepare(m, target="c")
    rng = np.random.default_rng(1)
    _check(m, [{"x": rng.standard_normal((4, 8), dtype=np.float32)} for _ in range(3)], rep)
    plan = _plan(rep)
    s_step = next(s for s in plan.steps if s.kernel is not None)
    assert s_step.index in plan.places


def test_threads_running_one_plan_each_get_their_own_arena():
    m = _chain_model()
    rep = sonnx.prepare(m, target="c")
    ref = ReferenceEvaluator(m)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((4, 8), dtype=np.float32) for _ in range(8)]
    want = [ref.run(None, {"x": x})[0] for x in xs]
    rep.run([xs[0]])
    errors = []

    def work(k):
        for _ in range(200):
            got = np.asarray(rep.run([xs[k]])[0].data)
            if not np.allclose(got, want[k], rtol=1e-5, atol=1e-6):
                errors.append(k)
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_plan(rep).pool._free) >= 1


def test_the_numpy_target_has_no_arena():
    rep = sonnx.prepare(_chain_model(), target="numpy")
    rep.run([np.ones((4, 8), np.float32)])
    plan = _plan(rep)
    assert plan.pool is None and not plan.segments
    assert "arena:" not in str(plan)


def test_onnx_checker_accepts_the_models():
    onnx.checker.check_model(_chain_model())
