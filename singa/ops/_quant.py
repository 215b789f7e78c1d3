"""Shared by the quantization ops (quantize.py, qlinear.py): the quantized types and
their ranges, how a scale / zero point lies over its tensor, and the final
``saturate(round(v) + zero_point)`` step.

The 4-bit, 2-bit, float8, float6 and float4 types are ml_dtypes' NumPy dtypes
(the ones ``onnx.numpy_helper`` reads such tensors into); CuPy has none of them,
so on a GPU only the 8- and 16-bit integer forms run.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .arith import _cast_to
from .base import norm_axis

# saturation range of each integer quantized type
INT_RANGES = {
    "UINT8": (0, 255), "INT8": (-128, 127), "UINT16": (0, 65535), "INT16": (-32768, 32767),
    "UINT4": (0, 15), "INT4": (-8, 7), "UINT2": (0, 3), "INT2": (-2, 1),
}
# float quantized types: quantizing is a (saturating) cast
FLOAT8 = ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ")
SMALL_FLOATS = FLOAT8 + ("FLOAT4E2M1", "FLOAT6E2M3", "FLOAT6E3M2")
QUANT_TYPES = tuple(INT_RANGES) + SMALL_FLOATS
SCALE_FLOATS = ("FLOAT", "FLOAT16", "BFLOAT16")


def opt(items, i):
    """``items[i]``, or None past the end (an absent trailing optional input)."""
    return items[i] if len(items) > i else None


def types_of(arrays):
    """The TensorTypes of concrete operands (None stays None), for the infer checks."""
    return [None if a is None else TensorType.of(a) for a in arrays]


def dtype_name(dt) -> str:
    """The ONNX type name (``"INT4"``) of a NumPy dtype or DType."""
    return dt.name if isinstance(dt, DType) else DType.from_np(dt).name


def attr_dtype(op: str, what: str, code) -> DType:
    """The DType an ``output_dtype``-like attribute names; DTypeError for unknown codes."""
    try:
        return DType(int(code))
    except ValueError:
        raise DTypeError(f"{op}: {what} {code} is no ONNX type") from None


def check_dtype(op: str, what: str, dt, allowed) -> None:
    """DTypeError unless ``dt`` (NumPy dtype or DType; None: unknown) is one of ``allowed``."""
    if dt is None:
        return
    name = dtype_name(dt)
    if name not in allowed:
        kinds = ", ".join(DType[a].short for a in allowed)
        raise DTypeError(f"{op}: {what} must be one of {kinds}, got {DType[name].short}")


def _known(d) -> bool:
    return isinstance(d, int)


def per_tensor(shape) -> bool:
    """Whether a scale / zero point of ``shape`` is one value for the whole tensor."""
    return len(shape) == 0 or (len(shape) == 1 and shape[0] == 1)


def layout(op, xshape, pshape, axis, block_size):
    """How a scale (or zero point) of shape ``pshape`` lies over a tensor of shape
    ``xshape``: ``("tensor",)``, ``("axis", a)`` or ``("block", a, block_size)``;
    None while a rank is unknown.  ShapeError when they do not fit (ONNX's three
    granularities: a scalar, a 1-D tensor of ``x.shape[axis]``, or x's shape with
    ``ceil(D_axis / block_size)`` along the blocked axis)."""
    if pshape is None:
        return None
    if block_size < 0:
        raise ShapeError(f"{op}: block_size must be >= 0, got {block_size}")
    if per_tensor(pshape):
        return ("tensor",)
    if xshape is None:
        return None
    a = norm_axis(axis, len(xshape), op)
    if not block_size:
        if len(pshape) != 1:
            raise ShapeError(f"{op}: scale of shape {tuple(pshape)} for input "
                             f"{tuple(xshape)}: a scale of rank > 1 needs block_size")
        if _known(pshape[0]) and _known(xshape[a]) and pshape[0] != xshape[a]:
            raise ShapeError(f"{op}: scale of shape {tuple(pshape)} does not match axis {a} "
                             f"of input {tuple(xshape)}")
        return ("axis", a)
    if len(pshape) != len(xshape):
        raise ShapeError(f"{op}: blocked scale of shape {tuple(pshape)} needs the rank of "
                         f"input {tuple(xshape)}")
    for i, (d, s) in enumerate(zip(xshape, pshape)):
        want = -(-d // block_size) if i == a and _known(d) else d
        if _known(want) and _known(s) and s != want:
            raise ShapeError(f"{op}: blocked scale of shape {tuple(pshape)} does not fit "
                             f"input {tuple(xshape)} with block_size {block_size} on axis {a}")
    return ("block", a, block_size)


def same_shape(op, what, scale_shape, zp_shape) -> None:
    """ShapeError unless a zero point has its scale's shape (unknown dims pass;
    () and (1,) both mean per tensor, as in ONNX's own test models)."""
    if scale_shape is None or zp_shape is None or (
            per_tensor(scale_shape) and per_tensor(zp_shape)):
        return
    if len(scale_shape) != len(zp_shape) or any(
            _known(s) and _known(z) and s != z for s, z in zip(scale_shape, zp_shape)):
        raise ShapeError(f"{op}: {what} zero point of shape {tuple(zp_shape)} differs from "
                         f"its scale's shape {tuple(scale_shape)}")


def spread(xp, p, xshape, lay):
    """A scale / zero point broadcastable against x (blocks repeated out)."""
    if lay[0] == "tensor":
        return p.reshape(())
    if lay[0] == "axis":
        shape = [1] * len(xshape)
        shape[lay[1]] = p.shape[0]
        return p.reshape(shape)
    _, a, b = lay
    rep = xp.repeat(p, b, axis=a)
    return rep[(slice(None),) * a + (slice(0, xshape[a]),)]


def gather(xp, g, pshape, lay):
    """Adjoint of :func:`spread`: ``g`` (x's shape) summed into ``pshape``."""
    if lay[0] == "tensor":
        return g.sum().reshape(pshape)
    a = lay[1]
    if lay[0] == "axis":
        return g.sum(axis=tuple(i for i in range(g.ndim) if i != a))
    b, n = lay[2], pshape[a]
    pad = n * b - g.shape[a]
    if pad:
        widths = [(0, 0)] * g.ndim
        widths[a] = (0, pad)
        g = xp.pad(g, widths)
    return g.reshape(g.shape[:a] + (n, b) + g.shape[a + 1:]).sum(axis=a + 1)


def as_int(xp, x):
    """Integer (or small-float) quantized values as exact int32 / float32 values."""
    if dtype_name(x.dtype) in SMALL_FLOATS:
        return x.astype(np.float32)
    # int32 inputs (DequantizeLinear) subtract their zero point in 64 bits
    return x.astype(np.int64 if x.dtype.itemsize >= 4 else np.int32)


def saturate(xp, v, zp, dt, saturate_float=1):
    """``saturate(round(v) + zp)`` as dtype ``dt``: integer types round half to even and
    clamp to their range; float types are a cast (clamped to +-max unless
    ``saturate_float`` is 0, then out-of-range values become inf or NaN)."""
    name = dtype_name(dt)
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        # float64 keeps rounded values + zero points of 16-bit types exact
        y = xp.rint(v.astype(np.float64))
        if zp is not None:
            y = y + zp.astype(np.float64)
        y = _cast_to(xp, xp.clip(y, lo, hi), np.int32)  # NaN -> 0
        return y.astype(dt)
    v = v.astype(np.float64 if v.dtype == np.float64 else np.float32)
    if zp is not None:
        v = v + zp.astype(v.dtype)
    return _cast_to(xp, v, np.dtype(dt), saturate_float)
