"""ONNX Attention (opsets 23 to 25) as one fused op, and LinearAttention.

Attention: ``Y = softmax(softcap(Q K^T * scale) + bias) V`` over 3-D (heads
packed in the last axis) or 4-D inputs, with the KV cache (``past_key`` /
``past_value`` in, ``present_key`` / ``present_value`` out), grouped-query
heads, the bias of ``_attention_mask`` and the optional ``qk_matmul_output``.
Grouped-query heads never repeat K and V: the ``G = q_heads / kv_heads`` query
heads of one KV head are stacked as one matrix of ``G * q_len`` rows.  Like the
ONNX reference, ``Q`` and ``K`` are each scaled by ``sqrt(scale)`` and every
stage rounds to the input dtype (16-bit floats multiply in float32, as NumPy's
half-precision matmul does), so fp16/bf16 results match it.

The gradient (w.r.t. Q, K, V, a float mask and the past cache) recomputes the
forward pass and runs it backwards; rows where every key is masked carry none.
LinearAttention's recurrence and its gradient live in ``_attention_linear``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from . import _attention_linear as linear
from ._attention_mask import attention_bias, check_mask
from ._attention_shapes import geometry, known, to3d, to4d
from .activation import softmax
from .base import Pattern, check_int_operand, defop, np_dtype, unbroadcast

OP = "Attention"
_PRECISIONS = (1, 10, 11, 16)  # float, float16, double, bfloat16
_DEFAULTS = {"is_causal": 0, "qk_matmul_output_mode": 0, "softcap": 0.0,
             "left_window_size": -1, "right_window_size": -1}


def _arg(seq, k):
    """Optional operand k (None when absent or past the end)."""
    return seq[k] if len(seq) > k else None


# ------------------------------------------------------------------ helpers

def _work(dt):
    """The dtype a product of ``dt`` operands accumulates in: float32 for 16-bit floats."""
    return np.dtype(np.float32) if dt.itemsize <= 2 else dt


def _matmul(xp, a, b, dtype):
    """a @ b rounded once to ``dtype``; 16-bit floats multiply in float32."""
    work = np.promote_types(_work(a.dtype), _work(b.dtype))
    return xp.matmul(a.astype(work, copy=False), b.astype(work, copy=False)).astype(
        dtype, copy=False)


def _scale_factors(attrs, head_size, dtype):
    """(factor of Q, factor of K): sqrt(scale) each, rounded to ``dtype`` as the
    ONNX reference does; a negative scale keeps its sign on K."""
    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(head_size) if scale is None else float(scale)
    root = dtype.type(np.sqrt(abs(scale)))
    return root, (root if scale >= 0 else -root)


def _check_attrs(attrs):
    """(qk_matmul_output_mode, softmax dtype or None), checked."""
    mode = int(attrs.get("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise ShapeError(f"{OP}: qk_matmul_output_mode {mode} must be 0, 1, 2 or 3")
    prec = attrs.get("softmax_precision")
    if prec is not None and int(prec) not in _PRECISIONS:
        raise DTypeError(f"{OP}: softmax_precision {prec} must be one of {_PRECISIONS} "
                         "(float, float16, double, bfloat16)")
    return mode, None if prec is None else np_dtype(int(prec))


def _check_dtypes(q, k, v, pk, pv):
    """DTypeError unless the DTypes (None: absent or unknown) of Q, K, V and the
    cache are floats, K and past_key of Q's type, past_value of V's."""
    for name, t in (("Q", q), ("K", k), ("V", v), ("past_key", pk), ("past_value", pv)):
        if t is not None and not t.is_float:
            raise DTypeError(f"{OP}: {name} must be a float tensor, got {t.short}")
    for name, t, like in (("K", k, q), ("past_key", pk, q), ("past_value", pv, v)):
        if t is not None and like is not None and t != like:
            raise DTypeError(f"{OP}: {name} is {t.short}, expected {like.short}")


# ------------------------------------------------------------------ forward

def _forward(xp, inputs, attrs):
    """Every intermediate of the forward pass (the grad reads them)."""
    q, k, v = inputs[0], inputs[1], inputs[2]
    mask, pk, pv, nonpad = (_arg(inputs, i) for i in (3, 4, 5, 6))
    _check_dtypes(*(None if x is None else DType.from_np(x.dtype) for x in (q, k, v, pk, pv)))
    mode, prec = _check_attrs(attrs)
    g = geometry([q.shape, k.shape, v.shape, None if pk is None else pk.shape,
                  None if pv is None else pv.shape], attrs)
    dtype = q.dtype
    q4, k4, v4 = (q, k, v) if g.rank == 4 else (
        to4d(q, g.hq), to4d(k, g.hkv), to4d(v, g.hkv))
    kt = k4 if pk is None else xp.concatenate([pk, k4], axis=2)  # present_key
    vt = v4 if pv is None else xp.concatenate([pv, v4], axis=2)  # present_value
    f = SimpleNamespace(g=g, mode=mode, dtype=dtype, kt=kt, vt=vt, mask=mask,
                        rows=(g.batch, g.hkv, g.hq // g.hkv * g.sq))
    f.sq, f.sk = _scale_factors(attrs, g.dk, dtype)
    # the G query heads of one KV head, stacked: one product per KV head
    f.qs = (q4 * f.sq).reshape(f.rows + (g.dk,))
    f.ks = kt * f.sk
    f.raw = _matmul(xp, f.qs, xp.swapaxes(f.ks, -1, -2), dtype).reshape(g.scores)
    cap = float(attrs.get("softcap", 0.0))
    f.tanh = None
    capped = f.raw
    if cap > 0:
        f.tanh = xp.tanh(f.raw / dtype.type(cap))
        capped = f.tanh * dtype.type(cap)
    f.capped = capped
    f.bias, masked = attention_bias(xp, mask, attrs, dtype, g.scores, g.past, nonpad)
    f.logits = capped if f.bias is None else capped + f.bias
    s = f.logits if prec is None else f.logits.astype(prec)
    masked = masked if masked is not None and bool(masked.any()) else None
    if masked is not None:
        # a row with no visible key gives zeros, not 0/0
        s = xp.where(masked, s.dtype.type(0), s)
    p = softmax(xp, s, -1) if s.size else s
    if masked is not None:
        p = xp.where(masked, p.dtype.type(0), p)
    f.p = p
    f.pt = p.astype(dtype, copy=False)
    y = _matmul(xp, f.pt.reshape(f.rows + (g.total,)), vt, dtype)
    f.y = y.reshape(g.batch, g.hq, g.sq, g.dv)
    return f


def _qk_output(f):
    """The fourth output: the scores at the stage qk_matmul_output_mode names."""
    return (f.raw, f.capped, f.logits, f.pt)[f.mode].astype(f.dtype, copy=False)


# ------------------------------------------------------------------ infer

def _infer(types, attrs, values):
    """Types of Y, present_key, present_value and qk_matmul_output."""
    q, k, v = types[0], types[1], types[2]
    mask, pk, pv, nonpad = (_arg(types, i) for i in (3, 4, 5, 6))
    _check_dtypes(*(None if t is None else t.dtype for t in (q, k, v, pk, pv)))
    if mask is not None and mask.dtype is not None and not (
            mask.dtype is DType.BOOL or mask.dtype.is_float or mask.dtype.is_int):
        raise DTypeError(f"{OP}: attn_mask must be bool or numeric, got {mask.dtype.short}")
    check_int_operand(OP, "nonpad_kv_seqlen", nonpad, ("INT64",))
    _check_attrs(attrs)
    if (pk is None) != (pv is None):
        raise ShapeError(f"{OP}: past_key and past_value must be given together")
    t1, t2 = q.dtype, v.dtype
    shapes = [q.shape, k.shape, v.shape, None if pk is None else pk.shape,
              None if pv is None else pv.shape]
    if any(s is None for s in shapes[:3]) or (pk is not None and (
            pk.shape is None or pv.shape is None)):
        return [TensorType(t1, None), TensorType(t1, None), TensorType(t2, None),
                TensorType(t1, None)]
    g = geometry(shapes, attrs)
    if mask is not None and mask.shape is not None:
        check_mask(mask.shape, g.scores)
    if g.rank == 3:
        hidden = g.hq * g.dv if known(g.dv) else None
        y = (g.batch, g.sq, hidden)
    else:
        y = (g.batch, g.hq, g.sq, g.dv)
    return [TensorType(t1, y), TensorType(t1, (g.batch, g.hkv, g.total, g.dk)),
            TensorType(t2, (g.batch, g.hkv, g.total, g.dv)), TensorType(t1, g.scores)]


# ------------------------------------------------------------------ grad

def _grad(xp, inputs, outputs, douts, attrs):
    """Gradients of Q, K, V, a float attn_mask and the past cache, through all
    four outputs (the fourth by its mode)."""
    f = _forward(xp, inputs, attrs)
    g, mode = f.g, f.mode
    need = list(attrs.get("_need_grads") or [True] * len(inputs))
    dqk = douts[3] if len(douts) > 3 else None
    if dqk is None:
        mode = -1  # nobody reads the fourth output
    dy = douts[0] if g.rank == 4 else to4d(douts[0], g.hq)
    dy = dy.reshape(f.rows + (g.dv,))
    pg = f.pt.reshape(f.rows + (g.total,))
    dvt = _matmul(xp, xp.swapaxes(pg, -1, -2), dy, f.vt.dtype) + douts[2]
    dp = _matmul(xp, dy, xp.swapaxes(f.vt, -1, -2), f.dtype).reshape(g.scores)
    if mode == 3:
        dp = dp + dqk
    dl = f.p * (dp - (dp * f.p).sum(axis=-1, keepdims=True))
    if mode == 2:
        # where the bias is -inf the logit is -inf whatever the inputs
        dl = dl + (dqk if f.bias is None else xp.where(f.bias == -np.inf, 0, dqk))
    dmask = None
    mask = f.mask
    if mask is not None and mask.dtype.kind == "f" and need[3]:
        padded = mask.shape[:-1] + (g.total,)
        dmask = unbroadcast(xp, dl, padded)[..., :mask.shape[-1]].astype(mask.dtype)
    draw = dl if mode != 1 else dl + dqk
    if f.tanh is not None:
        draw = draw * (1 - f.tanh * f.tanh)
    if mode == 0:
        draw = draw + dqk
    draw = draw.astype(f.dtype, copy=False).reshape(f.rows + (g.total,))
    dq = None
    if need[0]:
        dq = (_matmul(xp, draw, f.ks, f.dtype) * f.sq).reshape(g.batch, g.hq, g.sq, g.dk)
        dq = to3d(dq) if g.rank == 3 else dq
    dkt = _matmul(xp, xp.swapaxes(draw, -1, -2), f.qs, f.dtype) * f.sk + douts[1]
    out = [dq]
    for d, x in ((dkt, inputs[1]), (dvt, inputs[2])):
        new = d[:, :, g.past:]
        out.append((to3d(new) if g.rank == 3 else new).astype(x.dtype, copy=False))
    out.append(dmask)
    pk, pv = _arg(inputs, 4), _arg(inputs, 5)
    out.append(None if pk is None else dkt[:, :, :g.past].astype(pk.dtype, copy=False))
    out.append(None if pv is None else dvt[:, :, :g.past].astype(pv.dtype, copy=False))
    out.append(None)
    return out[:len(inputs)]


# ------------------------------------------------------------------ the ops

@defop(OP, pattern=Pattern.OPAQUE, infer=_infer, grad=_grad, since=23, num_outputs=None,
       defaults=_DEFAULTS)
def attention(xp, inputs, attrs):
    """ONNX Attention (opset 25 form; 23 and 24 are its subsets).

    Returns ``[Y, present_key, present_value, qk_matmul_output]``: the caches are
    4-D ``(batch, kv_heads, past + kv_len, head)`` also for 3-D inputs, and the
    fourth output holds what ``qk_matmul_output_mode`` selects (0: Q K^T scaled,
    1: after softcap, 2: plus the bias, 3: the softmax probabilities).
    """
    f = _forward(xp, inputs, attrs)
    y = to3d(f.y) if f.g.rank == 3 else f.y
    return [y, f.kt, f.vt, _qk_output(f)]


@defop("LinearAttention", pattern=Pattern.OPAQUE, infer=linear.infer, grad=linear.grad,
       since=27, num_outputs=2,
       defaults={"update_rule": "gated_delta", "scale": 0.0, "chunk_size": 64})
def linear_attention(xp, inputs, attrs):
    """ONNX LinearAttention: ``[output (B, T, H_q * d_v), present_state
    (B, H_kv, d_k, d_v)]``; the state keeps past_state's dtype (query's without one);
    ``chunk_size`` is a tuning hint of chunked kernels, which the step loop ignores."""
    f = linear.forward(xp, inputs, attrs)
    return [to3d(f.out).astype(inputs[0].dtype, copy=False),
            f.state.astype(linear.state_dtype(inputs), copy=False)]
