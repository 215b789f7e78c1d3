"""Shape manipulation: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Expand, Tile,
Concat, Split, DepthToSpace, SpaceToDepth (Pad lives in pad.py).

Grads are given for the data input; shape-carrying inputs (int64) get None.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from .base import (Pattern, as_int_list, broadcast_shapes, check_alloc, check_int_operand, defop,
                   norm_axis, unbroadcast)


def attr_to_input(*names_at):
    """adapt(): move attributes that later became inputs (name, input index) there."""

    def adapt(attrs, opset):
        attrs = dict(attrs)
        extra = {}
        for name, idx, dtype in names_at:
            if name in attrs:
                val = attrs.pop(name)
                if val is not None:
                    extra[idx] = np.array(val, dtype)
        return attrs, extra

    return adapt


def dim_product(dims):
    """Product of dims that may hold symbols: an int, a lone symbol, or None."""
    out, sym = 1, None
    for d in dims:
        if isinstance(d, int):
            out *= d
        elif d is None or sym is not None:
            return None if out != 0 else 0
        else:
            sym = d
    if sym is None:
        return out
    return sym if out == 1 else (0 if out == 0 else None)


def _reshape_grad(xp, inputs, outputs, douts, attrs):
    return [douts[0].reshape(inputs[0].shape)] + [None] * (len(inputs) - 1)


# ------------------------------------------------------------------ Reshape

def _reshape_target(op, in_shape, shape, allowzero):
    """Output dims of Reshape from the input dims (ints or symbols) and the shape value."""
    out = []
    for i, s in enumerate(shape):
        if s == 0 and not allowzero:
            if i >= len(in_shape):
                raise ShapeError(f"{op}: 0 at position {i} but the input {tuple(in_shape)} "
                                 f"has rank {len(in_shape)}")
            out.append(in_shape[i])
        elif s < -1:
            raise ShapeError(f"{op}: invalid target dim {s} in {list(shape)}")
        else:
            out.append(s)
    if out.count(-1) > 1:
        raise ShapeError(f"{op}: more than one -1 in {list(shape)}")
    if -1 in out:
        # cancel equal symbols on both sides, then divide the int parts
        rest = list(in_shape)
        ints = 1
        for d in out:
            if d == -1:
                continue
            if isinstance(d, int):
                ints *= d
            elif d in rest:
                rest.remove(d)
            else:
                return [None if d == -1 else d for d in out]
        if None in rest:
            val = None
        else:
            syms = [d for d in rest if not isinstance(d, int)]
            num = int(np.prod([d for d in rest if isinstance(d, int)], dtype=np.int64))
            if not syms:
                if ints == 0 or num % ints:
                    raise ShapeError(f"{op}: cannot reshape {tuple(in_shape)} to {list(shape)}")
                val = num // ints
            else:
                val = syms[0] if len(syms) == 1 and num == ints else None
        out = [val if d == -1 else d for d in out]
    else:
        a, b = dim_product(list(in_shape)), dim_product(out)
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise ShapeError(f"{op}: cannot reshape {tuple(in_shape)} to {list(shape)}")
    return out


def _reshape_infer(types, attrs, values):
    x, s = types[0], types[1]
    check_int_operand("Reshape", "the shape", s, ("INT64",))
    shape = values[1] if len(values) > 1 else None
    if shape is None:
        rank = s.shape[0] if s.shape is not None and len(s.shape) == 1 else None
        return [TensorType(x.dtype, (None,) * rank if isinstance(rank, int) else None)]
    shape = as_int_list(shape)
    if x.shape is None:
        dims = [None if (d == 0 and not attrs["allowzero"]) or d == -1 else d for d in shape]
        return [TensorType(x.dtype, tuple(dims))]
    return [TensorType(x.dtype, tuple(_reshape_target("Reshape", x.shape, shape,
                                                      attrs["allowzero"])))]


@defop("Reshape", pattern=Pattern.INJECTIVE, infer=_reshape_infer, grad=_reshape_grad, since=1,
       adapt=attr_to_input(("shape", 1, np.int64)), defaults={"allowzero": 0})
def _reshape(xp, inputs, attrs):
    """x with the dims of input 1: 0 copies the input dim (unless allowzero), -1 is inferred."""
    x, shape = inputs[0], as_int_list(inputs[1])
    return [x.reshape(_reshape_target("Reshape", x.shape, shape, attrs["allowzero"]))]


# ------------------------------------------------------------------ Flatten

def _flatten_axis(axis, rank):
    """Flatten's axis lies in [-rank, rank]; negatives count from the back (+rank)."""
    if not -rank <= axis <= rank:
        raise ShapeError(f"Flatten: axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _flatten_infer(types, attrs, values):
    x = types[0]
    if x.shape is None:
        return [TensorType(x.dtype, (None, None))]
    axis = _flatten_axis(attrs["axis"], len(x.shape))
    return [TensorType(x.dtype, (dim_product(x.shape[:axis]), dim_product(x.shape[axis:])))]


@defop("Flatten", pattern=Pattern.INJECTIVE, infer=_flatten_infer, grad=_reshape_grad, since=1,
       defaults={"axis": 1})
def _flatten(xp, inputs, attrs):
    """x as a matrix: dims before ``axis`` form the rows, the rest the columns."""
    x = inputs[0]
    axis = _flatten_axis(attrs["axis"], x.ndim)
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    cols = int(np.prod(x.shape[axis:], dtype=np.int64))
    return [x.reshape(rows, cols)]


# ------------------------------------------------------------------ Transpose

def _perm(attrs, rank):
    perm = attrs.get("perm")
    if perm is None or len(perm) == 0:
        return list(range(rank))[::-1]
    if sorted(norm_axis(p, rank, "Transpose") for p in perm) != list(range(rank)):
        raise ShapeError(f"Transpose: perm {list(perm)} is no permutation of rank {rank}")
    return [norm_axis(p, rank) for p in perm]


def _transpose_infer(types, attrs, values):
    x = types[0]
    if x.shape is None:
        perm = attrs.get("perm")
        return [TensorType(x.dtype, (None,) * len(perm) if perm else None)]
    return [TensorType(x.dtype, tuple(x.shape[p] for p in _perm(attrs, len(x.shape))))]


def _transpose_grad(xp, inputs, outputs, douts, attrs):
    perm = _perm(attrs, inputs[0].ndim)
    return [xp.transpose(douts[0], list(np.argsort(perm)))]


@defop("Transpose", pattern=Pattern.INJECTIVE, infer=_transpose_infer, grad=_transpose_grad,
       since=1)
def _transpose(xp, inputs, attrs):
    """Axes permuted by ``perm`` (default: reversed)."""
    return [xp.transpose(inputs[0], _perm(attrs, inputs[0].ndim))]


# ------------------------------------------------------------------ Squeeze / Unsqueeze

def _squeeze_axes(op, shape, axes):
    if not axes:
        if any(not isinstance(d, int) for d in shape):
            return None  # which dims are 1 is unknown
        return [i for i, d in enumerate(shape) if d == 1]
    axes = sorted({norm_axis(a, len(shape), op) for a in axes})
    for a in axes:
        if isinstance(shape[a], int) and shape[a] != 1:
            raise ShapeError(f"{op}: axis {a} of shape {tuple(shape)} is not 1")
    return axes


def _squeeze_infer(types, attrs, values):
    x = types[0]
    has_axes = len(types) > 1 and types[1] is not None
    if x.shape is None or (has_axes and values[1] is None):
        return [TensorType(x.dtype, None)]
    axes = _squeeze_axes("Squeeze", x.shape, as_int_list(values[1]) if has_axes else [])
    if axes is None:
        return [TensorType(x.dtype, None)]
    return [TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]


@defop("Squeeze", pattern=Pattern.INJECTIVE, infer=_squeeze_infer, grad=_reshape_grad, since=1,
       adapt=attr_to_input(("axes", 1, np.int64)))
def _squeeze(xp, inputs, attrs):
    """x without the size-1 dims listed in ``axes`` (input 1; all size-1 dims if absent)."""
    x = inputs[0]
    axes = _squeeze_axes("Squeeze", x.shape, as_int_list(inputs[1] if len(inputs) > 1 else None))
    return [x.reshape([d for i, d in enumerate(x.shape) if i not in axes])]


def _unsqueeze_shape(op, shape, axes):
    rank = len(shape) + len(axes)
    norm = sorted({norm_axis(a, rank, op) for a in axes})
    if len(norm) != len(axes):
        raise ShapeError(f"{op}: repeated axes {list(axes)} for output rank {rank}")
    axes = norm
    it = iter(shape)
    return tuple(1 if i in axes else next(it) for i in range(rank))


def _unsqueeze_infer(types, attrs, values):
    x = types[0]
    if x.shape is None or values[1] is None:
        return [TensorType(x.dtype, None)]
    return [TensorType(x.dtype, _unsqueeze_shape("Unsqueeze", x.shape, as_int_list(values[1])))]


@defop("Unsqueeze", pattern=Pattern.INJECTIVE, infer=_unsqueeze_infer, grad=_reshape_grad,
       since=1, adapt=attr_to_input(("axes", 1, np.int64)))
def _unsqueeze(xp, inputs, attrs):
    """x with size-1 dims inserted at ``axes`` (input 1, positions in the output)."""
    x = inputs[0]
    return [x.reshape(_unsqueeze_shape("Unsqueeze", x.shape, as_int_list(inputs[1])))]


# ------------------------------------------------------------------ Expand / Tile

def _expand_infer(types, attrs, values):
    x = types[0]
    if values[1] is None:
        return [TensorType(x.dtype, None)]
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    target = tuple(as_int_list(values[1]))
    return [TensorType(x.dtype, broadcast_shapes("Expand", x.shape, target))]


def _expand_grad(xp, inputs, outputs, douts, attrs):
    return [unbroadcast(xp, douts[0], inputs[0].shape), None]


@defop("Expand", pattern=Pattern.BROADCAST, infer=_expand_infer, grad=_expand_grad, since=8,
       cuda="({0})")  # operand 1 is the shape: the kernel reads x broadcast
def _expand(xp, inputs, attrs):
    """x broadcast (both ways) with the shape of input 1."""
    x, shape = inputs
    out = broadcast_shapes("Expand", x.shape, tuple(as_int_list(shape)))
    check_alloc("Expand", out, x.dtype)
    return [xp.broadcast_to(x, out).copy()]


def _tile_infer(types, attrs, values):
    x = types[0]
    if x.shape is None or values[1] is None:
        return [TensorType(x.dtype, None if x.shape is None else (None,) * len(x.shape))]
    reps = as_int_list(values[1])
    return [TensorType(x.dtype, tuple(d * r if isinstance(d, int) else (d if r == 1 else None)
                                      for d, r in zip(x.shape, reps)))]


def _tile_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    reps = as_int_list(inputs[1])
    split = []
    for r, d in zip(reps, x.shape):
        split += [r, d]
    g = douts[0].reshape(split).sum(axis=tuple(range(0, 2 * x.ndim, 2)))
    return [g.astype(x.dtype, copy=False), None]


@defop("Tile", pattern=Pattern.INJECTIVE, infer=_tile_infer, grad=_tile_grad, since=6)
def _tile(xp, inputs, attrs):
    """x repeated ``repeats[i]`` times along each axis i."""
    x, reps = inputs[0], as_int_list(inputs[1])
    if len(reps) != x.ndim or any(r < 0 for r in reps):
        raise ShapeError(f"Tile: repeats {reps} do not fit input of shape {x.shape}")
    check_alloc("Tile", [d * r for d, r in zip(x.shape, reps)], x.dtype)
    return [xp.tile(x, reps)]


# ------------------------------------------------------------------ Concat / Split

def _concat_infer(types, attrs, values):
    dtypes = {t.dtype for t in types if t.dtype is not None}
    if len(dtypes) > 1:
        raise DTypeError(f"Concat: inputs have different dtypes "
                         f"{[t.dtype.short for t in types]}")
    ranks = {len(t.shape) for t in types if t.shape is not None}
    if not ranks:
        return [TensorType(types[0].dtype, None)]
    if len(ranks) > 1:
        raise ShapeError(f"Concat: inputs of ranks {sorted(ranks)}")
    rank = ranks.pop()
    axis = norm_axis(attrs["axis"], rank, "Concat")
    out = []
    for i in range(rank):
        dims = [None if t.shape is None else t.shape[i] for t in types]
        if i == axis:
            out.append(sum(dims) if all(isinstance(d, int) for d in dims) else None)
        else:
            known = [d for d in dims if d is not None]
            out.append(known[0] if known else None)
    return [TensorType(types[0].dtype, tuple(out))]


def _concat_grad(xp, inputs, outputs, douts, attrs):
    axis = norm_axis(attrs["axis"], inputs[0].ndim)
    bounds = np.cumsum([x.shape[axis] for x in inputs])[:-1]
    parts = xp.split(douts[0], [int(b) for b in bounds], axis=axis)
    return [p if x.dtype.kind == "f" else None for p, x in zip(parts, inputs)]


def _concat_adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 4:
        attrs.setdefault("axis", 1)  # Concat-1's default
    return attrs, {}


def _concat_axis(inputs, attrs) -> int:
    rank = inputs[0].ndim
    axis = norm_axis(attrs["axis"], rank, "Concat")
    for x in inputs:
        if x.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(x.shape, inputs[0].shape))
                                 if i != axis):
            raise ShapeError(f"Concat: shapes {[tuple(y.shape) for y in inputs]} differ "
                             f"outside axis {axis}")
    return axis


def _concat_into(xp, inputs, attrs, out):
    return [xp.concatenate(inputs, axis=_concat_axis(inputs, attrs), out=out)]


@defop("Concat", pattern=Pattern.INJECTIVE, infer=_concat_infer, grad=_concat_grad, since=1,
       adapt=_concat_adapt, into=_concat_into)
def _concat(xp, inputs, attrs):
    """The inputs joined along ``axis``."""
    return [xp.concatenate(inputs, axis=_concat_axis(inputs, attrs))]


def _split_sizes(op, dim, split, attrs):
    n = attrs.get("_num_outputs")
    if split:
        if isinstance(dim, int) and sum(split) != dim:
            raise ShapeError(f"{op}: split {split} does not sum to the axis size {dim}")
        return list(split)
    if attrs.get("num_outputs"):
        if not isinstance(dim, int):
            return [None] * int(attrs["num_outputs"])
        k = int(attrs["num_outputs"])
        chunk = -(-dim // k)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(k)]
        return sizes
    if n is None:
        raise ShapeError(f"{op}: the number of outputs is unknown: give `split`, "
                         "`num_outputs` or the internal `_num_outputs`")
    if not isinstance(dim, int):
        return [None] * int(n)
    if dim % int(n):
        raise ShapeError(f"{op}: axis size {dim} does not split into {n} equal parts")
    return [dim // int(n)] * int(n)


def _split_infer(types, attrs, values):
    x = types[0]
    has_split = len(types) > 1 and types[1] is not None
    split = as_int_list(values[1]) if has_split and values[1] is not None else []
    n = (len(split) or attrs.get("num_outputs") or attrs.get("_num_outputs")
         or (types[1].shape[0] if has_split and types[1].shape else None))
    if x.shape is None or (has_split and values[1] is None):
        shape = None if x.shape is None else (None,) * len(x.shape)
        return [TensorType(x.dtype, shape)] * int(n or 1)
    axis = norm_axis(attrs["axis"], len(x.shape), "Split")
    sizes = _split_sizes("Split", x.shape[axis], split, attrs)
    return [TensorType(x.dtype, x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]


def _split_grad(xp, inputs, outputs, douts, attrs):
    axis = norm_axis(attrs["axis"], inputs[0].ndim)
    return [xp.concatenate(douts, axis=axis)] + [None] * (len(inputs) - 1)


@defop("Split", pattern=Pattern.INJECTIVE, infer=_split_infer, grad=_split_grad, since=2,
       num_outputs=None, adapt=attr_to_input(("split", 1, np.int64)), defaults={"axis": 0})
def _split(xp, inputs, attrs):
    """x cut along ``axis`` by ``split`` (input 1), ``num_outputs`` or equal parts.

    The node's number of outputs varies, so ``attrs["_num_outputs"]`` (set by the
    caller to the node's output count) decides the parts when neither ``split`` nor
    ``num_outputs`` does.  ``num_outputs`` (opset 18) makes parts of ceil(size / n),
    the last one smaller.
    """
    x = inputs[0]
    axis = norm_axis(attrs["axis"], x.ndim, "Split")
    split = as_int_list(inputs[1] if len(inputs) > 1 else None)
    sizes = _split_sizes("Split", x.shape[axis], split, attrs)
    bounds = np.cumsum(sizes)[:-1]
    return list(xp.split(x, [int(b) for b in bounds], axis=axis))


# ------------------------------------------------------------------ DepthToSpace / SpaceToDepth

def _d2s_plan(shape, attrs, inverse):
    """(split shape, perm, final shape) of DepthToSpace (or SpaceToDepth if inverse)."""
    b = attrs["blocksize"]
    n, c, h, w = shape
    if not inverse:
        if c % (b * b):
            raise ShapeError(f"DepthToSpace: channels {c} not divisible by blocksize^2 {b * b}")
        c2, final = c // (b * b), (n, c // (b * b), h * b, w * b)
        if attrs.get("mode", "DCR") == "CRD":
            return (n, c2, b, b, h, w), (0, 1, 4, 2, 5, 3), final
        return (n, b, b, c2, h, w), (0, 3, 4, 1, 5, 2), final
    if h % b or w % b:
        raise ShapeError(f"SpaceToDepth: spatial dims {(h, w)} not divisible by blocksize {b}")
    perm = (0, 1, 3, 5, 2, 4) if attrs.get("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
    return (n, c, h // b, b, w // b, b), perm, (n, c * b * b, h // b, w // b)


def _d2s_register(name, inverse):
    def compute(xp, inputs, attrs):
        x = inputs[0]
        if x.ndim != 4:
            raise ShapeError(f"{name}: input must be 4-D, got {x.shape}")
        split, perm, final = _d2s_plan(x.shape, attrs, inverse)
        return [xp.transpose(x.reshape(split), perm).reshape(final)]

    def grad(xp, inputs, outputs, douts, attrs):
        x = inputs[0]
        split, perm, final = _d2s_plan(x.shape, attrs, inverse)
        moved = tuple(split[p] for p in perm)
        return [xp.transpose(douts[0].reshape(moved), list(np.argsort(perm))).reshape(x.shape)]

    def infer(types, attrs, values):
        x = types[0]
        if x.shape is None:
            return [TensorType(x.dtype, (None,) * 4)]
        b = attrs["blocksize"]
        n, c, h, w = x.shape
        mul = (lambda d: d * b if isinstance(d, int) else None)
        div = (lambda d, k: d // k if isinstance(d, int) else None)
        if inverse:
            shape = (n, c * b * b if isinstance(c, int) else None, div(h, b), div(w, b))
        else:
            shape = (n, div(c, b * b), mul(h), mul(w))
        return [TensorType(x.dtype, shape)]

    compute.__doc__ = f"{name} with block size ``blocksize``."
    defop(name, pattern=Pattern.INJECTIVE, infer=infer, grad=grad, since=1,
          defaults={"mode": "DCR"})(compute)


_d2s_register("DepthToSpace", False)
_d2s_register("SpaceToDepth", True)
