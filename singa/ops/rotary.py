"""RotaryEmbedding (RoPE, opset 23): rotate pairs of each head's features by
position-dependent angles given as cos/sin caches.

The input is 4-D ``(batch, heads, seq, head_size)`` or 3-D ``(batch, seq,
heads * head_size)`` (``num_heads`` given).  Neither layout is transposed: the
3-D one is viewed as ``(batch, seq, heads, head_size)`` and the caches, one row
per (batch, seq) position, get a unit axis where the heads are.  A rotation by
``(cos, -sin)`` undoes one by ``(cos, sin)``, so the input's gradient is the
forward rotation of ``dy`` with the sine negated.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from .base import check_int_operand, defop
from .index import scatter_add
from .transformer import _check_float, _check_same_dtype, _wide

_OP = "RotaryEmbedding"


def _layout(x, attrs):
    """(x as 4-D, axis of the heads in it, head_size, rotated width)."""
    if x.ndim == 4:
        x4, heads_axis = x, 1
    elif x.ndim == 3:
        heads = int(attrs.get("num_heads") or 0)
        if heads <= 0 or x.shape[2] % heads:
            raise ShapeError(f"{_OP}: a 3-D input {x.shape} needs num_heads (got {heads}) "
                             f"dividing its hidden size {x.shape[2]}")
        x4, heads_axis = x.reshape(x.shape[0], x.shape[1], heads, -1), 2
    else:
        raise ShapeError(f"{_OP}: input of shape {x.shape} must be 3-D or 4-D")
    head = x4.shape[3]
    rot = int(attrs["rotary_embedding_dim"]) or head
    if rot % 2 or not 0 < rot <= head:
        raise ShapeError(f"{_OP}: rotary_embedding_dim {rot} must be even and at most the "
                         f"head size {head}")
    return x4, heads_axis, head, rot


def _angles(xp, x4, heads_axis, rot, cos, sin, pos):
    """cos/sin per (batch, seq) position, shaped to broadcast against x4's first
    ``rot // 2`` features."""
    batch, seq = x4.shape[0], x4.shape[3 - heads_axis]
    if cos.shape != sin.shape:
        raise ShapeError(f"{_OP}: cos_cache {cos.shape} and sin_cache {sin.shape} differ")
    want = (rot // 2,) if pos is not None else (batch, seq, rot // 2)
    if cos.shape[-len(want):] != want or cos.ndim != len(want) + (pos is not None):
        form = "(max_position + 1, %d)" % (rot // 2) if pos is not None else str(want)
        raise ShapeError(f"{_OP}: caches of shape {cos.shape} do not fit; expected {form} for "
                         f"input {x4.shape} and rotary dim {rot}")
    if pos is not None:
        if pos.shape != (batch, seq):
            raise ShapeError(f"{_OP}: position_ids {pos.shape} should be {(batch, seq)}")
        if pos.size and (int(pos.min()) < 0 or int(pos.max()) >= cos.shape[0]):
            raise ShapeError(f"{_OP}: position_ids outside [0, {cos.shape[0] - 1}]")
        cos, sin = cos[pos], sin[pos]
    return xp.expand_dims(cos, heads_axis), xp.expand_dims(sin, heads_axis)


def _halves(v, rot, interleaved):
    """The two members of each rotated pair: even/odd features, or first/second half."""
    if interleaved:
        return v[..., 0:rot:2], v[..., 1:rot:2]
    return v[..., :rot // 2], v[..., rot // 2:rot]


def _rotate(xp, x4, cos, sin, rot, interleaved):
    x1, x2 = _halves(x4, rot, interleaved)
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if interleaved:
        pairs = xp.stack([real, imag], axis=-1).reshape(real.shape[:-1] + (rot,))
    else:
        pairs = xp.concatenate([real, imag], axis=-1)
    return xp.concatenate([pairs, x4[..., rot:]], axis=-1)


def _parts(xp, inputs, attrs):
    x, cos, sin = inputs[:3]
    pos = inputs[3] if len(inputs) > 3 else None
    if not x.dtype == cos.dtype == sin.dtype:
        raise DTypeError(f"{_OP}: X {x.dtype}, cos_cache {cos.dtype} and sin_cache {sin.dtype} "
                         f"must share one type")
    if pos is not None and pos.dtype.kind not in "iu":
        raise DTypeError(f"{_OP}: position_ids must be int64, got {pos.dtype}")
    x4, heads_axis, _, rot = _layout(_wide(x), attrs)
    c, s = _angles(xp, x4, heads_axis, rot, _wide(cos), _wide(sin), pos)
    return x4, heads_axis, rot, c, s, pos


def _infer(types, attrs, values):
    x, cos, sin = types[:3]
    pos = types[3] if len(types) > 3 else None
    for what, t in (("X", x), ("cos_cache", cos), ("sin_cache", sin)):
        _check_float(_OP, what, t)
    _check_same_dtype(_OP, ("X", "cos_cache", "sin_cache"), (x, cos, sin))
    check_int_operand(_OP, "position_ids", pos, ("INT64",))
    if x.shape is not None and len(x.shape) not in (3, 4):
        raise ShapeError(f"{_OP}: input of shape {x.shape} must be 3-D or 4-D")
    return [TensorType(x.dtype, x.shape)]


def _grad(xp, inputs, outputs, douts, attrs):
    x, cache = inputs[0], inputs[1]
    x4, heads_axis, rot, c, s, pos = _parts(xp, inputs, attrs)
    interleaved = bool(attrs["interleaved"])
    dy4 = _wide(douts[0]).reshape(x4.shape)
    dx = _rotate(xp, dy4, c, -s, rot, interleaved).reshape(x.shape)
    # real = c x1 - s x2, imag = s x1 + c x2, summed over the heads sharing an angle
    x1, x2 = _halves(x4, rot, interleaved)
    d1, d2 = _halves(dy4, rot, interleaved)
    dcos = (d1 * x1 + d2 * x2).sum(axis=heads_axis)
    dsin = (d2 * x1 - d1 * x2).sum(axis=heads_axis)
    if pos is not None:
        half = rot // 2
        flat = pos[..., None] * half + xp.arange(half)
        dcos, dsin = (scatter_add(xp, flat, g, cache.size).reshape(cache.shape)
                      for g in (dcos, dsin))
    cast = [g.astype(cache.dtype, copy=False) for g in (dcos, dsin)]
    return [dx.astype(x.dtype, copy=False)] + cast + [None] * (len(inputs) - 3)


@defop(_OP, infer=_infer, grad=_grad, since=23,
       defaults={"interleaved": 0, "rotary_embedding_dim": 0, "num_heads": 0})
def rotary_embedding(xp, inputs, attrs):
    """RoPE: the first ``rotary_embedding_dim`` features of each head rotated in pairs
    (halves, or neighbours when ``interleaved``) by the cached angles of the token's
    position (``position_ids`` rows of the caches, else caches per (batch, seq))."""
    x = inputs[0]
    x4, _, rot, c, s, _ = _parts(xp, inputs, attrs)
    y = _rotate(xp, x4, c, s, rot, bool(attrs["interleaved"]))
    return [y.reshape(x.shape).astype(x.dtype, copy=False)]

