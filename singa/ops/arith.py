"""Binary and variadic arithmetic with NumPy broadcasting, Clip and casts (PRelu: prelu.py)."""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from . import _ctemplates as ct
from .base import Pattern, broadcast_infer, broadcast_shapes, defop, np_dtype, same_as, unbroadcast


def _legacy_adapt(attrs, opset):
    """Opset 1-6 forms: no implicit broadcasting unless ``broadcast=1``, which then
    stretches B over A's trailing dims (or from ``axis``).  Marked for the checks of
    :func:`_legacy_check`; the computation is NumPy's broadcasting either way."""
    attrs = dict(attrs)
    attrs.pop("consumed_inputs", None)
    if opset < 7:
        attrs["_legacy_broadcast"] = int(attrs.pop("broadcast", 0))
        axis = attrs.pop("axis", None)
        if axis is not None:
            attrs["_legacy_axis"] = int(axis)
    return attrs, {}


def _legacy_check(name, a_shape, b_shape, attrs) -> None:
    """ShapeError for what an opset < 7 model means otherwise than NumPy would."""
    mode = attrs.get("_legacy_broadcast")
    if mode is None or a_shape is None or b_shape is None:
        return
    if not mode and tuple(a_shape) != tuple(b_shape):
        raise ShapeError(f"{name} (opset < 7, broadcast=0): shapes {tuple(a_shape)} and "
                         f"{tuple(b_shape)} differ")
    axis = attrs.get("_legacy_axis")
    if mode and axis is not None and axis % max(len(a_shape), 1) != len(a_shape) - len(b_shape):
        raise ShapeError(f"{name} (opset < 7): broadcasting B {tuple(b_shape)} from axis {axis} "
                         f"of A {tuple(a_shape)} is not its trailing dims; not supported")


def _binary(name, *, cuda=None, since=7, grad=None, defaults=None, infer=None,
            same_dtype=True, legacy=False):
    """Register ``f(xp, a, b, attrs) -> y`` as a broadcasting binary op.

    ``grad(xp, a, b, y, dy, attrs) -> (da, db)`` gives full-shape grads; they are
    summed down to the operand shapes here.  Operands must share a dtype (as ONNX
    says) unless ``same_dtype`` is False: NumPy would silently promote them.
    ``legacy``: the op also takes its opset 1-6 form (see :func:`_legacy_adapt`).
    """

    def deco(f):
        def compute(xp, inputs, attrs):
            a, b = inputs
            if same_dtype:
                _check_same_dtype(name, a, b)
            _legacy_check(name, a.shape, b.shape, attrs)
            broadcast_shapes(name, a.shape, b.shape)
            return [f(xp, a, b, attrs)]

        base_infer = infer or broadcast_infer()

        def checked_infer(types, attrs, values):
            a, b = types[0], types[1]
            if a is not None and b is not None:
                _legacy_check(name, a.shape, b.shape, attrs)
            return base_infer(types, attrs, values)

        g = None
        if grad is not None:
            def g(xp, inputs, outputs, douts, attrs):
                a, b = inputs
                da, db = grad(xp, a, b, outputs[0], douts[0], attrs)
                return [None if da is None or a.dtype.kind != "f" else unbroadcast(xp, da, a.shape),
                        None if db is None or b.dtype.kind != "f" else unbroadcast(xp, db, b.shape)]

        compute.__doc__ = f.__doc__
        defop(name, pattern=Pattern.BROADCAST, infer=checked_infer if legacy else base_infer,
              grad=g, cuda=cuda, since=1 if legacy else since, defaults=defaults,
              adapt=_legacy_adapt if legacy else None)(compute)
        return f

    return deco


def _check_same_dtype(op, *arrays):
    dts = {a.dtype for a in arrays if a is not None}
    if len(dts) > 1:
        raise DTypeError(f"{op}: operands have different dtypes {sorted(map(str, dts))}")


@_binary("Add", legacy=True, cuda="({0} + {1})", grad=lambda xp, a, b, y, dy, at: (dy, dy))
def _add(xp, a, b, attrs):
    """a + b."""
    return xp.add(a, b)


@_binary("Sub", legacy=True, cuda="({0} - {1})", grad=lambda xp, a, b, y, dy, at: (dy, -dy))
def _sub(xp, a, b, attrs):
    """a - b."""
    return xp.subtract(a, b)


@_binary("Mul", legacy=True, cuda="({0} * {1})", grad=lambda xp, a, b, y, dy, at: (dy * b, dy * a))
def _mul(xp, a, b, attrs):
    """a * b."""
    return xp.multiply(a, b)


@_binary("Div", legacy=True, cuda=ct.div,
         grad=lambda xp, a, b, y, dy, at: (dy / b, -dy * a / (b * b)))
def _div(xp, a, b, attrs):
    """a / b; integer division truncates towards zero (C semantics) as ONNX does."""
    if a.dtype.kind in "iu":
        q = a // b
        # NumPy floors; C truncates: step back towards zero for inexact negative quotients
        fix = (q * b != a) & ((a < 0) != (b < 0))
        return (q + fix).astype(a.dtype)
    return xp.divide(a, b)


def _pow_grad(xp, a, b, y, dy, attrs):
    da = db = None
    if a.dtype.kind == "f":
        bf = b.astype(a.dtype)
        da = dy * bf * xp.power(a, bf - 1)
    if b.dtype.kind == "f":
        # d/db a**b = a**b log a; defined (and used) only where a > 0
        safe = xp.where(a > 0, a, 1)
        db = (dy * y * xp.log(safe)).astype(b.dtype)
    return da, db


def _pow_infer(types, attrs, values):
    a, b = types
    return [TensorType(a.dtype, broadcast_shapes("Pow", a.shape, b.shape))]


@_binary("Pow", legacy=True, cuda=ct.pow_, grad=_pow_grad, infer=_pow_infer, same_dtype=False)
def _pow(xp, a, b, attrs):
    """a ** b in a's dtype (b may have another numeric type, as from opset 12)."""
    if a.dtype.kind == "f":
        return xp.power(a, b.astype(a.dtype))
    if b.dtype.kind == "f":
        return xp.power(a.astype("float64"), b.astype("float64")).astype(a.dtype)
    return xp.power(a, b.astype(a.dtype))


def _mod_grad(xp, a, b, y, dy, attrs):
    q = xp.trunc(a / b) if attrs["fmod"] else xp.floor(a / b)
    return dy, -dy * q


@_binary("Mod", since=10, defaults={"fmod": 0}, grad=_mod_grad, cuda=ct.mod)
def _mod(xp, a, b, attrs):
    """Remainder: fmod=0 takes the divisor's sign (Python %), fmod=1 the dividend's (C fmod).

    Opsets before 28 allowed only fmod=1 for floats; Python's rule serves both.
    """
    if attrs["fmod"]:
        return xp.fmod(a, b)
    return xp.mod(a, b)


@_binary("BitShift", since=11, defaults={"direction": "LEFT"}, cuda=ct.bit_shift)
def _bit_shift(xp, a, b, attrs):
    """a << b or a >> b (``direction`` LEFT / RIGHT) on unsigned integers."""
    if attrs["direction"] == "LEFT":
        return xp.left_shift(a, b)
    return xp.right_shift(a, b)


# ------------------------------------------------------------------ variadic

def _variadic_infer(op):
    def infer(types, attrs, values):
        shape = broadcast_shapes(op, *[t.shape for t in types])
        return [TensorType(types[0].dtype, shape)]

    return infer


def _extreme_grad(xp, inputs, outputs, douts, attrs):
    # the whole grad goes to the first input holding the extreme value
    y, dy = outputs[0], douts[0]
    taken = xp.zeros(y.shape, dtype=bool)
    grads = []
    for x in inputs:
        hit = (xp.broadcast_to(x, y.shape) == y) & ~taken
        taken = taken | hit
        grads.append(unbroadcast(xp, dy * hit, x.shape) if x.dtype.kind == "f" else None)
    return grads


def _fold(op, fn):
    def compute(xp, inputs, attrs):
        _check_same_dtype(op, *inputs)
        broadcast_shapes(op, *[x.shape for x in inputs])
        out = inputs[0]
        for x in inputs[1:]:
            out = fn(xp, out, x)
        if len(inputs) == 1:
            out = out.copy()
        return [out]

    return compute


defop("Max", pattern=Pattern.BROADCAST, infer=_variadic_infer("Max"), grad=_extreme_grad,
      since=1, cuda=ct.extreme(">"))(_fold("Max", lambda xp, a, b: xp.maximum(a, b)))
defop("Min", pattern=Pattern.BROADCAST, infer=_variadic_infer("Min"), grad=_extreme_grad,
      since=1, cuda=ct.extreme("<"))(_fold("Min", lambda xp, a, b: xp.minimum(a, b)))


def _sum_grad(xp, inputs, outputs, douts, attrs):
    return [unbroadcast(xp, douts[0], x.shape) if x.dtype.kind == "f" else None for x in inputs]


defop("Sum", pattern=Pattern.BROADCAST, infer=_variadic_infer("Sum"), grad=_sum_grad,
      since=1, cuda=ct.variadic("+"))(_fold("Sum", lambda xp, a, b: a + b))


def _mean_grad(xp, inputs, outputs, douts, attrs):
    n = len(inputs)
    return [unbroadcast(xp, douts[0] / n, x.shape) if x.dtype.kind == "f" else None
            for x in inputs]


@defop("Mean", pattern=Pattern.BROADCAST, infer=_variadic_infer("Mean"), grad=_mean_grad,
       since=1, cuda=ct.mean)
def _mean(xp, inputs, attrs):
    """The elementwise mean of all inputs (broadcast)."""
    total = _fold("Mean", lambda xp, a, b: a + b)(xp, inputs, attrs)[0]
    return [(total / len(inputs)).astype(inputs[0].dtype)]


# ------------------------------------------------------------------ Clip

def _clip_adapt(attrs, opset):
    attrs = dict(attrs)
    extra = {}
    if opset < 11:
        # Clip-6: min/max attributes with +-FLT_MAX defaults
        lo = attrs.pop("min", None)
        hi = attrs.pop("max", None)
        if lo is not None:
            extra[1] = np.array(lo, np.float32)
        if hi is not None:
            extra[2] = np.array(hi, np.float32)
    return attrs, extra


def _clip_bounds(xp, inputs):
    x = inputs[0]
    lo = inputs[1] if len(inputs) > 1 else None
    hi = inputs[2] if len(inputs) > 2 else None
    for b in (lo, hi):
        if b is not None and b.size != 1:
            raise ShapeError(f"Clip: min/max must be scalars, got shape {b.shape}")
    cast = (lambda b: None if b is None else xp.asarray(b).reshape(()).astype(x.dtype))
    return x, cast(lo), cast(hi)


def _clip_grad(xp, inputs, outputs, douts, attrs):
    x, lo, hi = _clip_bounds(xp, inputs)
    dy = douts[0]
    below = (x < lo) if lo is not None else xp.zeros(x.shape, bool)
    raised = xp.maximum(x, lo) if lo is not None else x
    # min > max sets everything to max: compare after raising to min
    above = (raised > hi) if hi is not None else xp.zeros(x.shape, bool)
    below = below & ~above
    grads = [dy * ~(below | above)]
    for b, mask, raw in ((lo, below, inputs[1] if len(inputs) > 1 else None),
                         (hi, above, inputs[2] if len(inputs) > 2 else None)):
        if raw is None or raw.dtype.kind != "f":
            grads.append(None)
        else:
            grads.append((dy * mask).sum().reshape(raw.shape).astype(raw.dtype))
    return grads


@defop("Clip", pattern=Pattern.ELEMWISE, infer=same_as(), grad=_clip_grad, since=6,
       adapt=_clip_adapt, cuda=ct.clip)
def _clip(xp, inputs, attrs):
    """min(max(x, min), max); absent bounds do not clip."""
    x, lo, hi = _clip_bounds(xp, inputs)
    if lo is not None:
        x = xp.maximum(x, lo)
    if hi is not None:
        x = xp.minimum(x, hi)
    return [x.astype(inputs[0].dtype, copy=False)]


# ------------------------------------------------------------------ casts

def _cast_adapt(attrs, opset):
    attrs = dict(attrs)
    if isinstance(attrs.get("to"), (str, bytes)):
        # Cast-1 names the type ("FLOAT"); later versions use the TensorProto code
        name = attrs["to"].decode() if isinstance(attrs["to"], bytes) else attrs["to"]
        attrs["to"] = DType[name.upper()].value
    return attrs, {}


def _float8_max(dt):
    """Largest finite value of a float8 dtype (ml_dtypes), None for other dtypes."""
    if "float8" not in dt.name or "e8m0" in dt.name:
        return None
    import ml_dtypes  # ships with onnx; the only source of float8 dtypes here
    return float(ml_dtypes.finfo(dt).max)


def _to_e8m0(xp, x, dt, saturate, mode):
    """float -> FLOAT8E8M0 (a bare power-of-two exponent): keep float32's exponent bits
    and round the dropped mantissa by ``round_mode``; the sign is dropped."""
    bits = x.astype(np.float32).view(np.uint32)
    exp = ((bits >> 23) & 0xFF).astype(np.int32)
    frac = bits & 0x7FFFFF
    if mode == "up":
        inc = frac != 0
    elif mode == "nearest":
        half = (frac & 0x400000) != 0
        inc = half & (((frac & 0x3FFFFF) != 0) | (exp > 0))
    elif mode == "down":
        inc = xp.zeros(exp.shape, bool)
    else:
        raise ShapeError(f"Cast: unknown round_mode {mode!r}")
    if saturate:
        inc = inc & (exp != 254)
    exp = xp.where(exp == 255, 255, exp + inc)  # 255 is NaN
    return exp.astype(np.uint8).view(dt)


def _cast_to(xp, x, dt, saturate=1, round_mode="up"):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return x != 0
    if "e8m0" in dt.name and x.dtype.kind == "f":
        return _to_e8m0(xp, x, dt, saturate, round_mode)
    fmax = _float8_max(dt)
    if fmax is not None and saturate and x.dtype.kind == "f":
        # saturate (the default): out-of-range values and infinities clamp to +-max
        x = xp.clip(x, -fmax, fmax)
    if x.dtype.kind == "f" and dt.kind in "iu":
        # C casts truncate; keep NumPy from warning on NaN by mapping it to 0 first
        x = xp.where(xp.isnan(x), 0, x)
    return x.astype(dt)


def _cast_infer(types, attrs, values):
    return [TensorType(DType(int(attrs["to"])), types[0].shape)]


def _cast_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    if x.dtype.kind == "f" and outputs[0].dtype.kind == "f":
        return [douts[0].astype(x.dtype)]
    return [None]


@defop("Cast", pattern=Pattern.ELEMWISE, infer=_cast_infer, grad=_cast_grad, since=1,
       adapt=_cast_adapt, defaults={"saturate": 1, "round_mode": "up"}, cuda=ct.cast)
def _cast(xp, inputs, attrs):
    """x converted to ONNX type code ``to`` (floats to ints truncate)."""
    return [_cast_to(xp, inputs[0], np_dtype(int(attrs["to"])), attrs["saturate"],
                     attrs["round_mode"])]


def _cast_like_infer(types, attrs, values):
    return [TensorType(types[1].dtype, types[0].shape)]


def _cast_like_grad(xp, inputs, outputs, douts, attrs):
    return _cast_grad(xp, inputs[:1], outputs, douts, attrs) + [None]


@defop("CastLike", pattern=Pattern.ELEMWISE, infer=_cast_like_infer, grad=_cast_like_grad,
       since=15, defaults={"saturate": 1, "round_mode": "up"}, cuda=ct.cast)
def _cast_like(xp, inputs, attrs):
    """x converted to the dtype of the second input."""
    return [_cast_to(xp, inputs[0], inputs[1].dtype, attrs["saturate"], attrs["round_mode"])]
