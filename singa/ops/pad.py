"""Pad: constant / reflect / edge / wrap padding, negative pads crop, optional axes."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.types import TensorType
from .base import Pattern, as_int_list, defop, norm_axis


def _pad_adapt(attrs, opset):
    attrs = dict(attrs)
    extra = {}
    if "pads" in attrs or "paddings" in attrs:
        # Pad-1/-2: `pads` (`paddings` in Pad-1) and `value` attributes
        pads = attrs.pop("pads", None)
        paddings = attrs.pop("paddings", None)
        extra[1] = np.array(pads if pads is not None else paddings, np.int64)
        extra[2] = np.array(attrs.pop("value", 0.0), np.float32)
    return attrs, extra


def _pad_widths(op, rank, pads, axes):
    axes = list(range(rank)) if axes is None or len(axes) == 0 else \
        [norm_axis(a, rank, op) for a in axes]
    if len(pads) != 2 * len(axes):
        raise ShapeError(f"{op}: {len(pads)} pads for {len(axes)} axes")
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + len(axes)])
    return widths


def _pad_apply(xp, x, widths, mode, value):
    # negative pads crop first; then xp.pad adds the positive ones
    crop = tuple(slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths))
    x = x[crop]
    pos = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return xp.pad(x, pos, mode="constant", constant_values=value)
    if mode in ("reflect", "edge", "wrap"):
        for i, (lo, hi) in enumerate(pos):
            if (lo or hi) and x.shape[i] == 0:
                raise ShapeError(f"Pad: cannot {mode}-pad the empty axis {i}")
        return xp.pad(x, pos, mode=mode)
    raise ShapeError(f"Pad: unknown mode {mode!r}")


def _pad_args(inputs, x):
    pads = as_int_list(inputs[1])
    value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    axes = as_int_list(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    value = 0 if value is None else value.reshape(()).astype(x.dtype).item()
    return pads, value, axes


def _pad_infer(types, attrs, values):
    x = types[0]
    has_axes = len(types) > 3 and types[3] is not None
    if x.shape is None or values[1] is None or (has_axes and values[3] is None):
        return [TensorType(x.dtype, None if x.shape is None else (None,) * len(x.shape))]
    widths = _pad_widths("Pad", len(x.shape), as_int_list(values[1]),
                         as_int_list(values[3]) if has_axes else None)
    return [TensorType(x.dtype, tuple(d + lo + hi if isinstance(d, int) else
                                      (d if lo == hi == 0 else None)
                                      for d, (lo, hi) in zip(x.shape, widths)))]


def _pad_grad(xp, inputs, outputs, douts, attrs):
    # pad an index map the same way: every output element names its source
    x = inputs[0]
    pads, _, axes = _pad_args(inputs, x)
    widths = _pad_widths("Pad", x.ndim, pads, axes)
    idx = xp.arange(x.size, dtype=np.int64).reshape(x.shape)
    src = _pad_apply(xp, idx, widths, attrs["mode"], -1)
    keep = src >= 0
    g = xp.bincount(src[keep], weights=douts[0][keep], minlength=x.size)
    grads = [g.reshape(x.shape).astype(x.dtype)] + [None] * (len(inputs) - 1)
    value = inputs[2] if len(inputs) > 2 else None
    if value is not None and value.dtype.kind == "f" and attrs["mode"] == "constant":
        # every padded element is the value
        grads[2] = douts[0][~keep].sum().reshape(value.shape).astype(value.dtype)
    return grads


@defop("Pad", pattern=Pattern.INJECTIVE, infer=_pad_infer, grad=_pad_grad, since=1,
       adapt=_pad_adapt, defaults={"mode": "constant"})
def _pad(xp, inputs, attrs):
    """x padded by ``pads`` (input 1: all begins, then all ends; negative crops) with
    ``mode`` constant (input 2 the value), reflect, edge or wrap, on ``axes`` (input 3)."""
    x = inputs[0]
    pads, value, axes = _pad_args(inputs, x)
    widths = _pad_widths("Pad", x.ndim, pads, axes)
    return [_pad_apply(xp, x, widths, attrs["mode"], value)]
