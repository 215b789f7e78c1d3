"""FlexAttention (domain ``ai.onnx.preview``): attention whose scores and
probabilities pass through optional bodies, ``score_mod`` and ``prob_mod``.

``Y = prob_mod(softmax(score_mod(Q K^T * scale))) V`` over rank-4 inputs, query
heads grouped over the K/V heads as Attention groups them (the G query heads
of one K/V head stacked as one matrix, K and V never repeated).  As in the ONNX
reference, Q and K are each scaled by ``sqrt(scale)`` in their own dtype, and
the softmax and the product with V run in ``softmax_precision`` (float32 for
16-bit inputs by default), the result rounded back to V's dtype.  The bodies
are regions (see :mod:`singa.ir.regions`): one rank-4 tensor in, one out.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .activation import softmax
from .attention import _matmul
from ._regions import split_captures
from .base import defop, np_dtype

OP = "FlexAttention"
_PRECISIONS = (1, 10, 11, 16)  # float, float16, double, bfloat16


def _precision(attrs, dtype: np.dtype) -> np.dtype:
    prec = attrs.get("softmax_precision")
    if prec is not None:
        if int(prec) not in _PRECISIONS:
            raise DTypeError(f"{OP}: softmax_precision {prec} must be one of {_PRECISIONS}")
        return np_dtype(int(prec))
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def _geometry(op, q, k, v):
    """(batch, q heads, kv heads) after checking ranks, heads and sizes."""
    for name, s in (("Q", q), ("K", k), ("V", v)):
        if s is not None and len(s) != 4:
            raise ShapeError(f"{op}: {name} must be rank 4, got shape {list(s)}")
    hq, hkv = q[1], k[1]
    if isinstance(hq, int) and isinstance(hkv, int) and (hkv <= 0 or hq % hkv):
        raise ShapeError(f"{op}: {hq} query heads are not a multiple of {hkv} K/V heads")
    pairs = ((k[1], v[1], "K and V heads"), (k[2], v[2], "K and V lengths"),
             (q[3], k[3], "Q and K head sizes"))
    for a, b, what in pairs:
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise ShapeError(f"{op}: {what} differ ({a} and {b})")
    return q[0], hq, hkv


def _infer(types, attrs, values):
    (q, k, v), caps = split_captures(types, attrs)
    for name, t in (("Q", q), ("K", k), ("V", v)):
        if not t.dtype.is_float:
            raise DTypeError(f"{OP}: {name} must be a float tensor, got {t}")
    if q.shape is None or k.shape is None or v.shape is None:
        return [TensorType(v.dtype, None)]
    b, hq, _ = _geometry(OP, q.shape, k.shape, v.shape)
    scores = TensorType(DType.from_np(_precision(attrs, q.dtype.np)),
                        (b, hq, q.shape[2], k.shape[2]))
    for key in ("score_mod", "prob_mod"):
        body = attrs.get("_regions", {}).get(key)
        if body is not None:
            out = body([scores, *caps])
            if len(out) != 1 or (out[0] is not None and out[0].dtype != scores.dtype):
                raise ShapeError(f"{OP}: {key} must return one {scores.dtype.short} tensor, "
                                 f"returns {', '.join(map(str, out))}")
    return [TensorType(v.dtype, (b, hq, q.shape[2], v.shape[3]))]


@defop(OP, infer=_infer, since=1, domain="ai.onnx.preview",
       regions=("score_mod", "prob_mod"))
def flex_attention(xp, inputs, attrs):
    """``[Y]`` of shape ``(batch, q_heads, q_len, v_head_size)`` in V's dtype."""
    (q, k, v), caps = split_captures(inputs, attrs)
    b, hq, hkv = _geometry(OP, q.shape, k.shape, v.shape)
    g, sq, sk = hq // hkv, q.shape[2], k.shape[2]
    prec = _precision(attrs, q.dtype)
    scale = attrs.get("scale")
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else float(scale)
    root = q.dtype.type(np.sqrt(np.float32(scale)))
    # the G query heads of one K/V head stacked: one product per K/V head
    qs = (q * root).reshape(b, hkv, g * sq, q.shape[3])
    scores = _matmul(xp, qs, xp.swapaxes(k * root, -1, -2), q.dtype)
    scores = scores.reshape(b, hq, sq, sk).astype(prec, copy=False)
    bodies = attrs.get("_regions", {})
    if "score_mod" in bodies:
        scores = xp.asarray(bodies["score_mod"]([scores, *caps])[0]).astype(prec, copy=False)
    probs = softmax(xp, scores, -1) if scores.size else scores
    if "prob_mod" in bodies:
        probs = xp.asarray(bodies["prob_mod"]([probs, *caps])[0]).astype(prec, copy=False)
    y = xp.matmul(probs.reshape(b, hkv, g * sq, sk), v.astype(prec, copy=False))
    return [y.reshape(b, hq, sq, v.shape[3]).astype(v.dtype, copy=False)]
