"""The recurrent table ops RNN, GRU, LSTM beyond the table-wide cases.

References: onnxruntime (float32, time-major layout only), onnx's reference
evaluator (defaults, both layouts) and the plain float64 reference of
``_rnn_reference`` (every attribute), which the first test checks against
onnxruntime; gradients against central finite differences in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from singa import autograd
from singa.errors import DTypeError, ShapeError
from singa.ir.types import DType, TensorType
from singa.ops import OPS
from singa.tensor import Tensor
from tests.ops._rnn_reference import ACTIVATIONS, GATES, reference

NAMES = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
T, BATCH, IN, HID = 6, 4, 3, 5


def operands(op, D, seed, dtype=np.float64, layout=0, lens=None, states=True,
             peepholes=True, scale=0.6):
    rng = np.random.default_rng(seed)
    g = GATES[op]

    def r(*shape):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    state = (BATCH, D, HID) if layout else (D, BATCH, HID)
    ins = [r(BATCH, T, IN) if layout else r(T, BATCH, IN), r(D, g * HID, IN),
           r(D, g * HID, HID), r(D, 2 * g * HID), lens, r(*state) if states else None]
    if op == "LSTM":
        ins += [r(*state) if states else None, r(D, 3 * HID) if peepholes else None]
    return ins


def model(op, ins, attrs, n_out):
    names = [n if x is not None else "" for n, x in zip(NAMES, ins)]
    while names and not names[-1]:
        names.pop()
    graph_in = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype),
                                              x.shape) for n, x in zip(NAMES, ins) if x is not None]
    outs = ["Y", "Y_h", "Y_c"][:n_out]
    node = helper.make_node(op, names, outs, **attrs)
    graph = helper.make_graph([node], "g", graph_in,
                              [helper.make_tensor_value_info(o, 1, None) for o in outs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


def run_ort(op, ins, attrs):
    n = 3 if op == "LSTM" else 2
    sess = ort.InferenceSession(model(op, ins, attrs, n).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {k: x for k, x in zip(NAMES, ins) if x is not None})


def compute(op, ins, attrs):
    return OPS[op].compute(np, list(ins), OPS[op].attrs(attrs))


# Attribute sets exercising what the spec leaves to the implementation.
VARIANTS = {
    "RNN": [{}, {"clip": 0.4}, {"activations": ["Relu"]},
            {"activations": ["ThresholdedRelu"], "activation_alpha": [0.1]}],
    "GRU": [{}, {"clip": 0.4}, {"linear_before_reset": 1},
            {"activations": ["HardSigmoid", "ScaledTanh"], "activation_alpha": [0.3, 1.2],
             "activation_beta": [0.6, 0.7]}],
    "LSTM": [{}, {"clip": 0.4}, {"input_forget": 1},
             {"activations": ["Sigmoid", "Affine", "Elu"], "activation_alpha": [0.8, 0.5],
              "activation_beta": [0.1]}],
}
DIRECTIONS = (("forward", 1), ("reverse", 1), ("bidirectional", 2))
LENS = (None, np.array([6, 3, 0, 1], dtype=np.int32))


def _grid():
    for op, (direction, D), lens, k in itertools.product(
            ("RNN", "GRU", "LSTM"), DIRECTIONS, range(len(LENS)), range(4)):
        yield pytest.param(op, direction, D, LENS[lens], VARIANTS[op][k],
                           id=f"{op}-{direction}-lens{lens}-v{k}")


@pytest.mark.parametrize("op,direction,D,lens,extra", list(_grid()))
def test_reference_agrees_with_onnxruntime(op, direction, D, lens, extra):
    """The float64 reference encodes what onnxruntime does (so it may stand in for it
    where onnxruntime has no kernel: layout 1, float64)."""
    attrs = {"hidden_size": HID, "direction": direction, **extra}
    if "activations" in extra:
        # onnxruntime's RNN wants them spelled out per direction; each direction gets
        # its own parameters (where they run out, onnxruntime's defaults differ)
        for key in ("activations", "activation_alpha", "activation_beta"):
            if key in extra:
                attrs[key] = extra[key] * D
    ins = operands(op, D, seed=len(str(extra)) + D, dtype=np.float32, lens=lens)
    want = run_ort(op, ins, attrs)
    got = reference(op, *ins, **attrs)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"output {k}")


@pytest.mark.parametrize("op,direction,D,lens,extra", list(_grid()))
@pytest.mark.parametrize("layout", (0, 1))
def test_compute_matches_reference_float64(op, direction, D, lens, extra, layout):
    attrs = {"hidden_size": HID, "direction": direction, "layout": layout, **extra}
    ins = operands(op, D, seed=7, layout=layout, lens=lens)
    got = compute(op, ins, attrs)
    want = reference(op, *ins, **attrs)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == np.float64 and g.shape == w.shape, f"output {k}"
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"output {k}")


def test_lstm_clip_bounds_gates_not_the_cell():
    """With a clip small enough for the cell state to outgrow it, onnxruntime agrees
    with a reference that leaves the cell unclipped."""
    attrs = {"hidden_size": HID, "clip": 0.3}
    ins = operands("LSTM", 1, seed=3, dtype=np.float32, scale=1.5)
    Y, Y_h, Y_c = run_ort("LSTM", ins, attrs)
    assert np.abs(Y_c).max() > 0.3  # the cell went past the clip
    np.testing.assert_allclose(compute("LSTM", ins, attrs)[2], Y_c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("layout", (0, 1))
@pytest.mark.parametrize("direction", ("forward", "bidirectional"))
def test_onnx_reference_evaluator(op, layout, direction):
    D = 2 if direction == "bidirectional" else 1
    attrs = {"hidden_size": HID, "direction": direction, "layout": layout}
    ins = operands(op, D, seed=11, dtype=np.float32, layout=layout, peepholes=True)
    n = 3 if op == "LSTM" else 2
    feeds = {k: x for k, x in zip(NAMES, ins) if x is not None}
    want = ReferenceEvaluator(model(op, ins, attrs, n)).run(None, feeds)
    got = compute(op, ins, attrs)
    for k in range(n):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


# ------------------------------------------------------------------ gradients

def fd_check(op, ins, attrs, seed=0, eps=1e-6, tol=1e-6, need=None):
    """Analytic grad of sum(dy * y) along a random direction per float input
    against the central difference; returns the grads."""
    attrs = OPS[op].attrs(attrs)
    rng = np.random.default_rng(seed)
    outs = OPS[op].compute(np, list(ins), attrs)
    dys = [rng.standard_normal(o.shape) for o in outs]
    if need is not None:
        attrs = dict(attrs, _need_grads=need)
    grads = OPS[op].grad(np, list(ins), outs, dys, attrs)
    assert len(grads) == len(ins)

    def objective(xs):
        return sum(float((o * d).sum()) for o, d in zip(compute(op, xs, attrs), dys))

    for k, x in enumerate(ins):
        if x is None or x.dtype.kind != "f" or (need is not None and not need[k]):
            continue
        v = rng.standard_normal(x.shape)
        plus, minus = list(ins), list(ins)
        plus[k], minus[k] = x + eps * v, x - eps * v
        fd = (objective(plus) - objective(minus)) / (2 * eps)
        assert grads[k] is not None and grads[k].shape == x.shape, NAMES[k]
        an = float((grads[k] * v).sum())
        assert abs(fd - an) <= tol * max(1.0, abs(fd)), f"{op} d{NAMES[k]}: fd {fd}, grad {an}"
    return grads


@pytest.mark.parametrize("op,direction,D,lens,extra", list(_grid()))
@pytest.mark.parametrize("layout", (0, 1))
def test_grad_finite_differences(op, direction, D, lens, extra, layout):
    attrs = {"hidden_size": HID, "direction": direction, "layout": layout, **extra}
    fd_check(op, operands(op, D, seed=5, layout=layout, lens=lens), attrs)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_forward_and_grad(name):
    """Each ONNX activation in every slot of a GRU and an LSTM (bidirectional, the
    second direction keeping the defaults)."""
    alpha = {"ThresholdedRelu": 0.05}.get(name, 0.7)
    for op, slots, defaults in (("GRU", 2, ["Sigmoid", "Tanh"]),
                                ("LSTM", 3, ["Sigmoid", "Tanh", "Tanh"])):
        for slot in range(slots):
            acts = list(defaults)
            acts[slot] = name
            attrs = {"hidden_size": HID, "direction": "bidirectional",
                     "activations": acts + defaults, "activation_alpha": [alpha],
                     "activation_beta": [0.3]}
            # small weights: an unbounded function in a gate slot grows the state
            ins = operands(op, 2, seed=slot, scale=0.3)
            for g, w in zip(compute(op, ins, attrs), reference(op, *ins, **attrs)):
                np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
            fd_check(op, ins, attrs)


def test_need_grads_skips_unwanted_inputs():
    ins = operands("LSTM", 1, seed=2)
    need = (False, True, False, True, False, False, True, False)
    grads = fd_check("LSTM", ins, {"hidden_size": HID}, need=need)
    assert grads[0] is None and grads[2] is None


def test_no_gradient_for_sequence_lens():
    ins = operands("GRU", 1, seed=2, lens=np.array([6, 2, 1, 4], dtype=np.int32))
    grads = fd_check("GRU", ins, {"hidden_size": HID})
    assert grads[4] is None


def test_eager_backward_through_apply():
    """autograd.apply records the op and backward reaches W, R, B and the states."""
    ins = operands("LSTM", 2, seed=4, dtype=np.float64)
    tensors = [None if x is None else
               Tensor(data=x, requires_grad=x.dtype.kind == "f", stores_grad=x.dtype.kind == "f")
               for x in ins]
    attrs = {"hidden_size": HID, "direction": "bidirectional"}
    Y, Y_h, Y_c = autograd.apply("LSTM", tensors, attrs)
    loss = autograd.apply("ReduceSum", [autograd.apply("Mul", [Y, Y])[0]], {"keepdims": 0})[0]
    grads = autograd.gradients(loss)
    outs = compute("LSTM", ins, attrs)
    direct = OPS["LSTM"].grad(np, ins, outs, [2 * outs[0], np.zeros_like(outs[1]),
                                              np.zeros_like(outs[2])], OPS["LSTM"].attrs(attrs))
    for t, want in zip(tensors, direct):
        if t is not None and t.stores_grad:
            np.testing.assert_allclose(np.asarray(grads[t].data), want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ dtypes, types, errors

def test_float16_runs_in_float32_and_returns_float16():
    attrs = {"hidden_size": HID}
    ins32 = operands("GRU", 1, seed=8, dtype=np.float32)
    ins16 = [None if x is None else x.astype(np.float16) for x in ins32]
    got = compute("GRU", ins16, attrs)
    want = reference("GRU", *[None if x is None else x.astype(np.float64) for x in ins16],
                     **attrs)
    assert all(g.dtype == np.float16 for g in got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.astype(np.float64), w, atol=2e-3)


def test_infer_symbolic_and_batchwise():
    f32 = DType.FLOAT
    x = TensorType(f32, ("T", "N", 3))
    w = TensorType(f32, (2, 20, 3))
    r = TensorType(f32, (2, 20, 5))
    got = OPS["LSTM"].infer([x, w, r], {"direction": "bidirectional"}, [None] * 3)
    assert got == [TensorType(f32, ("T", 2, "N", 5)), TensorType(f32, (2, "N", 5)),
                   TensorType(f32, (2, "N", 5))]
    got = OPS["GRU"].infer([TensorType(f32, ("N", "T", 3)), TensorType(f32, (1, 15, 3)),
                            TensorType(f32, (1, 15, 5))], {"layout": 1}, [None] * 3)
    assert got == [TensorType(f32, ("N", "T", 1, 5)), TensorType(f32, ("N", 1, 5))]
    with pytest.raises(DTypeError, match="RNN: X must be a float"):
        OPS["RNN"].infer([TensorType(DType.INT32, (2, 2, 2)), w, r], {}, [None] * 3)


@pytest.mark.parametrize("op,change,message", [
    ("LSTM", {"W": (1, 12, 3)}, r"LSTM: W has shape \(1, 12, 3\), expected \(1, 20, 3\)"),
    ("GRU", {"initial_h": (1, 3, 5)}, r"GRU: initial_h has shape \(1, 3, 5\), expected "
                                      r"\(1, 4, 5\)"),
    ("RNN", {"B": (1, 5)}, r"RNN: B has shape \(1, 5\), expected \(1, 10\)"),
    ("LSTM", {"P": (1, 5)}, r"LSTM: P has shape \(1, 5\), expected \(1, 15\)"),
])
def test_shape_errors_name_op_and_shapes(op, change, message):
    ins = operands(op, 1, seed=0, dtype=np.float32)
    for name, shape in change.items():
        ins[NAMES.index(name)] = np.zeros(shape, np.float32)
    with pytest.raises(ShapeError, match=message):
        compute(op, ins, {"hidden_size": HID})


@pytest.mark.parametrize("attrs,lens,error,message", [
    ({"direction": "sideways"}, None, ShapeError, "direction 'sideways'"),
    ({"activations": ["Tanhh"]}, None, ShapeError, "unknown activation 'Tanhh'"),
    ({"activations": ["Tanh", "Tanh"]}, None, ShapeError, "must name 1 function"),
    ({"hidden_size": 7}, None, ShapeError, "hidden_size 7"),
    ({"layout": 2}, None, ShapeError, "layout 2"),
    ({}, np.array([1, 2, 7, 0], np.int32), ShapeError, r"sequence_lens \[1, 2, 7, 0\]"),
    ({}, np.array([1.0, 2, 3, 0]), DTypeError, "sequence_lens must be int32"),
])
def test_attribute_and_lens_errors(attrs, lens, error, message):
    ins = operands("RNN", 1, seed=0, dtype=np.float32, lens=lens)
    with pytest.raises(error, match=message):
        compute("RNN", ins, attrs)


def test_errors_through_apply_name_the_op():
    ins = operands("GRU", 1, seed=0, dtype=np.float32)
    ins[2] = np.zeros((1, 15, 4), np.float32)
    tensors = [None if x is None else Tensor(data=x) for x in ins]
    with pytest.raises(ShapeError, match=r"GRU.*\(1, 15, 4\)"):
        autograd.apply("GRU", tensors, {})
    bad = [Tensor(data=np.zeros((6, 4, 3), np.int32))] + tensors[1:]
    with pytest.raises(DTypeError, match="GRU: X must be a float tensor"):
        autograd.apply("GRU", bad, {})


def test_opset1_output_sequence_attribute_is_dropped():
    attrs, extra = OPS["LSTM"].adapt({"output_sequence": 1, "hidden_size": 5}, 1)
    assert attrs == {"hidden_size": 5} and extra == {}
