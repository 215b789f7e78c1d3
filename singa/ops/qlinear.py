"""Products of quantized operands: MatMulInteger, ConvInteger (int32 results) and
QLinearMatMul, QLinearConv (requantized results).

The zero points are subtracted in int32 and the product is the table's own
MatMul / Conv compute on the int32 operands, which accumulates in int32 (wrapping
on overflow, as ONNX allows).  The QLinear ops then requantize:
``saturate(round(acc * a_scale * b_scale / y_scale) + y_zero_point)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from . import _quant as q
from .base import broadcast_shapes, defop
from .conv import _conv_infer, conv
from .linalg import _matmul, _matmul_shape

_INT8 = ("INT8", "UINT8")
_CONV_DEFAULTS = {"auto_pad": "NOTSET", "group": 1}


# ------------------------------------------------------------------ parameter layouts

def _fits(op, what, pshape, target):
    """ShapeError unless ``pshape`` broadcasts to ``target`` (both padded on the left)."""
    if pshape is None or target is None:
        return
    try:
        full = broadcast_shapes(op, pshape, target)
    except ShapeError:
        full = None
    if full is None or len(full) != len(target) or any(
            isinstance(f, int) and isinstance(t, int) and f != t for f, t in zip(full, target)):
        raise ShapeError(f"{op}: {what} of shape {tuple(pshape)} does not fit {tuple(target)}")


def _row_shape(op, what, pshape, ashape):
    """A per-tensor or per-row parameter of a matrix operand of shape ``ashape``
    (..., M, K) as a shape that broadcasts against it: scalars stay, an M-vector
    becomes (M, 1), an N-D one must fit (..., M, 1)."""
    if pshape is None or ashape is None or q.per_tensor(pshape):
        return None if pshape is None else ()
    rows = tuple(ashape[:-1]) + (1,)
    if len(pshape) == 1 and len(ashape) >= 2:
        _fits(op, what, (pshape[0], 1), rows[-2:])
        return (pshape[0], 1)
    _fits(op, what, pshape, rows)
    return tuple(pshape)


def _col_shape(op, what, pshape, bshape):
    """A per-tensor or per-column parameter of a matrix operand of shape (..., K, N):
    an N-vector stays, an N-D one must fit (..., 1, N)."""
    if pshape is None or bshape is None or q.per_tensor(pshape):
        return None if pshape is None else ()
    cols = tuple(bshape[:-2]) + (1, bshape[-1]) if len(bshape) >= 2 else (1,)
    _fits(op, what, pshape, cols if len(pshape) > 1 else cols[-1:])
    return tuple(pshape)


def _shifted(xp, x, zp, shape):
    """``x - zero_point`` in int32 (float32 for float8 operands), the zero point
    reshaped to ``shape``."""
    v = q.as_int(xp, x)
    if zp is not None:
        v = v - q.as_int(xp, zp.reshape(shape))
    return v


# ------------------------------------------------------------------ MatMulInteger

def _mmi_check(op, types):
    a, b, azp, bzp = (list(types) + [None] * 4)[:4]
    sa, sb = a.shape, b.shape
    for what, t in (("A", a), ("B", b)):
        q.check_dtype(op, what, t.dtype, _INT8)
    for what, t, x in (("a_zero_point", azp, a), ("b_zero_point", bzp, b)):
        q.check_dtype(op, what, None if t is None else t.dtype, (q.dtype_name(x.dtype),))
    shape = _matmul_shape(op, sa, sb)
    return shape, (None if azp is None else _row_shape(op, "a_zero_point", azp.shape, sa),
                   None if bzp is None else _col_shape(op, "b_zero_point", bzp.shape, sb))


def _mmi_infer(types, attrs, values):
    return [TensorType(DType.INT32, _mmi_check("MatMulInteger", types)[0])]


@defop("MatMulInteger", infer=_mmi_infer, since=10)
def matmul_integer(xp, inputs, attrs):
    """``(A - a_zero_point) @ (B - b_zero_point)`` in int32."""
    a, b, azp, bzp = (list(inputs) + [None] * 4)[:4]
    _, (ra, cb) = _mmi_check("MatMulInteger", q.types_of([a, b, azp, bzp]))
    return _matmul(xp, [_shifted(xp, a, azp, ra), _shifted(xp, b, bzp, cb)], {})


# ------------------------------------------------------------------ QLinearMatMul

_QMM_TYPES = _INT8 + q.FLOAT8


def _qmm_check(types):
    op = "QLinearMatMul"
    a, a_s, azp, b, b_s, bzp, y_s, yzp = types
    for what, t in (("a", a), ("b", b), ("y_zero_point", yzp)):
        q.check_dtype(op, what, t.dtype, _QMM_TYPES)
    for what, t in (("a_scale", a_s), ("b_scale", b_s), ("y_scale", y_s)):
        q.check_dtype(op, what, t.dtype, q.SCALE_FLOATS)
    if len({a_s.dtype, b_s.dtype, y_s.dtype}) > 1:
        raise DTypeError(f"{op}: the scales have different types "
                         f"{[t.dtype.short for t in (a_s, b_s, y_s)]}")
    for what, t, x in (("a_zero_point", azp, a), ("b_zero_point", bzp, b)):
        q.check_dtype(op, what, t.dtype, (q.dtype_name(x.dtype),))
    q.same_shape(op, "a", a_s.shape, azp.shape)
    q.same_shape(op, "b", b_s.shape, bzp.shape)
    q.same_shape(op, "y", y_s.shape, yzp.shape)
    shape = _matmul_shape(op, a.shape, b.shape)
    _fits(op, "y_scale", y_s.shape, shape)
    rows = _row_shape(op, "a_scale", a_s.shape, a.shape)
    cols = _col_shape(op, "b_scale", b_s.shape, b.shape)
    return shape, rows, cols


def _qmm_infer(types, attrs, values):
    return [TensorType(types[7].dtype, _qmm_check(types)[0])]


def _requantize(xp, acc, factor, yzp, dt):
    """``saturate(round(acc * factor) + y_zero_point)``, the product in float64 so
    that int32 accumulators stay exact."""
    return q.saturate(xp, acc.astype(np.float64) * factor.astype(np.float64), yzp, dt)


@defop("QLinearMatMul", infer=_qmm_infer, since=10)
def qlinear_matmul(xp, inputs, attrs):
    """Quantized MatMul: per-tensor, per-row (a) and per-column (b) scales."""
    a, a_s, azp, b, b_s, bzp, y_s, yzp = inputs
    _, rows, cols = _qmm_check(q.types_of(inputs))
    acc = _matmul(xp, [_shifted(xp, a, azp, rows), _shifted(xp, b, bzp, cols)], {})[0]
    # the scales' product in their own type, as the ONNX reference forms it
    factor = a_s.reshape(rows) * b_s.reshape(cols) / y_s
    return [_requantize(xp, acc, factor, yzp, yzp.dtype)]


# ------------------------------------------------------------------ ConvInteger, QLinearConv

def _channel_shape(op, what, pshape, m, rank):
    """A per-tensor or per-output-channel parameter as (M, 1, ...) / () for a
    weight of rank ``rank``; ShapeError unless it has 1 or M elements."""
    if q.per_tensor(pshape):
        return ()
    if len(pshape) != 1 or (isinstance(m, int) and isinstance(pshape[0], int)
                            and pshape[0] != m):
        raise ShapeError(f"{op}: {what} of shape {tuple(pshape)} must be a scalar or hold "
                         f"one value per output channel ({m})")
    return (pshape[0],) + (1,) * (rank - 1)


def _scalar(op, what, t):
    """ShapeError unless operand type ``t`` holds one value (unknown sizes pass)."""
    if t is not None and t.shape is not None and not q.per_tensor(t.shape) and (
            len(t.shape) != 1 or t.shape[0] is not None):
        raise ShapeError(f"{op}: {what} of shape {t.shape} must be a scalar")


def _conv_type(op, x, w, attrs, bias=None):
    """The int32 output type of a convolution of quantized x and w (Conv's own
    shape checks, the bias's length included)."""
    as32 = [None if t is None else TensorType(DType.INT32, t.shape) for t in (x, w, bias)]
    try:
        return _conv_infer(as32, attrs, [None] * 3)[0]
    except ShapeError as e:
        raise ShapeError(str(e).replace("Conv:", f"{op}:", 1)) from None


def _weight_param(op, what, p, w):
    """:func:`_channel_shape` of parameter type ``p`` of weight type ``w`` (None: unknown)."""
    if p is None or p.shape is None or w.shape is None:
        return None
    return _channel_shape(op, what, p.shape, w.shape[0], len(w.shape))


def _ci_check(types, attrs):
    op = "ConvInteger"
    x, w, xzp, wzp = (list(types) + [None] * 4)[:4]
    q.check_dtype(op, "x", x.dtype, _INT8)
    q.check_dtype(op, "w", w.dtype, _INT8)
    q.check_dtype(op, "x_zero_point", None if xzp is None else xzp.dtype,
                  (q.dtype_name(x.dtype),))
    q.check_dtype(op, "w_zero_point", None if wzp is None else wzp.dtype,
                  (q.dtype_name(w.dtype),))
    _scalar(op, "x_zero_point", xzp)
    return _conv_type(op, x, w, attrs), _weight_param(op, "w_zero_point", wzp, w)


def _ci_infer(types, attrs, values):
    return [_ci_check(types, attrs)[0]]


@defop("ConvInteger", infer=_ci_infer, since=10, defaults=_CONV_DEFAULTS)
def conv_integer(xp, inputs, attrs):
    """``Conv(x - x_zero_point, w - w_zero_point)`` in int32."""
    x, w, xzp, wzp = (list(inputs) + [None] * 4)[:4]
    _, wshape = _ci_check(q.types_of([x, w, xzp, wzp]), attrs)
    return conv(xp, [_shifted(xp, x, xzp, ()), _shifted(xp, w, wzp, wshape)], attrs)


def _qc_check(types, attrs):
    op = "QLinearConv"
    x, x_s, xzp, w, w_s, wzp, y_s, yzp = types[:8]
    bias = q.opt(types, 8)
    for what, t in (("x", x), ("w", w), ("y_zero_point", yzp)):
        q.check_dtype(op, what, t.dtype, _INT8)
    for what, t in (("x_scale", x_s), ("w_scale", w_s), ("y_scale", y_s)):
        q.check_dtype(op, what, t.dtype, ("FLOAT",))
    for what, t, v in (("x_zero_point", xzp, x), ("w_zero_point", wzp, w)):
        q.check_dtype(op, what, t.dtype, (q.dtype_name(v.dtype),))
    q.check_dtype(op, "B", None if bias is None else bias.dtype, ("INT32",))
    for what, t in (("x_scale", x_s), ("x_zero_point", xzp), ("y_scale", y_s),
                    ("y_zero_point", yzp)):
        _scalar(op, what, t)
    q.same_shape(op, "w", w_s.shape, wzp.shape)
    out = _conv_type(op, x, w, attrs, bias)
    return (TensorType(yzp.dtype, out.shape), _weight_param(op, "w_scale", w_s, w),
            _weight_param(op, "w_zero_point", wzp, w))


def _qc_infer(types, attrs, values):
    return [_qc_check(types, attrs)[0]]


@defop("QLinearConv", infer=_qc_infer, since=10, defaults=_CONV_DEFAULTS)
def qlinear_conv(xp, inputs, attrs):
    """Quantized Conv: per-tensor x and y, per-tensor or per-channel w, int32 bias."""
    x, x_s, xzp, w, w_s, wzp, y_s, yzp = inputs[:8]
    bias = q.opt(inputs, 8)
    _, ws_shape, wzp_shape = _qc_check(q.types_of(inputs), attrs)
    operands = [_shifted(xp, x, xzp, ()), _shifted(xp, w, wzp, wzp_shape)]
    if bias is not None:
        operands.append(bias)
    acc = conv(xp, operands, attrs)[0]
    # per output channel: w_scale as (M, 1, ...) minus one axis lines up with the
    # result's (N, M, ...)
    factor = x_s.reshape(()) * w_s.reshape(ws_shape[:-1]) / y_s.reshape(())
    return [_requantize(xp, acc, factor, yzp.reshape(()), yzp.dtype)]
