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


# Concats of at most this many (outer index, part) pieces are kernels
CONCAT_MAX_PIECES = 1 << 12


def concat_kernel(op, attrs, types, out):
    """A host Kernel for Concat: the output's flat range split evenly over the
    threads, each copying the pieces of the parts that fall in its share
    (``memcpy``, any dtype).  The NumPy step copies on one thread, and as a
    Python step it ends the plan's replayed segment (DenseNet concatenates its
    features before every layer).  None for empty or dynamic shapes, or more
    than CONCAT_MAX_PIECES pieces."""
    from .render import host_function

    if out is None or not out.is_static or not types or any(
            t is None or not t.is_static or t.dtype != out.dtype for t in types):
        return None
    rank = len(out.shape)
    if rank == 0 or not supported(out.dtype):
        return None
    axis = int(attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    outer = math.prod(out.shape[:axis])
    inner = math.prod(out.shape[axis + 1:])
    sizes = [t.shape[axis] * inner for t in types]  # elements of each part per outer index
    row = sum(sizes)
    if outer * row == 0 or outer * len(types) > CONCAT_MAX_PIECES or 0 in sizes:
        return None
    item = out.dtype.np.itemsize
    offs = [sum(sizes[:p]) for p in range(len(types))]
    parts = ", ".join(f"(const char *)a{p}" for p in range(len(types)))
    lines = [f"const char *const src[{len(types)}] = {{{parts}}};",
             f"static const long long off[{len(types)}] = {{{', '.join(map(str, offs))}}};",
             f"static const long long size[{len(types)}] = {{{', '.join(map(str, sizes))}}};",
             f"const long long total = {outer * row}LL;",
             "#pragma omp parallel if (total * " f"{item}" "LL > (1LL << 17))",
             "{",
             "  const long long t = omp_get_thread_num(), n = omp_get_num_threads();",
             "  const long long lo = total * t / n, hi = total * (t + 1) / n;",
             f"  for (long long o = lo / {row}LL; o < {outer}LL && o * {row}LL < hi; ++o)",
             f"    for (int p = 0; p < {len(types)}; ++p) {{",
             f"      long long a = o * {row}LL + off[p], b = a + size[p];",
             "      const long long first = a;",
             "      if (a < lo) a = lo;",
             "      if (b > hi) b = hi;",
             "      if (a < b)",
             f"        memcpy((char *)y + a * {item}LL,",
             f"               src[p] + (o * size[p] + a - first) * {item}LL, "
             f"(size_t)(b - a) * {item});",
             "    }",
             "}"]
    return host_function("concat", op, types, out, lines,
                         f"{len(types)} parts along axis {axis}, {outer} outer indices",
                         outer * row)


def pad_kernel(op, attrs, types, out, const_value):
    """A host Kernel for a constant-mode Pad of a float tensor (pads and axes known
    at plan time, the value a scalar or absent): each row of the result is the
    value, with the input's row copied into the box it lands in.  The box comes
    from the op's own ``compute`` run on an index array, as for the copies above
    (negative pads crop).  As a NumPy step (``np.pad``) YOLO's Pad took 0.27 ms
    and ended its replayed segment.  None otherwise."""
    from ..ops import OPS
    from .dialect import STORAGE
    from .render import host_function

    if attrs.get("mode", "constant") != "constant" or out is None or not out.is_static:
        return None
    x = types[0]
    if x is None or not x.is_static or x.dtype.name not in ("FLOAT", "DOUBLE") \
            or out.dtype != x.dtype or len(x.shape) == 0:
        return None
    vt = types[2] if len(types) > 2 else None
    if vt is not None and (not vt.is_static or vt.dtype.name not in ("FLOAT", "DOUBLE")
                           or math.prod(vt.shape) != 1):
        return None
    size, total = math.prod(x.shape), math.prod(out.shape)
    if size == 0 or size > MAX_IOTA or total == 0:
        return None
    rest = [None if v is None else const_value(v) for v in op.operands[1:]]
    if rest[0] is None or (len(rest) > 2 and op.operands[3] is not None and rest[2] is None):
        return None
    # the index map of the result: element k of x lands where k + 1 is, 0 is padding
    iota = np.arange(1, size + 1, dtype=np.int64).reshape(x.shape)
    given = [iota, rest[0], np.array(0, np.int64)] + rest[2:]
    try:
        index_map = np.asarray(OPS["Pad"].compute(np, given[:len(op.operands)], attrs)[0])
    except Exception:  # the NumPy step will report it with its own message
        return None
    if index_map.shape != tuple(out.shape) or not index_map.any():
        return None
    inside = index_map != 0
    box = []
    for d in range(inside.ndim):
        along = np.flatnonzero(inside.any(axis=tuple(e for e in range(inside.ndim) if e != d)))
        box.append(slice(int(along[0]), int(along[-1]) + 1))
    box = tuple(box)
    if int(inside.sum()) != math.prod(b.stop - b.start for b in box):
        return None
    view = affine_view(index_map[box] - 1)
    if view is None or (index_map[box].shape[-1] > 1 and view[1][-1] != 1):
        return None
    offset, strides = view
    shape = tuple(out.shape)
    width, rows = shape[-1], total // shape[-1]
    lo, hi = box[-1].start, box[-1].stop
    ct = STORAGE[x.dtype]
    value = f"({ct})a1[0]" if vt is not None else "0"
    lines = [f"const {ct} v = {value};",
             f"#pragma omp parallel for if ({total}LL > (1LL << 15))",
             f"for (long long q = 0; q < {rows}LL; ++q) {{",
             f"  {ct} *row = y + q * {width}LL;",
             f"  long long rem = q, src = {offset}LL;",
             "  int in = 1;"]
    for d in reversed(range(len(shape) - 1)):
        lines += [f"  {{ const long long i = rem % {shape[d]}LL; rem /= {shape[d]}LL;",
                  f"    in &= i >= {box[d].start}LL && i < {box[d].stop}LL;",
                  f"    src += (i - {box[d].start}LL) * {strides[d]}LL; }}"]
    lines += ["  if (!in) {",
              f"    for (long long j = 0; j < {width}LL; ++j) row[j] = v;",
              "    continue;",
              "  }",
              f"  for (long long j = 0; j < {lo}LL; ++j) row[j] = v;",
              f"  for (long long j = {lo}LL; j < {hi}LL; ++j) row[j] = a0[src + j - {lo}LL];",
              f"  for (long long j = {hi}LL; j < {width}LL; ++j) row[j] = v;",
              "}"]
    kept = [x] + ([vt] if vt is not None else [])
    return host_function("pad", op, kept, out, lines,
                         f"the input's box {[(b.start, b.stop) for b in box]} in {rows} rows",
                         total, positions=[0] + ([2] if vt is not None else []))
