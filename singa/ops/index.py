"""Indexing: Slice, Gather(Elements/ND), Scatter(Elements/ND), NonZero, TopK, CumSum, Trilu.

Scatter-adds (the grads of gathers) use ``xp.bincount`` on flat indices, which
NumPy and CuPy both have.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradError, OpError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, as_int_list, check_alloc, check_int_operand, defop, norm_axis
from .shape import attr_to_input



def scatter_add(xp, flat_idx, values, size):
    """A flat float64 array of ``size`` with ``values`` summed at ``flat_idx``."""
    return xp.bincount(flat_idx.reshape(-1), weights=values.reshape(-1).astype(np.float64),
                       minlength=size)


def _norm_indices(xp, op, idx, dim):
    """Indices with negatives counted from ``dim``; ShapeError when out of range."""
    idx = idx.astype(np.int64)
    if idx.size and (int(idx.min()) < -dim or int(idx.max()) >= dim):
        raise ShapeError(f"{op}: indices out of range [{-dim}, {dim - 1}]: "
                         f"min {int(idx.min())}, max {int(idx.max())}")
    return xp.where(idx < 0, idx + dim, idx)


# ------------------------------------------------------------------ Slice

def _slice_plan(op, shape, starts, ends, axes, steps):
    """Per-axis Python slices after ONNX clamping; dims may be symbolic (then None)."""
    rank = len(shape)
    axes = list(range(len(starts))) if axes is None else [norm_axis(a, rank, op) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"{op}: starts {starts}, ends {ends}, axes {axes}, steps {steps} "
                         "differ in length")
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axes {axes}")
    plan = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ShapeError(f"{op}: step 0 on axis {a}")
        d = shape[a]
        if not isinstance(d, int):
            plan[a] = (s, e, st)  # symbolic: resolvable only for the full range
            continue
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
        else:
            s, e = min(max(s, -1), d - 1), min(max(e, -1), d - 1)
        # a negative-step slice ending before index 0 is Python's `None`
        plan[a] = slice(s, None if e < 0 else e, st)
    return plan


def _slice_inputs(inputs_or_values):
    starts = as_int_list(inputs_or_values[1])
    ends = as_int_list(inputs_or_values[2])
    axes = inputs_or_values[3] if len(inputs_or_values) > 3 else None
    steps = inputs_or_values[4] if len(inputs_or_values) > 4 else None
    return (starts, ends, None if axes is None else as_int_list(axes),
            None if steps is None else as_int_list(steps))


def _slice_infer(types, attrs, values):
    x = types[0]
    for i, what in enumerate(("starts", "ends", "axes", "steps"), 1):
        check_int_operand("Slice", what, types[i] if i < len(types) else None)
    needed = [i for i in range(1, len(types)) if types[i] is not None]
    if x.shape is None or any(values[i] is None for i in needed):
        return [TensorType(x.dtype, None if x.shape is None else (None,) * len(x.shape))]
    plan = _slice_plan("Slice", x.shape, *_slice_inputs(values))
    out = []
    for d, p in zip(x.shape, plan):
        if isinstance(p, slice):
            out.append(len(range(*p.indices(d))) if isinstance(d, int) else d
                       if p == slice(None) else None)
        else:
            s, e, st = p
            full = s == 0 and e >= 2 ** 31 - 1 and st == 1
            out.append(d if full else None)
    return [TensorType(x.dtype, tuple(out))]


def _slice_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    dx = xp.zeros(x.shape, douts[0].dtype)
    dx[tuple(_slice_plan("Slice", x.shape, *_slice_inputs(inputs)))] = douts[0]
    return [dx] + [None] * (len(inputs) - 1)


def _slice_adapt(attrs, opset):
    return attr_to_input(("starts", 1, np.int64), ("ends", 2, np.int64),
                         ("axes", 3, np.int64))(attrs, opset)


@defop("Slice", pattern=Pattern.INJECTIVE, infer=_slice_infer, grad=_slice_grad, since=1,
       adapt=_slice_adapt)
def _slice(xp, inputs, attrs):
    """x[starts:ends:steps] on ``axes`` with ONNX clamping (inputs 1-4)."""
    x = inputs[0]
    return [x[tuple(_slice_plan("Slice", x.shape, *_slice_inputs(inputs)))]]


# ------------------------------------------------------------------ Gather

def _gather_infer(types, attrs, values):
    x, idx = types
    check_int_operand("Gather", "indices", idx)
    if x.shape is None or idx.shape is None:
        return [TensorType(x.dtype, None)]
    axis = norm_axis(attrs["axis"], len(x.shape), "Gather")
    return [TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])]


def _gather_grad(xp, inputs, outputs, douts, attrs):
    x, idx = inputs
    axis = norm_axis(attrs["axis"], x.ndim)
    d = x.shape[axis]
    pre = int(np.prod(x.shape[:axis], dtype=np.int64))
    post = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    idx = _norm_indices(xp, "Gather", idx, d).reshape(1, -1, 1)
    flat = (xp.arange(pre).reshape(-1, 1, 1) * (d * post) + idx * post
            + xp.arange(post).reshape(1, 1, -1))
    g = scatter_add(xp, flat, douts[0].reshape(pre, -1, post), x.size)
    return [g.reshape(x.shape).astype(x.dtype), None]


@defop("Gather", pattern=Pattern.INJECTIVE, infer=_gather_infer, grad=_gather_grad, since=1,
       defaults={"axis": 0})
def _gather(xp, inputs, attrs):
    """Slices of x along ``axis`` picked by ``indices`` (negatives count from the end)."""
    x, idx = inputs
    axis = norm_axis(attrs["axis"], x.ndim, "Gather")
    return [xp.take(x, _norm_indices(xp, "Gather", idx, x.shape[axis]), axis=axis)]


# ------------------------------------------------------------------ GatherElements

def _element_flat(xp, shape, idx, axis):
    """Flat positions in an array of ``shape`` of the entries ``idx`` names along ``axis``."""
    grids = xp.indices(idx.shape, dtype=np.int64)
    strides = np.cumprod((list(shape[1:]) + [1])[::-1])[::-1]
    flat = xp.zeros(idx.shape, np.int64)
    for k in range(len(shape)):
        flat = flat + (idx if k == axis else grids[k]) * int(strides[k])
    return flat


def _ge_check(op, x, idx, axis):
    if idx.ndim != x.ndim or any(i > d for k, (i, d) in enumerate(zip(idx.shape, x.shape))
                                 if k != axis):
        raise ShapeError(f"{op}: indices {idx.shape} do not fit data {x.shape} on axis {axis}")


def _gather_elements_grad(xp, inputs, outputs, douts, attrs):
    x, idx = inputs
    axis = norm_axis(attrs["axis"], x.ndim)
    idx = _norm_indices(xp, "GatherElements", idx, x.shape[axis])
    g = scatter_add(xp, _element_flat(xp, x.shape, idx, axis), douts[0], x.size)
    return [g.reshape(x.shape).astype(x.dtype), None]


@defop("GatherElements", pattern=Pattern.INJECTIVE, grad=_gather_elements_grad, since=11,
       infer=lambda t, a, v: [TensorType(t[0].dtype, t[1].shape)], defaults={"axis": 0})
def _gather_elements(xp, inputs, attrs):
    """out[i][j][k] = x[idx[i][j][k]][j][k] (for axis 0): ``take_along_axis``."""
    x, idx = inputs
    axis = norm_axis(attrs["axis"], x.ndim, "GatherElements")
    _ge_check("GatherElements", x, idx, axis)
    idx = _norm_indices(xp, "GatherElements", idx, x.shape[axis])
    return [xp.take(x.reshape(-1), _element_flat(xp, x.shape, idx, axis))]


# ------------------------------------------------------------------ GatherND

def _gnd_rows(xp, op, data, idx, b):
    """(flat row ids into data viewed as (rows, rest), rest shape)."""
    k = idx.shape[-1]
    if k > data.ndim - b or idx.shape[:b] != data.shape[:b]:
        raise ShapeError(f"{op}: indices {idx.shape} do not fit data {data.shape} "
                         f"with batch_dims {b}")
    batch = int(np.prod(data.shape[:b], dtype=np.int64))
    idx = idx.reshape(batch, -1, k).astype(np.int64)
    rows = xp.arange(batch, dtype=np.int64).reshape(-1, 1)
    for j in range(k):
        d = data.shape[b + j]
        rows = rows * d + _norm_indices(xp, op, idx[..., j], d)
    return rows, data.shape[b + k:]


def _gnd_infer(types, attrs, values):
    x, idx = types
    if x.shape is None or idx.shape is None or not isinstance(idx.shape[-1], int):
        return [TensorType(x.dtype, None)]
    b = attrs["batch_dims"]
    return [TensorType(x.dtype, idx.shape[:-1] + x.shape[b + idx.shape[-1]:])]


def _gnd_grad(xp, inputs, outputs, douts, attrs):
    x, idx = inputs
    rows, rest = _gnd_rows(xp, "GatherND", x, idx, attrs["batch_dims"])
    r = int(np.prod(rest, dtype=np.int64))
    flat = rows.reshape(-1, 1) * r + xp.arange(r).reshape(1, -1)
    g = scatter_add(xp, flat, douts[0], x.size)
    return [g.reshape(x.shape).astype(x.dtype), None]


@defop("GatherND", pattern=Pattern.INJECTIVE, infer=_gnd_infer, grad=_gnd_grad, since=11,
       defaults={"batch_dims": 0})
def _gather_nd(xp, inputs, attrs):
    """Slices of x addressed by the last axis of ``indices`` (after ``batch_dims``)."""
    x, idx = inputs
    b = attrs["batch_dims"]
    rows, rest = _gnd_rows(xp, "GatherND", x, idx, b)
    out = x.reshape((-1,) + tuple(rest))[rows.reshape(-1)]
    return [out.reshape(idx.shape[:-1] + tuple(rest))]


# ------------------------------------------------------------------ Scatter

def _ufunc_at(xp, reduction, target, idx, values):
    fn = {"add": "add", "mul": "multiply", "max": "maximum", "min": "minimum"}.get(reduction)
    if fn is None:
        raise ShapeError(f"Scatter: unknown reduction {reduction!r}")
    ufunc = getattr(xp, fn)
    if not hasattr(ufunc, "at"):
        raise OpError(f"Scatter reduction {reduction!r} needs {xp.__name__}.{fn}.at")
    ufunc.at(target, idx, values)


def _scatter_into(xp, data, flat, updates, reduction, rest=1):
    """data with ``updates`` written (or reduced) at flat positions (rows of ``rest``)."""
    out = data.copy().reshape(-1, rest)
    upd = updates.reshape(-1, rest).astype(data.dtype, copy=False)
    flat = flat.reshape(-1)
    if reduction == "none":
        out[flat] = upd
    else:
        _ufunc_at(xp, reduction, out, flat, upd)
    return out.reshape(data.shape)


def _scatter_grad(xp, data, flat, updates, dy, reduction, rest=1):
    if reduction not in ("none", "add"):
        raise GradError(f"Scatter: no grad for reduction {reduction!r}")
    flat = flat.reshape(-1)
    ddata = dy.copy().reshape(-1, rest)
    dupd = ddata[flat].reshape(updates.shape)
    if reduction == "none":
        ddata[flat] = 0
    return [ddata.reshape(data.shape) if data.dtype.kind == "f" else None, None,
            dupd if updates.dtype.kind == "f" else None]


def _se_flat(xp, inputs, attrs):
    data, idx, updates = inputs
    axis = norm_axis(attrs["axis"], data.ndim, "ScatterElements")
    _ge_check("ScatterElements", data, idx, axis)
    if updates.shape != idx.shape:
        raise ShapeError(f"ScatterElements: updates {updates.shape} and indices {idx.shape} "
                         "differ")
    idx = _norm_indices(xp, "ScatterElements", idx, data.shape[axis])
    return _element_flat(xp, data.shape, idx, axis)


@defop("ScatterElements", pattern=Pattern.OPAQUE, since=11,
       infer=lambda t, a, v: [t[0]], defaults={"axis": 0, "reduction": "none"},
       grad=lambda xp, ins, outs, douts, a: _scatter_grad(
           xp, ins[0], _se_flat(xp, ins, a), ins[2], douts[0], a["reduction"]))
def _scatter_elements(xp, inputs, attrs):
    """data with ``updates`` put (or add/mul/max/min-reduced) where ``indices`` say on ``axis``."""
    data, _, updates = inputs
    return [_scatter_into(xp, data, _se_flat(xp, inputs, attrs), updates, attrs["reduction"])]


def _snd_rows(xp, inputs):
    data, idx, updates = inputs
    rows, rest = _gnd_rows(xp, "ScatterND", data, idx, 0)
    want = idx.shape[:-1] + tuple(rest)
    if updates.shape != want:
        raise ShapeError(f"ScatterND: updates {updates.shape}, expected {want}")
    return rows, int(np.prod(rest, dtype=np.int64))


def _snd_grad(xp, inputs, outputs, douts, attrs):
    rows, r = _snd_rows(xp, inputs)
    return _scatter_grad(xp, inputs[0], rows, inputs[2], douts[0], attrs["reduction"], r)


@defop("ScatterND", pattern=Pattern.OPAQUE, since=11, infer=lambda t, a, v: [t[0]],
       grad=_snd_grad, defaults={"reduction": "none"})
def _scatter_nd(xp, inputs, attrs):
    """data with slices addressed by the last axis of ``indices`` replaced (or reduced)."""
    rows, r = _snd_rows(xp, inputs)
    return [_scatter_into(xp, inputs[0], rows, inputs[2], attrs["reduction"], r)]


# ------------------------------------------------------------------ NonZero

def _nonzero_infer(types, attrs, values):
    x = types[0]
    count = None if values[0] is None else int(np.count_nonzero(values[0]))
    return [TensorType(DType.INT64, (None if x.shape is None else max(len(x.shape), 1), count))]


@defop("NonZero", pattern=Pattern.OPAQUE, since=9, infer=_nonzero_infer)
def _nonzero(xp, inputs, attrs):
    """Indices (rank, count) of the non-zero entries, in row-major order."""
    x = inputs[0]
    if x.ndim == 0:
        x = x.reshape(1)
    check_alloc("NonZero", (x.ndim, int(xp.count_nonzero(x))), np.int64)
    return [xp.stack(xp.nonzero(x)).astype(np.int64).reshape(x.ndim, -1)]


# ------------------------------------------------------------------ TopK

def _topk_k(inputs, attrs):
    if len(inputs) > 1 and inputs[1] is not None:
        return as_int_list(inputs[1])[0]
    return int(attrs["k"])


def _topk_infer(types, attrs, values):
    x = types[0]
    if x.shape is None:
        return [TensorType(x.dtype, None), TensorType(DType.INT64, None)]
    axis = norm_axis(attrs["axis"], len(x.shape), "TopK")
    k = None if len(values) > 1 and values[1] is None else _topk_k(values, attrs)
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    return [TensorType(x.dtype, shape), TensorType(DType.INT64, shape)]


def _topk_indices(xp, x, k, axis, largest):
    if largest:
        # a stable sort of the negated keys keeps the lower index first among ties
        key = -x if x.dtype.kind == "f" else -(x.astype(np.int64))
    else:
        key = x
    kw = {"kind": "stable"} if xp is np else {}
    return xp.take(xp.argsort(key, axis=axis, **kw), xp.arange(k), axis=axis)


def _topk_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    axis = norm_axis(attrs["axis"], x.ndim)
    flat = _element_flat(xp, x.shape, outputs[1], axis)
    g = scatter_add(xp, flat, douts[0], x.size)
    return [g.reshape(x.shape).astype(x.dtype), None]


def _topk_adapt(attrs, opset):
    return attr_to_input(("k", 1, np.int64))(attrs, opset)


@defop("TopK", pattern=Pattern.OPAQUE, infer=_topk_infer, grad=_topk_grad, since=1,
       num_outputs=2, adapt=_topk_adapt, defaults={"axis": -1, "largest": 1, "sorted": 1})
def _topk(xp, inputs, attrs):
    """The k largest (or smallest) entries along ``axis`` and their int64 indices.

    Output is always sorted (allowed when ``sorted`` is 0); ties keep the lower index.
    """
    x = inputs[0]
    k = _topk_k(inputs, attrs)
    axis = norm_axis(attrs["axis"], x.ndim, "TopK")
    if not 0 <= k <= x.shape[axis]:
        raise ShapeError(f"TopK: k={k} out of range for axis {axis} of shape {x.shape}")
    idx = _topk_indices(xp, x, k, axis, attrs["largest"]).astype(np.int64)
    return [xp.take_along_axis(x, idx, axis=axis), idx]


# ------------------------------------------------------------------ CumSum

def _cumsum(xp, x, axis, exclusive, reverse):
    if reverse:
        x = xp.flip(x, axis)
    y = xp.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:
        y = y - x
    if reverse:
        y = xp.flip(y, axis)
    return y


def _cumsum_axis(inputs):
    return as_int_list(inputs[1])[0]


def _cumsum_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    axis = norm_axis(_cumsum_axis(inputs), x.ndim)
    return [_cumsum(xp, douts[0], axis, attrs["exclusive"], not attrs["reverse"]), None]


@defop("CumSum", pattern=Pattern.OPAQUE, since=11, infer=lambda t, a, v: [t[0]],
       grad=_cumsum_grad, defaults={"exclusive": 0, "reverse": 0})
def _cumsum_op(xp, inputs, attrs):
    """Running sum along ``axis`` (input 1); ``exclusive`` skips self, ``reverse`` runs back."""
    x = inputs[0]
    axis = norm_axis(_cumsum_axis(inputs), x.ndim, "CumSum")
    return [_cumsum(xp, x, axis, attrs["exclusive"], attrs["reverse"])]


# ------------------------------------------------------------------ Trilu

def _trilu_mask(xp, x, inputs, attrs):
    if x.ndim < 2:
        raise ShapeError(f"Trilu: input must have rank >= 2, got shape {x.shape}")
    k = as_int_list(inputs[1])[0] if len(inputs) > 1 and inputs[1] is not None else 0
    n, m = x.shape[-2:]
    rows = xp.arange(n).reshape(-1, 1)
    cols = xp.arange(m).reshape(1, -1)
    return (cols - rows >= k) if attrs["upper"] else (cols - rows <= k)


def _trilu_grad(xp, inputs, outputs, douts, attrs):
    mask = _trilu_mask(xp, inputs[0], inputs, attrs)
    return [xp.where(mask, douts[0], 0).astype(douts[0].dtype)] + [None] * (len(inputs) - 1)


@defop("Trilu", pattern=Pattern.INJECTIVE, since=14, infer=lambda t, a, v: [t[0]],
       grad=_trilu_grad, defaults={"upper": 1})
def _trilu(xp, inputs, attrs):
    """The upper (or lower) triangle of the last two axes from diagonal ``k``; zeros elsewhere."""
    x = inputs[0]
    mask = _trilu_mask(xp, x, inputs, attrs)
    return [xp.where(mask, x, xp.zeros((), x.dtype))]
