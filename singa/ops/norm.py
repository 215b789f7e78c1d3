"""Normalisation ops: BatchNormalization, InstanceNormalization,
LayerNormalization, GroupNormalization and LRN.

All share one pattern: ``xhat = (x - mean) * inv`` over some axes, then an affine
map.  The backward of ``xhat`` is :func:`_norm_back`; outputs that expose the
statistics (BN running stats, LN Mean/InvStdDev) add their own terms.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import defop, norm_axis, unbroadcast


def _dout(douts, i):
    """Gradient of output i, or None when the caller did not pass one."""
    return douts[i] if i < len(douts) and douts[i] is not None else None


def _norm_back(xp, dxhat, xhat, inv, axes):
    """d loss / d x for ``xhat = (x - mean(x)) * (var(x) + eps)^-1/2`` over ``axes``."""
    m1 = dxhat.mean(axis=axes, keepdims=True)
    m2 = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv * (dxhat - m1 - xhat * m2)


def _moments(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    return mean, xc, var


def _stash(x, attrs):
    """The dtype statistics are computed in (stash_type=1: float32 for 16-bit floats)."""
    if attrs.get("stash_type", 1) == 1 and x.dtype.itemsize < 4 and x.dtype.kind == "f":
        return np.dtype(np.float32)
    return x.dtype


# ------------------------------------------------------------------ BatchNormalization

def _bn_layout(op, x, p):
    """Broadcast shape of a BN parameter and the axes statistics reduce over."""
    if x.ndim < 2:
        raise ShapeError(f"{op}: input of shape {x.shape} needs rank >= 2 (N, C, ...)")
    if p.ndim == 1:  # the usual per-channel ("spatial") form
        if p.shape[0] != x.shape[1]:
            raise ShapeError(f"{op}: parameter of shape {p.shape} does not match "
                             f"{x.shape[1]} channels of input {x.shape}")
        return (1, x.shape[1]) + (1,) * (x.ndim - 2), (0,) + tuple(range(2, x.ndim))
    if tuple(p.shape) != tuple(x.shape[1:]):  # spatial=0 (opset < 9): per activation
        raise ShapeError(f"{op}: parameter of shape {p.shape} does not match input {x.shape}")
    return (1,) + tuple(p.shape), (0,)


def _bn_adapt(attrs, opset):
    attrs = dict(attrs)
    for old in ("spatial", "is_test", "consumed_inputs"):
        attrs.pop(old, None)
    if opset < 14:
        # Before opset 14 the mode was the runtime's choice; like onnxruntime,
        # an imported model runs BatchNormalization in inference mode.
        attrs["training_mode"] = 0
    return attrs, {}


def _bn_infer(types, attrs, values):
    x, m = types[0], types[3] or types[1]
    if not x.dtype.is_float:
        raise DTypeError(f"BatchNormalization: input X is {x.dtype.short}; it takes floats")
    names = ("scale", "B", "input_mean", "input_var")
    for name, t in zip(names, types[1:5]):
        if t is not None and not t.dtype.is_float:
            raise DTypeError(f"BatchNormalization: {name} is {t.dtype.short}; it takes floats")
    if x.shape is not None and len(x.shape) < 2:
        raise ShapeError(f"BatchNormalization: input of shape {x.shape} needs rank >= 2 "
                         f"(N, C, ...)")
    return [TensorType(x.dtype, x.shape)] + [TensorType(m.dtype, m.shape)] * 4


def _bn_grad(xp, inputs, outputs, douts, attrs):
    x, scale, b, mean, var = inputs[:5]
    eps = float(attrs.get("epsilon", 1e-5))
    shape, axes = _bn_layout("BatchNormalization", x, scale)
    dy = douts[0]
    d_run_mean = [_dout(douts, i) for i in (1, 3)]
    d_run_var = [_dout(douts, i) for i in (2, 4)]
    s = scale.reshape(shape)
    if attrs.get("training_mode", 0):
        mom = float(attrs.get("momentum", 0.9))
        bm, xc, bv = _moments(x, axes)
        inv = 1.0 / xp.sqrt(bv + eps)
        xhat = xc * inv
        dx = _norm_back(xp, dy * s, xhat, inv, axes)
        # running = input * momentum + batch * (1 - momentum); saved = batch
        gm = gv = None
        dmean, dvar = xp.zeros_like(mean), xp.zeros_like(var)
        if d_run_mean[0] is not None:
            gm = (1 - mom) * d_run_mean[0]
            dmean = mom * d_run_mean[0]
        if d_run_var[0] is not None:
            gv = (1 - mom) * d_run_var[0]
            dvar = mom * d_run_var[0]
        if d_run_mean[1] is not None:
            gm = d_run_mean[1] if gm is None else gm + d_run_mean[1]
        if d_run_var[1] is not None:
            gv = d_run_var[1] if gv is None else gv + d_run_var[1]
        count = x.size // scale.size
        if gm is not None:
            dx = dx + gm.reshape(shape) / count
        if gv is not None:
            dx = dx + gv.reshape(shape) * xc * (2.0 / count)
        dscale = (dy * xhat).sum(axis=axes)
    else:
        inv = 1.0 / xp.sqrt(var.reshape(shape) + eps)
        a = s * inv
        dx = dy * a
        xc = x - mean.reshape(shape)
        sxc = (dy * xc).sum(axis=axes).reshape(scale.shape)
        dscale = sxc * inv.reshape(scale.shape)
        dmean = -dy.sum(axis=axes).reshape(scale.shape) * a.reshape(scale.shape)
        dvar = sxc * scale * (-0.5) * inv.reshape(scale.shape) ** 3
        for g in d_run_mean:  # inference mode passes the input statistics through
            if g is not None:
                dmean = dmean + g
        for g in d_run_var:
            if g is not None:
                dvar = dvar + g
    db = dy.sum(axis=axes)
    cast = [dx, dscale.reshape(scale.shape), db.reshape(b.shape), dmean, dvar]
    return [g.astype(i.dtype, copy=False) for g, i in zip(cast, inputs)]


@defop("BatchNormalization", infer=_bn_infer, grad=_bn_grad, since=1, adapt=_bn_adapt,
       num_outputs=None, defaults={"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0})
def batch_normalization(xp, inputs, attrs):
    """ONNX BatchNormalization (opset 15 form).

    Always returns five arrays ``[Y, running_mean, running_var, batch_mean,
    batch_var]`` so that every node form finds its outputs: opset 14+ nodes use
    the first one (inference) or three (training); opset < 14 training graphs
    named all five.  In inference mode the statistics outputs are copies of
    input_mean/input_var.  Training mode normalises with the biased batch
    variance and updates ``running = input * momentum + batch * (1 - momentum)``,
    as the ONNX reference does.
    """
    x, scale, b, mean, var = inputs[:5]
    eps = float(attrs.get("epsilon", 1e-5))
    shape, axes = _bn_layout("BatchNormalization", x, scale)
    for name, p in (("B", b), ("input_mean", mean), ("input_var", var)):
        if p.shape != scale.shape:
            raise ShapeError(f"BatchNormalization: {name} shape {p.shape} differs from scale "
                             f"shape {scale.shape}")
    if attrs.get("training_mode", 0):
        mom = float(attrs.get("momentum", 0.9))
        bm, xc, bv = _moments(x, axes)
        y = xc * (scale.reshape(shape) / xp.sqrt(bv + eps)) + b.reshape(shape)
        bm, bv = bm.reshape(scale.shape), bv.reshape(scale.shape)
        rm = mean * mom + bm * (1 - mom)
        rv = var * mom + bv * (1 - mom)
        return [y.astype(x.dtype, copy=False)] + [
            v.astype(mean.dtype, copy=False) for v in (rm, rv, bm, bv)]
    a = scale.reshape(shape) / xp.sqrt(var.reshape(shape) + eps)
    y = x * a + (b.reshape(shape) - mean.reshape(shape) * a)
    return [y.astype(x.dtype, copy=False), mean.copy(), var.copy(), mean.copy(), var.copy()]


# ------------------------------------------------------------------ InstanceNormalization

def _in_parts(xp, x, scale, eps):
    if x.ndim < 3 or scale.shape != (x.shape[1],):
        raise ShapeError(f"InstanceNormalization: input {x.shape} and scale {scale.shape} "
                         f"do not fit (need rank >= 3 and scale (C,))")
    axes = tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    _, xc, var = _moments(x, axes)
    inv = 1.0 / xp.sqrt(var + eps)
    return axes, shape, xc * inv, inv


def _in_grad(xp, inputs, outputs, douts, attrs):
    x, scale, b = inputs
    axes, shape, xhat, inv = _in_parts(xp, x, scale, float(attrs.get("epsilon", 1e-5)))
    dy = douts[0]
    dx = _norm_back(xp, dy * scale.reshape(shape), xhat, inv, axes)
    red = (0,) + axes
    return [dx.astype(x.dtype, copy=False), (dy * xhat).sum(axis=red).astype(scale.dtype),
            dy.sum(axis=red).astype(b.dtype)]


@defop("InstanceNormalization", infer=lambda t, a, v: [TensorType(t[0].dtype, t[0].shape)],
       grad=_in_grad, since=1, defaults={"epsilon": 1e-5})
def instance_normalization(xp, inputs, attrs):
    """ONNX InstanceNormalization: per (n, c) statistics over the spatial axes."""
    x, scale, b = inputs
    axes, shape, xhat, inv = _in_parts(xp, x, scale, float(attrs.get("epsilon", 1e-5)))
    return [(xhat * scale.reshape(shape) + b.reshape(shape)).astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ LayerNormalization

def _ln_parts(xp, x, attrs):
    axis = norm_axis(int(attrs.get("axis", -1)), x.ndim, "LayerNormalization")
    axes = tuple(range(axis, x.ndim))
    xs = x.astype(_stash(x, attrs), copy=False)
    mean, xc, var = _moments(xs, axes)
    inv = 1.0 / xp.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return axes, mean, inv, xc * inv


def _ln_infer(types, attrs, values):
    t = types[0]
    stash = DType.FLOAT if (attrs.get("stash_type", 1) == 1 and t.dtype in (
        DType.FLOAT16, DType.BFLOAT16)) else t.dtype
    if t.shape is None:
        return [t, TensorType(stash, None), TensorType(stash, None)]
    axis = norm_axis(int(attrs.get("axis", -1)), len(t.shape), "LayerNormalization")
    st = tuple(t.shape[:axis]) + (1,) * (len(t.shape) - axis)
    return [TensorType(t.dtype, t.shape), TensorType(stash, st), TensorType(stash, st)]


def _ln_grad(xp, inputs, outputs, douts, attrs):
    x, scale = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    axes, mean, inv, xhat = _ln_parts(xp, x, attrs)
    dy = douts[0].astype(xhat.dtype, copy=False)
    dx = _norm_back(xp, dy * scale, xhat, inv, axes)
    count = int(np.prod([x.shape[a] for a in axes]))
    dmean, dinv = _dout(douts, 1), _dout(douts, 2)
    if dmean is not None:
        dx = dx + dmean / count
    if dinv is not None:
        dx = dx - dinv * inv * inv * xhat / count
    out = [dx.astype(x.dtype, copy=False),
           unbroadcast(xp, dy * xhat, scale.shape).astype(scale.dtype, copy=False)]
    if b is not None:
        out.append(unbroadcast(xp, dy, b.shape).astype(b.dtype, copy=False))
    return out


@defop("LayerNormalization", infer=_ln_infer, grad=_ln_grad, since=17, num_outputs=None,
       defaults={"axis": -1, "epsilon": 1e-5, "stash_type": 1})
def layer_normalization(xp, inputs, attrs):
    """ONNX LayerNormalization; always returns [Y, Mean, InvStdDev]."""
    x, scale = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    axes, mean, inv, xhat = _ln_parts(xp, x, attrs)
    y = xhat * scale
    if b is not None:
        y = y + b
    return [y.astype(x.dtype, copy=False), mean, inv]


# ------------------------------------------------------------------ GroupNormalization

def _gn_parts(xp, x, scale, attrs):
    g = int(attrs["num_groups"])
    n, c = x.shape[:2]
    if x.ndim < 2 or g < 1 or c % g:
        raise ShapeError(f"GroupNormalization: {c} channels of input {x.shape} do not split "
                         f"into num_groups={g}")
    if scale.shape not in ((c,), (g,)):
        raise ShapeError(f"GroupNormalization: scale shape {scale.shape} fits neither the "
                         f"{c} channels nor the {g} groups")
    xs = x.astype(_stash(x, attrs), copy=False).reshape(n, g, -1)
    _, xc, var = _moments(xs, (2,))
    inv = 1.0 / xp.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return g, xc * inv, inv


def _gn_affine(x, p, g):
    """Per-channel view of a scale/bias (opset 18 gave one value per group; when
    num_groups == C both readings coincide)."""
    c = x.shape[1]
    if p.shape[0] != c:
        p = p.repeat(c // g)
    return p.reshape((1, c) + (1,) * (x.ndim - 2))


def _gn_grad(xp, inputs, outputs, douts, attrs):
    x, scale, b = inputs
    g, xhat, inv = _gn_parts(xp, x, scale, attrs)
    dy = douts[0].astype(xhat.dtype, copy=False)
    dxhat = (dy * _gn_affine(x, scale, g)).reshape(xhat.shape)
    dx = _norm_back(xp, dxhat, xhat, inv, (2,)).reshape(x.shape)
    xh = xhat.reshape(x.shape)
    red = (0,) + tuple(range(2, x.ndim))
    ds, db = (dy * xh).sum(axis=red), dy.sum(axis=red)
    if scale.shape[0] != x.shape[1]:
        ds, db = ds.reshape(g, -1).sum(axis=1), db.reshape(g, -1).sum(axis=1)
    return [dx.astype(x.dtype, copy=False), ds.astype(scale.dtype), db.astype(b.dtype)]


@defop("GroupNormalization", infer=lambda t, a, v: [TensorType(t[0].dtype, t[0].shape)],
       grad=_gn_grad, since=18, defaults={"epsilon": 1e-5, "stash_type": 1})
def group_normalization(xp, inputs, attrs):
    """ONNX GroupNormalization: statistics per (n, group); per-channel affine."""
    x, scale, b = inputs
    g, xhat, inv = _gn_parts(xp, x, scale, attrs)
    y = xhat.reshape(x.shape) * _gn_affine(x, scale, g) + _gn_affine(x, b, g)
    return [y.astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ LRN

def _channel_window_sum(xp, v, front, back):
    """s[:, c] = sum of v[:, c - front : c + back + 1] (zero outside the channels)."""
    c = v.shape[1]
    pad = xp.zeros((v.shape[0], c + front + back) + v.shape[2:], dtype=v.dtype)
    pad[:, front:front + c] = v
    s = pad[:, 0:c].copy()
    for i in range(1, front + back + 1):
        s += pad[:, i:i + c]
    return s


def _lrn_parts(xp, x, attrs):
    size = int(attrs["size"])
    if x.ndim < 2 or size < 1:
        raise ShapeError(f"LRN: input {x.shape} needs rank >= 2 and size {size} >= 1")
    front, back = (size - 1) // 2, size - 1 - (size - 1) // 2
    alpha, beta = float(attrs.get("alpha", 1e-4)), float(attrs.get("beta", 0.75))
    d = _channel_window_sum(xp, x * x, front, back) * (alpha / size) + float(
        attrs.get("bias", 1.0))
    return size, front, back, alpha, beta, d


def _lrn_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    size, front, back, alpha, beta, d = _lrn_parts(xp, x, attrs)
    dy = douts[0]
    dpow = d ** -beta
    # output c depends on inputs c-front..c+back, so input c gets outputs c-back..c+front
    t = _channel_window_sum(xp, dy * x * dpow / d, back, front)
    return [(dy * dpow - (2.0 * alpha * beta / size) * x * t).astype(x.dtype, copy=False)]


@defop("LRN", infer=lambda t, a, v: [TensorType(t[0].dtype, t[0].shape)], grad=_lrn_grad,
       since=1, defaults={"alpha": 1e-4, "beta": 0.75, "bias": 1.0})
def lrn(xp, inputs, attrs):
    """ONNX LRN: x / (bias + alpha/size * sum of x^2 over a window of channels)^beta."""
    x = inputs[0]
    _, _, _, _, beta, d = _lrn_parts(xp, x, attrs)
    return [(x * d ** -beta).astype(x.dtype, copy=False)]
