"""How Tensor's operators prepare their operands and write results in place.

SINGA's type rule for binary ops (:func:`_coerce`), 0/1 comparisons, index bounds, and the
in-place writes behind ``+=``, ``ret=`` / ``out=`` and the flat copies.  Private
to ``singa.tensor`` and ``singa.tensor_functions``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import DTypeError, ShapeError
from .tensor import Tensor, _ops, float32

# SINGA's as_type accepts these names; its 'int' is kInt, a 32-bit integer.
_SINGA_TYPE_NAMES = {"int": np.int32, "float": np.float32}


def _resolve_dtype(dtype) -> np.dtype:
    """A NumPy dtype from SINGA's names ('int', 'float') or anything ``np.dtype`` accepts."""
    if isinstance(dtype, str) and dtype in _SINGA_TYPE_NAMES:
        return np.dtype(_SINGA_TYPE_NAMES[dtype])
    try:
        return np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"unknown data type {dtype!r}: use 'int', 'float' or a NumPy dtype "
                         "such as tensor.float32") from None


def _int64_tensor(values, like: Tensor) -> Tensor:
    return Tensor(device=like.device, data=np.asarray(list(values), dtype=np.int64),
                  requires_grad=False)


def _is_scalar(x) -> bool:
    return isinstance(x, (numbers.Number, np.generic))


def _is_operand(x) -> bool:
    return isinstance(x, (Tensor, np.ndarray, list, tuple)) or _is_scalar(x)


def _as_operand(x, like: Tensor):
    """Tensors and scalars as they are; arrays and lists as constant tensors on ``like``'s device."""
    if isinstance(x, Tensor) or _is_scalar(x):
        return x
    if isinstance(x, (np.ndarray, list, tuple)):
        return Tensor(device=like.device, data=np.asarray(x), requires_grad=False)
    raise DTypeError(f"cannot combine a Tensor with {type(x).__name__}")


def _common_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    floats = [d for d in (a, b) if d.kind in "fc"]
    return floats[0] if len(floats) == 1 else np.result_type(a, b)


def _coerce(a, b):
    """The operands of a binary op converted by SINGA's rule.

    Two tensors of different dtypes meet in the float one's dtype (or NumPy's
    common type when both are floats or both integers); an integer or bool
    tensor meeting a float scalar becomes float32.  Other scalars take the
    tensor's dtype when the op runs.
    """
    like = a if isinstance(a, Tensor) else b
    a, b = _as_operand(a, like), _as_operand(b, like)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.dtype != b.dtype:
            dt = _common_dtype(a.dtype, b.dtype)
            a = a if a.dtype == dt else _cast(a, dt)
            b = b if b.dtype == dt else _cast(b, dt)
        return a, b
    if isinstance(a, Tensor):
        return _float_for_scalar(a, b), b
    return a, _float_for_scalar(b, a)


def _float_for_scalar(t: Tensor, scalar) -> Tensor:
    """``t`` as float32 when it is an integer or bool tensor and ``scalar`` is a float."""
    if isinstance(scalar, (float, np.floating)) and t.dtype.kind not in "fc":
        return _cast(t, float32)
    return t


def _binary(fn, a, b) -> Tensor:
    a, b = _coerce(a, b)
    return fn(a, b)


def _compare(op: str, a, b, negate=False) -> Tensor:
    """Table comparison ``op`` (optionally negated) as 0/1 in the coerced operands' dtype."""
    a, b = _coerce(a, b)
    dt = (a if isinstance(a, Tensor) else b).dtype
    mask = _ops().apply(op, [a, b])[0]
    if negate:
        mask = _ops().apply("Not", [mask])[0]
    return mask if dt == np.bool_ else _cast(mask, dt)


def _cast(t: Tensor, dtype) -> Tensor:
    # apply, not autograd.cast: SINGA's cast takes its own type codes (0, 2)
    from .ir.types import DType
    return _ops().apply("Cast", [t], {"to": DType.from_np(dtype).value})[0]


def _floor(t: Tensor) -> Tensor:
    # integer division already truncated; Floor is for floats only
    return t if t.dtype.kind not in "fc" else _ops().apply("Floor", [t])[0]


def _slice_bounds(shape: tuple, key) -> tuple:
    """Slice's (starts, ends, axes, steps) for ``Tensor.__getitem__``'s key on ``shape``.

    Integers keep their axis (start i, end i + 1), as SINGA 3.1's indexing does.
    """
    keys = key if isinstance(key, tuple) else (key,)
    if len(keys) > len(shape):
        raise ShapeError(f"Tensor index {key!r} has {len(keys)} entries; "
                         f"the tensor has shape {shape}")
    starts, ends, steps = [], [], []
    for axis, (k, dim) in enumerate(zip(keys, shape)):
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            i = int(k) + dim if k < 0 else int(k)
            if not 0 <= i < dim:
                raise ShapeError(f"index {int(k)} is out of range for axis {axis} of "
                                 f"tensor shape {shape}")
            starts.append(i), ends.append(i + 1), steps.append(1)
        elif isinstance(k, slice):
            start, stop, step = k.indices(dim)
            # indices() says "before element 0" with -1, which Slice would read as dim - 1
            starts.append(start), ends.append(stop if stop >= 0 else -dim - 1)
            steps.append(step)
        else:
            raise DTypeError(f"Tensor index {k!r}: only integers and slices are supported")
    return starts, ends, list(range(len(keys))), steps


# ----------------------------------------------------------------- in-place writes

def _writable(t: Tensor):
    """``t.data``, made writable first when it is a read-only view (a broadcast result)."""
    if not getattr(t.data.flags, "writeable", True):
        t.data = t.data.copy()
    return t.data


def _assign(dst: Tensor, result: Tensor, what: str) -> None:
    """Overwrite ``dst``'s values with ``result`` (same shape; cast to dst's dtype)."""
    if result.shape != dst.shape:
        raise ShapeError(f"{what}: the result has shape {result.shape}, "
                         f"the tensor written has shape {dst.shape}")
    if result.dtype != dst.dtype:
        result = _cast(result, dst.dtype)
    _writable(dst)[...] = dst.device.put(result.data)


def _write_flat(dst: Tensor, offset: int, values, what: str) -> None:
    """Write the 1-d array ``values`` into ``dst``'s row-major elements from ``offset``."""
    n = int(values.size)
    if offset < 0 or offset + n > dst.size:
        raise ShapeError(f"{what}: {n} values at offset {offset} do not fit a tensor of "
                         f"{dst.size} elements (shape {dst.shape})")
    if not dst.data.flags.c_contiguous:
        # a strided view: take an own row-major copy, so the flat view below writes through
        dst.data = dst.device.xp.ascontiguousarray(dst.data)
    _writable(dst).reshape(-1)[offset:offset + n] = values.astype(dst.dtype, copy=False)


def _blank_like(t: Tensor) -> Tensor:
    return Tensor(t.shape, t.device, t.dtype)
