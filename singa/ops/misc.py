"""Selections and scans: CumProd, Unique, Compress, ReverseSequence, TensorScatter
and the deprecated Scatter (opset 9's name of ScatterElements).
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import OPS, Pattern, as_int_list, check_int_operand, defop, norm_axis
from .index import _element_flat, _scatter_grad, _scatter_into

# ------------------------------------------------------------------ CumProd


def _shift_in_one(xp, x, axis):
    """[1, x0, .., x(n-2)] along ``axis``: an exclusive scan is the inclusive scan of this."""
    n = x.shape[axis]
    if n == 0:
        return x
    lead = [slice(None)] * x.ndim
    lead[axis] = slice(0, n - 1)
    ones_shape = list(x.shape)
    ones_shape[axis] = 1
    return xp.concatenate([xp.ones(ones_shape, x.dtype), x[tuple(lead)]], axis=axis)


def _cumprod(xp, x, axis, exclusive, reverse):
    if reverse:
        x = xp.flip(x, axis)
    y = xp.cumprod(_shift_in_one(xp, x, axis) if exclusive else x, axis=axis, dtype=x.dtype)
    return xp.flip(y, axis) if reverse else y


def _rcumsum(xp, v):
    """Sums from each position to the end of the last axis."""
    return xp.flip(xp.cumsum(xp.flip(v, -1), axis=-1), -1)


def _inclusive_cumprod_grad(xp, x, dy):
    """d/dx of sum(dy * cumprod(x)) along the last axis, exact with zeros in x.

    dx_j = sum_{i>=j} dy_i prod_{k<=i, k!=j} x_k.  Before the first zero z of a
    lane that is sum(dy_i y_i) / x_j; at z it is the same sum over the scan with
    x_z replaced by 1; after z every product holds x_z = 0.
    """
    n = x.shape[-1]
    if n == 0:
        return xp.zeros_like(x)
    zero = x == 0
    j = xp.arange(n)
    z = xp.where(zero.any(axis=-1, keepdims=True),
                 xp.argmax(zero, axis=-1)[..., None], n)
    before, at = j < z, j == z
    g_before = _rcumsum(xp, dy * xp.cumprod(x, axis=-1)) / xp.where(before, x, 1)
    g_at = _rcumsum(xp, dy * xp.cumprod(xp.where(at, 1, x), axis=-1))
    return xp.where(before, g_before, xp.where(at, g_at, 0)).astype(x.dtype, copy=False)


def _cumprod_axis(op, inputs_or_values, rank):
    axis = as_int_list(inputs_or_values[1])
    if len(axis) != 1:
        raise ShapeError(f"{op}: axis must hold one value, got {axis}")
    return norm_axis(axis[0], rank, op)


def _cumprod_infer(types, attrs, values):
    x = types[0]
    check_int_operand("CumProd", "axis", types[1])
    if x.dtype is not None and not (x.dtype.is_float or x.dtype.is_int):
        raise DTypeError(f"CumProd: input is {x.dtype.short}; it takes numbers")
    if x.shape is not None and values[1] is not None:
        _cumprod_axis("CumProd", values, len(x.shape))
    return [TensorType(x.dtype, x.shape)]


def _cumprod_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    if x.dtype.kind != "f":
        return [None, None]
    axis = _cumprod_axis("CumProd", inputs, x.ndim)
    x, dy = xp.moveaxis(x, axis, -1), xp.moveaxis(douts[0], axis, -1)
    if attrs["reverse"]:
        x, dy = x[..., ::-1], dy[..., ::-1]
    if attrs["exclusive"]:
        g = _inclusive_cumprod_grad(xp, _shift_in_one(xp, x, -1), dy)
        # the shifted scan's entry k + 1 is x_k; the last x feeds no product
        g = xp.concatenate([g[..., 1:], xp.zeros_like(g[..., :1])], axis=-1)
    else:
        g = _inclusive_cumprod_grad(xp, x, dy)
    if attrs["reverse"]:
        g = g[..., ::-1]
    return [xp.moveaxis(g, -1, axis), None]


@defop("CumProd", pattern=Pattern.OPAQUE, since=26, infer=_cumprod_infer, grad=_cumprod_grad,
       defaults={"exclusive": 0, "reverse": 0})
def _cumprod_op(xp, inputs, attrs):
    """Running product along ``axis`` (input 1); ``exclusive`` skips self, ``reverse`` runs back."""
    x = inputs[0]
    axis = _cumprod_axis("CumProd", inputs, x.ndim)
    return [_cumprod(xp, x, axis, attrs["exclusive"], attrs["reverse"])]


# ------------------------------------------------------------------ Unique

def _unique_axis(attrs, rank):
    axis = attrs.get("axis")
    return None if axis is None else norm_axis(int(axis), rank, "Unique")


def _unique(xp, x, attrs):
    axis = _unique_axis(attrs, x.ndim)
    data = x.reshape(-1) if axis is None else x
    if axis is not None and x.ndim == 0:
        raise ShapeError("Unique: a scalar has no axis")
    y, first, inverse, counts = xp.unique(data, return_index=True, return_inverse=True,
                                          return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not attrs["sorted"]:
        # first-occurrence order: sort the unique entries by where they first appear
        order = xp.argsort(first)
        rank = xp.empty_like(order)
        rank[order] = xp.arange(order.shape[0])
        y = xp.take(y, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    return [y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)]


def _unique_infer(types, attrs, values):
    x = types[0]
    if values[0] is not None:
        return [TensorType.of(o) for o in _unique(np, np.asarray(values[0]), attrs)]
    i64 = [TensorType(DType.INT64, (None,))] * 4
    if x.shape is None:
        y = TensorType(x.dtype, None if attrs.get("axis") is not None else (None,))
        return [y] + i64[1:]
    axis = _unique_axis(attrs, len(x.shape))
    if axis is None:
        size = int(np.prod(x.shape)) if all(isinstance(d, int) for d in x.shape) else None
        return [TensorType(x.dtype, (None,)), i64[1], TensorType(DType.INT64, (size,)), i64[3]]
    y = x.shape[:axis] + (None,) + x.shape[axis + 1:]
    return [TensorType(x.dtype, y), i64[1], TensorType(DType.INT64, (x.shape[axis],)), i64[3]]


@defop("Unique", pattern=Pattern.OPAQUE, since=11, infer=_unique_infer, num_outputs=None,
       defaults={"sorted": 1})
def _unique_op(xp, inputs, attrs):
    """Unique entries (or slices along ``axis``), the index of each one's first
    occurrence, each input entry's index into them and their counts; sorted, or
    in order of first occurrence (``sorted`` 0)."""
    return _unique(xp, inputs[0], attrs)


# ------------------------------------------------------------------ Compress

def _compress_plan(op, shape, cond, attrs):
    """(axis, the condition cut to that axis's length); the input flattened when no axis."""
    axis = attrs.get("axis")
    if axis is None:
        size = int(np.prod(shape, dtype=np.int64))
        shape, axis = (size,), 0
    else:
        if len(shape) == 0:
            raise ShapeError(f"{op}: a scalar has no axis")
        axis = norm_axis(int(axis), len(shape), op)
    if cond.ndim != 1:
        raise ShapeError(f"{op}: condition must be 1-D, got shape {cond.shape}")
    d = shape[axis]
    if cond.shape[0] > d and bool(cond[d:].any()):
        raise ShapeError(f"{op}: condition of length {cond.shape[0]} selects entries past "
                         f"the {d} of axis {axis}")
    return axis, cond[:d].astype(bool, copy=False)


def _compress_infer(types, attrs, values):
    x, c = types
    if c.dtype is not None and c.dtype is not DType.BOOL:
        raise DTypeError(f"Compress: condition must be bool, got {c.dtype.short}")
    axis = attrs.get("axis")
    if x.shape is None:
        return [TensorType(x.dtype, (None,) if axis is None else None)]
    known = values[1] is not None and all(isinstance(d, int) for d in x.shape)
    if axis is None:
        count = None
        if known:
            _, keep = _compress_plan("Compress", x.shape, np.asarray(values[1]), attrs)
            count = int(keep.sum())
        return [TensorType(x.dtype, (count,))]
    axis = norm_axis(int(axis), len(x.shape), "Compress")
    count = None
    if known:
        count = int(_compress_plan("Compress", x.shape, np.asarray(values[1]), attrs)[1].sum())
    return [TensorType(x.dtype, x.shape[:axis] + (count,) + x.shape[axis + 1:])]


def _compress_grad(xp, inputs, outputs, douts, attrs):
    x, cond = inputs
    axis, keep = _compress_plan("Compress", x.shape, cond, attrs)
    flat = x.reshape(-1) if attrs.get("axis") is None else x
    dx = xp.zeros(flat.shape, douts[0].dtype)
    where = [slice(None)] * flat.ndim
    where[axis] = xp.nonzero(keep)[0]
    dx[tuple(where)] = douts[0]
    return [dx.reshape(x.shape), None]


@defop("Compress", pattern=Pattern.OPAQUE, since=9, infer=_compress_infer, grad=_compress_grad)
def _compress(xp, inputs, attrs):
    """The slices along ``axis`` (of the flattened input without one) where the bool
    condition is true; a condition shorter than the axis counts as false after its end."""
    x, cond = inputs
    if cond.dtype != np.bool_:
        raise DTypeError(f"Compress: condition must be bool, got {cond.dtype}")
    axis, keep = _compress_plan("Compress", x.shape, cond, attrs)
    data = x.reshape(-1) if attrs.get("axis") is None else x
    return [xp.take(data, xp.nonzero(keep)[0], axis=axis)]


# ------------------------------------------------------------------ ReverseSequence

def _rs_axes(rank, attrs):
    b, t = int(attrs["batch_axis"]), int(attrs["time_axis"])
    if rank < 2 or {b, t} != {0, 1}:
        raise ShapeError(f"ReverseSequence: batch_axis {b} and time_axis {t} must be 0 and 1 "
                         f"(in some order) of an input of rank >= 2, got rank {rank}")
    return b, t


def _reverse_sequence(xp, x, lens, attrs):
    b, t = _rs_axes(x.ndim, attrs)
    batch, steps = x.shape[b], x.shape[t]
    if lens.shape != (batch,):
        raise ShapeError(f"ReverseSequence: sequence_lens {lens.shape} for batch of {batch}")
    lens = lens.astype(np.int64)
    if lens.size and (int(lens.min()) < 0 or int(lens.max()) > steps):
        raise ShapeError(f"ReverseSequence: sequence_lens must lie in [0, {steps}], got "
                         f"{int(lens.min())}..{int(lens.max())}")
    time = xp.arange(steps).reshape(1, -1)
    n = lens.reshape(-1, 1)
    src = xp.where(time < n, n - 1 - time, time)  # (batch, time)
    if b > t:
        src = src.T
    shape = [1] * x.ndim
    shape[b], shape[t] = batch, steps
    src = xp.broadcast_to(src.reshape(shape), x.shape)
    return xp.take_along_axis(x, src, axis=t)


def _rs_infer(types, attrs, values):
    x = types[0]
    check_int_operand("ReverseSequence", "sequence_lens", types[1], ("INT64",))
    if x.shape is not None:
        _rs_axes(len(x.shape), attrs)
    return [TensorType(x.dtype, x.shape)]


@defop("ReverseSequence", pattern=Pattern.INJECTIVE, since=10, infer=_rs_infer,
       defaults={"batch_axis": 1, "time_axis": 0},
       # reversing the same prefixes twice restores them: the map is its own inverse
       grad=lambda xp, ins, outs, douts, a: [_reverse_sequence(xp, douts[0], ins[1], a), None])
def _reverse_sequence_op(xp, inputs, attrs):
    """Each batch entry's first ``sequence_lens[i]`` steps along ``time_axis`` reversed."""
    return [_reverse_sequence(xp, inputs[0], inputs[1], attrs)]


# ------------------------------------------------------------------ TensorScatter

def _ts_plan(xp, inputs, attrs):
    """Flat positions in the cache where each update entry goes."""
    past, update = inputs[0], inputs[1]
    wi = inputs[2] if len(inputs) > 2 else None
    op = "TensorScatter"
    if past.ndim != update.ndim or past.ndim < 2:
        raise ShapeError(f"{op}: cache {past.shape} and update {update.shape} need one rank >= 2")
    axis = norm_axis(int(attrs["axis"]), past.ndim, op)
    if axis == 0:
        raise ShapeError(f"{op}: axis 0 is the batch axis, not a sequence axis")
    if any(p != u for k, (p, u) in enumerate(zip(past.shape, update.shape)) if k != axis) \
            or update.shape[axis] > past.shape[axis]:
        raise ShapeError(f"{op}: update {update.shape} does not fit cache {past.shape} "
                         f"on axis {axis}")
    batch, max_len, seq = past.shape[0], past.shape[axis], update.shape[axis]
    if wi is None:
        wi = xp.zeros(batch, np.int64)
    elif wi.shape != (batch,):
        raise ShapeError(f"{op}: write_indices {wi.shape} for a batch of {batch}")
    pos = wi.astype(np.int64).reshape(-1, 1) + xp.arange(seq).reshape(1, -1)
    mode = attrs["mode"]
    if mode == "circular":
        pos = pos % max(max_len, 1)
    elif mode != "linear":
        raise ShapeError(f"{op}: unknown mode {mode!r}")
    if pos.size and (int(pos.min()) < 0 or int(pos.max()) >= max_len):
        raise ShapeError(f"{op}: writes at {int(pos.min())}..{int(pos.max())} leave the "
                         f"{max_len} cache entries (mode {mode})")
    shape = [1] * past.ndim
    shape[0], shape[axis] = batch, seq
    idx = xp.broadcast_to(pos.reshape(shape), update.shape)
    return _element_flat(xp, past.shape, idx, axis)


def _ts_grad(xp, inputs, outputs, douts, attrs):
    past, update = inputs[0], inputs[1]
    dpast, _, dupdate = _scatter_grad(xp, past, _ts_plan(xp, inputs, attrs), update,
                                      douts[0], "none")
    return [dpast, dupdate] + [None] * (len(inputs) - 2)


def _ts_infer(types, attrs, values):
    past = types[0]
    if types[1] is not None and types[1].dtype != past.dtype:
        raise DTypeError(f"TensorScatter: update is {types[1].dtype.short}, cache "
                         f"{past.dtype.short}")
    check_int_operand("TensorScatter", "write_indices", types[2] if len(types) > 2 else None,
                      ("INT64",))
    return [TensorType(past.dtype, past.shape)]


@defop("TensorScatter", pattern=Pattern.OPAQUE, since=24, infer=_ts_infer, grad=_ts_grad,
       defaults={"axis": -2, "mode": "linear"})
def _tensor_scatter(xp, inputs, attrs):
    """The cache with ``update`` written along ``axis`` from each batch entry's
    ``write_indices`` on (0 when absent), wrapping round in ``circular`` mode."""
    past, update = inputs[0], inputs[1]
    if update.dtype != past.dtype:
        raise DTypeError(f"TensorScatter: update is {update.dtype}, cache {past.dtype}")
    return [_scatter_into(xp, past, _ts_plan(xp, inputs, attrs), update, "none")]


# ------------------------------------------------------------------ Scatter

def _as_scatter_elements(attrs):
    return {"axis": attrs["axis"], "reduction": "none"}


_SE = OPS["ScatterElements"]


@defop("Scatter", pattern=Pattern.OPAQUE, since=9, defaults={"axis": 0},
       infer=lambda t, a, v: _SE.infer(t, _as_scatter_elements(a), v),
       grad=lambda xp, ins, outs, douts, a: _SE.grad(xp, ins, outs, douts,
                                                       _as_scatter_elements(a)))
def _scatter(xp, inputs, attrs):
    """Opsets 9-10's name of ScatterElements without ``reduction``: the same op."""
    return _SE.compute(xp, inputs, _as_scatter_elements(attrs))
