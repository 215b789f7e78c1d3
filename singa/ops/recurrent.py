"""ONNX's recurrent ops RNN, GRU and LSTM (opset 14/22 forms), with back-propagation
through time.

All three share one driver: the input's share of every gate pre-activation is
one matrix product over all time steps and directions; then each time step is
one recurrent product for all gates, directions and batch entries (a GRU
without ``linear_before_reset`` needs a second one for its h gate).  Directions
run side by side: the reverse direction reads the input in reversed order, per
batch entry when ``sequence_lens`` is given.  A batch entry past its length
keeps its state and outputs zeros; one of length 0 ends in zero states (as
onnxruntime does).

The gradient recomputes the forward pass, keeping each step's gates, and walks
the steps backwards (``_rnn_cells`` holds the per-step rules).
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from . import _rnn_activations
from ._rnn_cells import GRUCell, LSTMCell, RNNCell
from .base import Pattern, defop

_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
_DEFAULT_ACTS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"),
                 "LSTM": ("Sigmoid", "Tanh", "Tanh")}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULTS = {"direction": "forward", "layout": 0}


def _directions(op, attrs) -> tuple:
    """(reverse?) per direction."""
    d = attrs.get("direction", "forward")
    d = d.decode() if isinstance(d, bytes) else d
    if d == "forward":
        return (False,)
    if d == "reverse":
        return (True,)
    if d == "bidirectional":
        return (False, True)
    raise ShapeError(f"{op}: direction {d!r} must be forward, reverse or bidirectional")


def _adapt(attrs, opset):
    attrs = dict(attrs)
    attrs.pop("output_sequence", None)  # opset 1: the outputs became optional instead
    return attrs, {}


# ------------------------------------------------------------------ checks

def _check(op, inputs, attrs):
    """The inputs in time-major (layout 0) form, with their sizes; ShapeError naming
    the op and the shapes when they do not fit."""
    X, W, R = inputs[0], inputs[1], inputs[2]
    opt = [inputs[k] if len(inputs) > k else None for k in range(len(_INPUTS))]
    D, G = len(_directions(op, attrs)), _GATES[op]
    layout = int(attrs.get("layout", 0))
    if layout not in (0, 1):
        raise ShapeError(f"{op}: layout {layout} must be 0 or 1")
    for name, a in zip(_INPUTS, opt):
        if a is not None and name != "sequence_lens" and a.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got {a.dtype}")
    if X.ndim != 3 or W.ndim != 3 or R.ndim != 3:
        raise ShapeError(f"{op}: X, W, R must be 3-D, got {X.shape}, {W.shape}, {R.shape}")
    if layout:
        X = X.transpose(1, 0, 2)
    T, Bt, I = X.shape
    H = R.shape[-1]
    if attrs.get("hidden_size") is not None and int(attrs["hidden_size"]) != H:
        raise ShapeError(f"{op}: hidden_size {attrs['hidden_size']} but R has shape {R.shape}")
    want = {"W": (D, G * H, I), "R": (D, G * H, H), "B": (D, 2 * G * H), "P": (D, 3 * H),
            "initial_h": (D, Bt, H), "initial_c": (D, Bt, H), "sequence_lens": (Bt,)}
    out = dict(zip(_INPUTS, opt))
    out["X"] = X
    for name in ("initial_h", "initial_c"):
        if layout and out[name] is not None and out[name].ndim == 3:
            out[name] = out[name].transpose(1, 0, 2)
    for name, shape in want.items():
        a = out[name]
        if a is not None and tuple(a.shape) != shape:
            given = opt[_INPUTS.index(name)].shape
            raise ShapeError(f"{op}: {name} has shape {tuple(given)}, expected "
                             f"{_layout_shape(name, shape, layout)} for X "
                             f"{tuple(inputs[0].shape)}, {D} direction(s), hidden size {H}")
    lens = out["sequence_lens"]
    if lens is not None:
        if lens.dtype.kind not in "iu":
            raise DTypeError(f"{op}: sequence_lens must be int32, got {lens.dtype}")
        if lens.size and (int(lens.min()) < 0 or int(lens.max()) > T):
            raise ShapeError(f"{op}: sequence_lens {lens.tolist()} must lie in [0, {T}]")
    return out, (T, Bt, I, H, D)


def _layout_shape(name, shape, layout):
    if layout and name in ("initial_h", "initial_c"):
        return (shape[1], shape[0], shape[2])
    return shape


# ------------------------------------------------------------------ the driver

def _cell(op, xp, ins, attrs, D, work):
    acts = _rnn_activations.parse(op, attrs, _DEFAULT_ACTS[op], D)
    clip = attrs.get("clip")
    clip = None if clip is None else float(clip)

    def cast(a):
        return None if a is None else a.astype(work, copy=False)

    R, B = cast(ins["R"]), cast(ins["B"])
    if op == "RNN":
        return RNNCell(xp, R, B, acts, clip)
    if op == "GRU":
        return GRUCell(xp, R, B, acts, clip, int(attrs.get("linear_before_reset", 0)))
    return LSTMCell(xp, R, B, acts, clip, cast(ins["P"]), int(attrs.get("input_forget", 0)))


def _orders(xp, T, Bt, lens, reverses):
    """Per direction, the (T, B) time index each processing step reads (None: in
    order; also its own inverse), and the (T, B, 1) mask of valid steps (None: all)."""
    orders = []
    for rev in reverses:
        if not rev:
            orders.append(None)
        elif lens is None:
            orders.append(xp.broadcast_to(xp.arange(T - 1, -1, -1)[:, None], (T, Bt)))
        else:
            s = xp.arange(T)[:, None]
            n = lens.astype(np.int64)[None, :]
            orders.append(xp.where(s < n, n - 1 - s, s))
    mask = None
    if lens is not None and bool((lens < T).any()):
        mask = (xp.arange(T)[:, None] < lens.astype(np.int64)[None, :])[..., None]
    return orders, mask


def _permute(xp, a, order):
    """``a`` (T, B, ...) read in ``order`` (involutive: the same call undoes it)."""
    if order is None:
        return a
    idx = order.reshape(order.shape + (1,) * (a.ndim - 2))
    return xp.take_along_axis(a, idx, axis=0)


def _forward(op, xp, inputs, attrs, keep):
    """Everything a call computes: (outputs, context for the gradient)."""
    ins, (T, Bt, I, H, D) = _check(op, inputs, attrs)
    X = ins["X"]
    out_dtype = X.dtype
    work = np.float32 if X.dtype.itemsize < 4 else X.dtype
    reverses = _directions(op, attrs)
    cell = _cell(op, xp, ins, attrs, D, work)
    G = cell.gates * H
    lens = ins["sequence_lens"]
    orders, mask = _orders(xp, T, Bt, lens, reverses)
    Xw = X.astype(work, copy=False)
    W = ins["W"].astype(work, copy=False)
    proj = xp.matmul(Xw.reshape(T * Bt, I), W.reshape(D * G, I).T).reshape(T, Bt, D, G)
    bias = cell.input_bias()
    if bias is not None:
        proj += bias
    xw = xp.stack([_permute(xp, proj[:, :, d], orders[d]) for d in range(D)])  # (D, T, B, G)

    state = []
    for name in ("initial_h", "initial_c")[:cell.state_count]:
        s0 = ins[name]
        state.append(xp.zeros((D, Bt, H), work) if s0 is None else s0.astype(work))
    state = tuple(state)
    states_h = xp.empty((D, T + 1, Bt, H), work)
    states_h[:, 0] = state[0]
    tape = []
    for s in range(T):
        new, saved = cell.step(xw[:, s], state, keep)
        if mask is not None:
            new = tuple(xp.where(mask[s], n, o) for n, o in zip(new, state))
        state = new
        states_h[:, s + 1] = state[0]
        tape.append(saved)
    hs = states_h[:, 1:]
    if mask is not None:
        hs = hs * mask
    Y = xp.stack([_permute(xp, hs[d], orders[d]) for d in range(D)], axis=1)  # (T, D, B, H)
    finals = state
    if lens is not None:
        alive = (lens > 0)[None, :, None]
        finals = tuple(f * alive for f in finals)
    outs = [Y, *finals]
    if int(attrs.get("layout", 0)):
        outs = [Y.transpose(2, 0, 1, 3)] + [f.transpose(1, 0, 2) for f in finals]
    outs = [o.astype(out_dtype, copy=False) for o in outs]
    ctx = dict(cell=cell, tape=tape, xw=xw, states_h=states_h, mask=mask, orders=orders,
               ins=ins, dims=(T, Bt, I, H, D), work=work, W=W, X=Xw,
               layout=int(attrs.get("layout", 0)))
    return outs, ctx


def _compute(op):
    def compute(xp, inputs, attrs):
        return _forward(op, xp, inputs, attrs, keep=False)[0]

    compute.__name__ = op.lower()
    compute.__doc__ = (f"ONNX {op}: returns every output (Y, Y_h" +
                       (", Y_c" if op == "LSTM" else "") + "), unread ones included.")
    return compute


def _grad(op):
    def grad(xp, inputs, outputs, douts, attrs):
        _, ctx = _forward(op, xp, inputs, attrs, keep=True)
        cell, tape, mask, orders = ctx["cell"], ctx["tape"], ctx["mask"], ctx["orders"]
        T, Bt, I, H, D = ctx["dims"]
        work, ins = ctx["work"], ctx["ins"]
        need = attrs.get("_need_grads") or (True,) * len(inputs)
        dY, dfinal = douts[0], list(douts[1:1 + cell.state_count])
        if int(attrs.get("layout", 0)):
            dY = dY.transpose(2, 1, 0, 3)  # (B, T, D, H) -> (D, T, B, H)
            dfinal = [d.transpose(1, 0, 2) for d in dfinal]
        else:
            dY = dY.transpose(1, 0, 2, 3)  # (D, T, B, H)
        dY = dY.astype(work, copy=False)
        dhs = xp.stack([_permute(xp, dY[d], orders[d]) for d in range(D)])
        lens = ins["sequence_lens"]
        dstate = []
        for d in dfinal:
            d = d.astype(work, copy=False)
            dstate.append(d * (lens > 0)[None, :, None] if lens is not None else d)
        dxw = xp.empty(ctx["xw"].shape, work)
        dr = xp.empty(ctx["xw"].shape[:3] + (cell.gates * H,), work)
        for s in range(T - 1, -1, -1):
            dstate[0] = dstate[0] + (dhs[:, s] if mask is None else dhs[:, s] * mask[s])
            if mask is None:
                prev, dxw[:, s], dr[:, s] = cell.step_back(tape[s], tuple(dstate))
                dstate = list(prev)
            else:
                m = mask[s]
                prev, dxw[:, s], dr[:, s] = cell.step_back(tape[s], tuple(g * m for g in dstate))
                dstate = [p + g * ~m for p, g in zip(prev, dstate)]
        return _weight_grads(xp, cell, ctx, dxw, dr, dstate, inputs, need)

    return grad


def _weight_grads(xp, cell, ctx, dxw, dr, dstate, inputs, need):
    """The per-input gradient list from the per-step gate gradients."""
    T, Bt, I, H, D = ctx["dims"]
    G = dxw.shape[-1]
    orders = ctx["orders"]
    grads = [None] * len(inputs)
    # back to time order: (T, B, D, G)
    dxw_t = xp.stack([_permute(xp, dxw[d], orders[d]) for d in range(D)], axis=2)
    flat = dxw_t.reshape(T * Bt, D * G)
    if need[0]:
        dX = xp.matmul(flat, ctx["W"].reshape(D * G, I)).reshape(T, Bt, I)
        grads[0] = dX.transpose(1, 0, 2) if ctx["layout"] else dX
    if len(need) > 1 and need[1]:
        grads[1] = xp.matmul(flat.T, ctx["X"].reshape(T * Bt, I)).reshape(D, G, I)
    if len(need) > 2 and need[2]:
        h_prev = ctx["states_h"][:, :T]
        grads[2] = cell.recurrent_grad(dr, h_prev, ctx["tape"])
    if len(inputs) > 3 and inputs[3] is not None:
        grads[3] = xp.concatenate([dxw.sum(axis=(1, 2)), dr.sum(axis=(1, 2))], axis=-1)
    for k, g in zip((5, 6), dstate):
        if len(inputs) > k and inputs[k] is not None:
            grads[k] = g.transpose(1, 0, 2) if ctx["layout"] else g
    for k, g in cell.extra_grads().items():
        if len(inputs) > k and inputs[k] is not None:
            grads[k] = g
    return [None if g is None or x is None else g.astype(x.dtype, copy=False)
            for g, x in zip(grads, inputs)]


# ------------------------------------------------------------------ types

def _infer(op):
    def infer(types, attrs, values):
        X, W, R = types[0], types[1], types[2]
        for name, t in zip(_INPUTS, types):
            if t is not None and name != "sequence_lens" and t.dtype is not None \
                    and not t.dtype.is_float:
                raise DTypeError(f"{op}: {name} must be a float tensor, got {t.dtype.short}")
        D = len(_directions(op, attrs))
        H = attrs.get("hidden_size")
        if H is None and R is not None and R.shape is not None and len(R.shape) == 3:
            H = R.shape[2]
        T = Bt = None
        if X.shape is not None:
            if len(X.shape) != 3:
                raise ShapeError(f"{op}: X must be 3-D, got shape {X.shape}")
            T, Bt = X.shape[:2]
            if int(attrs.get("layout", 0)):
                T, Bt = Bt, T
        if int(attrs.get("layout", 0)):
            y, state = (Bt, T, D, H), (Bt, D, H)
        else:
            y, state = (T, D, Bt, H), (D, Bt, H)
        n = 3 if op == "LSTM" else 2
        return [TensorType(X.dtype, y)] + [TensorType(X.dtype, state)] * (n - 1)

    return infer


for _op, _outs in (("RNN", 2), ("GRU", 2), ("LSTM", 3)):
    defop(_op, pattern=Pattern.OPAQUE, infer=_infer(_op), grad=_grad(_op), since=1,
          adapt=_adapt, defaults=_DEFAULTS, num_outputs=_outs)(_compute(_op))
