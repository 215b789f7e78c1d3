"""Image geometry: CenterCropPad and MaxUnpool.

CenterCropPad is Pad with per-axis widths that are negative where it crops
(``pad._pad_apply``); its gradient is the same op with the widths negated.

MaxUnpool scatters X to the flat positions I of a zero tensor of the shape its
kernel, strides and pads imply, as ONNX's reference does.  With ``output_shape``
that tensor is then embedded at the top-left of a larger zero tensor, which is
what the ONNX node cases store; onnxruntime instead reads I as positions in
``output_shape`` itself (the two agree when no extra size is asked for).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ..ir.types import TensorType
from ._window import ints
from .base import as_int_list, check_int_operand, defop, norm_axis
from .pad import _pad_apply

# ------------------------------------------------------------------ CenterCropPad


def _ccp_axes(rank, axes, n):
    axes = list(range(rank)) if axes is None else [norm_axis(a, rank, "CenterCropPad")
                                                   for a in axes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"CenterCropPad: repeated axes {axes}")
    if len(axes) != n:
        raise ShapeError(f"CenterCropPad: shape has {n} values for {len(axes)} axes {axes}")
    return axes


def _ccp_widths(shape, target, axes):
    """(begin, end) per axis: added elements, negative where the axis is cropped.
    Odd differences put the extra pad at the end and crop it from the end."""
    if min(target, default=0) < 0:
        raise ShapeError(f"CenterCropPad: negative target shape {target}")
    widths = [(0, 0)] * len(shape)
    for a, t in zip(_ccp_axes(len(shape), axes, len(target)), target):
        diff = t - shape[a]
        lo = diff // 2 if diff >= 0 else -(-diff // 2)
        widths[a] = (lo, diff - lo)
    return widths


def _ccp_infer(types, attrs, values):
    x, shape = types[0], types[1]
    check_int_operand("CenterCropPad", "shape", shape)
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    rank = len(x.shape)
    out = list(x.shape)
    if values[1] is not None:
        target = as_int_list(values[1])
        for a, t in zip(_ccp_axes(rank, attrs.get("axes"), len(target)), target):
            out[a] = t
    else:
        axes = attrs.get("axes")
        for a in _ccp_axes(rank, axes, rank if axes is None else len(axes)):
            out[a] = None
    return [TensorType(x.dtype, tuple(out))]


def _ccp_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    widths = _ccp_widths(x.shape, as_int_list(inputs[1]), attrs.get("axes"))
    back = [(-lo, -hi) for lo, hi in widths]
    return [_pad_apply(xp, douts[0], back, "constant", 0).astype(x.dtype), None]


@defop("CenterCropPad", infer=_ccp_infer, grad=_ccp_grad, since=18)
def _center_crop_pad(xp, inputs, attrs):
    x = inputs[0]
    widths = _ccp_widths(x.shape, as_int_list(inputs[1]), attrs.get("axes"))
    return [_pad_apply(xp, x, widths, "constant", "" if x.dtype == object else 0)]


# ------------------------------------------------------------------ MaxUnpool

def _unpooled(op, shape, attrs):
    """The shape MaxUnpool's kernel, strides and pads imply for X of ``shape``."""
    if len(shape) < 3:
        raise ShapeError(f"{op}: X of shape {tuple(shape)} needs rank >= 3 (N, C, spatial...)")
    nd = len(shape) - 2
    if attrs.get("kernel_shape") is None:
        raise ShapeError(f"{op}: kernel_shape attribute is required")
    kernel = ints(op, "kernel_shape", attrs["kernel_shape"], nd, 1)
    strides = ints(op, "strides", attrs.get("strides"), nd, 1)
    pads = ints(op, "pads", attrs.get("pads"), 2 * nd, 0)
    out = list(shape[:2])
    for i, d in enumerate(shape[2:]):
        out.append((d - 1) * strides[i] - pads[i] - pads[nd + i] + kernel[i]
                   if isinstance(d, int) else None)
    if any(isinstance(d, int) and d < 0 for d in out):
        raise ShapeError(f"{op}: X of shape {tuple(shape)} unpools to negative size {out}")
    return tuple(out)


def _mu_infer(types, attrs, values):
    x, idx = types[0], types[1]
    check_int_operand("MaxUnpool", "I", idx, ("INT64",))
    has_shape = len(types) > 2 and types[2] is not None
    if has_shape:
        check_int_operand("MaxUnpool", "output_shape", types[2], ("INT64",))
        if values[2] is not None:
            return [TensorType(x.dtype, tuple(as_int_list(values[2])))]
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    inferred = _unpooled("MaxUnpool", x.shape, attrs)
    return [TensorType(x.dtype, (None,) * len(inferred) if has_shape else inferred)]


def _mu_setup(inputs, attrs):
    """(X, I, the unpooled shape, the output shape)."""
    x, idx = inputs[0], inputs[1]
    if tuple(idx.shape) != tuple(x.shape):
        raise ShapeError(f"MaxUnpool: I of shape {tuple(idx.shape)} differs from X "
                         f"{tuple(x.shape)}")
    inner = _unpooled("MaxUnpool", x.shape, attrs)
    size = math.prod(inner)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= size):
        raise ShapeError(f"MaxUnpool: indices must lie in [0, {size}) for the unpooled "
                         f"shape {inner}, got [{int(idx.min())}, {int(idx.max())}]")
    out = inner
    if len(inputs) > 2 and inputs[2] is not None:
        out = tuple(as_int_list(inputs[2]))
        if len(out) != len(inner) or out[:2] != inner[:2] or \
                any(o < i for o, i in zip(out, inner)):
            raise ShapeError(f"MaxUnpool: output_shape {out} must keep N, C of {inner} and "
                             "be at least as large on every axis")
    return x, idx.astype(np.int64), inner, out


def _mu_grad(xp, inputs, outputs, douts, attrs):
    x, idx, inner, _ = _mu_setup(inputs, attrs)
    dy = douts[0][tuple(slice(0, d) for d in inner)]
    return [xp.take(dy.reshape(-1), idx.reshape(-1)).reshape(x.shape), None, None]


@defop("MaxUnpool", infer=_mu_infer, grad=_mu_grad, since=9)
def _max_unpool(xp, inputs, attrs):
    x, idx, inner, out = _mu_setup(inputs, attrs)
    y = xp.zeros(math.prod(inner), dtype=x.dtype)
    y[idx.reshape(-1)] = x.reshape(-1)
    y = y.reshape(inner)
    if out != inner:
        big = xp.zeros(out, dtype=x.dtype)
        big[tuple(slice(0, d) for d in inner)] = y
        y = big
    return [y]
