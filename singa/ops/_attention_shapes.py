"""Shapes of the attention ops: the sizes of an Attention problem (checked from
operand shapes that may hold symbols) and the packed 3-D <-> 4-D head layouts."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import ShapeError

OP = "Attention"


def known(*dims):
    """Whether every dim is a concrete int (not a symbol or None)."""
    return all(isinstance(d, int) for d in dims)


def heads_div(op, what, d, n):
    """Head size of a packed axis of ``d = n * size``; None when d is not a known int."""
    if not known(d, n):
        return None
    if n <= 0 or d % n:
        raise ShapeError(f"{op}: {what} of size {d} does not split into {n} heads")
    return d // n


def same(op, what, *dims):
    """ShapeError unless the known (int) dims agree."""
    sizes = {d for d in dims if isinstance(d, int)}
    if len(sizes) > 1:
        raise ShapeError(f"{op}: {what} differ: {', '.join(map(str, dims))}")


def add_dims(a, b):
    """a + b for dims that may be symbols or None."""
    if known(a, b):
        return a + b
    return a if b == 0 else None


def _heads_attr(attrs, name):
    h = attrs.get(name)
    return None if h is None else int(h)


def geometry(shapes, attrs):
    """Sizes of one Attention problem from the operand shapes (dims may be
    symbols or None): batch, q_heads, kv_heads, q_len, kv_len, head sizes
    (dk, dv), past length and total keys; ShapeError where they do not fit."""
    qs, ks, vs, pks, pvs = (tuple(s) if s is not None else None for s in shapes)
    rank = len(qs)
    if rank not in (3, 4) or len(ks) != rank or len(vs) != rank:
        raise ShapeError(f"{OP}: Q, K, V must all be 3-D or all 4-D, got {qs}, {ks}, {vs}")
    hq, hkv = _heads_attr(attrs, "q_num_heads"), _heads_attr(attrs, "kv_num_heads")
    if rank == 3:
        if hq is None or hkv is None:
            raise ShapeError(f"{OP}: 3-D inputs need the q_num_heads and kv_num_heads "
                             "attributes")
        g = SimpleNamespace(rank=3, batch=qs[0], hq=hq, hkv=hkv, sq=qs[1], skv=ks[1],
                            dk=heads_div(OP, "Q hidden size", qs[2], hq),
                            dkk=heads_div(OP, "K hidden size", ks[2], hkv),
                            dv=heads_div(OP, "V hidden size", vs[2], hkv), vseq=vs[1])
    else:
        for name, want, got in (("q_num_heads", hq, qs[1]), ("kv_num_heads", hkv, ks[1])):
            if want is not None and isinstance(got, int) and want != got:
                raise ShapeError(f"{OP}: {name}={want} but the 4-D input has {got} heads")
        same(OP, "K and V head counts", ks[1], vs[1])
        g = SimpleNamespace(rank=4, batch=qs[0], hq=qs[1], hkv=ks[1], sq=qs[2], skv=ks[2],
                            dk=qs[3], dkk=ks[3], dv=vs[3], vseq=vs[2])
    same(OP, "batch sizes of Q, K, V", qs[0], ks[0], vs[0])
    same(OP, "head sizes of Q and K", g.dk, g.dkk)
    same(OP, "sequence lengths of K and V", g.skv, g.vseq)
    if known(g.hq, g.hkv) and (g.hkv <= 0 or g.hq % g.hkv):
        raise ShapeError(f"{OP}: {g.hq} query heads are not a multiple of {g.hkv} KV heads")
    g.past = 0
    if (pks is None) != (pvs is None):
        raise ShapeError(f"{OP}: past_key and past_value must be given together")
    if pks is not None:
        if len(pks) != 4 or len(pvs) != 4:
            raise ShapeError(f"{OP}: past_key {pks} and past_value {pvs} must be 4-D")
        same(OP, "batch sizes of Q and the past cache", g.batch, pks[0], pvs[0])
        same(OP, "KV head counts of K and the past cache", g.hkv, pks[1], pvs[1])
        same(OP, "past lengths of past_key and past_value", pks[2], pvs[2])
        same(OP, "head sizes of K and past_key", g.dk, pks[3])
        same(OP, "head sizes of V and past_value", g.dv, pvs[3])
        g.past = pks[2]
    g.total = add_dims(g.past, g.skv)
    g.scores = (g.batch, g.hq, g.sq, g.total)
    return g


def to4d(x, heads):
    """(B, S, H*D) -> (B, H, S, D), a view."""
    b, s, hd = x.shape
    return x.reshape(b, s, heads, hd // heads).transpose(0, 2, 1, 3)


def to3d(x):
    """(B, H, S, D) -> (B, S, H*D)."""
    b, h, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, h * d)
