"""The additive bias of ONNX Attention: ``attn_mask``, causal frontier, sliding
window and ``nonpad_kv_seqlen`` padding, composed into one array.

The bias keeps the smallest shape that broadcasts against the scores
``(batch, q_heads, q_len, total_len)``: a 2-D mask stays ``(q_len, total_len)``
and the per-batch structural masks add only a batch axis, so nothing is
repeated over heads.  Allowed positions contribute 0 (or the float mask value),
disallowed ones ``-inf``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError

OP = "Attention"


def check_mask(mask_shape, scores) -> None:
    """ShapeError unless a mask of ``mask_shape`` can be padded to the keys and
    broadcast to the ``scores`` shape (batch, q_heads, q_len, total); dims may be
    symbols or None."""
    mask_shape = tuple(mask_shape)
    if not 1 <= len(mask_shape) <= 4:
        raise ShapeError(f"{OP}: attn_mask of shape {mask_shape} must have rank 1 to 4")
    last, total = mask_shape[-1], scores[-1]
    if isinstance(last, int) and isinstance(total, int) and last > total:
        raise ShapeError(f"{OP}: attn_mask of shape {mask_shape} is longer than the "
                         f"{total} keys (past + new)")
    lead = [d for d in mask_shape[:-1]]
    for d, s in zip(reversed(lead), reversed(scores[:-1])):
        if isinstance(d, int) and isinstance(s, int) and d not in (1, s):
            raise ShapeError(f"{OP}: attn_mask of shape {mask_shape} does not broadcast to "
                             f"the scores {tuple(scores)} (batch, heads, queries, keys)")


def mask_bias(xp, mask, dtype, total):
    """``attn_mask`` as an additive bias of ``dtype``, its last axis padded to
    ``total`` keys with -inf (the spec's padding for a short mask)."""
    if mask.dtype == np.bool_:
        bias = xp.where(mask, dtype.type(0), dtype.type(-np.inf))
    else:
        bias = mask.astype(dtype, copy=False)
    pad = total - mask.shape[-1]
    if pad:
        fill = xp.full(bias.shape[:-1] + (pad,), -np.inf, dtype=dtype)
        bias = xp.concatenate([bias, fill], axis=-1)
    return bias


def _offset(xp, q_len, past_len, nonpad):
    """How many keys precede the query block: the past length, or per batch
    ``nonpad_kv_seqlen - q_len`` for an external cache (shape (B, 1, 1, 1))."""
    if nonpad is not None and past_len == 0:
        return nonpad.astype(np.int64).reshape(-1, 1, 1, 1) - q_len
    return past_len


def structural_allowed(xp, attrs, q_len, total, past_len, nonpad):
    """Boolean (…, q_len, total) of the keys causal masking, the window and the
    padding leave visible; None when none of them applies."""
    causal = bool(attrs.get("is_causal", 0))
    left = int(attrs.get("left_window_size", -1))
    right = int(attrs.get("right_window_size", -1))
    if left < -1 or right < -1:
        raise ShapeError(f"{OP}: left_window_size {left} and right_window_size {right} "
                         "must be -1 or non-negative")
    allowed = None

    def both(a, b):
        return b if a is None else a & b

    if causal or left >= 0 or right >= 0:
        i = xp.arange(q_len).reshape(q_len, 1)
        j = xp.arange(total).reshape(1, total)
        # query i sits at absolute position i + offset; diff = how far key j lies behind
        diff = i + _offset(xp, q_len, past_len, nonpad) - j
        if causal:
            allowed = both(allowed, diff >= 0)
        if left >= 0:
            allowed = both(allowed, diff <= left)
        if right >= 0:
            allowed = both(allowed, diff >= -right)
    if nonpad is not None:
        j = xp.arange(total).reshape(1, 1, 1, total)
        allowed = both(allowed, j < nonpad.astype(np.int64).reshape(-1, 1, 1, 1))
    return allowed


def attention_bias(xp, mask, attrs, dtype, scores, past_len, nonpad):
    """The additive bias (None when nothing masks) and, per query row, whether
    every key is disallowed (None when no row can be).  ``scores``: the shape
    (batch, q_heads, q_len, total) the bias is added to."""
    q_len, total = scores[-2:]
    if nonpad is not None:
        if nonpad.dtype.kind not in "iu":
            raise DTypeError(f"{OP}: nonpad_kv_seqlen must be int64, got {nonpad.dtype}")
        if nonpad.shape != (scores[0],):
            raise ShapeError(f"{OP}: nonpad_kv_seqlen of shape {nonpad.shape} must be "
                             f"({scores[0]},), one length per batch entry")
        if past_len:
            raise ShapeError(f"{OP}: nonpad_kv_seqlen cannot be combined with past_key "
                             "and past_value")
    bias = None
    if mask is not None:
        check_mask(mask.shape, scores)
        bias = mask_bias(xp, mask, dtype, total)
    allowed = structural_allowed(xp, attrs, q_len, total, past_len, nonpad)
    if allowed is not None:
        struct = xp.where(allowed, dtype.type(0), dtype.type(-np.inf))
        # added, not selected: a float mask's own -inf/NaN entries keep their effect
        bias = struct if bias is None else bias + struct
    if bias is None:
        return None, None
    return bias, bias.max(axis=-1, keepdims=True) == -np.inf
