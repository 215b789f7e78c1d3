"""Sequence ops: tensor sequences built, read, edited, split into and concatenated.

At run time a sequence is a Python list of arrays (lists are never changed in
place: SequenceInsert and SequenceErase return new lists, so a list may be
shared between values).  ``infer`` gives :class:`SequenceType` results whose
element type covers every element: dims on which the elements may differ are
None, and the rank is unknown when it may differ.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.printer import format_type
from ..ir.types import DType, SequenceType, TensorType, is_tensor_type
from .base import as_int_list, check_int_operand, defop, norm_axis

_I64 = DType.INT64


# ------------------------------------------------------------------ helpers

def seq_type(op: str, t, what: str = "input_sequence"):
    """Operand type ``t`` as a SequenceType (None when unknown); DTypeError when
    it types something else (a tensor, an optional)."""
    if t is None or isinstance(t, SequenceType):
        return t
    raise DTypeError(f"{op}: {what} must be a sequence, got {format_type(t)}")


def tensor_type(op: str, t, what: str):
    """Operand type ``t`` when it types a tensor (None when unknown); DTypeError
    for a sequence or an optional."""
    if t is None or is_tensor_type(t):
        return t
    raise DTypeError(f"{op}: {what} must be a tensor, got {format_type(t)}")


def as_sequence(op: str, x, what: str = "input_sequence") -> list:
    """Run-time value ``x`` as a list; DTypeError for anything else."""
    if isinstance(x, (list, tuple)):
        return list(x)
    kind = "nothing" if x is None else f"a {type(x).__name__}"
    raise DTypeError(f"{op}: {what} must be a sequence (a list of tensors), got {kind}")


def as_tensor(op: str, x, what: str):
    """Run-time value ``x`` when it is an array; DTypeError for a list or None."""
    if x is None or isinstance(x, (list, tuple)):
        kind = "nothing" if x is None else "a sequence"
        raise DTypeError(f"{op}: {what} must be a tensor, got {kind}")
    return x


def join_types(op: str, a, b):
    """The element type covering tensors of types ``a`` and ``b`` (either None:
    unknown); DTypeError when their dtypes differ."""
    if a is None or b is None:
        return None
    if a.dtype != b.dtype:
        raise DTypeError(f"{op}: a sequence holds tensors of one dtype, got "
                         f"{format_type(a)} and {format_type(b)}")
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorType(a.dtype, None)
    return TensorType(a.dtype, tuple(d if d == e else None for d, e in zip(a.shape, b.shape)))


def _check_elem_dtype(op: str, seq: list, x) -> None:
    """DTypeError unless tensor ``x`` has the dtype of the elements of ``seq``."""
    for e in seq[:1]:
        if not isinstance(e, (list, tuple)) and e.dtype != x.dtype:
            raise DTypeError(f"{op}: a sequence of {e.dtype} tensors cannot take a "
                             f"{x.dtype} tensor")


def _position(op: str, p, n: int, upper: int) -> int:
    """Position tensor ``p`` (a scalar or one element) as an index in [0, upper];
    the accepted range is [-n, upper]."""
    p = as_tensor(op, p, "position")
    if p.dtype.kind not in "iu":
        raise DTypeError(f"{op}: position must be i32 or i64, got {p.dtype}")
    if p.size != 1 or p.ndim > 1:
        raise ShapeError(f"{op}: position must be a scalar, got shape {list(p.shape)}")
    k = int(p.reshape(()))
    if not -n <= k <= upper:
        raise ShapeError(f"{op}: position {k} is out of range [{-n}, {upper}] for a "
                         f"sequence of {n} tensor(s)")
    return k + n if k < 0 else k


def _check_position_type(op: str, t) -> None:
    t = tensor_type(op, t, "position")
    check_int_operand(op, "position", t)
    if t is not None and t.shape is not None and (
            len(t.shape) > 1 or any(isinstance(d, int) and d != 1 for d in t.shape)):
        raise ShapeError(f"{op}: position must be a scalar, got {format_type(t)}")


# ------------------------------------------------------------------ construct / empty

def _construct_infer(types, attrs, values):
    op = "SequenceConstruct"
    ts = [tensor_type(op, t, f"input {i}") for i, t in enumerate(types)]
    if not ts:
        raise ShapeError(f"{op}: needs at least one tensor")
    elem = ts[0]
    for t in ts[1:]:
        if elem is not None and t is not None and elem.dtype != t.dtype:
            join_types(op, elem, t)  # raises, naming both
        elem = join_types(op, elem, t)
    return [SequenceType(elem)]


@defop("SequenceConstruct", infer=_construct_infer, since=11, num_outputs=1)
def sequence_construct(xp, inputs, attrs):
    """The sequence of the input tensors, in order (all of one dtype)."""
    op = "SequenceConstruct"
    if not inputs:
        raise ShapeError(f"{op}: needs at least one tensor")
    xs = [as_tensor(op, x, f"input {i}") for i, x in enumerate(inputs)]
    for i, x in enumerate(xs[1:], 1):
        if x.dtype != xs[0].dtype:
            raise DTypeError(f"{op}: a sequence holds tensors of one dtype, input 0 is "
                             f"{xs[0].dtype}, input {i} {x.dtype}")
    return [xs]


def _empty_infer(types, attrs, values):
    return [SequenceType(TensorType(_elem_dtype(attrs), None))]


def _elem_dtype(attrs) -> DType:
    code = attrs.get("dtype")
    try:
        return DType(int(code)) if code is not None else DType.FLOAT
    except ValueError:
        raise DTypeError(f"SequenceEmpty: dtype {code} is not an ONNX element type") from None


@defop("SequenceEmpty", infer=_empty_infer, since=11)
def sequence_empty(xp, inputs, attrs):
    """An empty sequence (of ``dtype`` tensors, float by default)."""
    _elem_dtype(attrs)
    return [[]]


# ------------------------------------------------------------------ read

def _at_infer(types, attrs, values):
    s = seq_type("SequenceAt", types[0])
    _check_position_type("SequenceAt", types[1] if len(types) > 1 else None)
    return [None if s is None else s.elem]


@defop("SequenceAt", infer=_at_infer, since=11)
def sequence_at(xp, inputs, attrs):
    """The tensor at ``position`` (negative: from the back)."""
    seq = as_sequence("SequenceAt", inputs[0])
    if len(inputs) < 2 or inputs[1] is None:
        raise ShapeError("SequenceAt: needs a position")
    return [seq[_position("SequenceAt", inputs[1], len(seq), len(seq) - 1)]]


def _length_infer(types, attrs, values):
    seq_type("SequenceLength", types[0])
    return [TensorType(_I64, ())]


@defop("SequenceLength", infer=_length_infer, since=11)
def sequence_length(xp, inputs, attrs):
    """How many tensors the sequence holds, as an int64 scalar."""
    return [xp.asarray(len(as_sequence("SequenceLength", inputs[0])), dtype=np.int64)]


# ------------------------------------------------------------------ edit

def _insert_infer(types, attrs, values):
    op = "SequenceInsert"
    s = seq_type(op, types[0])
    t = tensor_type(op, types[1] if len(types) > 1 else None, "tensor")
    if len(types) > 2:
        _check_position_type(op, types[2])
    if s is None:
        return [None]
    if s.elem is not None and t is not None and s.elem.dtype != t.dtype:
        join_types(op, s.elem, t)  # raises, naming both
    elem = s.elem if t is None else join_types(op, s.elem, t) if s.elem is not None else None
    return [SequenceType(elem)]


@defop("SequenceInsert", infer=_insert_infer, since=11)
def sequence_insert(xp, inputs, attrs):
    """A new sequence: ``tensor`` inserted before ``position`` (default: at the end)."""
    op = "SequenceInsert"
    seq = as_sequence(op, inputs[0])
    x = as_tensor(op, inputs[1] if len(inputs) > 1 else None, "tensor")
    _check_elem_dtype(op, seq, x)
    p = inputs[2] if len(inputs) > 2 else None
    k = len(seq) if p is None else _position(op, p, len(seq), len(seq))
    return [seq[:k] + [x] + seq[k:]]


def _erase_infer(types, attrs, values):
    s = seq_type("SequenceErase", types[0])
    if len(types) > 1:
        _check_position_type("SequenceErase", types[1])
    return [s]


@defop("SequenceErase", infer=_erase_infer, since=11)
def sequence_erase(xp, inputs, attrs):
    """A new sequence without the tensor at ``position`` (default: the last one)."""
    op = "SequenceErase"
    seq = as_sequence(op, inputs[0])
    if not seq:
        raise ShapeError(f"{op}: cannot erase from an empty sequence")
    p = inputs[1] if len(inputs) > 1 else None
    k = len(seq) - 1 if p is None else _position(op, p, len(seq), len(seq) - 1)
    return [seq[:k] + seq[k + 1:]]


# ------------------------------------------------------------------ split / concat

def _chunk_dim(dim, split, keepdims: int):
    """The elements' size on the split axis (None: they may differ); the axis
    itself goes (the marker ``...``) when ``split`` is absent and not ``keepdims``."""
    if split is None:
        return 1 if keepdims else ...
    sizes = as_int_list(split)
    # a scalar chunk length must be positive; listed lengths may be 0 (as
    # onnxruntime and onnx's reference allow: empty chunks)
    if any(s <= 0 if np.ndim(split) == 0 else s < 0 for s in sizes):
        raise ShapeError(f"SplitToSequence: bad split lengths {sizes}")
    if np.ndim(split) == 0:
        return sizes[0] if isinstance(dim, int) and dim % sizes[0] == 0 else None
    return sizes[0] if sizes and all(s == sizes[0] for s in sizes) else None


def _split_infer(types, attrs, values):
    op = "SplitToSequence"
    x = tensor_type(op, types[0], "input")
    st = tensor_type(op, types[1], "split") if len(types) > 1 else None
    check_int_operand(op, "split", st)
    if st is not None and st.shape is not None and len(st.shape) > 1:
        raise ShapeError(f"{op}: split must be a scalar or 1-D, got {format_type(st)}")
    if x is None:
        return [SequenceType(None)]
    if x.shape is None:
        return [SequenceType(TensorType(x.dtype, None))]
    axis = norm_axis(int(attrs.get("axis", 0)), len(x.shape), op)
    has_split = len(types) > 1 and types[1] is not None
    split = values[1] if has_split and len(values) > 1 else None
    if has_split and split is None:
        d = None
    else:
        d = _chunk_dim(x.shape[axis], split, int(attrs.get("keepdims", 1)))
    shape = list(x.shape)
    if d is ...:
        del shape[axis]
    else:
        shape[axis] = d
    return [SequenceType(TensorType(x.dtype, tuple(shape)))]


@defop("SplitToSequence", infer=_split_infer, since=11, defaults={"axis": 0, "keepdims": 1})
def split_to_sequence(xp, inputs, attrs):
    """``input`` cut along ``axis`` into chunks of 1 (the axis dropped unless
    ``keepdims``), of a scalar ``split`` (the last one shorter), or of the
    lengths a 1-D ``split`` lists."""
    op = "SplitToSequence"
    x = as_tensor(op, inputs[0], "input")
    if x.ndim == 0:
        raise ShapeError(f"{op}: cannot split a scalar")
    axis = norm_axis(int(attrs["axis"]), x.ndim, op)
    n = x.shape[axis]
    split = inputs[1] if len(inputs) > 1 else None
    if split is None:
        if not attrs["keepdims"]:
            return [[xp.take(x, i, axis=axis) for i in range(n)]]
        sizes = [1] * n
    else:
        split = as_tensor(op, split, "split")
        if split.dtype.kind not in "iu":
            raise DTypeError(f"{op}: split must be i32 or i64, got {split.dtype}")
        if split.ndim > 1:
            raise ShapeError(f"{op}: split must be a scalar or 1-D, got shape "
                             f"{list(split.shape)}")
        sizes = as_int_list(split.get() if hasattr(split, "get") else split)
        if any(s <= 0 if split.ndim == 0 else s < 0 for s in sizes):
            raise ShapeError(f"{op}: split lengths must be positive (a scalar) or not "
                             f"negative (a list), got {sizes}")
        if split.ndim == 0:
            k = sizes[0]
            sizes = [k] * (n // k) + ([n % k] if n % k else [])
        elif sum(sizes) != n:
            raise ShapeError(f"{op}: split lengths {sizes} do not add up to {n}, the "
                             f"size of axis {axis} of shape {list(x.shape)}")
    bounds = np.cumsum([0] + sizes)
    index = [slice(None)] * x.ndim
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(int(a), int(b))
        out.append(x[tuple(index)])
    return [out]


def _require_axis(attrs, op: str = "ConcatFromSequence") -> None:
    if attrs.get("axis") is None:
        raise ShapeError(f"{op}: the axis attribute is required")


def _concat_axis(attrs, rank: int, op: str = "ConcatFromSequence") -> int:
    """The result axis (new_axis: one past the elements' rank is allowed)."""
    _require_axis(attrs, op)
    return norm_axis(int(attrs["axis"]), rank + (1 if attrs.get("new_axis", 0) else 0), op)


def _concat_infer(types, attrs, values):
    op = "ConcatFromSequence"
    s = seq_type(op, types[0])
    if s is None or s.elem is None:
        return [None]
    elem = tensor_type(op, s.elem, "an element of input_sequence")
    if elem.shape is None:  # the rank is unknown: the axis cannot be checked yet
        _require_axis(attrs)
        return [TensorType(elem.dtype, None)]
    axis = _concat_axis(attrs, len(elem.shape))
    shape = list(elem.shape)
    if attrs.get("new_axis", 0):
        shape.insert(axis, None)
    else:
        shape[axis] = None
    return [TensorType(elem.dtype, tuple(shape))]


@defop("ConcatFromSequence", infer=_concat_infer, since=11, defaults={"new_axis": 0})
def concat_from_sequence(xp, inputs, attrs):
    """The sequence's tensors joined along ``axis`` (``new_axis``: stacked on a new
    axis there)."""
    op = "ConcatFromSequence"
    seq = as_sequence(op, inputs[0])
    if not seq:
        raise ShapeError(f"{op}: cannot concatenate an empty sequence")
    xs = [as_tensor(op, x, f"element {i}") for i, x in enumerate(seq)]
    axis = _concat_axis(attrs, xs[0].ndim)
    shapes = {tuple(x.shape[:axis] + x.shape[axis + 1:]) if not attrs["new_axis"]
              else tuple(x.shape) for x in xs}
    if len({x.ndim for x in xs}) != 1 or len(shapes) != 1:
        raise ShapeError(f"{op}: elements of shapes {[list(x.shape) for x in xs]} do not "
                         f"{'stack' if attrs['new_axis'] else 'concatenate'} on axis "
                         f"{attrs['axis']}")
    if len({x.dtype for x in xs}) != 1:
        raise DTypeError(f"{op}: elements of dtypes {sorted({str(x.dtype) for x in xs})}")
    if attrs["new_axis"]:
        return [xp.stack(xs, axis=axis)]
    if xs[0].ndim == 0:
        raise ShapeError(f"{op}: cannot concatenate scalars (new_axis=0)")
    return [xp.concatenate(xs, axis=axis)]
