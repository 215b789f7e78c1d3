"""LinearAttention (opset 27; the op is registered in ``attention``): a recurrent
state per KV head instead of a softmax over all keys.

Per token t, with ``S`` the (d_k, d_v) state of a KV head::

    S  = exp(g_t) * S                      (gated rules; g per key dim or per head)
    u  = beta_t * (v_t - S^T k_t)          (delta rules; else u = v_t)
    S  = S + k_t u^T
    o  = scale * q_t^T S                   (each of the G query heads of the KV head)

The time steps run in order (a recurrence), each one vectorised over batch and
heads; 16-bit inputs accumulate in float32 as the ONNX reference does.  The
gradient replays the steps backwards (back-propagation through time) from the
states the forward pass keeps.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from ._attention_shapes import heads_div, known, to3d, to4d

OP = "LinearAttention"
_RULES = ("linear", "gated", "delta", "gated_delta")
_INPUTS = ("query", "key", "value", "past_state", "decay", "beta")


def _rule(attrs) -> str:
    """The update_rule attribute (bytes or str), checked."""
    r = attrs.get("update_rule", "gated_delta")
    r = r.decode() if isinstance(r, bytes) else r
    if r not in _RULES:
        raise ShapeError(f"{OP}: update_rule {r!r} must be one of {', '.join(_RULES)}")
    return r


def _layout(shapes, attrs):
    """Sizes (B, T, heads, d_k, d_v, decay/beta widths) from the operand shapes
    (dims may be symbols or None); ShapeError where they do not fit."""
    q, k, v, past, decay, beta = (None if s is None else tuple(s) for s in shapes)
    rule = _rule(attrs)
    hq, hkv = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
    if hq is None or hkv is None:
        raise ShapeError(f"{OP}: the q_num_heads and kv_num_heads attributes are required")
    hq, hkv = int(hq), int(hkv)
    if hq <= 0 or hkv <= 0 or hq % hkv:
        raise ShapeError(f"{OP}: q_num_heads {hq} must be a positive multiple of "
                         f"kv_num_heads {hkv}")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    for name, t, want in (("decay", decay, gated), ("beta", beta, delta)):
        if (t is not None) != want:
            raise ShapeError(f"{OP}: update_rule {rule!r} {'needs' if want else 'forbids'} "
                             f"the {name} input")
    for name, s in zip(_INPUTS, (q, k, v, decay, beta)):
        if s is not None and len(s) != 3:
            raise ShapeError(f"{OP}: {name} of shape {s} must be 3-D (B, T, heads * size)")

    lay = SimpleNamespace(rule=rule, gated=gated, delta=delta, hq=hq, hkv=hkv,
                          batch=q[0], steps=q[1], dk=heads_div(OP, "query width", q[2], hq),
                          dkk=heads_div(OP, "key width", k[2], hkv),
                          dv=heads_div(OP, "value width", v[2], hkv))
    for name, s in (("key", k), ("value", v), ("decay", decay), ("beta", beta)):
        if s is not None:
            for what, a, b in (("batch", q[0], s[0]), ("length", q[1], s[1])):
                if known(a, b) and a != b:
                    raise ShapeError(f"{OP}: {name} {s} and query {q} differ in {what}")
    if known(lay.dk, lay.dkk) and lay.dk != lay.dkk:
        raise ShapeError(f"{OP}: query head size {lay.dk} differs from key head size {lay.dkk}")
    if decay is not None and known(decay[2], lay.dkk):
        if decay[2] not in (hkv, hkv * lay.dkk):
            raise ShapeError(f"{OP}: decay width {decay[2]} must be kv_num_heads ({hkv}) or "
                             f"kv_num_heads * d_k ({hkv * lay.dkk})")
    if beta is not None and known(beta[2]) and beta[2] not in (hkv, 1):
        raise ShapeError(f"{OP}: beta width {beta[2]} must be kv_num_heads ({hkv}) or 1")
    lay.state = (lay.batch, hkv, lay.dkk, lay.dv)
    if past is not None:
        if len(past) != 4 or not all(a == b for a, b in zip(past, lay.state)
                                     if known(a, b)):
            raise ShapeError(f"{OP}: past_state of shape {past} must be {lay.state}")
    return lay


def _unpack(x, heads, work):
    """(B, T, H*D) -> (B, H, T, D) in ``work``."""
    return to4d(x, heads).astype(work)


def forward(xp, inputs, attrs, keep=False):
    """The recurrence: per-head outputs ``out`` (B, H_q, T, d_v) and the final
    ``state`` in the work dtype; with ``keep``, each step's states for the grad."""
    q, k, v = inputs[0], inputs[1], inputs[2]
    past, decay, beta = (inputs[i] if len(inputs) > i else None for i in (3, 4, 5))
    for name, x in zip(_INPUTS, (q, k, v, past, decay, beta)):
        if x is not None and not DType.from_np(x.dtype).is_float:
            raise DTypeError(f"{OP}: {name} must be a float tensor, got {x.dtype}")
    lay = _layout([None if x is None else x.shape for x in (q, k, v, past, decay, beta)],
                  attrs)
    work = np.dtype(np.float32) if q.dtype.itemsize <= 2 else q.dtype
    b, steps, hkv = q.shape[0], q.shape[1], lay.hkv
    groups = lay.hq // hkv
    f = SimpleNamespace(lay=lay, work=work, groups=groups)
    # the G query heads of KV head h are heads h*G .. h*G+G-1
    f.q = _unpack(q, lay.hq, work).reshape(b, hkv, groups, steps, lay.dk)
    f.k, f.v = _unpack(k, hkv, work), _unpack(v, hkv, work)
    f.a = None if decay is None else xp.exp(
        _unpack(decay, hkv, work))  # (B, H, T, d_k or 1)
    f.beta = None if beta is None else _unpack(beta, beta.shape[2], work)  # (B, H|1, T, 1)
    scale = float(attrs.get("scale") or 0.0)
    f.scale = work.type(scale if scale else 1.0 / np.sqrt(lay.dk))
    s = xp.zeros((b, hkv, lay.dk, lay.dv), work) if past is None else past.astype(work)
    out = xp.empty((b, hkv, groups, steps, lay.dv), work)
    f.trace = []
    for t in range(steps):
        prev, kt = s, f.k[:, :, t]
        if f.a is not None:
            s = s * f.a[:, :, t, :, None]
        decayed, w = s, f.v[:, :, t]
        if f.beta is not None:
            w = w - (kt[:, :, None, :] @ s)[:, :, 0]  # v - S^T k
            u = f.beta[:, :, t] * w
        else:
            u = w
        s = decayed + kt[:, :, :, None] * u[:, :, None, :]
        out[:, :, :, t] = (f.q[:, :, :, t] @ s) * f.scale
        if keep:
            f.trace.append((prev, decayed, w, u, s))
    f.out = out.reshape(b, lay.hq, steps, lay.dv)
    f.state = s
    return f


def state_dtype(inputs):
    """present_state's dtype: past_state's, else query's."""
    past = inputs[3] if len(inputs) > 3 else None
    return (inputs[0] if past is None else past).dtype


def infer(types, attrs, values):
    """Types of output (B, T, H_q * d_v) and present_state (B, H_kv, d_k, d_v)."""
    q = types[0]
    past = types[3] if len(types) > 3 else None
    for name, t in zip(_INPUTS, types):
        if t is not None and t.dtype is not None and not t.dtype.is_float:
            raise DTypeError(f"{OP}: {name} must be a float tensor, got {t.dtype.short}")
    sdt = (q if past is None else past).dtype
    shapes = [None if t is None else t.shape for t in types[:6]]
    shapes += [None] * (6 - len(shapes))
    if any(t is not None and t.shape is None for t in types):
        return [TensorType(q.dtype, None), TensorType(sdt, None)]
    lay = _layout(shapes, attrs)
    width = lay.hq * lay.dv if known(lay.dv) else None
    return [TensorType(q.dtype, (lay.batch, lay.steps, width)), TensorType(sdt, lay.state)]


def grad(xp, inputs, outputs, douts, attrs):
    """Gradients of query, key, value, past_state, decay and beta: the steps
    replayed backwards, ``ds`` carrying d loss / d state from step to step."""
    f = forward(xp, inputs, attrs, keep=True)
    lay, work = f.lay, f.work
    b, steps, hkv, groups = inputs[0].shape[0], inputs[0].shape[1], lay.hkv, f.groups
    do = _unpack(douts[0], lay.hq, work).reshape(b, hkv, groups, steps, lay.dv)
    ds = douts[1].astype(work)
    dq, dk, dv = xp.zeros_like(f.q), xp.zeros_like(f.k), xp.zeros_like(f.v)
    dg = None if f.a is None else xp.zeros_like(f.a)
    dbeta = None if f.beta is None else xp.zeros_like(f.beta)
    for t in reversed(range(steps)):
        prev, decayed, w, u, s = f.trace[t]
        kt, do_t = f.k[:, :, t], do[:, :, :, t]
        dq[:, :, :, t] = (do_t @ xp.swapaxes(s, -1, -2)) * f.scale
        ds = ds + (xp.swapaxes(f.q[:, :, :, t], -1, -2) @ do_t) * f.scale
        # s = decayed + k u^T
        dk_t = (ds @ u[:, :, :, None])[:, :, :, 0]
        du = (kt[:, :, None, :] @ ds)[:, :, 0]
        if f.beta is not None:  # u = beta (v - decayed^T k)
            bt = f.beta[:, :, t]
            db = (du * w).sum(axis=-1, keepdims=True)
            dbeta[:, :, t] = db.sum(axis=1, keepdims=True) if bt.shape[1] == 1 else db
            dv[:, :, t] = bt * du
            dr = -bt * du
            ds = ds + kt[:, :, :, None] * dr[:, :, None, :]
            dk_t = dk_t + (decayed @ dr[:, :, :, None])[:, :, :, 0]
        else:
            dv[:, :, t] = du
        dk[:, :, t] = dk_t
        if f.a is not None:  # decayed = prev * a
            at = f.a[:, :, t]
            da = (ds * prev).sum(axis=-1)
            if at.shape[-1] == 1:
                da = da.sum(axis=-1, keepdims=True)
            dg[:, :, t] = da * at
            ds = ds * at[:, :, :, None]
    grads = [to3d(dq.reshape(b, lay.hq, steps, lay.dk)), to3d(dk), to3d(dv), ds,
             None if dg is None else to3d(dg), None if dbeta is None else to3d(dbeta)]
    return [None if g is None or x is None else g.astype(x.dtype, copy=False)
            for g, x in zip(grads, list(inputs) + [None] * (6 - len(inputs)))][:len(inputs)]
