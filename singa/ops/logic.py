"""Comparisons, boolean logic, Where and the NaN/Inf tests.

ONNX gives these ops bool tensors.  After the ``bool_to_int32`` pass the same ops
may see int32 0/1 operands instead: the logic ops then keep that dtype, so one
definition serves both forms.
"""

from __future__ import annotations

from ..ir.types import DType, TensorType
from ..errors import DTypeError
from . import _ctemplates as ct
from .base import Pattern, broadcast_infer, broadcast_shapes, defop, same_as, unbroadcast


def _check(op, *arrays):
    """ONNX operands share a dtype and broadcast; NumPy would promote or raise its own error."""
    if len({a.dtype for a in arrays}) > 1:
        raise DTypeError(f"{op}: operands have different dtypes "
                         f"{[str(a.dtype) for a in arrays]}")
    broadcast_shapes(op, *[a.shape for a in arrays])

_BOOL = DType.BOOL


def _register_compare(name, fn, cuda, since):
    def compute(xp, inputs, attrs):
        a, b = inputs
        _check(name, a, b)
        return [fn(xp, a, b)]

    compute.__doc__ = f"Elementwise {name} with broadcasting; a bool tensor."
    defop(name, pattern=Pattern.BROADCAST, infer=broadcast_infer(_BOOL), cuda=cuda,
          since=since)(compute)


for _name, _fn, _cuda, _since in [
    ("Equal", lambda xp, a, b: xp.equal(a, b), "({0} == {1})", 7),
    ("Greater", lambda xp, a, b: xp.greater(a, b), "({0} > {1})", 7),
    ("Less", lambda xp, a, b: xp.less(a, b), "({0} < {1})", 7),
    ("GreaterOrEqual", lambda xp, a, b: xp.greater_equal(a, b), "({0} >= {1})", 12),
    ("LessOrEqual", lambda xp, a, b: xp.less_equal(a, b), "({0} <= {1})", 12),
]:
    _register_compare(_name, _fn, _cuda, _since)


def _register_logic(name, fn, cuda):
    def compute(xp, inputs, attrs):
        a, b = inputs
        _check(name, a, b)
        return [fn(xp, a, b).astype(a.dtype, copy=False)]

    compute.__doc__ = f"Elementwise logical {name.lower()} with broadcasting."
    defop(name, pattern=Pattern.BROADCAST, infer=broadcast_infer(), cuda=cuda,
          since=7)(compute)


for _name, _fn, _cuda in [
    ("And", lambda xp, a, b: xp.logical_and(a, b), "({0} && {1})"),
    ("Or", lambda xp, a, b: xp.logical_or(a, b), "({0} || {1})"),
    ("Xor", lambda xp, a, b: xp.logical_xor(a, b), "(!{0} != !{1})"),
]:
    _register_logic(_name, _fn, _cuda)


@defop("Not", pattern=Pattern.ELEMWISE, infer=same_as(), cuda="(!{0})", since=1)
def _not(xp, inputs, attrs):
    """Elementwise logical not."""
    x = inputs[0]
    return [xp.logical_not(x).astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ Where

def _where_infer(types, attrs, values):
    c, x, y = types
    return [TensorType(x.dtype, broadcast_shapes("Where", c.shape, x.shape, y.shape))]


def _where_grad(xp, inputs, outputs, douts, attrs):
    c, x, y = inputs
    dy = douts[0]
    mask = c.astype(bool)
    zero = xp.zeros((), dy.dtype)
    return [None,
            unbroadcast(xp, xp.where(mask, dy, zero), x.shape) if x.dtype.kind == "f" else None,
            unbroadcast(xp, xp.where(mask, zero, dy), y.shape) if y.dtype.kind == "f" else None]


@defop("Where", pattern=Pattern.BROADCAST, infer=_where_infer, grad=_where_grad, since=9,
       cuda="({0} ? {1} : {2})")
def _where(xp, inputs, attrs):
    """x where cond else y, all three broadcast."""
    c, x, y = inputs
    _check("Where", x, y)
    broadcast_shapes("Where", c.shape, x.shape, y.shape)
    out = xp.where(c.astype(bool, copy=False), x, y)
    return [out.astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ NaN / Inf

@defop("IsNaN", pattern=Pattern.ELEMWISE, infer=same_as(dtype=_BOOL), cuda="isnan({0})", since=9)
def _isnan(xp, inputs, attrs):
    """True where x is NaN."""
    return [xp.isnan(inputs[0])]


@defop("IsInf", pattern=Pattern.ELEMWISE, infer=same_as(dtype=_BOOL), since=10,
       defaults={"detect_negative": 1, "detect_positive": 1}, cuda=ct.is_inf)
def _isinf(xp, inputs, attrs):
    """True at +inf (detect_positive) and -inf (detect_negative)."""
    x = inputs[0]
    pos = xp.isposinf(x) if attrs["detect_positive"] else xp.zeros(x.shape, bool)
    neg = xp.isneginf(x) if attrs["detect_negative"] else xp.zeros(x.shape, bool)
    return [pos | neg]
