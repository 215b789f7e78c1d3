"""Small ops of transformer-era models: Swish, SwiGLU, RMSNormalization and
CausalConvWithState (RotaryEmbedding, which shares the helpers here, is in
:mod:`.rotary`).

16-bit floats (float16, bfloat16) are computed in float32 and rounded once at
the end, as the ONNX functions of these ops do (stash_type, the float32 SiLU of
CausalConvWithState); every rounding step in 16 bits would cost a digit.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ModelError, ShapeError
from ..ir.types import DType, TensorType
from .base import OPS, Pattern, broadcast_shapes, defop, norm_axis, np_dtype, unbroadcast
from .elementwise import _unary, sigmoid
from .index import scatter_add


def _is_narrow_float(dt) -> bool:
    """float16 / bfloat16 (bfloat16 is an extension dtype, NumPy kind 'V')."""
    return dt.itemsize < 4 and DType.from_np(dt).is_float


def _wide(x):
    """``x`` in the dtype its arithmetic runs in: float32 for 16-bit floats."""
    return x.astype(np.float32) if _is_narrow_float(x.dtype) else x


def _check_float(op, what, t):
    if t is not None and t.dtype is not None and not t.dtype.is_float:
        raise DTypeError(f"{op}: {what} is {t.dtype.short}; the op takes floats")


def _check_same_dtype(op, names, types):
    present = [(n, t) for n, t in zip(names, types) if t is not None and t.dtype is not None]
    if len({t.dtype for _, t in present}) > 1:
        listed = ", ".join(f"{n} {t.dtype.short}" for n, t in present)
        raise DTypeError(f"{op}: operands must share one float type, got {listed}")


# ------------------------------------------------------------------ Swish, SwiGLU

def swish(xp, x, alpha):
    """x * sigmoid(alpha * x) in x's dtype (16-bit floats computed in float32)."""
    w = _wide(x)
    return (w * sigmoid(xp, w * alpha)).astype(x.dtype, copy=False)


def swish_slope(xp, x, alpha):
    """d/dx of x * sigmoid(alpha * x): s + alpha * x * s * (1 - s)."""
    w = _wide(x)
    s = sigmoid(xp, w * alpha)
    return s + alpha * w * s * (1 - s)


# x / (1 + exp(-alpha x)); the minus stays outside the literal so that a
# negative alpha never writes "--" into the C text
_SWISH_C = "({0} / (({T})1 + exp(-(({T}){alpha} * {0}))))"


@_unary("Swish", since=24, defaults={"alpha": 1.0}, cuda=_SWISH_C,
        grad=lambda xp, x, y, dy, a: (dy * swish_slope(xp, x, a["alpha"])).astype(
            x.dtype, copy=False))
def _swish(xp, x, attrs):
    """x * sigmoid(alpha * x)."""
    return swish(xp, x, float(attrs["alpha"]))


def _swiglu_infer(types, attrs, values):
    a, b = types
    for what, t in (("A", a), ("B", b)):
        _check_float("SwiGLU", what, t)
    _check_same_dtype("SwiGLU", ("A", "B"), types)
    shape = a.shape
    if a.shape is not None and b.shape is not None:
        if len(a.shape) != len(b.shape) or any(
                isinstance(p, int) and isinstance(q, int) and p != q
                for p, q in zip(a.shape, b.shape)):
            raise ShapeError(f"SwiGLU: A {a.shape} and B {b.shape} differ (no broadcasting)")
        shape = tuple(p if p is not None else q for p, q in zip(a.shape, b.shape))
    elif shape is None:
        shape = b.shape
    return [TensorType(a.dtype, shape)]


def _swiglu_operands(inputs):
    a, b = inputs
    if a.shape != b.shape:
        raise ShapeError(f"SwiGLU: A {a.shape} and B {b.shape} differ (no broadcasting)")
    if a.dtype != b.dtype:
        raise DTypeError(f"SwiGLU: A is {a.dtype} and B {b.dtype}; they must match")
    return a, b


def _swiglu_grad(xp, inputs, outputs, douts, attrs):
    a, b = _swiglu_operands(inputs)
    alpha = float(attrs["alpha"])
    dy = douts[0]
    da = dy * _wide(b) * swish_slope(xp, a, alpha)
    db = dy * _wide(swish(xp, a, alpha))
    return [da.astype(a.dtype, copy=False), db.astype(b.dtype, copy=False)]


@defop("SwiGLU", pattern=Pattern.ELEMWISE, infer=_swiglu_infer, grad=_swiglu_grad,
       cuda=f"({_SWISH_C} * {{1}})", since=28, defaults={"alpha": 1.0})
def _swiglu(xp, inputs, attrs):
    """Swish_alpha(A) * B for A, B of one shape and dtype."""
    a, b = _swiglu_operands(inputs)
    y = swish(xp, a, float(attrs["alpha"])) * _wide(b)
    return [y.astype(a.dtype, copy=False)]


# ------------------------------------------------------------------ RMSNormalization

def _is_float_np(dt) -> bool:
    return dt != np.dtype(object) and DType.from_np(dt).is_float


def _rms_stage_dtype(dt, stash_type):
    """Where stage one (the mean of squares) runs: ``stash_type``'s float type,
    never narrower than X's own (float64 stays float64 under the default 1)."""
    try:
        stash = np_dtype(int(stash_type))
    except (ValueError, KeyError, TypeError):
        stash = None
    if stash is None or not _is_float_np(stash):
        raise ModelError(f"RMSNormalization: stash_type {stash_type} is not a float type")
    return stash if stash.itemsize > dt.itemsize else dt


def _rms_parts(xp, x, scale, attrs):
    """(normalised axes, X in the stage-one dtype, 1 / RMS over those axes)."""
    op = "RMSNormalization"
    if x.ndim < 1:
        raise ShapeError(f"{op}: input of shape {x.shape} needs rank >= 1")
    if x.dtype != scale.dtype:
        raise DTypeError(f"{op}: X is {x.dtype} and scale {scale.dtype}; they must match")
    if broadcast_shapes(op, x.shape, scale.shape) != x.shape:
        raise ShapeError(f"{op}: scale {scale.shape} does not broadcast to X {x.shape}")
    axis = norm_axis(int(attrs["axis"]), x.ndim, op)
    axes = tuple(range(axis, x.ndim))
    xs = x.astype(_rms_stage_dtype(x.dtype, attrs["stash_type"]), copy=False)
    inv = 1.0 / xp.sqrt((xs * xs).mean(axis=axes, keepdims=True) + float(attrs["epsilon"]))
    return axes, xs, inv


def _rms_infer(types, attrs, values):
    op = "RMSNormalization"
    x, scale = types
    _check_float(op, "X", x)
    _check_float(op, "scale", scale)
    _check_same_dtype(op, ("X", "scale"), types)
    if x.dtype is not None:
        _rms_stage_dtype(x.dtype.np, attrs["stash_type"])
    if x.shape is not None:
        if len(x.shape) < 1:
            raise ShapeError(f"{op}: input of shape {x.shape} needs rank >= 1")
        norm_axis(int(attrs["axis"]), len(x.shape), op)
        if scale.shape is not None:
            if len(scale.shape) > len(x.shape):
                raise ShapeError(f"{op}: scale {scale.shape} does not broadcast to X {x.shape}")
            broadcast_shapes(op, x.shape, scale.shape)
    return [TensorType(x.dtype, x.shape)]


def _rms_grad(xp, inputs, outputs, douts, attrs):
    x, scale = inputs
    axes, xs, inv = _rms_parts(xp, x, scale, attrs)
    xhat = xs * inv
    dy = douts[0].astype(xs.dtype, copy=False)
    dxhat = dy * scale
    # x_i / rms: d rms / d x_j = x_j / (N rms), so the normalised axes couple through
    # the mean of dxhat * xhat (LayerNorm's rule without the centring term)
    dx = inv * (dxhat - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    dscale = unbroadcast(xp, dy * xhat, scale.shape)
    return [dx.astype(x.dtype, copy=False), dscale.astype(scale.dtype, copy=False)]


@defop("RMSNormalization", infer=_rms_infer, grad=_rms_grad, since=23,
       defaults={"axis": -1, "epsilon": 1e-5, "stash_type": 1})
def rms_normalization(xp, inputs, attrs):
    """X / sqrt(mean(X^2 over axes axis..-1) + epsilon), rounded to X's type, * scale."""
    x, scale = inputs
    _, xs, inv = _rms_parts(xp, x, scale, attrs)
    # the spec rounds the normalised X to X's type before scaling
    normalized = (xs * inv).astype(x.dtype, copy=False)
    return [(normalized * scale).astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ CausalConvWithState

_CCS = "CausalConvWithState"
_ACTIVATIONS = ("none", "silu", "swish")


def _ccs_silu(attrs) -> bool:
    """Whether the activation attribute asks for the fused SiLU; ModelError if unknown."""
    act = attrs["activation"]
    if act not in _ACTIVATIONS:
        raise ModelError(f"{_CCS}: activation {act!r} is not one of {', '.join(_ACTIVATIONS)}")
    return act != "none"


def _ccs_parts(xp, inputs, attrs):
    """(the past-padded input (B, C, k - 1 + L), Conv attrs, k, fused SiLU or not)."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    past = inputs[3] if len(inputs) > 3 else None
    silu = _ccs_silu(attrs)
    if x.ndim != 3 or w.ndim != 3 or w.shape[:2] != (x.shape[1], 1) or w.shape[2] < 1:
        raise ShapeError(f"{_CCS}: input {x.shape} (B, C, L) needs weight (C, 1, k), "
                         f"got {w.shape}")
    n, c, k = x.shape[0], x.shape[1], w.shape[2]
    if b is not None and b.shape != (c,):
        raise ShapeError(f"{_CCS}: bias {b.shape} should be ({c},)")
    if past is not None and past.shape != (n, c, k - 1):
        raise ShapeError(f"{_CCS}: past_state {past.shape} should be {(n, c, k - 1)}")
    if len({a.dtype for a in inputs if a is not None}) > 1:
        raise DTypeError(f"{_CCS}: operands must share one float type, got "
                         f"{[str(a.dtype) for a in inputs if a is not None]}")
    if past is None:
        past = xp.zeros((n, c, k - 1), dtype=x.dtype)
    padded = xp.concatenate([past, x], axis=2)
    conv = OPS["Conv"].attrs({"group": c, "kernel_shape": [k], "pads": [0, 0],
                              "strides": [1], "dilations": [1]})
    return padded, conv, k, silu


def _ccs_conv(xp, padded, w, b, conv):
    """The depthwise valid convolution of the padded input, through the Conv op."""
    if padded.shape[2] < w.shape[2]:  # an empty input: no window fits
        return xp.zeros(padded.shape[:2] + (0,), dtype=padded.dtype)
    ins = [padded, w] + ([b] if b is not None else [])
    return OPS["Conv"].compute(xp, ins, conv)[0]


def _ccs_infer(types, attrs, values):
    x, w = types[0], types[1]
    rest = list(types[2:4]) + [None] * (4 - len(types))
    names = ("input", "weight", "bias", "past_state")
    for what, t in zip(names, (x, w, *rest[:2])):
        _check_float(_CCS, what, t)
    _check_same_dtype(_CCS, names, (x, w, *rest[:2]))
    _ccs_silu(attrs)
    for what, t in (("input", x), ("weight", w)):
        if t.shape is not None and len(t.shape) != 3:
            raise ShapeError(f"{_CCS}: {what} of shape {t.shape} must be 3-D")
    if x.shape is None:
        return [TensorType(x.dtype, None), TensorType(x.dtype, None)]
    k = w.shape[2] if w.shape is not None else None
    state = (x.shape[0], x.shape[1], k - 1 if isinstance(k, int) else None)
    return [TensorType(x.dtype, x.shape), TensorType(x.dtype, state)]


def _ccs_grad(xp, inputs, outputs, douts, attrs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    past = inputs[3] if len(inputs) > 3 else None
    padded, conv, k, silu = _ccs_parts(xp, inputs, attrs)
    dz = douts[0]
    if silu:
        z = _ccs_conv(xp, padded, w, b, conv)
        dz = (dz * swish_slope(xp, z, 1.0)).astype(x.dtype, copy=False)
    ins = [padded, w] + ([b] if b is not None else [])
    if dz.size:
        grads = OPS["Conv"].grad(xp, ins, [None], [dz], conv)
    else:
        grads = [xp.zeros_like(a) for a in ins]
    dpad = grads[0]
    # present_state is the last k - 1 columns of the padded input
    dpad[:, :, dpad.shape[2] - (k - 1):] += douts[1]
    out = [dpad[:, :, k - 1:], grads[1], grads[2] if b is not None else None,
           dpad[:, :, :k - 1] if past is not None else None]
    return out[:len(inputs)]


@defop(_CCS, infer=_ccs_infer, grad=_ccs_grad, since=27, num_outputs=2,
       defaults={"activation": "none"})
def causal_conv_with_state(xp, inputs, attrs):
    """Stateful causal depthwise 1-D convolution: [output, present_state].

    The input (B, C, L) is prefixed with past_state (zeros when absent, k - 1
    columns), convolved per channel with weight (C, 1, k) and bias, optionally
    through SiLU; present_state is the last k - 1 columns of the prefixed input.
    """
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    padded, conv, k, silu = _ccs_parts(xp, inputs, attrs)
    y = _ccs_conv(xp, padded, w, b, conv).astype(x.dtype, copy=False)
    if silu:
        y = swish(xp, y, 1.0)
    return [y, padded[:, :, padded.shape[2] - (k - 1):].copy()]
