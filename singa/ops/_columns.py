"""The column buffers behind Conv and ConvTranspose: im2col, col2im and a cache.

A column buffer holds, for every input channel and kernel tap, the input values
that tap meets at every output position: ``(C, *kernel, N, *out)``, or, for
small maps in big batches, batch-last ``(C, *kernel, *out, N)``.  Reshaped to
``(C*K, N*P)`` it turns a convolution into one GEMM per group.
"""

from __future__ import annotations

import collections
import itertools
import weakref

from ._window import axis_taps

COL_BUDGET = 1 << 24  # elements of one im2col buffer before the batch is split


def trivial(kernel, strides, base=None):
    """1x1 windows with stride 1: the input block is its own column buffer."""
    return all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(base or ())


# im2col/col2im work in two stages: first the last spatial axis is shifted once
# per kernel position (K_last copies of runs as long as that axis), then every
# tap of the other axes is one copy whose runs span whole rows (OH*OW elements
# for stride 1) instead of OW: several times fewer, longer inner loops.

def im2col(xp, xpad, kernel, strides, dilations, out, base=None, col=None):
    """Column buffer (C, *kernel, N, *out) of a padded (C, N, *padded) block;
    window origin ``base`` (per axis) shifts every tap.  ``col``: a preallocated
    buffer to fill (else a new one, or a view of ``xpad`` for 1x1 windows)."""
    base = base or [0] * len(kernel)
    c, n = xpad.shape[:2]
    kernel, out = tuple(kernel), tuple(out)
    if col is None and trivial(kernel, strides, base) and tuple(xpad.shape[2:]) == out:
        return xpad.reshape((c,) + kernel + (n,) + out)
    taps = axis_taps(kernel, strides, dilations, out, base)
    if col is None:
        col = xp.empty((c,) + kernel + (n,) + out, dtype=xpad.dtype)
    if len(kernel) == 1:
        for k, sl in enumerate(taps[0]):
            col[:, k] = xpad[..., sl]
        return col
    # (C, K_last, N, *padded[:-1], out_last)
    shifted = xp.empty((c, kernel[-1], n) + tuple(xpad.shape[2:-1]) + out[-1:], dtype=xpad.dtype)
    for k, sl in enumerate(taps[-1]):
        shifted[:, k] = xpad[..., sl]
    lead = (slice(None),) * 3
    for pos in itertools.product(*[range(k) for k in kernel[:-1]]):
        col[(slice(None),) + pos] = shifted[lead + tuple(t[p] for t, p in zip(taps, pos))]
    return col


def col2im(xp, col, padded, kernel, strides, dilations, out, base=None, buf=None):
    """Adjoint of :func:`im2col`: sums col (C, *kernel, N, *out) into a zero
    (C, N, *padded) block (``buf`` when given: zeros the caller allocated)."""
    base = base or [0] * len(kernel)
    kernel, out = tuple(kernel), tuple(out)
    c = col.shape[0]
    n = col.shape[1 + len(kernel)]
    if buf is None and trivial(kernel, strides, base) and tuple(padded) == out:
        return col.reshape((c, n) + out)
    taps = axis_taps(kernel, strides, dilations, out, base)
    if buf is None:
        buf = xp.zeros((c, n) + tuple(padded), dtype=col.dtype)
    if len(kernel) == 1:
        for k, sl in enumerate(taps[0]):
            buf[..., sl] += col[:, k]
        return buf
    shifted = xp.zeros((c, kernel[-1], n) + tuple(padded[:-1]) + out[-1:], dtype=col.dtype)
    lead = (slice(None),) * 3
    for pos in itertools.product(*[range(k) for k in kernel[:-1]]):
        shifted[lead + tuple(t[p] for t, p in zip(taps, pos))] += col[(slice(None),) + pos]
    for k, sl in enumerate(taps[-1]):
        buf[..., sl] += shifted[:, k]
    return buf


# The batch-last forms keep the images innermost: source (C, *padded, N), columns
# (C, *kernel, *out, N).  Every copy then moves runs of at least out_last*N
# elements, which pays off when the images are small (short rows) and the batch
# is not: the 8x8 maps of a LeNet's second conv, for instance.

def im2col_bl(xp, src, kernel, strides, dilations, out, col=None):
    """Batch-last :func:`im2col`: (C, *padded, N) -> (C, *kernel, *out, N)."""
    c, n = src.shape[0], src.shape[-1]
    kernel, out = tuple(kernel), tuple(out)
    taps = axis_taps(kernel, strides, dilations, out)
    if col is None:
        col = xp.empty((c,) + kernel + out + (n,), dtype=src.dtype)
    if len(kernel) == 1:
        for k, sl in enumerate(taps[0]):
            col[:, k] = src[:, sl]
        return col
    # stage 1 along the first spatial axis: (C, K_1, out_1, *padded[1:], N)
    shifted = xp.empty((c, kernel[0], out[0]) + tuple(src.shape[2:]), dtype=src.dtype)
    for k, sl in enumerate(taps[0]):
        shifted[:, k] = src[:, sl]
    lead = (slice(None),) * 3
    for pos in itertools.product(*[range(k) for k in kernel[1:]]):
        col[(slice(None), slice(None)) + pos] = shifted[
            lead + tuple(t[p] for t, p in zip(taps[1:], pos))]
    return col


def col2im_bl(xp, col, padded, kernel, strides, dilations, out, buf=None):
    """Adjoint of :func:`im2col_bl`: (C, *kernel, *out, N) -> zero (C, *padded, N)
    (``buf`` when given: zeros the caller allocated)."""
    c, n = col.shape[0], col.shape[-1]
    kernel, out = tuple(kernel), tuple(out)
    taps = axis_taps(kernel, strides, dilations, out)
    if buf is None:
        buf = xp.zeros((c,) + tuple(padded) + (n,), dtype=col.dtype)
    if len(kernel) == 1:
        for k, sl in enumerate(taps[0]):
            buf[:, sl] += col[:, k]
        return buf
    shifted = xp.zeros((c, kernel[0], out[0]) + tuple(padded[1:]) + (n,), dtype=col.dtype)
    lead = (slice(None),) * 3
    for pos in itertools.product(*[range(k) for k in kernel[1:]]):
        shifted[lead + tuple(t[p] for t, p in zip(taps[1:], pos))] += col[
            (slice(None), slice(None)) + pos]
    for k, sl in enumerate(taps[0]):
        buf[:, sl] += shifted[:, k]
    return buf


def gemm(xp, a, b):
    """Batched (G, m, k) @ (G, k, n); a plain 2-D GEMM when G == 1."""
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0])[None]
    return xp.matmul(a, b)


def batch_chunks(n, per_item):
    """Ranges of the batch so that one chunk's buffer has <= COL_BUDGET elements."""
    step = max(1, COL_BUDGET // max(1, per_item))
    return [(i, min(n, i + step)) for i in range(0, n, step)] or [(0, 0)]


# ------------------------------------------------------------------ column cache
#
# Training runs Conv's grad right after (in reverse order) the forward on the
# same input array; keeping the forward's column buffer saves rebuilding it.
# Entries are keyed by the identity of the (live) input array plus the window
# geometry, dropped when the array dies, used at most once, and bounded in
# bytes, so inference only pays for a few dictionary operations.

CACHE_BYTES = 1 << 26
_cols: "collections.OrderedDict[int, tuple]" = collections.OrderedDict()
_held = [0]  # bytes of the buffers in _cols, kept up to date instead of summed per call


def _drop(k, _cols=_cols, _held=_held):
    # The dict and counter are bound as defaults: weakref callbacks can fire at
    # interpreter exit, after the module's globals were cleared to None.
    entry = _cols.pop(k, None)
    if entry is not None:
        _held[0] -= entry[2].nbytes
    return entry


def cache_put(x, key, col):
    """Remember ``col``, built from live array ``x`` for geometry ``key``."""
    if col.nbytes > CACHE_BYTES // 4:
        return
    try:
        ref = weakref.ref(x, lambda _, k=id(x), drop=_drop: drop(k))
    except TypeError:  # an array type without weak references: no caching
        return
    _drop(id(x))
    _cols[id(x)] = (ref, key, col)
    _held[0] += col.nbytes
    while _held[0] > CACHE_BYTES:
        _drop(next(iter(_cols)))


def cache_take(x, key):
    """The column buffer cached for ``x`` and ``key`` (removed), or None."""
    entry = _drop(id(x))
    if entry is not None and entry[0]() is x and entry[1] == key:
        return entry[2]
    return None
