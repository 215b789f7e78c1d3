"""Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

``y = saturate(round(x / scale) + zero_point)`` and ``x = (y - zero_point) * scale``,
per tensor, per axis or in blocks (see :func:`_quant.layout`), into the 16-, 8-,
4- and 2-bit integer types and the float8/6/4 types.  The matrix products over
quantized operands are in qlinear.py.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError
from ..ir.types import DType, TensorType
from . import _quant as q
from .base import defop, np_dtype

_QUANT_DEFAULTS = {"axis": 1, "block_size": 0}


def _shape(t):
    return None if t is None else t.shape


def _dtype(t):
    return None if t is None else t.dtype


# ------------------------------------------------------------------ QuantizeLinear

def _quant_target(zp_dtype, output_dtype):
    """The quantized type: the zero point's (a DType), else ``output_dtype``, else uint8."""
    op = "QuantizeLinear"
    wanted = q.attr_dtype(op, "output_dtype", output_dtype) if output_dtype else None
    if zp_dtype is not None:
        if wanted is not None and wanted != zp_dtype:
            raise DTypeError(f"{op}: output_dtype {wanted.short} differs from the zero "
                             f"point's type {zp_dtype.short}")
        target = zp_dtype
    else:
        target = wanted or DType.UINT8
    q.check_dtype(op, "the quantized type", target, q.QUANT_TYPES)
    return target


def _quant_check(types, attrs):
    """Checks shared by infer and compute; returns the quantized DType."""
    op = "QuantizeLinear"
    x, s, zp = types[0], types[1], q.opt(types, 2)
    q.check_dtype(op, "x", _dtype(x), ("FLOAT", "FLOAT16", "BFLOAT16", "INT32"))
    q.check_dtype(op, "y_scale", _dtype(s), q.SCALE_FLOATS + ("INT32", "FLOAT8E8M0"))
    q.layout(op, _shape(x), _shape(s), attrs["axis"], attrs["block_size"])
    q.same_shape(op, "y", _shape(s), _shape(zp))
    return _quant_target(_dtype(zp), attrs.get("output_dtype", 0))


def _quant_infer(types, attrs, values):
    target = _quant_check(types, attrs)
    return [TensorType(target, types[0].shape)]


def _division_dtype(scale_dtype, precision):
    """What ``x / scale`` is computed in: ``precision`` if given, else the scale's
    type; integer and e8m0 (power-of-two) scales divide in a float wide enough to
    be exact for them."""
    dt = np_dtype(int(precision)) if precision else np.dtype(scale_dtype)
    if dt.kind in "iu":
        return np.dtype(np.float64)
    if q.dtype_name(dt) == "FLOAT8E8M0":
        return np.dtype(np.float32)
    return dt


@defop("QuantizeLinear", infer=_quant_infer, since=10,
       defaults=dict(_QUANT_DEFAULTS, saturate=1, output_dtype=0, precision=0))
def quantize_linear(xp, inputs, attrs):
    """``saturate(round(x / y_scale) + y_zero_point)``, rounding half to even."""
    x, s, zp = inputs[0], inputs[1], q.opt(inputs, 2)
    target = _quant_check(q.types_of([x, s, zp]), attrs)
    lay = q.layout("QuantizeLinear", x.shape, s.shape, attrs["axis"], attrs["block_size"])
    ct = _division_dtype(s.dtype, attrs.get("precision", 0))
    v = x.astype(ct) / q.spread(xp, s, x.shape, lay).astype(ct)
    zpv = None if zp is None else q.as_int(xp, q.spread(xp, zp, x.shape, lay))
    return [q.saturate(xp, v, zpv, target.np, attrs["saturate"])]


# ------------------------------------------------------------------ DequantizeLinear

_DEQUANT_INPUTS = tuple(q.INT_RANGES) + ("INT32",) + q.SMALL_FLOATS


def _dequant_check(types, attrs):
    """Checks shared by infer and compute; returns the output DType."""
    op = "DequantizeLinear"
    x, s, zp = types[0], types[1], q.opt(types, 2)
    q.check_dtype(op, "x", _dtype(x), _DEQUANT_INPUTS)
    # float64 scales are beyond the ONNX schema; they let the grad be checked in float64
    q.check_dtype(op, "x_scale", _dtype(s), q.SCALE_FLOATS + ("FLOAT8E8M0", "DOUBLE"))
    if zp is not None and x is not None and zp.dtype != x.dtype:
        raise DTypeError(f"{op}: zero point type {zp.dtype.short} differs from x's "
                         f"type {x.dtype.short}")
    q.layout(op, _shape(x), _shape(s), attrs["axis"], attrs["block_size"])
    q.same_shape(op, "x", _shape(s), _shape(zp))
    code = attrs.get("output_dtype")
    out = q.attr_dtype(op, "output_dtype", code) if code else s.dtype
    q.check_dtype(op, "the output type (output_dtype, else x_scale's type)", out,
                  q.SCALE_FLOATS + ("DOUBLE",))
    return out


def _dequant_infer(types, attrs, values):
    return [TensorType(_dequant_check(types, attrs), types[0].shape)]


def _dequant_parts(xp, inputs, attrs):
    """(x - zero point) as exact numbers, the spread scale, the layout, the out dtype."""
    x, s, zp = inputs[0], inputs[1], q.opt(inputs, 2)
    out = _dequant_check(q.types_of([x, s, zp]), attrs).np
    lay = q.layout("DequantizeLinear", x.shape, s.shape, attrs["axis"], attrs["block_size"])
    d = q.as_int(xp, x)
    if zp is not None:
        d = d - q.as_int(xp, q.spread(xp, zp, x.shape, lay))
    # products in float32 (float64 for float64 scales), then rounded to the output type
    ct = np.float64 if np.dtype(out) == np.float64 else np.float32
    return d.astype(ct), q.spread(xp, s, x.shape, lay).astype(ct), lay, out


def _dequant_grad(xp, inputs, outputs, douts, attrs):
    d, _, lay, _ = _dequant_parts(xp, inputs, attrs)
    s = inputs[1]
    ds = q.gather(xp, douts[0].astype(d.dtype) * d, s.shape, lay)
    return [None, ds.reshape(s.shape).astype(s.dtype)] + [None] * (len(inputs) - 2)


@defop("DequantizeLinear", infer=_dequant_infer, grad=_dequant_grad, since=10,
       defaults=dict(_QUANT_DEFAULTS, output_dtype=0))
def dequantize_linear(xp, inputs, attrs):
    """``(x - x_zero_point) * x_scale``."""
    d, s, _, out = _dequant_parts(xp, inputs, attrs)
    return [(d * s).astype(out)]


# ------------------------------------------------------------------ DynamicQuantizeLinear

def _dynq_infer(types, attrs, values):
    q.check_dtype("DynamicQuantizeLinear", "x", _dtype(types[0]), ("FLOAT",))
    return [TensorType(DType.UINT8, types[0].shape), TensorType(DType.FLOAT, ()),
            TensorType(DType.UINT8, ())]


@defop("DynamicQuantizeLinear", infer=_dynq_infer, since=11, num_outputs=3)
def dynamic_quantize_linear(xp, inputs, attrs):
    """x quantized to uint8 over its own range widened to include 0: (y, scale, zero point)."""
    x = inputs[0]
    q.check_dtype("DynamicQuantizeLinear", "x", x.dtype, ("FLOAT",))
    f32 = np.float32
    zero = xp.zeros((), f32)
    lo = xp.minimum(zero, x.min()) if x.size else zero
    hi = xp.maximum(zero, x.max()) if x.size else zero
    # onnxruntime's rule for an all-zero range: scale 1 (any scale quantizes 0 to 0)
    scale = xp.where(hi == lo, f32(1), (hi - lo) / f32(255)).astype(f32)
    zp = q.saturate(xp, -lo / scale, None, np.uint8)
    return [q.saturate(xp, x / scale, zp, np.uint8), scale, zp]
