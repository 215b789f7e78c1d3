"""Im2Col: the column matrix of a convolution, an internal op of the kernel targets.

The ``lower_conv`` pass rewrites a Conv as ``MatMul(W as (M, C*K), Im2Col(x))``
plus a bias Add, so that the columns are one generated kernel, the product one
BLAS call into the arena and the bias with the activation after it one fused
elementwise kernel.  Not an ONNX op: models never name it.

Im2Col(x: (N, C, *sp)) -> (N, C * prod(kernel), prod(out)) with attributes
``kernel_shape``, ``strides``, ``dilations`` and ``pads`` (begin..., end...,
explicit); row ``c * K + tap`` holds input channel ``c`` seen through kernel
tap ``tap`` (row-major over the kernel), zero where the tap falls in padding.
"""

from __future__ import annotations

import itertools

from ..errors import ShapeError
from ..ir.types import TensorType
from ._window import geometry, prod, spatial_of, window_params
from .base import Pattern, defop


def im2col_geometry(shape, attrs):
    """(kernel, strides, dilations, pads begin, out) of an Im2Col on ``shape``."""
    sp = spatial_of("Im2Col", shape)
    kernel, strides, dilations, pads = window_params("Im2Col", attrs, len(sp))
    out, pb, _, _ = geometry("Im2Col", sp, kernel, strides, dilations, pads)
    return kernel, strides, dilations, pb, out


def _infer(types, attrs, values):
    x = types[0]
    if x.shape is None or not x.is_static:
        return [TensorType(x.dtype, None)]
    kernel, _, _, _, out = im2col_geometry(x.shape, attrs)
    return [TensorType(x.dtype, (x.shape[0], x.shape[1] * prod(kernel), prod(out)))]


def _windows(x_shape, attrs):
    """(pads per spatial axis for the padded input, the tap -> window slices)."""
    kernel, strides, dilations, pb, out = im2col_geometry(x_shape, attrs)
    if any(o < 1 for o in out):
        raise ShapeError(f"Im2Col: empty output {out}")
    ends = [(k - 1) * d + (o - 1) * s + 1 - b - n
            for b, k, d, o, s, n in zip(pb, kernel, dilations, out, strides, x_shape[2:])]
    pads = [(b, max(0, e)) for b, e in zip(pb, ends)]
    taps = [(tap, tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                        for t, d, o, s in zip(tap, dilations, out, strides)))
            for tap in itertools.product(*[range(k) for k in kernel])]
    return kernel, out, pads, taps


def _im2col_grad(xp, inputs, outputs, douts, attrs):
    """The adjoint: each column entry added back to the input element it copied."""
    x = inputs[0]
    kernel, out, pads, taps = _windows(x.shape, attrs)
    n, c = x.shape[:2]
    dcol = douts[0].reshape((n, c) + tuple(kernel) + tuple(out))
    padded = tuple(d + b + e for d, (b, e) in zip(x.shape[2:], pads))
    dxpad = xp.zeros((n, c) + padded, dtype=dcol.dtype)
    lead = (slice(None), slice(None))
    for tap, window in taps:
        dxpad[lead + window] += dcol[lead + tap]
    return [dxpad[lead + tuple(slice(b, b + d) for d, (b, _) in zip(x.shape[2:], pads))]]


@defop("Im2Col", pattern=Pattern.INJECTIVE, infer=_infer, grad=_im2col_grad, since=1)
def im2col_op(xp, inputs, attrs):
    """Columns of ``x`` for a convolution with the given window (see the module)."""
    x = inputs[0]
    kernel, out, pads, taps = _windows(x.shape, attrs)
    pad = [(0, 0), (0, 0)] + pads
    xpad = xp.pad(x, pad) if any(any(p) for p in pad) else x
    n, c = x.shape[:2]
    col = xp.empty((n, c) + tuple(kernel) + tuple(out), dtype=x.dtype)
    lead = (slice(None), slice(None))
    for tap, window in taps:
        col[lead + tap] = xpad[lead + window]
    return [col.reshape(n, c * prod(kernel), prod(out))]
