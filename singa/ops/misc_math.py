"""Det, Shrink, LpNormalization and MeanVarianceNormalization.

16-bit floats are computed in float32 (NumPy's LAPACK takes 32 and 64-bit floats
only; sums of squares lose too much in 16 bits) and rounded back at the end.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, defop, norm_axis, same_as
from .misc import _cumprod
from .norm import _moments


def _is_float(dtype) -> bool:
    """True for float DTypes and NumPy float dtypes, ml_dtypes' (bfloat16, kind 'V') too."""
    if isinstance(dtype, DType):
        return dtype.is_float
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or "float" in dtype.name


def _check_float(op, dtype):
    """DTypeError unless ``dtype`` (NumPy dtype, DType or None: unknown) is a float type."""
    if dtype is not None and not _is_float(dtype):
        raise DTypeError(f"{op}: input is {getattr(dtype, 'short', dtype)}; the op takes floats")


def _wide(x):
    """x in a float type of at least 32 bits (16-bit floats widened)."""
    return x.astype(np.float32) if x.dtype.itemsize < 4 else x


def _float_infer(op, check_shape=None):
    """infer(): the input's type, after the float check and ``check_shape(shape, attrs)``."""

    def infer(types, attrs, values):
        x = types[0]
        _check_float(op, x.dtype)
        if check_shape is not None and x.shape is not None:
            return [TensorType(x.dtype, check_shape(x.shape, attrs))]
        return [TensorType(x.dtype, x.shape)]

    return infer


# ------------------------------------------------------------------ Det

def _det_check(shape):
    if len(shape) < 2 or (isinstance(shape[-1], int) and isinstance(shape[-2], int)
                          and shape[-1] != shape[-2]):
        raise ShapeError(f"Det: input {tuple(shape)} is not a batch of square matrices")
    return tuple(shape[:-2])


def _adjugate(xp, a):
    """adj(a) over the last two axes, defined for singular matrices too.

    With a = U S V^T: adj(a) = det(U) det(V^T) V diag(prod_{k != i} s_k) U^T,
    the products taken without dividing by a (possibly zero) singular value.
    """
    u, s, vt = xp.linalg.svd(a)
    others = _cumprod(xp, s, -1, 1, 0) * _cumprod(xp, s, -1, 1, 1)
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    v = xp.swapaxes(vt, -1, -2)
    return sign[..., None, None] * ((v * others[..., None, :]) @ xp.swapaxes(u, -1, -2))


def _det_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    if x.shape[-1] == 0:
        return [xp.zeros_like(x)]
    adj_t = xp.swapaxes(_adjugate(xp, _wide(x)), -1, -2)
    return [(douts[0][..., None, None] * adj_t).astype(x.dtype, copy=False)]


def _det_infer(types, attrs, values):
    x = types[0]
    _check_float("Det", x.dtype)
    return [TensorType(x.dtype, None if x.shape is None else _det_check(x.shape))]


@defop("Det", pattern=Pattern.OPAQUE, since=11, grad=_det_grad, infer=_det_infer)
def _det(xp, inputs, attrs):
    """Determinants of the square matrices in the last two axes."""
    x = inputs[0]
    _check_float("Det", x.dtype)
    _det_check(x.shape)
    return [xp.asarray(xp.linalg.det(_wide(x))).astype(x.dtype)]


# ------------------------------------------------------------------ Shrink

def _shrink_template(dts, out, attrs):
    if out.is_float:
        return ("({0} < -({T}){lambd} ? {0} + ({T}){bias} : "
                "({0} > ({T}){lambd} ? {0} - ({T}){bias} : ({T})0))")
    # integers shrink in double and truncate back, as NumPy's int + float does
    return ("((double){0} < -({lambd}) ? ({T})((double){0} + {bias}) : "
            "((double){0} > {lambd} ? ({T})((double){0} - {bias}) : ({T})0))")


def _shrink_grad(xp, inputs, outputs, douts, attrs):
    x, lambd = inputs[0], float(attrs["lambd"])
    return [douts[0] * ((x < -lambd) | (x > lambd))]


@defop("Shrink", pattern=Pattern.ELEMWISE, infer=same_as(), grad=_shrink_grad, since=9,
       defaults={"lambd": 0.5, "bias": 0.0}, cuda=_shrink_template)
def _shrink(xp, inputs, attrs):
    """x + bias below -lambd, x - bias above lambd, 0 between."""
    x = inputs[0]
    if x.dtype.kind not in "iu" and not _is_float(x.dtype):
        raise DTypeError(f"Shrink: input is {x.dtype}; the op takes numbers")
    lambd, bias = float(attrs["lambd"]), float(attrs["bias"])
    work = x if _is_float(x.dtype) else x.astype(np.float64)
    y = xp.where(work < -lambd, work + bias, xp.where(work > lambd, work - bias, 0))
    return [y.astype(x.dtype)]


# ------------------------------------------------------------------ LpNormalization

def _lp_check(shape, attrs):
    if int(attrs["p"]) not in (1, 2):
        raise ShapeError(f"LpNormalization: p must be 1 or 2, got {attrs['p']}")
    if len(shape) == 0:
        raise ShapeError("LpNormalization: a scalar has no axis")
    norm_axis(int(attrs["axis"]), len(shape), "LpNormalization")
    return shape


def _lp_parts(xp, x, attrs):
    """(y in the working dtype, the norm with 0 replaced by 1, the zero-norm mask, axis)."""
    _check_float("LpNormalization", x.dtype)
    _lp_check(x.shape, attrs)
    axis = norm_axis(int(attrs["axis"]), x.ndim, "LpNormalization")
    w = _wide(x)
    if int(attrs["p"]) == 1:
        norm = xp.abs(w).sum(axis=axis, keepdims=True)
    else:
        norm = xp.sqrt((w * w).sum(axis=axis, keepdims=True))
    zero = norm == 0
    safe = xp.where(zero, 1, norm).astype(w.dtype, copy=False)
    return xp.where(zero, 0, w / safe).astype(w.dtype, copy=False), safe, zero, axis


def _lp_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    y, norm, zero, axis = _lp_parts(xp, x, attrs)
    dy = douts[0].astype(y.dtype, copy=False)
    # d(x / |x|_p): dy / n minus the direction of n's gradient (y for p = 2, sign x for 1)
    dirn = y if int(attrs["p"]) == 2 else xp.sign(x).astype(y.dtype)
    dx = (dy - dirn * (dy * y).sum(axis=axis, keepdims=True)) / norm
    return [xp.where(zero, 0, dx).astype(x.dtype, copy=False)]


@defop("LpNormalization", pattern=Pattern.OPAQUE, since=1, grad=_lp_grad,
       infer=_float_infer("LpNormalization", _lp_check), defaults={"axis": -1, "p": 2})
def _lp_normalization(xp, inputs, attrs):
    """x divided by its L1 or L2 norm along ``axis``; 0 where the norm is 0."""
    x = inputs[0]
    return [_lp_parts(xp, x, attrs)[0].astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ MeanVarianceNormalization

_MVN_EPS = 1e-9  # added to the standard deviation, as the ONNX function body does


def _mvn_axes(shape, attrs):
    axes = [norm_axis(int(a), len(shape), "MeanVarianceNormalization") for a in attrs["axes"]]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"MeanVarianceNormalization: repeated axes {list(attrs['axes'])}")
    return tuple(axes)


def _mvn_check(shape, attrs):
    _mvn_axes(shape, attrs)
    return shape


def _mvn_parts(xp, x, attrs):
    """(x centred, std, std + eps, axes), in the working dtype."""
    _check_float("MeanVarianceNormalization", x.dtype)
    axes = _mvn_axes(x.shape, attrs)
    _, xc, var = _moments(_wide(x), axes)
    std = xp.sqrt(var)
    return xc, std, std + _MVN_EPS, axes


def _mvn_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    xc, std, d, axes = _mvn_parts(xp, x, attrs)
    dy = douts[0].astype(xc.dtype, copy=False)
    # y = xc / (std + eps); std's own gradient is xc / (n std), absent where std is 0
    through_std = xp.where(std > 0, (dy * xc).mean(axis=axes, keepdims=True)
                           / (d * d * xp.where(std > 0, std, 1)), 0)
    dx = (dy - dy.mean(axis=axes, keepdims=True)) / d - xc * through_std
    return [dx.astype(x.dtype, copy=False)]


@defop("MeanVarianceNormalization", pattern=Pattern.OPAQUE, since=9, grad=_mvn_grad,
       infer=_float_infer("MeanVarianceNormalization", _mvn_check),
       defaults={"axes": [0, 2, 3]})
def _mvn(xp, inputs, attrs):
    """(x - mean) / (std + 1e-9) over ``axes`` (population statistics)."""
    x = inputs[0]
    xc, _, d, _ = _mvn_parts(xp, x, attrs)
    return [(xc / d).astype(x.dtype, copy=False)]
