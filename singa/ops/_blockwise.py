"""Work done block by block, so that its temporaries stay small.

Elementwise functions (:func:`blockwise`) and window ops over (N, C) blocks
(:func:`nc_blocks`).

An op written as a NumPy expression (erf's series, sigmoid's two branches)
makes several temporaries of its input's size, some float64; at a large batch
they outweigh the model.  :func:`blockwise` evaluates such a function over
consecutive blocks of the input's elements and writes each block's values into
the result, so the temporaries are a few blocks (and stay in cache) whatever
the input's size.  The values are those of the whole-array expression: the
function is elementwise, and each element sees the same operations.
"""

from __future__ import annotations

import math

import numpy as np

# Elements per block: float64 temporaries of 256 KiB, several of which fit in L2.
BLOCK = 1 << 15


def blockwise(xp, f, x, dtype=None, out=None):
    """``f(xp, block)`` over all elements of ``x``, written into ``out``.

    ``f`` takes an array of some of x's elements (of x's dtype) and returns their
    values (any dtype, cast into ``out``'s as ``astype`` would).  ``out``: the
    array to write (``x`` itself computes in place); default a new array with
    x's shape and memory layout, of ``dtype`` (default x's).  On NumPy ``f`` sees
    1-D blocks of :data:`BLOCK` elements in memory order; CuPy gets the whole
    array in one call, since launches cost more there than memory.
    """
    x = xp.asarray(x)
    if out is None:
        out = xp.empty_like(x, dtype=x.dtype if dtype is None else dtype)
    if xp is not np:
        out[...] = f(xp, x)
        return out
    # walk both arrays in x's memory order: outer axes are those of bigger strides
    perm = sorted(range(x.ndim), key=lambda i: -abs(x.strides[i]))
    dst = out.transpose(perm)
    if not dst.flags.c_contiguous:  # an ``out`` laid out otherwise than x
        out[...] = blockwise(xp, f, x, out.dtype)
        return out
    src = np.ascontiguousarray(x.transpose(perm)).reshape(-1)  # copies only a strided x
    dst = dst.reshape(-1)
    for i in range(0, src.size, BLOCK):
        dst[i:i + BLOCK] = f(xp, src[i:i + BLOCK])
    return out


def nc_blocks(shape, axis, lo, hi, size):
    """Index tuples over the (N, C) axes of an array of ``shape`` covering
    ``[lo, hi)`` of ``axis`` (the outer one in memory), in blocks of about
    ``size`` elements; the other of the two axes is split too when one index of
    ``axis`` holds more than that.  Window ops (pooling) work block by block so
    that their temporaries are a block's size."""
    other = 1 - axis
    inner = math.prod(shape[2:])
    per = inner * shape[other]
    lead = [slice(None), slice(None)]
    if per <= size:
        step = max(1, size // max(per, 1))
        for i in range(lo, hi, step):
            lead[axis] = slice(i, min(i + step, hi))
            yield tuple(lead)
        return
    step = max(1, size // max(inner, 1))
    for i in range(lo, hi):
        lead[axis] = slice(i, i + 1)
        for j in range(0, shape[other], step):
            lead[other] = slice(j, j + step)
            yield tuple(lead)
