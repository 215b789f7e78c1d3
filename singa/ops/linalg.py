"""Matrix products: MatMul (NumPy semantics), Gemm and Einsum."""

from __future__ import annotations

import string

import numpy as np

from ..errors import DTypeError, GradError, ShapeError
from ..ir.types import TensorType
from .base import Pattern, broadcast_shapes, defop, unbroadcast


def _dims_match(a, b):
    return not (isinstance(a, int) and isinstance(b, int) and a != b)


# ------------------------------------------------------------------ MatMul

def _matmul_shape(op, sa, sb):
    """Result shape of ``sa @ sb`` under NumPy's rules (1-D operands promoted then dropped)."""
    if sa is None or sb is None:
        return None
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError(f"{op}: operands must have rank >= 1, got {sa} and {sb}")
    a = (1,) + tuple(sa) if len(sa) == 1 else tuple(sa)
    b = tuple(sb) + (1,) if len(sb) == 1 else tuple(sb)
    if not _dims_match(a[-1], b[-2]):
        raise ShapeError(f"{op}: inner dimensions differ: {tuple(sa)} @ {tuple(sb)}")
    batch = broadcast_shapes(op, a[:-2], b[:-2])
    out = batch + (a[-2], b[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    return out


def _matmul_infer(types, attrs, values):
    a, b = types
    return [TensorType(a.dtype, _matmul_shape("MatMul", a.shape, b.shape))]


def _matmul_grad(xp, inputs, outputs, douts, attrs):
    a, b = inputs
    dy = douts[0]
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    # give dy back the axes that the 1-D promotion dropped
    if a.ndim == 1:
        dy = xp.expand_dims(dy, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        dy = xp.expand_dims(dy, -1)
    da = xp.matmul(dy, xp.swapaxes(b2, -1, -2))
    db = xp.matmul(xp.swapaxes(a2, -1, -2), dy)
    da = unbroadcast(xp, da, a2.shape).reshape(a.shape)
    db = unbroadcast(xp, db, b2.shape).reshape(b.shape)
    return [da if a.dtype.kind == "f" else None, db if b.dtype.kind == "f" else None]


def _matmul_into(xp, inputs, attrs, out):
    a, b = inputs
    if a.dtype != b.dtype or a.dtype.kind == "V" or out.dtype != a.dtype:
        out[...] = _matmul(xp, inputs, attrs)[0]
        return [out]
    return [xp.matmul(a, b, out=out)]


@defop("MatMul", pattern=Pattern.OUT_FUSABLE, infer=_matmul_infer, grad=_matmul_grad, since=1,
       into=_matmul_into)
def _matmul(xp, inputs, attrs):
    """Batched matrix product with NumPy's broadcasting and 1-D rules."""
    a, b = inputs
    _matmul_shape("MatMul", a.shape, b.shape)
    if a.dtype != b.dtype:
        raise DTypeError(f"MatMul: operands have different dtypes {a.dtype} and {b.dtype}")
    if a.dtype.kind == "V":
        # extension floats (bfloat16): NumPy multiplies them as float32
        return [xp.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)]
    return [xp.matmul(a, b)]


# ------------------------------------------------------------------ Gemm

def _gemm_adapt(attrs, opset):
    attrs = dict(attrs)
    # Gemm-6 and older: `broadcast` chose whether C broadcasts; newer always broadcast
    attrs.pop("broadcast", None)
    return attrs, {}


def _gemm_mk(op, sa, sb, attrs):
    if sa is None or sb is None:
        return None, None
    if len(sa) != 2 or len(sb) != 2:
        raise ShapeError(f"{op}: A and B must be 2-D, got {tuple(sa)} and {tuple(sb)}")
    m, ka = (sa[1], sa[0]) if attrs["transA"] else (sa[0], sa[1])
    kb, n = (sb[1], sb[0]) if attrs["transB"] else (sb[0], sb[1])
    if not _dims_match(ka, kb):
        raise ShapeError(f"{op}: inner dimensions differ: A {tuple(sa)} (transA="
                         f"{attrs['transA']}), B {tuple(sb)} (transB={attrs['transB']})")
    return m, n


def _gemm_infer(types, attrs, values):
    a, b = types[0], types[1]
    m, n = _gemm_mk("Gemm", a.shape, b.shape, attrs)
    shape = None if a.shape is None or b.shape is None else (m, n)
    c = types[2] if len(types) > 2 else None
    if shape is not None and c is not None and c.shape is not None:
        full = broadcast_shapes("Gemm", shape, c.shape)
        if full is None or len(c.shape) > 2 or any(
                isinstance(d, int) and isinstance(e, int) and d != e
                for d, e in zip(full, shape)):
            raise ShapeError(f"Gemm: C {c.shape} does not broadcast to {shape}")
    return [TensorType(a.dtype, shape)]


def _gemm_grad(xp, inputs, outputs, douts, attrs):
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    dy = douts[0]
    at = a.T if attrs["transA"] else a
    bt = b.T if attrs["transB"] else b
    da = xp.matmul(dy, bt.T) * attrs["alpha"]
    db = xp.matmul(at.T, dy) * attrs["alpha"]
    grads = [(da.T if attrs["transA"] else da).astype(a.dtype),
             (db.T if attrs["transB"] else db).astype(b.dtype)]
    if len(inputs) > 2:
        grads.append(None if c is None or c.dtype.kind != "f"
                     else (unbroadcast(xp, dy, c.shape) * attrs["beta"]).astype(c.dtype))
    return grads


@defop("Gemm", pattern=Pattern.OUT_FUSABLE, infer=_gemm_infer, grad=_gemm_grad, since=6,
       adapt=_gemm_adapt, defaults={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
def _gemm(xp, inputs, attrs):
    """alpha * A' @ B' + beta * C, A' / B' optionally transposed, C broadcast to (M, N)."""
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    m, n = _gemm_mk("Gemm", a.shape, b.shape, attrs)
    at = a.T if attrs["transA"] else a
    bt = b.T if attrs["transB"] else b
    y = xp.matmul(at, bt)
    if attrs["alpha"] != 1.0:
        y = y * attrs["alpha"]
    if c is not None:
        if c.ndim > 2 or broadcast_shapes("Gemm", (m, n), c.shape) != (m, n):
            raise ShapeError(f"Gemm: C {c.shape} does not broadcast to {(m, n)}")
        y = y + (c * attrs["beta"] if attrs["beta"] != 1.0 else c)
    return [y.astype(a.dtype, copy=False)]


# ------------------------------------------------------------------ Einsum

def _parse_einsum(equation, ranks):
    """Explicit-form subscripts: (list of operand strings, output string), no '...'.

    An ellipsis becomes letters unused by the equation; the implicit form gets its
    output (letters used exactly once, sorted, after the ellipsis letters).
    """
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(f"Einsum: equation {equation!r} names {len(terms)} operands, "
                         f"got {len(ranks)}")
    free = [ch for ch in string.ascii_letters if ch not in eq]
    ell_rank = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t],
                   default=0)
    ell = "".join(free[:ell_rank])
    out_terms = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            k = r - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_rank - k:] if k else "")
        if len(t) != r:
            raise ShapeError(f"Einsum: term {t!r} does not fit an operand of rank {r}")
        out_terms.append(t)
    if "->" in eq:
        rhs = rhs.replace("...", ell)
    else:
        letters = "".join(out_terms)
        rhs = ell + "".join(sorted(ch for ch in set(letters) if letters.count(ch) == 1
                                   and ch not in ell))
    return out_terms, rhs


def _einsum_infer(types, attrs, values):
    if any(t.shape is None for t in types):
        return [TensorType(types[0].dtype, None)]
    terms, rhs = _parse_einsum(attrs["equation"], [len(t.shape) for t in types])
    sizes = {}
    for t, ty in zip(terms, types):
        for ch, d in zip(t, ty.shape):
            if isinstance(sizes.get(ch), int) and sizes[ch] != 1:
                if isinstance(d, int) and d not in (1, sizes[ch]):
                    raise ShapeError(f"Einsum: subscript {ch!r} has sizes {sizes[ch]} and {d}")
                continue
            if ch not in sizes or d != 1:
                sizes[ch] = d
    return [TensorType(types[0].dtype, tuple(sizes[ch] for ch in rhs))]


def _einsum_grad(xp, inputs, outputs, douts, attrs):
    terms, rhs = _parse_einsum(attrs["equation"], [x.ndim for x in inputs])
    sizes = {ch: d for t, x in zip(terms, inputs) for ch, d in zip(t, x.shape)}
    grads = []
    for i, (t, x) in enumerate(zip(terms, inputs)):
        if x.dtype.kind != "f":
            grads.append(None)
            continue
        if len(set(t)) != len(t):
            raise GradError(f"Einsum: no grad for the repeated subscripts of {t!r} "
                            f"in {attrs['equation']!r}")
        others = [(u, y) for j, (u, y) in enumerate(zip(terms, inputs)) if j != i]
        known = set(rhs).union(*[set(u) for u, _ in others])
        # letters summed only inside this operand: dy is constant along them
        kept = "".join(ch for ch in t if ch in known)
        spec = ",".join([rhs] + [u for u, _ in others]) + "->" + kept
        g = xp.einsum(spec, douts[0], *[y for _, y in others])
        if kept != t:
            shape = [sizes[ch] if ch in kept else 1 for ch in t]
            g = xp.broadcast_to(g.reshape(shape), x.shape)
        grads.append(unbroadcast(xp, g, x.shape).astype(x.dtype))
    return grads


@defop("Einsum", pattern=Pattern.OPAQUE, infer=_einsum_infer, grad=_einsum_grad, since=12)
def _einsum(xp, inputs, attrs):
    """Einstein summation as ``equation`` says (explicit or implicit form, '...')."""
    terms, rhs = _parse_einsum(attrs["equation"], [x.ndim for x in inputs])
    dtype = inputs[0].dtype
    if dtype.kind == "V":
        # extension floats (bfloat16) have no einsum loops: compute in float32
        inputs = [x.astype(np.float32) for x in inputs]
    try:
        return [xp.asarray(xp.einsum(",".join(terms) + "->" + rhs, *inputs)).astype(dtype)]
    except ValueError as e:
        raise ShapeError(f"Einsum {attrs['equation']!r} on shapes "
                         f"{[tuple(x.shape) for x in inputs]}: {e}") from None
