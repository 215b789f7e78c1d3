"""Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops.

Everything here works on the N-d "spatial" part of an NC... tensor.  Output sizes
and pads follow ONNX: explicit ``pads`` are ``[b1, b2, ..., e1, e2, ...]``;
``auto_pad`` SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start.
Shape inference calls the same code with dims that may be symbols or None.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import os

import numpy as np

from ..errors import ShapeError


def ints(op: str, name: str, value, n: int, fill: int) -> list[int]:
    """Attribute ``value`` as ``n`` ints (``fill`` each when absent); checks length."""
    if value is None:
        return [fill] * n
    out = [int(v) for v in value]
    if len(out) != n:
        raise ShapeError(f"{op}: {name}={out} needs {n} values for {n} spatial dims")
    return out


def window_params(op, attrs, nd, kernel=None):
    """(kernel, strides, dilations, pads) of a windowed op with ``nd`` spatial dims."""
    kernel = ints(op, "kernel_shape", attrs.get("kernel_shape", kernel), nd, 1)
    strides = ints(op, "strides", attrs.get("strides"), nd, 1)
    dilations = ints(op, "dilations", attrs.get("dilations"), nd, 1)
    pads = ints(op, "pads", attrs.get("pads"), 2 * nd, 0)
    if min(strides, default=1) < 1 or min(dilations, default=1) < 1:
        raise ShapeError(f"{op}: strides {strides} and dilations {dilations} must be >= 1")
    if min(kernel, default=1) < 1:
        raise ShapeError(f"{op}: kernel_shape {kernel} must be >= 1")
    if min(pads, default=0) < 0:
        raise ShapeError(f"{op}: pads {pads} must be >= 0")
    return kernel, strides, dilations, pads


def geometry(op, in_sp, kernel, strides, dilations, pads, auto_pad="NOTSET",
             ceil_mode=False):
    """Output size and pads per spatial axis: ``(out, pad_begin, pad_end, extra)``.

    ``extra`` is the padding ceil_mode adds after ``pad_end`` so that the last
    window fits in the buffer; windows never count it as input or pad.  A dim
    that is not an int yields None entries.
    """
    nd = len(kernel)
    outs, pbs, pes, extras = [], [], [], []
    for i in range(nd):
        n, k, s, d = in_sp[i], kernel[i], strides[i], dilations[i]
        eff = (k - 1) * d + 1
        if not isinstance(n, int):
            outs.append(None)
            pbs.append(pads[i] if auto_pad in ("NOTSET", "", None) else None)
            pes.append(None)
            extras.append(None)
            continue
        extra = 0
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-n // s)
            total = max(0, (o - 1) * s + eff - n)
            pb = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pe = total - pb
        else:
            if auto_pad == "VALID":
                pb = pe = 0
            elif auto_pad in ("NOTSET", "", None):
                pb, pe = pads[i], pads[nd + i]
            else:
                raise ShapeError(f"{op}: unknown auto_pad {auto_pad!r}")
            if pb < 0 or pe < 0:
                raise ShapeError(f"{op}: pads {list(pads)} must be >= 0")
            span = n + pb + pe - eff
            if span < 0:
                raise ShapeError(
                    f"{op}: window {eff} (kernel {k}, dilation {d}) is larger than the "
                    f"padded input {n + pb + pe} on spatial axis {i}")
            o = span // s + 1
            if ceil_mode:
                o = -(-span // s) + 1
                # The last window must start inside the input or its left padding.
                if (o - 1) * s >= n + pb:
                    o -= 1
                extra = max(0, (o - 1) * s + eff - n - pb - pe)
        outs.append(o)
        pbs.append(pb)
        pes.append(pe)
        extras.append(extra)
    return outs, pbs, pes, extras


def windows(kernel, strides, dilations, out):
    """``(position, slices)`` for every kernel position: the strided slices of the
    padded input that this kernel tap reads for all outputs at once."""
    for pos in itertools.product(*[range(k) for k in kernel]):
        yield pos, tuple(slice(p * d, p * d + (o - 1) * s + 1, s)
                         for p, d, s, o in zip(pos, dilations, strides, out))


def axis_taps(kernel, strides, dilations, out, base=None):
    """Per axis, per kernel position: the strided slice of the padded input it reads
    (window origins shifted by ``base`` per axis)."""
    base = base or [0] * len(kernel)
    return [[slice(b + p * d, b + p * d + (o - 1) * s + 1, s) for p in range(k)]
            for k, s, d, o, b in zip(kernel, strides, dilations, out, base)]


def interior(pb, sizes):
    """Slices selecting the unpadded part of a padded spatial block."""
    return tuple(slice(b, b + n) for b, n in zip(pb, sizes))


def prod(values) -> int:
    return math.prod(int(v) for v in values)


def spatial_of(op, shape, min_rank=3):
    """Check an NC... shape and return its spatial part."""
    if len(shape) < min_rank:
        raise ShapeError(f"{op}: input of shape {tuple(shape)} needs rank >= {min_rank} "
                         f"(N, C, spatial...)")
    return tuple(shape[2:])


def is_cn(a) -> bool:
    """True for an (N, C, ...) array stored channel-major, i.e. the transposed view of
    a C-contiguous (C, N, ...) block, as Conv returns on the CPU."""
    return (a.ndim >= 2 and a.shape[0] > 1 and a.shape[1] > 1 and not a.flags.c_contiguous
            and a.swapaxes(0, 1).flags.c_contiguous)


def alloc_like(xp, like, shape, dtype, fill=None):
    """A new (N, C, ...) array laid out like ``like`` (channel-major when
    :func:`is_cn`, else C order); uninitialised unless ``fill`` is given."""
    cn = is_cn(like)
    s = (shape[1], shape[0]) + tuple(shape[2:]) if cn else tuple(shape)
    a = xp.empty(s, dtype=dtype) if fill is None else xp.full(s, fill, dtype=dtype)
    return a.swapaxes(0, 1) if cn else a


def same_layout(xp, a, like):
    """``a`` (same shape as ``like``) stored in ``like``'s memory order, so that
    elementwise passes over both walk memory in step; a copy only when needed."""
    if a.strides == like.strides or a.ndim < 2:
        return a
    out = xp.empty_like(like, dtype=a.dtype)
    out[...] = a
    return out


# ------------------------------------------------------------------ threads
#
# NumPy runs copies and ufunc loops on one core, releasing the GIL while it
# does.  The big data-movement steps of conv and pooling (im2col, col2im, the
# tap loops) can therefore split their work into disjoint slices run on a few
# threads; BLAS already threads the GEMMs in between.  That only pays off when
# BLAS's idle workers let go of the cores: OpenBLAS's spin for about 0.1 s after
# every GEMM unless OPENBLAS_THREAD_TIMEOUT is small, and then a second thread
# of ours only gets half a core.  Hence the default: as many threads as cores
# when OPENBLAS_THREAD_TIMEOUT <= 8, else one; SINGA_OP_THREADS overrides it.

PARALLEL_MIN = 1 << 16  # elements under which a step stays on one thread
_executor = None
_workers = 0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def op_threads() -> int:
    """How many threads the data-movement steps of conv and pooling use."""
    try:
        if os.environ.get("SINGA_OP_THREADS"):
            return max(1, int(os.environ["SINGA_OP_THREADS"]))
        if int(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "99")) <= 8:
            return _cores()
    except ValueError:
        pass
    return 1


def split_run(xp, fn, n, work):
    """Call ``fn(lo, hi)`` for consecutive ranges covering ``[0, n)``: over
    :func:`op_threads` threads when ``xp`` is NumPy and ``work`` (elements
    touched) is large, else once.  ``fn`` must only write its own slices."""
    global _executor, _workers
    parts = min(n, op_threads(), 16)
    if xp is not np or parts < 2 or work < PARALLEL_MIN:
        fn(0, n)
        return
    if _workers < parts - 1:
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=parts - 1, thread_name_prefix="singa-ops")
        _workers = parts - 1
    bounds = [(i * n // parts, (i + 1) * n // parts) for i in range(parts)]
    futures = [_executor.submit(fn, lo, hi) for lo, hi in bounds[1:]]
    try:
        fn(*bounds[0])
    finally:
        for f in futures:
            f.result()
