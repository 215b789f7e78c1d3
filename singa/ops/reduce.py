"""Reductions (ReduceX with keepdims / axes / noop_with_empty_axes) and ArgMax / ArgMin.

The newest form takes ``axes`` as optional input 1 (ReduceSum from opset 13, the
others from 18); ``adapt`` moves the older ``axes`` attribute there.
"""

from __future__ import annotations

import numpy as np

from ..ir.types import DType, TensorType
from .base import Pattern, as_int_list, defop, norm_axis

_DEFAULTS = {"keepdims": 1, "noop_with_empty_axes": 0}


def _adapt_for(axes_input_since):
    def adapt(attrs, opset):
        attrs = dict(attrs)
        extra = {}
        if "axes" in attrs:
            # older forms: `axes` attribute (an empty list never meant "no-op" there)
            axes = attrs.pop("axes")
            if axes is not None and len(axes):
                extra[1] = np.array(axes, np.int64)
        return attrs, extra

    return adapt


def _axes(op, x_rank, inputs, attrs):
    """Reduced axes as a sorted tuple.

    Empty axes with ``noop_with_empty_axes`` reduce over no axis at all: the
    elementwise part still applies (ReduceSumSquare gives x**2), as onnx's
    reference and onnxruntime do.
    """
    given = inputs[1] if len(inputs) > 1 else None
    axes = as_int_list(given)
    if not axes:
        if attrs["noop_with_empty_axes"]:
            return ()
        return tuple(range(x_rank))
    out = sorted({norm_axis(a, x_rank, op) for a in axes})
    return tuple(out)


def _expand(xp, g, x_shape, axes, keepdims):
    """A reduced result (or its grad) reshaped with 1s at the reduced axes."""
    if keepdims:
        return g
    shape = [1 if i in axes else d for i, d in enumerate(x_shape)]
    return g.reshape(shape)


def _infer(op, out_dtype=None):
    def infer(types, attrs, values):
        x = types[0]
        dtype = out_dtype or x.dtype
        has_axes = len(types) > 1 and types[1] is not None
        if has_axes and (len(values) < 2 or values[1] is None):
            # axes known only at run time
            if x.shape is not None and attrs["keepdims"]:
                return [TensorType(dtype, (None,) * len(x.shape))]
            return [TensorType(dtype, None)]
        if x.shape is None:
            return [TensorType(dtype, None)]
        axes = _axes(op, len(x.shape), [None, values[1] if has_axes else None], attrs)
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [TensorType(dtype, shape)]

    return infer


def _empty_fill(xp, x, axes, keepdims, value):
    shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    if not keepdims:
        shape = [d for i, d in enumerate(x.shape) if i not in axes]
    return xp.full(shape, value, dtype=x.dtype)


def _lowest(dtype, sign):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf if sign < 0 else np.inf
    if dtype.kind == "b":
        return sign > 0
    info = np.iinfo(dtype)
    return info.min if sign < 0 else info.max


def _reduce_op(name, fn, grad=None, since=1, axes_since=18):
    """Register ``fn(xp, x, axes, keepdims) -> y`` as a ReduceX op.

    ``grad(xp, x, y_kept, dy_kept, axes) -> dx`` gets y and dy with keepdims shape.
    """

    def compute(xp, inputs, attrs):
        x = inputs[0]
        axes = _axes(name, x.ndim, inputs, attrs)
        return [xp.asarray(fn(xp, x, axes, bool(attrs["keepdims"])))]

    g = None
    if grad is not None:
        def g(xp, inputs, outputs, douts, attrs):
            x = inputs[0]
            axes = _axes(name, x.ndim, inputs, attrs)
            rest = [None] * (len(inputs) - 1)
            k = bool(attrs["keepdims"])
            y = _expand(xp, outputs[0], x.shape, axes, k)
            dy = _expand(xp, douts[0], x.shape, axes, k)
            return [grad(xp, x, y, dy, axes).astype(x.dtype, copy=False)] + rest

    compute.__doc__ = f"{name} over ``axes`` (input 1; all axes when absent)."
    defop(name, pattern=Pattern.REDUCE, infer=_infer(name), grad=g, since=since,
          adapt=_adapt_for(axes_since), defaults=_DEFAULTS)(compute)


def _acc(dtype):
    """Accumulator dtype: float16 sums in float32 (as onnxruntime does), others as is."""
    return np.float32 if dtype == np.float16 else dtype


def _sum(xp, x, axes, k):
    return xp.sum(x, axis=axes, keepdims=k, dtype=_acc(x.dtype)).astype(x.dtype, copy=False)


def _count(x, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def _mean(xp, x, axes, k):
    if x.dtype.kind in "iu":
        # integer mean: the sum divided with C (truncating) semantics
        s = xp.sum(x, axis=axes, keepdims=k, dtype=np.int64)
        n = _count(x, axes)
        q = xp.abs(s) // n * xp.sign(s)
        return q.astype(x.dtype)
    return xp.mean(x, axis=axes, keepdims=k, dtype=_acc(x.dtype)).astype(x.dtype, copy=False)


def _extreme(sign):
    def fn(xp, x, axes, k):
        if _count(x, axes) == 0:
            return _empty_fill(xp, x, axes, k, _lowest(x.dtype, -sign))
        return (xp.max if sign > 0 else xp.min)(x, axis=axes, keepdims=k)

    return fn


def _extreme_grad(xp, x, y, dy, axes):
    # ties share the gradient evenly
    mask = (x == y)
    return dy * mask / mask.sum(axis=axes, keepdims=True)


def _prod_grad(xp, x, y, dy, axes):
    # d/dx_i prod = product of all the others: exclusive prefix times suffix
    # products, so zeros in x are handled exactly
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = keep + list(axes)
    xt = xp.transpose(x, perm)
    flat = xt.reshape(xt.shape[:len(keep)] + (-1,))
    ones = xp.ones(flat.shape[:-1] + (1,), x.dtype)
    left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1),
                               axis=-1), -1)
    others = (left * right).reshape(xt.shape)
    inv = [perm.index(i) for i in range(x.ndim)]
    return dy * xp.transpose(others, inv)


def _logsumexp(xp, x, axes, k):
    m = xp.max(x, axis=axes, keepdims=True) if x.size else xp.zeros((1,) * x.ndim, x.dtype)
    m = xp.where(xp.isfinite(m), m, 0)
    s = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
    return s if k else s.reshape([d for i, d in enumerate(s.shape) if i not in axes])


def _safe_div(xp, a, b):
    return a / xp.where(b == 0, 1, b) * (b != 0)


_reduce_op("ReduceSum", _sum, lambda xp, x, y, dy, ax: xp.broadcast_to(dy, x.shape),
           axes_since=13)
_reduce_op("ReduceMean", _mean,
           lambda xp, x, y, dy, ax: xp.broadcast_to(dy / _count(x, ax), x.shape))
_reduce_op("ReduceMax", _extreme(1), _extreme_grad)
_reduce_op("ReduceMin", _extreme(-1), _extreme_grad)
_reduce_op("ReduceProd", lambda xp, x, ax, k: xp.prod(x, axis=ax, keepdims=k, dtype=x.dtype),
           _prod_grad)
_reduce_op("ReduceL1",
           lambda xp, x, ax, k: xp.sum(xp.abs(x), axis=ax, keepdims=k, dtype=x.dtype),
           lambda xp, x, y, dy, ax: dy * xp.sign(x))
_reduce_op("ReduceL2",
           lambda xp, x, ax, k: xp.sqrt(xp.sum(x * x, axis=ax, keepdims=k)).astype(x.dtype),
           lambda xp, x, y, dy, ax: _safe_div(xp, dy * x, y))
_reduce_op("ReduceSumSquare",
           lambda xp, x, ax, k: xp.sum(x * x, axis=ax, keepdims=k, dtype=x.dtype),
           lambda xp, x, y, dy, ax: 2 * x * dy)
_reduce_op("ReduceLogSum",
           lambda xp, x, ax, k: xp.log(xp.sum(x, axis=ax, keepdims=k, dtype=x.dtype)),
           lambda xp, x, y, dy, ax: xp.broadcast_to(dy / xp.exp(y), x.shape))
_reduce_op("ReduceLogSumExp", lambda xp, x, ax, k: _logsumexp(xp, x, ax, k).astype(x.dtype),
           lambda xp, x, y, dy, ax: dy * xp.exp(x - y))


# ------------------------------------------------------------------ ArgMax / ArgMin

def _arg_infer(types, attrs, values):
    x = types[0]
    if x.shape is None:
        return [TensorType(DType.INT64, None)]
    axis = norm_axis(attrs["axis"], len(x.shape), "ArgMax/ArgMin")
    if attrs["keepdims"]:
        shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i != axis)
    return [TensorType(DType.INT64, shape)]


def _arg(name, fn):
    def compute(xp, inputs, attrs):
        x = inputs[0]
        axis = norm_axis(attrs["axis"], x.ndim, name)
        if attrs["select_last_index"]:
            flipped = xp.flip(x, axis)
            idx = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            idx = fn(x, axis=axis)
        idx = idx.astype(np.int64)
        if attrs["keepdims"]:
            idx = xp.expand_dims(idx, axis)
        return [idx]

    compute.__doc__ = f"{name}: indices (int64) along ``axis``; ties pick the first " \
                      "(or last, ``select_last_index``) occurrence."
    defop(name, pattern=Pattern.REDUCE, infer=_arg_infer, since=1,
          defaults={"axis": 0, "keepdims": 1, "select_last_index": 0})(compute)


_arg("ArgMax", lambda x, axis: x.argmax(axis=axis))
_arg("ArgMin", lambda x, axis: x.argmin(axis=axis))
