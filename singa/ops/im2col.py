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


def col2im(xp, dcol, x_shape, attrs):
    """The adjoint of Im2Col: every column entry added back into the element of an
    ``x_shape`` image it was copied from (ONNX's Col2Im, PyTorch's fold)."""
    kernel, out, pads, taps = _windows(x_shape, attrs)
    n, c = x_shape[:2]
    d = dcol.reshape((n, c) + tuple(kernel) + tuple(out))
    padded = tuple(s + b + e for s, (b, e) in zip(x_shape[2:], pads))
    xpad = xp.zeros((n, c) + padded, dtype=dcol.dtype)
    lead = (slice(None), slice(None))
    for tap, window in taps:
        xpad[lead + window] += d[lead + tap]
    return xpad[lead + tuple(slice(b, b + s) for s, (b, _) in zip(x_shape[2:], pads))]


def _im2col_grad(xp, inputs, outputs, douts, attrs):
    return [col2im(xp, douts[0], inputs[0].shape, attrs)]


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


# ------------------------------------------------------------------ ConvGemm (internal)

def _conv_gemm_infer(types, attrs, values):
    from . import OPS

    w, x = types
    return OPS["MatMul"].infer([w, _infer([x], attrs, [None])[0]], {}, [None, None])


def _conv_gemm_grad(xp, inputs, outputs, douts, attrs):
    from . import OPS

    w, x = inputs
    col = im2col_op(xp, [x], attrs)[0]
    dw, dcol = OPS["MatMul"].grad(xp, [w, col], outputs, douts, {})
    return [dw, None if dcol is None else col2im(xp, dcol, x.shape, attrs)]


@defop("ConvGemm", pattern=Pattern.OPAQUE, infer=_conv_gemm_infer, grad=_conv_gemm_grad,
       since=1)
def conv_gemm(xp, inputs, attrs):
    """``MatMul(w, Im2Col(x))``: a convolution's product, whose host kernel packs
    the columns straight from the image (``codegen/gemm.py``) instead of making
    them (the ``c`` target's ``lower_conv``).  Not an ONNX op."""
    from . import OPS

    w, x = inputs
    return OPS["MatMul"].compute(xp, [w, im2col_op(xp, [x], attrs)[0]], {})


# ------------------------------------------------------------------ Col2Im (ONNX, opset 18)

def _col2im_image(op_attrs, values, where="Col2Im"):
    """(image shape, block shape, Im2Col attributes) from Col2Im's constant inputs."""
    from .base import as_int_list

    image, block = as_int_list(values[1]), as_int_list(values[2])
    if len(image) != len(block) or not image:
        raise ShapeError(f"{where}: image_shape {image} and block_shape {block} must be "
                         f"non-empty and of one length")
    attrs = dict(op_attrs, kernel_shape=block)
    return image, block, attrs


def _col2im_infer(types, attrs, values):
    x = types[0]
    if values[1] is None or values[2] is None or x.shape is None:
        nd = None if types[1] is None or types[1].shape is None else types[1].shape[0]
        return [TensorType(x.dtype, None if not isinstance(nd, int) else
                           ((x.shape or [None])[0], None) + (None,) * nd)]
    image, block, a = _col2im_image(attrs, values)
    n, ck = x.shape[0], x.shape[1]
    k = prod(block)
    if isinstance(ck, int) and ck % k:
        raise ShapeError(f"Col2Im: input has {ck} rows, not a multiple of the block's {k}")
    c = ck // k if isinstance(ck, int) else None
    if isinstance(c, int) and isinstance(x.shape[2], int):
        _, _, _, _, out = im2col_geometry((1, c) + tuple(image), a)
        if prod(out) != x.shape[2]:
            raise ShapeError(f"Col2Im: input has {x.shape[2]} blocks, the image {image} "
                             f"with block {block} gives {prod(out)}")
    return [TensorType(x.dtype, (n, c) + tuple(image))]


def _col2im_grad(xp, inputs, outputs, douts, attrs):
    image, block, a = _col2im_image(attrs, [None, inputs[1], inputs[2]])
    return [im2col_op(xp, [douts[0]], a)[0], None, None]


@defop("Col2Im", pattern=Pattern.OPAQUE, infer=_col2im_infer, grad=_col2im_grad, since=18)
def col2im_op(xp, inputs, attrs):
    """ONNX Col2Im: columns (N, C * prod(block), L) summed back into (N, C, *image)."""
    x = inputs[0]
    image, block, a = _col2im_image(attrs, [None, inputs[1], inputs[2]])
    k = prod(block)
    if x.ndim != 3 or x.shape[1] % k:
        raise ShapeError(f"Col2Im: input of shape {x.shape} is not (N, C * {k}, L)")
    shape = (x.shape[0], x.shape[1] // k) + tuple(image)
    _, _, _, _, out = im2col_geometry(shape, a)
    if prod(out) != x.shape[2]:
        raise ShapeError(f"Col2Im: input has {x.shape[2]} blocks, the image {image} with "
                         f"block {block} gives {prod(out)}")
    return [col2im(xp, x, shape, a)]
