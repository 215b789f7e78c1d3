"""Pooling: MaxPool, AveragePool, LpPool and their Global forms.

Windows are visited one kernel tap at a time: every tap is one strided slice of
the padded input covering all outputs, so Python loops over taps, never over
pixels or the batch.  Forward reductions are separable (leading axes first,
then the last), and the MaxPool grad routes each output's gradient to the first
tap holding the maximum, as torch does.  Results keep the memory layout of the
input (see conv.py), and big calls split by slices over threads (_window.py),
each slice reduced by blocks of (N, C) padded one at a time, so that no padded
copy of the whole input is made.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from ._blockwise import nc_blocks
from ._window import (alloc_like, axis_taps, geometry, interior, is_cn, prod, same_layout,
                      spatial_of, split_run, window_params, windows)
from .base import defop

_LEAD = (slice(None), slice(None))


class _PoolGeom:
    """Output size, pads and taps of one pooling call."""

    def __init__(self, op, shape, attrs):
        self.sp = spatial_of(op, shape)
        nd = len(self.sp)
        if attrs.get("kernel_shape") is None:
            raise ShapeError(f"{op}: kernel_shape attribute is required")
        self.kernel, self.strides, self.dilations, pads = window_params(op, attrs, nd)
        self.auto_pad = attrs.get("auto_pad", "NOTSET")
        self.out, self.pb, self.pe, self.extra = geometry(
            op, self.sp, self.kernel, self.strides, self.dilations, pads, self.auto_pad,
            bool(attrs.get("ceil_mode", 0)))
        self.padded = [n + b + e + x for n, b, e, x in zip(self.sp, self.pb, self.pe,
                                                            self.extra)]
        self.nd = nd

    def taps(self):
        return windows(self.kernel, self.strides, self.dilations, self.out)

    def pad(self, xp, x, value, like=None):
        """x padded with ``value`` to the buffer every tap reads from, laid out
        like ``like`` (default x: a block of a bigger input passes that input)."""
        if not any(self.pb) and self.padded == list(self.sp):
            return x
        buf = alloc_like(xp, x if like is None else like, x.shape[:2] + tuple(self.padded),
                         x.dtype, fill=value)
        buf[_LEAD + interior(self.pb, self.sp)] = x
        return buf

    def crop(self, buf):
        """The unpadded part of a buffer shaped like :meth:`pad`'s."""
        return buf[_LEAD + interior(self.pb, self.sp)]

    def counts(self, include_pad):
        """How many taps of each window fall in the input (or its explicit pads):
        a NumPy array broadcastable to the output, or a scalar when all equal."""
        per_axis = []
        for i in range(self.nd):
            lo = 0 if include_pad else self.pb[i]
            hi = (self.pb[i] + self.sp[i] + self.pe[i]) if include_pad else \
                self.pb[i] + self.sp[i]
            o = np.arange(self.out[i])[:, None] * self.strides[i]
            k = np.arange(self.kernel[i])[None, :] * self.dilations[i]
            pos = o + k
            per_axis.append(((pos >= lo) & (pos < hi)).sum(axis=1))
        if all((c == c[0]).all() for c in per_axis if c.size):
            return float(prod(c[0] if c.size else 1 for c in per_axis))
        total = np.ones((1, 1) + (1,) * self.nd)
        for i, c in enumerate(per_axis):
            total = total * c.reshape((1, 1) + tuple(-1 if j == i else 1
                                                     for j in range(self.nd)))
        return total


def _pool_infer(op, with_indices=False):
    def infer(types, attrs, values):
        t = types[0]
        if t.shape is None:
            outs = [TensorType(t.dtype, None)]
        else:
            spatial_of(op, t.shape)
            nd = len(t.shape) - 2
            kernel, strides, dilations, pads = window_params(op, attrs, nd)
            out = geometry(op, t.shape[2:], kernel, strides, dilations, pads,
                           attrs.get("auto_pad", "NOTSET"), bool(attrs.get("ceil_mode", 0)))[0]
            outs = [TensorType(t.dtype, tuple(t.shape[:2]) + tuple(out))]
        if with_indices:
            outs.append(TensorType(DType.INT64, outs[0].shape))
        return outs
    return infer


def _lowest(xp, dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise DTypeError(f"MaxPool: dtype {dtype} is not supported")


def _grad_buffer(xp, x, geo):
    return alloc_like(xp, x, x.shape[:2] + tuple(geo.padded), x.dtype, fill=0)


def _first_tap(xp, v):
    """A fresh copy of tap view ``v`` that keeps its memory layout (order K)."""
    y = xp.empty_like(v)
    xp.copyto(y, v)
    return y


def _outer_axis(a):
    """The (N, C, ...) axis outermost in ``a``'s memory: threads split along it."""
    return 1 if is_cn(a) else 0


def _pick(axis, lo, hi):
    return (slice(None),) * axis + (slice(lo, hi),)


# Elements of the padded input per block of a window reduction: the partial
# result of the leading axes is made per block, so it stays this small (and in
# cache) instead of up to the input's size next to the input and the output.
_BLOCK = 1 << 18


def _window_reduce(xp, x, geo, ufunc, value):
    """``ufunc`` (maximum, add) over every window of ``x`` padded with ``value``,
    one axis at a time: first the taps of the leading spatial axes, whose slices
    keep whole contiguous rows, then the strided taps of the last axis on that
    smaller partial result; ``prod(k[:-1]) + k[-1]`` passes instead of
    ``prod(k)``.  The result is laid out like ``x`` and computed by blocks of the
    (N, C) axes (each padded on its own, so no padded copy of all of ``x``), the
    blocks split over several threads."""
    taps = axis_taps(geo.kernel, geo.strides, geo.dilations, geo.out)
    y = alloc_like(xp, x, x.shape[:2] + tuple(geo.out), x.dtype)
    padded = x.shape[:2] + tuple(geo.padded)

    def fold(views, out=None):
        views = list(views)
        if len(views) == 1:
            if out is None:
                return _first_tap(xp, views[0])
            xp.copyto(out, views[0])
            return out
        acc = ufunc(views[0], views[1], out=out)  # new arrays keep the views' order
        for v in views[2:]:
            ufunc(acc, v, out=acc)
        return acc

    def run(lo, hi):
        # CuPy takes the whole range: there launches cost more than memory
        for sel in (nc_blocks(padded, axis, lo, hi, _BLOCK) if xp is np else [_pick(axis, lo, hi)]):
            part = geo.pad(xp, x[sel], value, like=x)
            if geo.nd > 1:
                part = fold(part[_LEAD + tuple(t[p] for t, p in zip(taps, pos))]
                            for pos in itertools.product(*[range(k)
                                                           for k in geo.kernel[:-1]]))
            fold((part[..., sl] for sl in taps[-1]), out=y[sel])

    axis = _outer_axis(x)
    split_run(xp, run, x.shape[axis], prod(padded))
    return y


# ------------------------------------------------------------------ MaxPool

def _argtap(xp, xpad, y, geo):
    """Per output, the number of the first tap that holds the maximum (-1 for none)."""
    arg = xp.full(y.shape, -1, dtype=np.int16 if prod(geo.kernel) < 32000 else np.int64)
    for k, (_, sl) in enumerate(geo.taps()):
        hit = xpad[_LEAD + sl] == y
        if k:
            hit &= arg < 0
        xp.copyto(arg, k, where=hit)
    return arg


def _max_indices(xp, x, arg, geo, storage_order):
    """ONNX MaxPool Indices: flat positions in x (row-major, or column-major over
    the spatial dims when storage_order=1) of each output's argmax."""
    sp = geo.sp
    # element strides of each spatial axis in the flattened input
    if storage_order:
        st = [prod(sp[:i]) for i in range(geo.nd)]
    else:
        st = [prod(sp[i + 1:]) for i in range(geo.nd)]
    taps = np.array([sum(p * d * s for p, d, s in zip(pos, geo.dilations, st))
                     for pos, _ in geo.taps()], dtype=np.int64)
    origin = np.zeros(tuple(geo.out), dtype=np.int64)
    for i in range(geo.nd):
        o = (np.arange(geo.out[i]) * geo.strides[i] - geo.pb[i]) * st[i]
        origin = origin + o.reshape(tuple(-1 if j == i else 1 for j in range(geo.nd)))
    n, c = x.shape[:2]
    plane = np.arange(n * c, dtype=np.int64).reshape(n, c, *([1] * geo.nd)) * prod(sp)
    idx = xp.take(xp.asarray(taps), arg.astype(np.int64, copy=False))
    idx += xp.asarray(origin)
    idx += xp.asarray(plane)
    return idx


def _maxpool_infer(types, attrs, values):
    return _pool_infer("MaxPool", with_indices=True)(types, attrs, values)


def _route_max(xp, xpad, y, dy, dpad, taps, disjoint):
    """dpad[window of each output] gets dy at the first tap holding the maximum."""
    pending = None  # outputs whose maximum no earlier tap held
    hit = xp.empty_like(y, dtype=bool)
    for k, sl in enumerate(taps):
        if k and k == len(taps) - 1:
            hit = pending  # the maximum is at some tap: the last gets what is left
        else:
            xp.equal(xpad[_LEAD + sl], y, out=hit)
            if pending is None:
                pending = xp.logical_not(hit)
            else:
                xp.logical_and(hit, pending, out=hit)  # the first maximum takes it all
                xp.logical_xor(pending, hit, out=pending)
        if disjoint:
            xp.multiply(dy, hit, out=dpad[_LEAD + sl])
        else:
            dpad[_LEAD + sl] += dy * hit


def _maxpool_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    geo = _PoolGeom("MaxPool", x.shape, attrs)
    dy = douts[0]
    disjoint = all(s >= (k - 1) * d + 1 for s, k, d in zip(geo.strides, geo.kernel,
                                                          geo.dilations))
    indices = outputs[1] if len(outputs) > 1 else None
    if indices is not None and disjoint and not attrs.get("storage_order", 0):
        # The Indices output already names each max, and no two windows share one.
        flat = xp.zeros(x.size, dtype=dy.dtype)
        flat[indices.reshape(-1)] = dy.reshape(-1)
        return [flat.reshape(x.shape)]
    y = outputs[0]
    dy = same_layout(xp, dy, y)
    xpad = geo.pad(xp, x, _lowest(xp, x.dtype))
    covered = not any(geo.pb) and all(
        o * s == n and s == (k - 1) * d + 1
        for o, s, n, k, d in zip(geo.out, geo.strides, geo.padded, geo.kernel, geo.dilations))
    # every element written exactly once: no need to clear the buffer first
    dpad = alloc_like(xp, xpad, x.shape[:2] + tuple(geo.padded), dy.dtype,
                      fill=None if covered else 0)
    taps = [sl for _, sl in geo.taps()]

    def run(lo, hi):
        sel = _pick(axis, lo, hi)
        _route_max(xp, xpad[sel], y[sel], dy[sel], dpad[sel], taps, disjoint)

    axis = _outer_axis(xpad)
    split_run(xp, run, xpad.shape[axis], xpad.size)
    return [geo.crop(dpad)]


@defop("MaxPool", infer=_maxpool_infer, grad=_maxpool_grad, since=1, num_outputs=None,
       defaults={"auto_pad": "NOTSET", "ceil_mode": 0, "storage_order": 0})
def maxpool(xp, inputs, attrs):
    """ONNX MaxPool: ``[Y]``, or ``[Y, Indices]`` (int64, ONNX flattening) when the
    caller sets ``attrs["_num_outputs"]`` to 2 for a node that names Indices."""
    x = inputs[0]
    geo = _PoolGeom("MaxPool", x.shape, attrs)
    lowest = _lowest(xp, x.dtype)
    y = _window_reduce(xp, x, geo, xp.maximum, lowest)
    if int(attrs.get("_num_outputs", 1)) < 2:
        return [y]
    arg = _argtap(xp, geo.pad(xp, x, lowest), y, geo)
    return [y, _max_indices(xp, x, arg, geo, attrs.get("storage_order", 0))]


# ------------------------------------------------------------------ AveragePool

def _avg_adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 19:
        attrs.pop("dilations", None)
    return attrs, {}


def _avgpool_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    geo = _PoolGeom("AveragePool", x.shape, attrs)
    cnt = geo.counts(bool(attrs.get("count_include_pad", 0)))
    g = douts[0] / (xp.asarray(cnt, dtype=x.dtype) if not isinstance(cnt, float) else
                    x.dtype.type(cnt))
    dpad = _grad_buffer(xp, x, geo)
    for _, sl in geo.taps():
        dpad[_LEAD + sl] += g
    return [geo.crop(dpad)]


@defop("AveragePool", infer=_pool_infer("AveragePool"), grad=_avgpool_grad, since=1,
       adapt=_avg_adapt, defaults={"auto_pad": "NOTSET", "ceil_mode": 0,
                                   "count_include_pad": 0})
def averagepool(xp, inputs, attrs):
    """ONNX AveragePool (count_include_pad, ceil_mode, dilations)."""
    x = inputs[0]
    geo = _PoolGeom("AveragePool", x.shape, attrs)
    y = _window_reduce(xp, x, geo, xp.add, 0)
    cnt = geo.counts(bool(attrs.get("count_include_pad", 0)))
    if isinstance(cnt, float):
        y *= 1.0 / cnt
    else:
        y /= xp.asarray(cnt, dtype=y.dtype)
    return [y]


# ------------------------------------------------------------------ LpPool

def _lp_parts(xp, x, attrs):
    geo = _PoolGeom("LpPool", x.shape, attrs)
    return geo, geo.pad(xp, x, 0), float(attrs.get("p", 2))


def _lppool_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    geo, xpad, p = _lp_parts(xp, x, attrs)
    y = outputs[0]
    safe = xp.where(y == 0, xp.ones((), dtype=y.dtype), y)
    g = xp.where(y == 0, xp.zeros((), dtype=y.dtype), douts[0] * safe ** (1 - p))
    dpad = _grad_buffer(xp, x, geo)
    for _, sl in geo.taps():
        v = xpad[_LEAD + sl]
        dpad[_LEAD + sl] += g * (xp.abs(v) ** (p - 1) * xp.sign(v) if p != 2 else v)
    return [geo.crop(dpad)]


@defop("LpPool", infer=_pool_infer("LpPool"), grad=_lppool_grad, since=1,
       adapt=_avg_adapt, defaults={"auto_pad": "NOTSET", "ceil_mode": 0, "p": 2})
def lppool(xp, inputs, attrs):
    """ONNX LpPool: (sum over the window of |x|^p)^(1/p); padding counts as 0."""
    x = inputs[0]
    geo, p = _PoolGeom("LpPool", x.shape, attrs), float(attrs.get("p", 2))
    # |0|^p is what the padding contributes (0 for p > 0)
    y = _window_reduce(xp, xp.abs(x) ** p, geo, xp.add, xp.zeros((), x.dtype) ** p)
    return [(y ** (1.0 / p)).astype(x.dtype, copy=False)]


# ------------------------------------------------------------------ Global pools

def _global_infer(op):
    def infer(types, attrs, values):
        t = types[0]
        if t.shape is None:
            return [TensorType(t.dtype, None)]
        spatial_of(op, t.shape)
        return [TensorType(t.dtype, tuple(t.shape[:2]) + (1,) * (len(t.shape) - 2))]
    return infer


def _spatial_axes(x):
    return tuple(range(2, x.ndim))


def _gap_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    n = prod(x.shape[2:])
    return [xp.broadcast_to(douts[0] * (1.0 / max(n, 1)), x.shape).astype(x.dtype)]


@defop("GlobalAveragePool", infer=_global_infer("GlobalAveragePool"), grad=_gap_grad,
       since=1)
def global_average_pool(xp, inputs, attrs):
    """Mean over all spatial axes, kept as size-1 dims."""
    x = inputs[0]
    spatial_of("GlobalAveragePool", x.shape)
    return [x.mean(axis=_spatial_axes(x), keepdims=True)]


def _gmp_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    flat = x.reshape(x.shape[:2] + (prod(x.shape[2:]),))
    hit = flat == outputs[0].reshape(x.shape[:2] + (1,))
    # only the first maximum of each plane receives the gradient
    first = hit & (xp.cumsum(hit, axis=-1) == 1)
    g = xp.where(first, douts[0].reshape(x.shape[:2] + (1,)), xp.zeros((), dtype=x.dtype))
    return [g.reshape(x.shape)]


@defop("GlobalMaxPool", infer=_global_infer("GlobalMaxPool"), grad=_gmp_grad, since=1)
def global_max_pool(xp, inputs, attrs):
    """Max over all spatial axes, kept as size-1 dims."""
    x = inputs[0]
    spatial_of("GlobalMaxPool", x.shape)
    return [x.max(axis=_spatial_axes(x), keepdims=True)]


def _glp_grad(xp, inputs, outputs, douts, attrs):
    x, y = inputs[0], outputs[0]
    p = float(attrs.get("p", 2))
    safe = xp.where(y == 0, xp.ones((), dtype=y.dtype), y)
    g = xp.where(y == 0, xp.zeros((), dtype=y.dtype), douts[0] * safe ** (1 - p))
    return [(g * xp.abs(x) ** (p - 1) * xp.sign(x)).astype(x.dtype, copy=False)]


@defop("GlobalLpPool", infer=_global_infer("GlobalLpPool"), grad=_glp_grad, since=2,
       defaults={"p": 2})
def global_lp_pool(xp, inputs, attrs):
    """p-norm over all spatial axes, kept as size-1 dims."""
    x = inputs[0]
    spatial_of("GlobalLpPool", x.shape)
    p = float(attrs.get("p", 2))
    s = (xp.abs(x) ** p).sum(axis=_spatial_axes(x), keepdims=True)
    return [(s ** (1.0 / p)).astype(x.dtype, copy=False)]
