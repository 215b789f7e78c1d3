"""PRelu: x where x >= 0, slope * x below, in its two ONNX forms.

From opset 7 the slope broadcasts to x by NumPy's rules.  Opsets 1 and 6 predate
broadcasting in ONNX: their slope is of size 1 (shared) or holds one value per
channel, shape [C] against x [N, C, ...] (what PyTorch's exporter wrote for
``nn.PReLU(C)``), which NumPy would align with x's last dim instead.  ``adapt``
marks that form with the internal attribute ``_channel_slope``; compute, infer
and grad then read a 1-D slope of x's channel count along axis 1.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from .base import Pattern, broadcast_shapes, defop, unbroadcast

OP = "PRelu"
_KERNEL = "({0} >= ({T})0 ? {0} : ({T}){1} * {0})"


def _adapt(attrs, opset):
    attrs = dict(attrs)
    attrs.pop("consumed_inputs", None)  # opset 1's memory hint, meaningless here
    if opset < 7:
        attrs["_channel_slope"] = 1
    return attrs, {}


def slope_shape(x_shape, s_shape, attrs):
    """The shape ``slope`` is read as against ``x``: a per-channel slope of the
    opset 1-6 form as [C, 1, ...], any other unchanged; None when unknown dims
    leave the form undecided."""
    if (not attrs.get("_channel_slope") or x_shape is None or s_shape is None
            or len(s_shape) != 1 or len(x_shape) < 2 or s_shape[0] == 1):
        return s_shape
    c, channels = s_shape[0], x_shape[1]
    if c is None or channels is None:
        return None
    if c == channels:
        return (c,) + (1,) * (len(x_shape) - 2)
    if isinstance(c, int) and isinstance(channels, int):
        raise ShapeError(f"{OP}: before opset 7 a slope holds one value or one per channel; "
                         f"{c} values for x of shape {tuple(x_shape)} ({channels} channels)")
    return None


def _check_dtypes(x_dtype, s_dtype) -> None:
    if x_dtype is not None and s_dtype is not None and x_dtype != s_dtype:
        raise DTypeError(f"{OP}: x is {x_dtype} but slope is {s_dtype}")


def _infer(types, attrs, values):
    x, s = types
    _check_dtypes(x.dtype, s.dtype)
    shape = slope_shape(x.shape, s.shape, attrs)
    if shape is None:  # either reading leaves x's shape as it is
        return [TensorType(x.dtype, x.shape)]
    return [TensorType(x.dtype, broadcast_shapes(OP, x.shape, shape))]


def _slope(x, slope, attrs):
    _check_dtypes(x.dtype, slope.dtype)
    s = slope.reshape(slope_shape(x.shape, slope.shape, attrs))
    broadcast_shapes(OP, x.shape, s.shape)
    return s


def _grad(xp, inputs, outputs, douts, attrs):
    x, slope = inputs
    s = _slope(x, slope, attrs)
    dy = douts[0]
    dx = dy * xp.where(x >= 0, 1, s).astype(x.dtype)
    ds = unbroadcast(xp, dy * xp.where(x >= 0, 0, x).astype(x.dtype), s.shape)
    return [unbroadcast(xp, dx, x.shape), ds.reshape(slope.shape)]


def _kernel(dtypes, out, attrs):
    # a kernel reads its operands through NumPy-broadcast views, which would put
    # a per-channel slope along the last dim: that form stays a NumPy step
    return None if attrs.get("_channel_slope") else _KERNEL


@defop(OP, pattern=Pattern.BROADCAST, infer=_infer, grad=_grad, since=1, adapt=_adapt,
       cuda=_kernel)
def prelu(xp, inputs, attrs):
    """x for x >= 0, slope * x below; slope broadcasts to x (per channel before opset 7)."""
    x, slope = inputs
    return [xp.where(x >= 0, x, _slope(x, slope, attrs) * x).astype(x.dtype)]
