"""If, Loop, Scan, SequenceMap, FlexAttention and Gradient: models with bodies,
against onnxruntime (onnx.reference or NumPy where it lacks the op), on both CPU
targets.

The op table's one-node cases (``test_table``) cannot hold bodies, so the
control-flow ops are checked here, on whole models: captured outer values,
nested regions, loop carries that change shape, zero iterations, and bad input.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP
from onnx import helper

import singa
from singa import sonnx, tensor
from singa.errors import DTypeError, ModelError, ResourceError, ShapeError

OPSET = 17
TARGETS = ("numpy", "c")
REGION_OPS = ("If", "Loop", "Scan", "SequenceMap", "Gradient")  # ops with bodies: the
# op-table census (test_table) counts them covered here


def vi(name, dtype=TP.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


def model(nodes, inputs, outputs, opset=OPSET, inits=()):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def ort_run(m, feeds):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.asarray(v) for k, v in feeds.items()})


def singa_run(m, feeds, target):
    rep = sonnx.prepare(m, "CPU", target=target)
    return [tensor.to_numpy(t) for t in rep.run(list(feeds.values()))]


def check(m, feeds, rtol=1e-6):
    want = ort_run(m, feeds)
    for target in TARGETS:
        got = singa_run(m, feeds, target)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (target, g.shape, w.shape)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-6)


def const(name, arr):
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(
        np.asarray(arr), name))


# ------------------------------------------------------------------ If

def if_model():
    """y = If(sum(x) > 0): x * w (w captured)  else: x - 1 (a body constant)."""
    then = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [],
                             [vi("t", shape=[2, 3])])
    other = helper.make_graph([const("one", np.float32(1)),
                               helper.make_node("Sub", ["x", "one"], ["e"])], "else", [],
                              [vi("e", shape=[2, 3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             const("zero", np.float32(0)),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    w = onnx.numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    return model(nodes, [vi("x", shape=[2, 3])], [vi("y", shape=[2, 3])], inits=[w])


@pytest.mark.parametrize("sign", [1, -1])
def test_if_takes_the_branch_the_condition_picks(sign):
    x = sign * np.abs(np.random.default_rng(0).normal(size=(2, 3))).astype(np.float32)
    check(if_model(), {"x": x})


def test_if_branches_of_different_shapes_give_an_unknown_dim():
    then = helper.make_graph([const("a", np.ones((2,), np.float32))], "t", [], [vi("a")])
    other = helper.make_graph([const("b", np.ones((3,), np.float32))], "e", [], [vi("b")])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
              [vi("c", TP.BOOL, [])], [vi("y", shape=[None])])
    for c in (True, False):
        check(m, {"c": np.array(c)})
    ir = singa.compile(m).ir
    assert re.search(r"= If\(%\w+\) \{.*captures=0\} : f32\[\?\]", ir), ir


# ------------------------------------------------------------------ Loop

def loop_model(with_cond=True, trip=True):
    """A loop carrying s (s += x * i) and stacking s each iteration; stops when
    s exceeds the captured limit (while-loop form) or after M iterations."""
    body_nodes = [helper.make_node("Cast", ["i"], ["fi"], to=TP.FLOAT),
                  helper.make_node("Mul", ["x", "fi"], ["xi"]),
                  helper.make_node("Add", ["s_in", "xi"], ["s_out"]),
                  helper.make_node("ReduceSum", ["s_out"], ["tot"], keepdims=0),
                  helper.make_node("Less", ["tot", "limit"], ["c_out"]),
                  helper.make_node("Identity", ["s_out"], ["scan"])]
    body = helper.make_graph(body_nodes, "body",
                             [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []),
                              vi("s_in", shape=[3])],
                             [vi("c_out", TP.BOOL, []), vi("s_out", shape=[3]),
                              vi("scan", shape=[3])])
    ins = [vi("x", shape=[3]), vi("s0", shape=[3]), vi("limit", shape=[])]
    names = ["", "", "s0"]
    if trip:
        ins.append(vi("M", TP.INT64, []))
        names[0] = "M"
    if with_cond:
        ins.append(vi("cond", TP.BOOL, []))
        names[1] = "cond"
    node = helper.make_node("Loop", names, ["s_final", "stacked"], body=body)
    return model([node], ins, [vi("s_final", shape=[3]), vi("stacked", shape=[None, 3])])


def loop_feeds(m, trips=5, cond=True, limit=100.0):
    feeds = {"x": np.array([1, 2, 3], np.float32), "s0": np.zeros(3, np.float32),
             "limit": np.float32(limit)}
    names = [i.name for i in m.graph.input]
    if "M" in names:
        feeds["M"] = np.int64(trips)
    if "cond" in names:
        feeds["cond"] = np.array(cond)
    return feeds


@pytest.mark.parametrize("trips,cond,limit", [(5, True, 100.0), (5, True, 20.0),
                                              (0, True, 100.0), (5, False, 100.0)])
def test_loop_with_trip_count_and_condition(trips, cond, limit):
    m = loop_model()
    check(m, loop_feeds(m, trips, cond, limit))


def test_loop_as_a_while_loop_without_trip_count():
    m = loop_model(trip=False)
    check(m, loop_feeds(m, limit=50.0))


def test_loop_carry_that_grows_each_iteration():
    """A carried tensor concatenated to itself changes shape: its type generalises."""
    body = helper.make_graph(
        [helper.make_node("Concat", ["v_in", "v_in"], ["v_out"], axis=0),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), vi("v_in", shape=[None])],
        [vi("c_out", TP.BOOL, []), vi("v_out", shape=[None])])
    m = model([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)],
              [vi("M", TP.INT64, []), vi("v0", shape=[2])], [vi("v", shape=[None])])
    check(m, {"M": np.int64(3), "v0": np.array([1, 2], np.float32)})
    ir = singa.compile(m, input_shapes={"M": [], "v0": [2]}).ir
    assert re.search(r"= Loop\(%M, _, %v0\) \{.*captures=0\} : f32\[\?\]", ir), ir


def test_nested_regions_capture_through_every_level():
    """An If inside a Loop body reads a value of the main graph."""
    inner_then = helper.make_graph([helper.make_node("Add", ["acc", "bias"], ["r"])], "t", [],
                                   [vi("r", shape=[2])])
    inner_else = helper.make_graph([helper.make_node("Sub", ["acc", "bias"], ["r2"])], "e", [],
                                   [vi("r2", shape=[2])])
    body = helper.make_graph(
        [const("two", np.int64(2)), helper.make_node("Mod", ["i", "two"], ["odd"]),
         helper.make_node("Cast", ["odd"], ["b"], to=TP.BOOL),
         helper.make_node("If", ["b"], ["acc_out"], then_branch=inner_then,
                          else_branch=inner_else),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), vi("acc", shape=[2])],
        [vi("c_out", TP.BOOL, []), vi("acc_out", shape=[2])])
    m = model([helper.make_node("Loop", ["M", "", "a0"], ["a"], body=body)],
              [vi("M", TP.INT64, []), vi("a0", shape=[2]), vi("bias", shape=[2])],
              [vi("a", shape=[2])])
    check(m, {"M": np.int64(5), "a0": np.zeros(2, np.float32),
              "bias": np.array([1.5, -2], np.float32)})


# ------------------------------------------------------------------ Scan

def scan_model(directions=(0, 1), out_axes=(0, 1)):
    """State sum += x_t * y_t; outputs each step's state and x_t - y_t."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["xt", "yt"], ["p"]),
         helper.make_node("Add", ["st", "p"], ["st_out"]),
         helper.make_node("Identity", ["st_out"], ["o1"]),
         helper.make_node("Sub", ["xt", "yt"], ["o2"])], "body",
        [vi("st", shape=[2]), vi("xt", shape=[2]), vi("yt", shape=[2])],
        [vi("st_out", shape=[2]), vi("o1", shape=[2]), vi("o2", shape=[2])])
    node = helper.make_node("Scan", ["s0", "x", "y"], ["s", "ys1", "ys2"], body=body,
                            num_scan_inputs=2, scan_input_directions=list(directions),
                            scan_output_axes=list(out_axes))
    return model([node], [vi("s0", shape=[2]), vi("x", shape=[4, 2]), vi("y", shape=[4, 2])],
                 [vi("s"), vi("ys1"), vi("ys2")])


@pytest.mark.parametrize("directions,out_axes", [((0, 0), (0, 0)), ((0, 1), (0, 1)),
                                                 ((1, 1), (1, -1))])
def test_scan_directions_and_output_axes(directions, out_axes):
    rng = np.random.default_rng(1)
    check(scan_model(directions, out_axes),
          {"s0": np.zeros(2, np.float32), "x": rng.normal(size=(4, 2)).astype(np.float32),
           "y": rng.normal(size=(4, 2)).astype(np.float32)}, rtol=1e-5)


def test_scan_opset8_batched_form():
    body = helper.make_graph([helper.make_node("Add", ["st", "xt"], ["st_out"]),
                              helper.make_node("Identity", ["st_out"], ["o"])], "body",
                             [vi("st", shape=[2]), vi("xt", shape=[2])],
                             [vi("st_out", shape=[2]), vi("o", shape=[2])])
    node = helper.make_node("Scan", ["", "s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1)
    m = model([node], [vi("s0", shape=[3, 2]), vi("x", shape=[3, 4, 2])],
              [vi("s", shape=[3, 2]), vi("ys", shape=[3, 4, 2])], opset=8)
    rng = np.random.default_rng(2)
    check(m, {"s0": rng.normal(size=(3, 2)).astype(np.float32),
              "x": rng.normal(size=(3, 4, 2)).astype(np.float32)}, rtol=1e-5)


# ------------------------------------------------------------------ SequenceMap

def sequence_map_model():
    """Split x into rows, map each row r with a captured w to (r * w, sum(r)),
    and concatenate the results back."""
    body = helper.make_graph([helper.make_node("Mul", ["r", "w"], ["rw"]),
                              helper.make_node("ReduceSum", ["r"], ["s"], keepdims=1)],
                             "body", [vi("r", shape=[None])],
                             [vi("rw", shape=[None]), vi("s", shape=[1])])
    nodes = [helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=0),
             helper.make_node("SequenceMap", ["rows"], ["rws", "sums"], body=body),
             helper.make_node("ConcatFromSequence", ["rws"], ["y"], axis=0, new_axis=1),
             helper.make_node("ConcatFromSequence", ["sums"], ["t"], axis=0)]
    return model(nodes, [vi("x", shape=[3, 4]), vi("w", shape=[4])],
                 [vi("y", shape=[3, 4]), vi("t", shape=[3])])


def test_sequence_map_over_split_rows_with_a_captured_value():
    rng = np.random.default_rng(4)
    check(sequence_map_model(), {"x": rng.normal(size=(3, 4)).astype(np.float32),
                                 "w": rng.normal(size=4).astype(np.float32)}, rtol=1e-5)


# ------------------------------------------------------------------ FlexAttention

def flex_model(bias_in_body: bool):
    """score_mod adds a bias (a body constant, or a captured graph input), prob_mod
    squares the probabilities."""
    bias = np.random.default_rng(6).normal(size=(1, 2, 3, 4)).astype(np.float32)
    score_nodes = [helper.make_node("Add", ["s", "bias"], ["s2"])]
    if bias_in_body:
        score_nodes.insert(0, const("bias", bias))
    score = helper.make_graph(score_nodes, "score", [vi("s", shape=[1, 2, 3, 4])],
                              [vi("s2", shape=[1, 2, 3, 4])])
    prob = helper.make_graph([helper.make_node("Mul", ["p", "p"], ["p2"])], "prob",
                             [vi("p", shape=[1, 2, 3, 4])], [vi("p2", shape=[1, 2, 3, 4])])
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview",
                            score_mod=score, prob_mod=prob, scale=0.5)
    ins = [vi("q", shape=[1, 2, 3, 8]), vi("k", shape=[1, 1, 4, 8]), vi("v", shape=[1, 1, 4, 6])]
    if not bias_in_body:
        ins.append(vi("bias", shape=[1, 2, 3, 4]))
    g = helper.make_graph([node], "m", ins, [vi("y", shape=[1, 2, 3, 6])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 24),
                                            helper.make_opsetid("ai.onnx.preview", 1)])
    rng = np.random.default_rng(5)
    feeds = {"q": rng.normal(size=(1, 2, 3, 8)), "k": rng.normal(size=(1, 1, 4, 8)),
             "v": rng.normal(size=(1, 1, 4, 6))}
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    if not bias_in_body:
        feeds["bias"] = bias
    return m, feeds, bias


def test_flex_attention_bodies_match_onnx_reference():
    """onnxruntime lacks the op: onnx's reference evaluator is the reference."""
    from onnx.reference import ReferenceEvaluator

    m, feeds, _ = flex_model(bias_in_body=True)
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    for target in TARGETS:
        np.testing.assert_allclose(singa_run(m, feeds, target)[0], want, rtol=1e-5, atol=1e-6)


def test_flex_attention_body_capturing_an_outer_value_against_numpy():
    """(onnx's reference evaluator cannot run a body that reads an outer value.)"""
    m, feeds, bias = flex_model(bias_in_body=False)
    q, k, v = (feeds[n].astype(np.float64) for n in "qkv")
    s = q @ np.swapaxes(np.repeat(k, 2, axis=1), -1, -2) * 0.5 + bias
    p = np.exp(s - s.max(-1, keepdims=True))
    p = (p / p.sum(-1, keepdims=True)) ** 2
    want = p @ np.repeat(v, 2, axis=1)
    for target in TARGETS:
        np.testing.assert_allclose(singa_run(m, feeds, target)[0], want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ Gradient

def test_gradient_node_differentiates_its_graph_against_numpy():
    """d/da and d/db of y = sum(tanh(a * b) + c) with c held constant (zs): the
    Gradient node's body is the graph between them; dy/da = b (1 - tanh^2)."""
    n = helper.make_node
    nodes = [n("Mul", ["a", "b"], ["ab"]), n("Tanh", ["ab"], ["t"]), n("Add", ["t", "c"], ["u"]),
             n("ReduceSum", ["u"], ["y"], keepdims=0),
             n("Gradient", ["a", "b", "c"], ["da", "db"], domain="ai.onnx.preview.training",
               xs=["a", "b"], zs=["c"], y="y")]
    g = helper.make_graph(nodes, "g", [vi("a", shape=[2, 3]), vi("b", shape=[2, 3]),
                                       vi("c", shape=[2, 3])],
                          [vi("y", shape=[]), vi("da", shape=[2, 3]), vi("db", shape=[2, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("ai.onnx.preview.training", 1)])
    rng = np.random.default_rng(7)
    a, b, c = (rng.normal(size=(2, 3)).astype(np.float32) for _ in range(3))
    sech2 = 1 - np.tanh(a.astype(np.float64) * b) ** 2
    for target in TARGETS:
        y, da, db = singa_run(m, {"a": a, "b": b, "c": c}, target)
        np.testing.assert_allclose(y, np.sum(np.tanh(a * b) + c), rtol=1e-5)
        np.testing.assert_allclose(da, b * sech2, rtol=1e-5)
        np.testing.assert_allclose(db, a * sech2, rtol=1e-5)


def test_gradient_whose_y_is_not_in_the_graph_is_a_model_error():
    node = helper.make_node("Gradient", ["a"], ["da"], domain="ai.onnx.preview.training",
                            xs=["a"], y="nowhere")
    g = helper.make_graph([node], "g", [vi("a", shape=[2])], [vi("da", shape=[2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("ai.onnx.preview.training", 1)])
    with pytest.raises(ModelError, match=r"Gradient.*y 'nowhere' is not computed"):
        sonnx.prepare(m)


# ------------------------------------------------------------------ bad input

def test_loop_that_never_ends_is_bounded(monkeypatch):
    monkeypatch.setenv("SINGA_MAX_LOOP_ITERATIONS", "1000")
    m = loop_model(trip=False)
    feeds = loop_feeds(m, limit=np.inf)
    feeds["x"] = np.zeros(3, np.float32)  # the sum never reaches the limit
    for target in TARGETS:
        with pytest.raises(ResourceError, match=r"Loop \(Loop_0\).*1,000 iterations"):
            singa_run(m, feeds, target)


def test_loop_trip_count_of_the_wrong_type_names_the_node():
    m = loop_model()
    m.graph.input[3].type.tensor_type.elem_type = TP.FLOAT  # M as a float
    with pytest.raises(DTypeError, match=r"Loop \(Loop_0\).*trip count M must be i64"):
        sonnx.prepare(m, "CPU").run(list(loop_feeds(m).values())[:3]
                                    + [np.float32(3), np.array(True)])


def test_loop_condition_with_many_elements_names_the_node():
    m = loop_model()
    m.graph.input[4].type.tensor_type.shape.dim.add().dim_value = 2
    feeds = loop_feeds(m)
    feeds["cond"] = np.array([True, False])
    with pytest.raises(ShapeError, match=r"Loop \(Loop_0\).*condition must hold one element"):
        singa_run(m, feeds, "numpy")


def test_loop_carry_changing_dtype_is_refused_at_prepare():
    body = helper.make_graph(
        [helper.make_node("Cast", ["v_in"], ["v_out"], to=TP.INT64),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), vi("v_in", shape=[2])],
        [vi("c_out", TP.BOOL, []), vi("v_out", TP.INT64, [2])])
    g = helper.make_graph([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)], "m",
                          [vi("M", TP.INT64, []), vi("v0", shape=[2])], [vi("v", shape=[2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(DTypeError, match=r"Loop \(Loop_0\).*loop-carried value 0 enters"):
        singa_run(m, {"M": np.int64(2), "v0": np.zeros(2, np.float32)}, "numpy")


def test_body_reading_a_name_defined_nowhere_is_a_model_error():
    body = helper.make_graph([helper.make_node("Add", ["v_in", "ghost"], ["v_out"]),
                              helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
                             [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []),
                              vi("v_in", shape=[2])],
                             [vi("c_out", TP.BOOL, []), vi("v_out", shape=[2])])
    g = helper.make_graph([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)], "m",
                          [vi("M", TP.INT64, []), vi("v0", shape=[2])], [vi("v", shape=[2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(ModelError, match="ghost"):
        sonnx.prepare(m)


def test_if_missing_a_branch_is_a_model_error():
    then = helper.make_graph([const("a", np.ones((2,), np.float32))], "t", [], [vi("a")])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=then)], "m",
                          [vi("c", TP.BOOL, [])], [vi("y")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(ModelError, match=r"If.*else_branch"):
        sonnx.prepare(m)


# ------------------------------------------------------------------ export

@pytest.mark.parametrize("build", [if_model, loop_model, scan_model, sequence_map_model])
def test_models_with_regions_export_back_to_onnx(build):
    """import -> IR -> ONNX: the bodies become graph attributes again, captured
    values outer names, and onnxruntime computes what the original model does."""
    from singa.exporters.onnx_export import export_graph
    from singa.frontends.onnx_import import import_model

    m = build()
    back = export_graph(import_model(m), opset=OPSET)
    rng = np.random.default_rng(3)
    feeds = {i.name: rng.normal(size=[d.dim_value for d in i.type.tensor_type.shape.dim])
             .astype(np.float32) for i in m.graph.input}
    if build is loop_model:
        feeds = loop_feeds(m)
    want = ort_run(m, feeds)
    got = ort_run(back, feeds)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_training_mode_runs_bodies_and_trains_the_weights_after_them():
    """SingaRep in training mode (the autograd path): the loop runs through its
    body's own plan; the weight after it gets its gradient."""
    from singa import autograd, opt

    m = loop_model()
    out = m.graph.output[0].name
    w = onnx.numpy_helper.from_array(np.eye(3, dtype=np.float32) * 0.5, "W")
    m.graph.initializer.append(w)
    m.graph.node.append(helper.make_node("MatMul", [out, "W"], ["y"]))
    del m.graph.output[:]
    m.graph.output.append(vi("y", shape=[3]))
    feeds = loop_feeds(m, trips=3)
    want = ort_run(m, feeds)[0]
    rep = sonnx.prepare(m, "CPU")
    rep.tensor_map["W"].requires_grad = rep.tensor_map["W"].stores_grad = True  # the guide's way
    autograd.training = True
    try:
        y, = rep.run([tensor.from_numpy(np.asarray(v)) for v in feeds.values()])
        np.testing.assert_allclose(tensor.to_numpy(y), want, rtol=1e-6)
        loss = autograd.mse_loss(y, tensor.from_numpy(np.zeros(3, np.float32)))
        before = tensor.to_numpy(rep.tensor_map["W"]).copy()
        sgd = opt.SGD(lr=0.1)
        for p, g in autograd.backward(loss):
            sgd.update(p, g)
    finally:
        autograd.training = False
    after = tensor.to_numpy(rep.tensor_map["W"])
    # d(mean((zW)^2))/dW = 2/3 z^T (zW), z the loop's result
    z = ort_run(loop_model(), feeds)[0].astype(np.float64)
    grad = 2 / 3 * np.outer(z, z @ before)
    np.testing.assert_allclose(after, before - 0.1 * grad, rtol=1e-5)


# ------------------------------------------------------------------ gradients

def _fd_check(m, feeds, wrt, seed=0):
    """Gradients through SingaRep's training path (autograd over the regions' VJPs)
    against central finite differences of the forward pass, all in float64."""
    from singa import autograd

    rep = sonnx.prepare(m, "CPU")
    outs = [o.name for o in m.graph.output]
    rng = np.random.default_rng(seed)
    ys = [tensor.to_numpy(t) for t in rep.run(list(feeds.values()))]
    dys = [rng.normal(size=y.shape) for y in ys]

    def objective(values):
        got = [tensor.to_numpy(t) for t in rep.run(list(values.values()))]
        return sum(float(np.sum(g * d)) for g, d in zip(got, dys))

    ts = {}
    for k, v in feeds.items():
        t = tensor.from_numpy(np.asarray(v))
        t.requires_grad = t.stores_grad = k in wrt
        ts[k] = t
    autograd.training = True
    try:
        ys_t = rep.run(list(ts.values()))
        total = None
        for y, d in zip(ys_t, dys):
            term = autograd.reduce_sum(autograd.mul(y, tensor.from_numpy(d)), None, 0)
            total = term if total is None else autograd.add(total, term)
        got = {id(p): tensor.to_numpy(g) for p, g in autograd.backward(total)}
    finally:
        autograd.training = False
    assert len(outs) == len(ys)
    for name in wrt:
        x = np.asarray(feeds[name], np.float64)
        want = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            for sign in (1, -1):
                moved = dict(feeds)
                xi = x.copy()
                xi[i] += sign * 1e-6
                moved[name] = xi
                want[i] += sign * objective(moved) / 2e-6
        np.testing.assert_allclose(got[id(ts[name])], want, rtol=1e-5, atol=1e-7,
                                   err_msg=name)


def f64(name, shape=None):
    return vi(name, TP.DOUBLE, shape)


@pytest.mark.parametrize("cond", [True, False])
def test_if_gradient_is_the_taken_branch_s(cond):
    then = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "t", [],
                             [f64("t", [3])])
    other = helper.make_graph([helper.make_node("Sin", ["x"], ["e"])], "e", [], [f64("e", [3])])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
              [vi("c", TP.BOOL, []), f64("x", [3]), f64("w", [3])], [f64("y", [3])])
    rng = np.random.default_rng(1)
    _fd_check(m, {"c": np.array(cond), "x": rng.normal(size=3), "w": rng.normal(size=3)},
              ["x", "w"])


def test_loop_gradient_through_every_iteration():
    """s <- s * x + tanh(s), three times, stacking s * s: d/ds0 and d/dx (captured)."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["s", "x"], ["sx"]), helper.make_node("Tanh", ["s"], ["ts"]),
         helper.make_node("Add", ["sx", "ts"], ["s2"]), helper.make_node("Mul", ["s2", "s2"], ["q"]),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), f64("s", [2])],
        [vi("c_out", TP.BOOL, []), f64("s2", [2]), f64("q", [2])])
    m = model([helper.make_node("Loop", ["M", "", "s0"], ["s", "qs"], body=body)],
              [vi("M", TP.INT64, []), f64("s0", [2]), f64("x", [2])],
              [f64("s", [2]), f64("qs", [3, 2])])
    rng = np.random.default_rng(2)
    _fd_check(m, {"M": np.array(3, np.int64), "s0": rng.normal(size=2) * 0.5,
                  "x": rng.normal(size=2) * 0.5}, ["s0", "x"])


def test_scan_gradient_reverse_direction_and_output_axis():
    body = helper.make_graph(
        [helper.make_node("Mul", ["st", "xt"], ["p"]), helper.make_node("Add", ["p", "c"], ["st2"]),
         helper.make_node("Mul", ["st2", "st2"], ["o"])], "body",
        [f64("st", [2]), f64("xt", [2])], [f64("st2", [2]), f64("o", [2])])
    node = helper.make_node("Scan", ["s0", "X"], ["s", "O"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1],
                            scan_output_axes=[1])
    m = model([node], [f64("s0", [2]), f64("X", [2, 4]), f64("c", [2])],
              [f64("s", [2]), f64("O", [2, 4])])
    rng = np.random.default_rng(3)
    _fd_check(m, {"s0": rng.normal(size=2) * 0.5, "X": rng.normal(size=(2, 4)) * 0.7,
                  "c": rng.normal(size=2) * 0.3}, ["s0", "X", "c"])
