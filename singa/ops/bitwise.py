"""Bitwise And/Or/Xor/Not on integers, and BitCast (the same bits, another type).

ONNX gives the bitwise ops integer tensors only; NumPy would also take bools and
fail on floats with its own TypeError, so the dtype is checked here first.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, broadcast_infer, defop, np_dtype, same_as
from .arith import _binary


def _check_int(op, *dtypes):
    """DTypeError unless every known dtype (NumPy dtype or DType) is an integer type."""
    for dt in dtypes:
        if dt is None:
            continue
        dt = dt if isinstance(dt, DType) else DType.from_np(dt)
        if not dt.is_int:
            raise DTypeError(f"{op}: operands must be integers, got {dt.short}")


def _int_infer(op, base):
    """infer() of a bitwise op: ``base`` after the integer check."""

    def infer(types, attrs, values):
        _check_int(op, *[t.dtype for t in types if t is not None])
        return base(types, attrs, values)

    return infer


def _register_binary(name, fn, symbol):
    def f(xp, a, b, attrs):
        _check_int(name, a.dtype, b.dtype)
        return fn(xp, a, b)

    f.__doc__ = f"Elementwise bitwise {symbol} of two integer tensors, broadcast."
    _binary(name, since=18, cuda=f"(({{T}})({{0}} {symbol} {{1}}))",
            infer=_int_infer(name, broadcast_infer()))(f)


for _name, _fn, _symbol in [
    ("BitwiseAnd", lambda xp, a, b: xp.bitwise_and(a, b), "&"),
    ("BitwiseOr", lambda xp, a, b: xp.bitwise_or(a, b), "|"),
    ("BitwiseXor", lambda xp, a, b: xp.bitwise_xor(a, b), "^"),
]:
    _register_binary(_name, _fn, _symbol)


@defop("BitwiseNot", pattern=Pattern.ELEMWISE, infer=_int_infer("BitwiseNot", same_as()),
       cuda="(({T})~{0})", since=18)
def _bitwise_not(xp, inputs, attrs):
    """Elementwise bitwise complement of an integer tensor."""
    x = inputs[0]
    _check_int("BitwiseNot", x.dtype)
    return [xp.invert(x)]


# ------------------------------------------------------------------ BitCast

# ONNX widths of the types NumPy (ml_dtypes) stores one per byte
_NARROW_BITS = {"INT4": 4, "UINT4": 4, "FLOAT4E2M1": 4, "INT2": 2, "UINT2": 2,
                "FLOAT6E2M3": 6, "FLOAT6E3M2": 6}


def _bits(dt: DType) -> int:
    if dt is DType.STRING:
        raise DTypeError("BitCast: strings have no fixed bit pattern")
    return _NARROW_BITS.get(dt.name, 8 * dt.np.itemsize)


def _bitcast_target(src: DType | None, attrs) -> DType:
    """The output DType; ShapeError when the widths differ."""
    if "to" not in attrs:
        raise ShapeError("BitCast: attribute 'to' is required")
    to = DType(int(attrs["to"]))
    if src is not None and _bits(src) != _bits(to):
        raise ShapeError(f"BitCast: {src.short} ({_bits(src)} bits) and {to.short} "
                         f"({_bits(to)} bits) differ in width")
    return to


@defop("BitCast", pattern=Pattern.OPAQUE, since=26,
       infer=lambda t, a, v: [TensorType(_bitcast_target(t[0].dtype, a), t[0].shape)])
def _bitcast(xp, inputs, attrs):
    """The input's bits read as type ``to`` of the same width (a view, no conversion).

    Narrow types (4 and 2 bits) sit in the low bits of one byte each in NumPy,
    so a view between two of the same width keeps exactly those bits.
    """
    x = inputs[0]
    to = _bitcast_target(DType.from_np(x.dtype), attrs)
    return [x.view(np_dtype(to))]
