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


def test_segments_reading_weights_replay_while_the_same_arrays_are_passed():
    """Weights (tensor_map) are read live: a segment of kernels reading them is
    replayed while the rep passes the same arrays, sees changes made in place,
    and is recorded again when an array is replaced."""
    w1 = numpy_helper.from_array(np.eye(8, dtype=np.float32) * 0.5, "w1")
    w2 = numpy_helper.from_array(np.ones((8, 8), np.float32) * 0.1, "w2")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w1"], ["a"]),
             helper.make_node("Tanh", ["a"], ["t"]), helper.make_node("MatMul", ["t", "w2"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
               [helper.make_tensor_value_info("y", F, [4, 8])], [w1, w2])
    rep = sonnx.prepare(m, target="c")
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)

    def want():
        w = {k: t.numpy() for k, t in rep.tensor_map.items()}
        return np.tanh(np.maximum(x, 0) @ w["w1"]) @ w["w2"]

    for _ in range(2):
        np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)
    plan = _plan(rep)
    first = plan.segments[0][0]
    assert plan.segment_params[first], str(plan)  # the segment reads weights
    arena = plan.pool._free[0]
    replay = arena.replays[first]
    rep.tensor_map["w2"].data[...] *= -3  # in place: the same array
    np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)
    assert arena.replays[first] is replay
    rep.tensor_map["w1"].data = np.full((8, 8), 0.25, np.float32)  # another array
    np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)
    assert arena.replays[first] is not replay


def test_a_weight_read_through_a_view_made_outside_the_segment_is_checked_too():
    """Reshape(W) runs before the segment that reads it (a step reading the input
    comes between): the segment still depends on W's array; a strided W (which
    the launcher copies on every call) is never recorded."""
    w = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(2, 32) / 64, "w")
    shape = numpy_helper.from_array(np.array([8, 8], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["w", "shape"], ["w2"]),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["a"]), helper.make_node("Tanh", ["a"], ["t"]),
             # not the output: the product (with its Tanh) writes the arena
             helper.make_node("Transpose", ["t"], ["y"], perm=[1, 0])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
               [helper.make_tensor_value_info("y", F, [8, 4])], [w, shape])
    rep = sonnx.prepare(m, target="c")
    x = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)

    def want():
        return np.tanh(np.maximum(x, 0) @ rep.tensor_map["w"].numpy().reshape(8, 8)).T

    for _ in range(2):
        np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)
    plan = _plan(rep)
    (first, _), = plan.segments
    assert plan.segment_params[first], str(plan)
    rep.tensor_map["w"].data = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
    for _ in range(2):
        np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)
    strided = np.linspace(1, -1, 128, dtype=np.float32).reshape(2, 64)[:, ::2]
    rep.tensor_map["w"].data = strided
    for _ in range(3):
        np.testing.assert_allclose(rep.run([x])[0].numpy(), want(), rtol=1e-6)


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


def _conv_model(n):
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["y"])]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [n, 3, 7, 7])],
                  [helper.make_tensor_value_info("y", F, [n, 4, 4, 4])], [w, b])


def _assembled(plan):
    """(Concat step, its parts' producing steps) of each Concat assembled in place."""
    from singa.codegen.arena import _hand_on

    made = {o: s for s in plan.steps for o in s.outputs if o is not None}
    return [(s, [made[i] for i in s.inputs]) for s in plan.steps
            if s.op == "Concat" and s.compute is _hand_on]


def test_a_conv_in_batch_chunks_writes_each_chunk_where_the_result_lies(monkeypatch):
    """lower_conv splits a big batch; the chunks' products are written in their
    ranges of one result (no second copy of it), on every run and replay.  (The
    columns' path, as on the cuda target and for grouped convolutions: the c
    target packs a group-1 Conv's columns from the image, with no chunks.)"""
    import singa.passes.lower_conv as lc

    explicit = lc.LowerConv.__init__
    monkeypatch.setattr(lc.LowerConv, "__init__",
                        lambda self, implicit=False: explicit(self, implicit=False))
    monkeypatch.setattr(lc, "COLUMN_BYTES", 2 * 3 * 9 * 16 * 4)  # two images' columns
    m = _conv_model(5)
    rep = sonnx.prepare(m, target="c")
    rng = np.random.default_rng(4)
    _check(m, [{"x": rng.standard_normal((5, 3, 7, 7), dtype=np.float32)} for _ in range(3)],
           rep)
    plan = _plan(rep)
    (concat, parts), = _assembled(plan)
    assert [p.op for p in parts] == ["MatMul"] * 3
    at = plan.places[concat.index].offset
    for p in parts:
        place = plan.places[p.index]
        assert place.offset == at and place.shape[1:] == (4, 16)
        at += int(np.prod(place.shape)) * 4
    assert at == plan.places[concat.index].offset + 5 * 4 * 16 * 4
    # the result's block, one chunk's columns and one chunk of images at a time
    # (each rounded up to 256 bytes): the result is not held twice
    up = lambda n: -(-n // 256) * 256  # noqa: E731
    assert plan.arena_bytes <= up(5 * 4 * 16 * 4) + up(2 * 27 * 16 * 4) + up(2 * 3 * 49 * 4)


def test_only_concats_of_contiguous_single_use_parts_are_assembled():
    """Along axis 1 of (4, 8) blocks the parts interleave; a part read again
    later must keep its own memory: both stay copies, with the right values."""
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=-1),
             helper.make_node("Exp", ["x"], ["e"]),
             helper.make_node("Concat", ["s", "e"], ["rows"], axis=0),
             helper.make_node("Concat", ["s", "e"], ["cols"], axis=1),
             helper.make_node("Softmax", ["x"], ["t"], axis=0),
             helper.make_node("Tanh", ["x"], ["u"]),
             helper.make_node("Concat", ["t", "u"], ["joined"], axis=0),
             helper.make_node("ReduceSum", ["rows"], ["r1"], keepdims=0),
             helper.make_node("ReduceSum", ["cols"], ["r2"], keepdims=0),
             helper.make_node("ReduceSum", ["joined"], ["r3"], keepdims=0),
             helper.make_node("Add", ["r1", "r2"], ["r12"]),
             helper.make_node("Add", ["r12", "r3"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [4, 8])],
               [helper.make_tensor_value_info("y", F, [])])
    rep = sonnx.prepare(m, target="c")
    rng = np.random.default_rng(5)
    _check(m, [{"x": rng.standard_normal((4, 8), dtype=np.float32)} for _ in range(3)], rep)
    plan = _plan(rep)
    assert [(c.op, [p.op for p in parts]) for c, parts in _assembled(plan)] == [
        ("Concat", ["Softmax", "Tanh"])], str(plan)


def test_the_numpy_target_has_no_arena():
    rep = sonnx.prepare(_chain_model(), target="numpy")
    rep.run([np.ones((4, 8), np.float32)])
    plan = _plan(rep)
    assert plan.pool is None and not plan.segments
    assert "arena:" not in str(plan)


def test_onnx_checker_accepts_the_models():
    onnx.checker.check_model(_chain_model())


def test_every_place_in_the_arena_is_aligned():
    """Offsets are multiples of ALIGN from a base aligned to it, whatever address
    NumPy gives the arena's bytes."""
    from singa.codegen.arena import ALIGN, Arena

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["c"]), helper.make_node("Transpose", ["c"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [3, 5])],
               [helper.make_tensor_value_info("y", F, [5, 3])])
    rep = sonnx.prepare(m, target="c")
    rep.run([np.ones((3, 5), np.float32)])
    plan = _plan(rep)
    keep = [np.empty(k, np.uint8) for k in range(1, 80)]  # move the allocator along
    arenas = [Arena(plan, np) for _ in range(8)]
    views = [v for a in arenas for v in a.views if v is not None]
    assert views and keep
    assert all(v.ctypes.data % ALIGN == 0 for v in views)
