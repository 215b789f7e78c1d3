"""Strided copies: data-movement ops whose result is an affine view of their input.

Rather than one hand-written index formula per op, the op's own ``compute``
is run once, at plan time, on an index array (``iota``: every element holds its
own position).  Its result says which input element each output element
comes from; when that map is affine in the output coordinates (Transpose,
Slice with any steps, Expand, Tile of size-1 dims, DepthToSpace of one block,
Gather of a contiguous range, ...) the op becomes an elementwise copy kernel
reading its input through that view.  Other maps stay NumPy steps.
"""

from __future__ import annotations

import math

import numpy as np

from .dialect import supported
from .elementwise import elementwise_kernel

# ops that only move data from operand 0 (their other operands are indices or
# shapes); ops that are views already in NumPy (Reshape, Squeeze, ...) are not here
COPY_OPS = frozenset({"Transpose", "Slice", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
                      "Gather", "GatherElements"})
MAX_IOTA = 1 << 24  # beyond this many elements the map is not worth building


def affine_view(index_map: np.ndarray):
    """(offset, strides) with ``index_map[c] == offset + sum(c * strides)`` for every
    coordinate c, or None when the map is not affine."""
    if index_map.size == 0:
        return None
    offset = int(index_map.flat[0])
    strides = []
    for d, n in enumerate(index_map.shape):
        if n == 1:
            strides.append(0)
            continue
        step = [0] * index_map.ndim
        step[d] = 1
        strides.append(int(index_map[tuple(step)]) - offset)
    expect = np.full(index_map.shape, offset, np.int64)
    for d, (n, s) in enumerate(zip(index_map.shape, strides)):
        if s:
            shape = [1] * index_map.ndim
            shape[d] = n
            expect = expect + (np.arange(n, dtype=np.int64) * s).reshape(shape)
    if not np.array_equal(expect, index_map):
        return None
    return offset, tuple(strides)


def copy_kernel(op, attrs, types, out, const_value):
    """A copy Kernel for data-movement op ``op``, or None."""
    from ..ops import OPS

    if op.name not in COPY_OPS or out is None or not out.is_static or not types:
        return None
    x = types[0]
    if x is None or not x.is_static or not supported(x.dtype) or not supported(out.dtype):
        return None
    size = math.prod(x.shape)
    if size == 0 or size > MAX_IOTA or math.prod(out.shape) == 0:
        return None
    rest = [None if v is None else const_value(v) for v in op.operands[1:]]
    if any(v is not None and r is None for v, r in zip(op.operands[1:], rest)):
        return None
    iota = np.arange(size, dtype=np.int64).reshape(x.shape)
    try:
        index_map = np.asarray(OPS[op.name].compute(np, [iota] + rest, attrs)[0])
    except Exception:  # the NumPy step will report it with its own message
        return None
    if index_map.dtype != np.int64 or index_map.shape != tuple(out.shape):
        return None
    view = affine_view(index_map)
    if view is None:
        return None
    return elementwise_kernel("Identity", {}, [x], out, op.loc, views={0: view}, group=op.name)
