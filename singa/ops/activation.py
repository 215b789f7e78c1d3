"""Softmax, LogSoftmax and Hardmax along one axis.

From opset 13 they normalise along ``axis`` (default -1).  Before, the input was
coerced to 2-D at ``axis`` (default 1) and normalised along the flattened tail;
``adapt`` marks that form with the internal attribute ``_coerce_2d``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError
from ..ir.types import TensorType
from .base import Pattern, defop, norm_axis, same_as


def _adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 13:
        attrs.setdefault("axis", 1)
        attrs["_coerce_2d"] = 1
    return attrs, {}


def _view(x, attrs):
    """(x as the array to normalise, axis, shape to restore)."""
    if attrs.get("_coerce_2d"):
        axis = norm_axis(attrs["axis"], max(x.ndim, 1), "Softmax")
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return x.reshape(rows, -1), 1, x.shape
    return x, norm_axis(attrs["axis"], max(x.ndim, 1), "Softmax"), x.shape


def log_softmax(xp, x, axis):
    """x - logsumexp(x) along ``axis``, stable for large |x|."""
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    z = x - m
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def softmax(xp, x, axis):
    """exp(x) / sum(exp(x)) along ``axis``, stable for large |x|."""
    m = xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(x - xp.where(xp.isfinite(m), m, 0))
    return e / xp.sum(e, axis=axis, keepdims=True)


def hardmax(xp, x, axis):
    """True at the first maximum along ``axis``, False elsewhere."""
    idx = xp.expand_dims(xp.argmax(x, axis=axis), axis)
    classes = xp.arange(x.shape[axis]).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    return classes == idx


def _along_axis(fn, xp, inputs, attrs):
    """``fn(xp, x, axis)`` on the input as ``_view`` shapes it, in its dtype and shape."""
    x, axis, shape = _view(inputs[0], attrs)
    if x.size == 0:
        return [inputs[0].copy()]
    return [fn(xp, x, axis).astype(x.dtype, copy=False).reshape(shape)]


def _axis_infer(op):
    """infer() of Softmax / LogSoftmax / Hardmax: a float input and an axis in range."""

    def infer(types, attrs, values):
        x = types[0]
        if x.dtype is not None and not x.dtype.is_float:
            raise DTypeError(f"{op}: input is {x.dtype.short}; the op takes floats")
        if x.shape is not None:
            norm_axis(attrs["axis"], max(len(x.shape), 1), op)
        return [TensorType(x.dtype, x.shape)]

    return infer


def _softmax_grad(xp, inputs, outputs, douts, attrs):
    y, axis, shape = _view(outputs[0], attrs)
    dy = douts[0].reshape(y.shape)
    return [(y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))).reshape(shape)]


@defop("Softmax", pattern=Pattern.OPAQUE, infer=_axis_infer("Softmax"), grad=_softmax_grad, since=1,
       adapt=_adapt, defaults={"axis": -1})
def _softmax(xp, inputs, attrs):
    """Normalised exponentials along ``axis``."""
    return _along_axis(softmax, xp, inputs, attrs)


def _log_softmax_grad(xp, inputs, outputs, douts, attrs):
    y, axis, shape = _view(outputs[0], attrs)
    dy = douts[0].reshape(y.shape)
    return [(dy - xp.exp(y) * xp.sum(dy, axis=axis, keepdims=True)).reshape(shape)]


@defop("LogSoftmax", pattern=Pattern.OPAQUE, infer=_axis_infer("LogSoftmax"),
       grad=_log_softmax_grad, since=1,
       adapt=_adapt, defaults={"axis": -1})
def _log_softmax(xp, inputs, attrs):
    """log(Softmax(x)) along ``axis``, computed without overflow."""
    return _along_axis(log_softmax, xp, inputs, attrs)


def _hardmax_grad(xp, inputs, outputs, douts, attrs):
    # piecewise constant: zero almost everywhere
    return [xp.zeros_like(inputs[0])]


@defop("Hardmax", pattern=Pattern.OPAQUE, infer=_axis_infer("Hardmax"), grad=_hardmax_grad, since=1,
       adapt=_adapt, defaults={"axis": -1})
def _hardmax(xp, inputs, attrs):
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    return _along_axis(hardmax, xp, inputs, attrs)
