"""Conv and ConvTranspose (1-D, 2-D, 3-D, any N-d), with groups, dilations,
strides, explicit pads and auto_pad.

Both ops are one batched GEMM around a column buffer (see _columns.py): for
each group ``W_g (Mg, Cg*K) @ col_g (Cg*K, N*P)``, a single large matrix
product over the whole batch that keeps the BLAS threads busy.  On the CPU the
result is returned as the (N, M, ...) view of the (M, N, ...) GEMM output, so
a chain of convolutions, activations and pools never transposes activations
back and forth.  The bias rides along in the GEMM as an extra row of ones, and
the forward's column buffer is kept for the grad.  Big batches are split so
that a buffer stays within ``_columns.COL_BUDGET`` elements.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from ._columns import (batch_chunks, cache_put, cache_take, col2im, col2im_bl, gemm, im2col,
                       im2col_bl, trivial)
from ._window import (geometry, interior, ints, prod, spatial_of, split_run, window_params,
                      windows)
from .base import Pattern, defop, retain_freed_memory

BATCH_LAST_BELOW = 256  # output pixels per image under which columns go batch-last
BATCH_LAST_MIN_N = 8  # ... for batches at least this big

# Convolutions churn through large temporaries; keep freed memory in the process
# (see retain_freed_memory) so they do not page-fault on every call.
retain_freed_memory()


def _bshape(b, nd):
    return b.reshape((-1,) + (1,) * nd)


# ------------------------------------------------------------------ Conv

def _kernel_window(geom, op, xshape, wshape, attrs):
    """Shared Conv/ConvTranspose checks: sets ``geom.kernel/strides/dilations`` and
    returns (spatial shape, rank, pads, group)."""
    sp = spatial_of(op, xshape)
    nd = len(sp)
    if len(wshape) != nd + 2:
        raise ShapeError(f"{op}: weight of shape {tuple(wshape)} does not match input "
                         f"of shape {tuple(xshape)} (need rank {nd + 2})")
    geom.kernel, geom.strides, geom.dilations, pads = window_params(op, attrs, nd, wshape[2:])
    if tuple(geom.kernel) != tuple(wshape[2:]):
        raise ShapeError(f"{op}: kernel_shape {geom.kernel} differs from weight shape "
                         f"{tuple(wshape)}")
    return sp, nd, pads, int(attrs.get("group", 1))


class _ConvGeom:
    """Everything Conv needs about shapes, validated once per call."""

    def __init__(self, op, xshape, wshape, attrs):
        sp, nd, pads, g = _kernel_window(self, op, xshape, wshape, attrs)
        self.n, self.c = xshape[0], xshape[1]
        self.m = wshape[0]
        if g < 1 or self.c != wshape[1] * g or self.m % g:
            raise ShapeError(f"{op}: input {tuple(xshape)} and weight {tuple(wshape)} do not "
                             f"fit group={g} (need C == W.shape[1]*group, M % group == 0)")
        self.g = g
        self.out, self.pb, self.pe, _ = geometry(
            op, sp, self.kernel, self.strides, self.dilations, pads,
            attrs.get("auto_pad", "NOTSET"))
        self.sp = sp
        self.nd = nd
        self.padded = [s + b + e for s, b, e in zip(sp, self.pb, self.pe)]
        self.kk = prod(self.kernel)
        self.p = prod(self.out)
        self.batch_last = (self.n >= BATCH_LAST_MIN_N and self.p < BATCH_LAST_BELOW
                           and not trivial(self.kernel, self.strides, None))


def _src(xp, x, g):
    """The zero-padded input block im2col reads: (C, N, *padded), or batch-last
    (C, *padded, N)."""
    nd = x.ndim - 2
    if g.batch_last:
        xt = x.transpose((1,) + tuple(range(2, nd + 2)) + (0,))
        inner = (slice(None),) + interior(g.pb, g.sp)
        shape = (x.shape[1],) + tuple(g.padded) + (x.shape[0],)
    else:
        xt = x.swapaxes(0, 1)
        inner = (slice(None), slice(None)) + interior(g.pb, g.sp)
        shape = (x.shape[1], x.shape[0]) + tuple(g.padded)
    if not any(g.pb) and not any(g.pe):
        return xp.ascontiguousarray(xt)
    buf = xp.zeros(shape, dtype=x.dtype)
    buf[inner] = xt
    return buf


def _to_cn_block(xp, a, dst):
    """Copy a (M, *sp, nb) batch-last block into the (M, nb, *sp) block ``dst``."""
    dst[...] = xp.moveaxis(a, -1, 1)


def _geom_key(x, geo):
    """What must match for a cached column buffer of ``x`` to serve again."""
    return (x.shape, x.dtype.str, x.strides, tuple(geo.kernel), tuple(geo.strides),
            tuple(geo.dilations), tuple(geo.pb), tuple(geo.pe), geo.batch_last)


def _result(xp, cn):
    """A (C, N, ...) block as the (N, C, ...) result.  On the CPU that is the
    transposed view: no copy, and the next Conv (or this one's grad) reads it back
    as (C, N, ...) for free; elementwise ops and pools keep that layout.  CuPy
    gets C order, which its generated kernels index directly."""
    t = cn.swapaxes(0, 1)
    return t if xp is np else xp.ascontiguousarray(t)


def _sel(axis, lo, hi):
    """Index selecting [lo, hi) along ``axis`` (-1: the last)."""
    return (Ellipsis, slice(lo, hi)) if axis < 0 else (slice(None),) * axis + (slice(lo, hi),)


def _split(g, nb):
    """How column work splits over threads: (count, axis in the source/padded
    block, axis in the column buffer): by channel, or by image for one channel."""
    if g.c >= 2:
        return g.c, 0, 0
    if g.batch_last:
        return nb, -1, -1
    return nb, 1, 1 + g.nd


def _fill_columns(xp, g, src, col):
    """im2col of ``src`` into ``col``, on several threads."""
    n, s_ax, c_ax = _split(g, col.shape[-1] if g.batch_last else col.shape[1 + g.nd])
    fill = im2col_bl if g.batch_last else im2col

    def run(lo, hi):
        fill(xp, src[_sel(s_ax, lo, hi)], g.kernel, g.strides, g.dilations, g.out,
             col=col[_sel(c_ax, lo, hi)])

    split_run(xp, run, n, col.size)


def _scatter_columns(xp, g, dcol, nb):
    """col2im of ``dcol`` into a new zero padded block, on several threads."""
    if g.batch_last:
        shape = (g.c,) + tuple(g.padded) + (nb,)
        scatter = col2im_bl
    else:
        shape = (g.c, nb) + tuple(g.padded)
        if trivial(g.kernel, g.strides) and tuple(g.padded) == tuple(g.out):
            return dcol.reshape(shape)
        scatter = col2im
    buf = xp.zeros(shape, dtype=dcol.dtype)
    n, s_ax, c_ax = _split(g, nb)

    def run(lo, hi):
        scatter(xp, dcol[_sel(c_ax, lo, hi)], g.padded, g.kernel, g.strides, g.dilations,
                g.out, buf=buf[_sel(s_ax, lo, hi)])

    split_run(xp, run, n, dcol.size)
    return buf


def _gemm_columns(xp, x, g, n0, n1, with_ones):
    """im2col of images [n0, n1) as GEMM operand (G, Cg*K, nb*P); with_ones
    (G == 1 only) appends a row of ones so that the GEMM also adds the bias and
    the grad's dW GEMM also sums dY for dB."""
    src = _src(xp, x[n0:n1], g)
    nb = n1 - n0
    if g.batch_last:
        shape = (g.c,) + tuple(g.kernel) + tuple(g.out) + (nb,)
    else:
        shape = (g.c,) + tuple(g.kernel) + (nb,) + tuple(g.out)
        if not with_ones and trivial(g.kernel, g.strides) and tuple(g.padded) == tuple(g.out):
            return src.reshape(g.g, (g.c // g.g) * g.kk, -1)  # 1x1: no copy at all
    rows = g.c * g.kk
    buf = xp.empty((rows + with_ones, nb * g.p), dtype=src.dtype)
    _fill_columns(xp, g, src, buf[:rows].reshape(shape))
    if with_ones:
        buf[rows] = 1
        return buf[None]
    return buf.reshape(g.g, (g.c // g.g) * g.kk, -1)


def _bias_in_gemm(g, b):
    """Whether the bias rides along in the GEMM (see _gemm_columns).  That costs a
    copy of the weights with the bias column (M x C*K) instead of a pass over the
    output (M x N*P): worth it only while the weights are the smaller of the two."""
    return (b is not None and g.g == 1 and not trivial(g.kernel, g.strides, None)
            and g.c * g.kk < g.n * g.p)


DEPTHWISE_BLOCK = 1 << 16  # elements of one channel block's running sum (cache sized)


def _depthwise_ok(g, x, w, b):
    """A depthwise conv (one filter per channel) of one dtype: :func:`_depthwise`
    computes it without column buffers.  Not for float16, whose running sums
    would round at every tap (the GEMM path accumulates more precisely)."""
    return (g.g > 1 and g.g == g.c == g.m and x.dtype == w.dtype
            and x.dtype.kind == "f" and x.dtype.itemsize >= 4
            and (b is None or b.dtype == w.dtype))


def _depthwise(xp, x, w, b, g):
    """Depthwise conv (see _depthwise_flat and _depthwise_strided): (N, M, *out)."""
    if all(s == 1 for s in g.strides):
        return _depthwise_flat(xp, x, w, b, g)
    return _depthwise_strided(xp, x, w, b, g)


def _depthwise_strided(xp, x, w, b, g):
    """Strided depthwise conv: per kernel tap, the strided window of the padded
    input times that tap's weights, summed into the output; in channel blocks
    that stay in cache (two passes per tap over a block)."""
    c, n, out = g.c, g.n, tuple(g.out)
    src = x.swapaxes(0, 1)  # (C, N, *padded) whatever g.batch_last says
    if any(g.pb) or any(g.pe):
        src = xp.zeros((c, n) + tuple(g.padded), dtype=x.dtype)
        src[(slice(None), slice(None)) + interior(g.pb, g.sp)] = x.swapaxes(0, 1)
    taps = list(windows(g.kernel, g.strides, g.dilations, out))
    wk = w.reshape((c, len(taps)) + (1,) * (g.nd + 1))
    ycn = xp.empty((c, n) + out, dtype=x.dtype)
    per = n * prod(out)
    step = max(1, min(c, DEPTHWISE_BLOCK // max(1, per)))
    tmp = xp.empty((step, n) + out, dtype=x.dtype)
    lead = (slice(None), slice(None))
    for c0 in range(0, c, step):
        c1 = min(c, c0 + step)
        acc, t, blk = ycn[c0:c1], tmp[:c1 - c0], src[c0:c1]
        for k, (_, sl) in enumerate(taps):
            if k == 0:
                xp.multiply(blk[lead + sl], wk[c0:c1, k], out=acc)
            else:
                xp.multiply(blk[lead + sl], wk[c0:c1, k], out=t)
                acc += t
        if b is not None:
            acc += _bshape(b[c0:c1], g.nd + 1)
    return _result(xp, ycn)


def _depthwise_flat(xp, x, w, b, g):
    """Depthwise conv as a sum over kernel taps of shifted, scaled inputs.

    Each channel's padded images are laid end to end in one flat row, so that
    a kernel tap, at stride 1, reads that row at a fixed offset: the output at
    every padded position (the positions past the valid ones are junk, and
    the row has a zero tail so the last taps stay inside) is
    ``sum_t w[:, t] * row[:, off_t : off_t + L]``, two long contiguous passes
    per tap.  Channels go in blocks small enough for the running sum and the
    product to stay in cache.  The valid corner is copied out, with the bias.
    """
    c, n, padded = g.c, g.n, tuple(g.padded)
    pitch = [prod(padded[i + 1:]) for i in range(g.nd)]
    offs = [sum(p * d * st for p, d, st in zip(pos, g.dilations, pitch))
            for pos in itertools.product(*[range(k) for k in g.kernel])]
    length = n * prod(padded)
    buf = xp.zeros((c, length + max(offs)), dtype=x.dtype)
    block = buf[:, :length].reshape((c, n) + padded)
    block[(slice(None), slice(None)) + interior(g.pb, g.sp)] = x.swapaxes(0, 1)
    wk = w.reshape(c, len(offs))
    acc = xp.empty((c, length), dtype=x.dtype)
    step = max(1, min(c, DEPTHWISE_BLOCK // max(1, length)))
    tmp = xp.empty((step, length), dtype=x.dtype)
    for c0 in range(0, c, step):
        c1 = min(c, c0 + step)
        out, t = acc[c0:c1], tmp[:c1 - c0]
        for k, off in enumerate(offs):
            src = buf[c0:c1, off:off + length]
            if k == 0:
                xp.multiply(src, wk[c0:c1, k:k + 1], out=out)
            else:
                xp.multiply(src, wk[c0:c1, k:k + 1], out=t)
                out += t
    valid = acc.reshape((c, n) + padded)[(slice(None), slice(None)) +
                                          tuple(slice(0, o) for o in g.out)]
    ycn = xp.empty((c, n) + tuple(g.out), dtype=x.dtype)
    if b is None:
        ycn[...] = valid
    else:
        xp.add(valid, _bshape(b, g.nd + 1), out=ycn)
    return _result(xp, ycn)


def _conv_forward(xp, x, w, b, geo):
    g = geo
    if _depthwise_ok(g, x, w, b):
        return _depthwise(xp, x, w, b, g)
    ones = _bias_in_gemm(g, b)
    wg = w.reshape(g.g, g.m // g.g, -1)
    if ones:
        wg = xp.concatenate([wg[0], b.reshape(-1, 1).astype(w.dtype, copy=False)], axis=1)[None]
    ycn = None
    chunks = batch_chunks(g.n, g.c * g.kk * g.p)
    for n0, n1 in chunks:
        col = _gemm_columns(xp, x, g, n0, n1, ones)
        if len(chunks) == 1:
            cache_put(x, _geom_key(x, g), col)
        yv = gemm(xp, wg, col)
        if g.batch_last:
            yv = yv.reshape((g.m,) + tuple(g.out) + (n1 - n0,))
            if ycn is None:
                ycn = xp.empty((g.m, g.n) + tuple(g.out), dtype=yv.dtype)
            _to_cn_block(xp, yv, ycn[:, n0:n1])
            continue
        yv = yv.reshape((g.m, n1 - n0) + tuple(g.out))
        if len(chunks) == 1:
            ycn = yv
            break
        if ycn is None:
            ycn = xp.empty((g.m, g.n) + tuple(g.out), dtype=yv.dtype)
        ycn[:, n0:n1] = yv
    if b is not None and not ones:
        ycn += _bshape(b, g.nd + 1).astype(ycn.dtype, copy=False)  # (M, N, *out)
    return _result(xp, ycn)


class _Known(tuple):
    """What shape inference knows well enough to run the geometry: (xs, m, nd, kernel)."""

    def __new__(cls, *items):
        return super().__new__(cls, items)


def _conv_infer_geom(op, types, attrs, transpose=False):
    """_Known(...) when the kernel is known, else the output shape (or None)."""
    xt, wt = types[0], types[1]
    if xt.rank is not None and wt.rank is not None and xt.rank != wt.rank:
        raise ShapeError(f"{op}: input {xt.shape} and weight {wt.shape} differ in rank")
    rank = xt.rank if xt.rank is not None else wt.rank
    if rank is None:
        return None
    if rank < 3:
        shown = xt.shape if xt.rank is not None else wt.shape
        raise ShapeError(f"{op}: input and weight need rank >= 3 (N, C, spatial...), "
                         f"got {shown}")
    nd = rank - 2
    xs = xt.shape if xt.shape is not None else (None,) * rank
    ws = wt.shape if wt.shape is not None else (None,) * rank
    kernel = attrs.get("kernel_shape") or ws[2:]
    g = int(attrs.get("group", 1))
    if transpose:
        m = ws[1] * g if isinstance(ws[1], int) else None
    else:
        m = ws[0]
        if isinstance(xs[1], int) and isinstance(ws[1], int) and xs[1] != ws[1] * g:
            raise ShapeError(f"{op}: input {xs} and weight {ws} do not fit group={g}")
    if any(not isinstance(k, int) for k in kernel):
        return (xs[0], m) + (None,) * nd
    return _Known(xs, m, nd, [int(k) for k in kernel])


def _conv_infer(types, attrs, values):
    r = _conv_infer_geom("Conv", types, attrs)
    dtype = types[0].dtype
    others = [t.dtype for t in types[1:3] if t is not None]
    if any(d != dtype for d in others):
        raise DTypeError(f"Conv: X, W and B must have one dtype, got "
                         f"{[t.dtype.short for t in types[:3] if t is not None]}")
    if not isinstance(r, _Known):
        return [TensorType(dtype, r)]
    xs, m, nd, kernel = r
    bt = types[2] if len(types) > 2 else None
    if bt is not None and bt.shape is not None and (
            len(bt.shape) != 1 or (isinstance(bt.shape[0], int) and isinstance(m, int)
                                   and bt.shape[0] != m)):
        raise ShapeError(f"Conv: bias of shape {bt.shape} does not fit {m} output channels")
    kernel, strides, dilations, pads = window_params("Conv", attrs, nd, kernel)
    ws = types[1].shape
    if ws is not None and all(isinstance(d, int) for d in ws[2:]) and \
            tuple(kernel) != tuple(ws[2:]):
        raise ShapeError(f"Conv: kernel_shape {kernel} differs from weight shape {ws}")
    out = geometry("Conv", xs[2:], kernel, strides, dilations, pads,
                   attrs.get("auto_pad", "NOTSET"))[0]
    return [TensorType(dtype, (xs[0], m) + tuple(out))]


def _conv_grad(xp, inputs, outputs, douts, attrs):
    """dX, dW, dB.  ``attrs["_need_grads"]`` (optional, one bool per input, as the
    autograd tape knows them) lets it skip dX for a first layer: None there."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    g = _ConvGeom("Conv", x.shape, w.shape, attrs)
    need = attrs.get("_need_grads") or (True,) * len(inputs)
    dy = douts[0]
    ones = _bias_in_gemm(g, b)
    mg, cgk = g.m // g.g, (g.c // g.g) * g.kk
    wgt = w.reshape(g.g, mg, cgk).swapaxes(1, 2)
    dw = dxcn = None
    chunks = batch_chunks(g.n, g.c * g.kk * g.p)
    for n0, n1 in chunks:
        if g.batch_last:  # (M, *out, nb), the column order of the batch-last buffer
            dyc = dy[n0:n1].transpose((1,) + tuple(range(2, g.nd + 2)) + (0,))
        else:
            dyc = dy[n0:n1].swapaxes(0, 1)
        dyc = xp.ascontiguousarray(dyc).reshape(g.g, mg, -1)
        col = cache_take(x, _geom_key(x, g)) if n1 - n0 == g.n else None
        if col is None or col.shape[1] != cgk + ones:
            col = _gemm_columns(xp, x, g, n0, n1, ones)
        # (col @ dY^T)^T: the long axis N*P is the inner one of both operands
        part = gemm(xp, col, dyc.swapaxes(1, 2))
        dw = part if dw is None else dw + part
        if not need[0]:
            continue
        dcol = gemm(xp, wgt, dyc)
        if g.batch_last:
            dcol = dcol.reshape((g.c,) + tuple(g.kernel) + tuple(g.out) + (n1 - n0,))
            dpad = _scatter_columns(xp, g, dcol, n1 - n0)
            dpad = dpad[(slice(None),) + interior(g.pb, g.sp)]
            if dxcn is None:
                dxcn = xp.empty((g.c, g.n) + tuple(g.sp), dtype=dpad.dtype)
            _to_cn_block(xp, dpad, dxcn[:, n0:n1])
            continue
        dcol = dcol.reshape((g.c,) + tuple(g.kernel) + (n1 - n0,) + tuple(g.out))
        dpad = _scatter_columns(xp, g, dcol, n1 - n0)
        dpad = dpad[(slice(None), slice(None)) + interior(g.pb, g.sp)]
        if len(chunks) == 1:
            dxcn = dpad
            break
        if dxcn is None:
            dxcn = xp.empty((g.c, g.n) + tuple(g.sp), dtype=dpad.dtype)
        dxcn[:, n0:n1] = dpad
    dx = None if dxcn is None else _result(xp, dxcn).astype(x.dtype, copy=False)
    dw = xp.ascontiguousarray(dw.swapaxes(1, 2))  # (G, Mg, Cg*K [+1])
    db = None
    if ones:
        db = dw[0, :, -1].astype(b.dtype)
        dw = dw[:, :, :-1]
    elif b is not None:
        db = dy.sum(axis=(0,) + tuple(range(2, dy.ndim))).astype(b.dtype, copy=False)
    dw = dw.reshape(w.shape).astype(w.dtype, copy=False)
    return [dx, dw, db][:len(inputs)]


@defop("Conv", pattern=Pattern.OUT_FUSABLE, infer=_conv_infer, grad=_conv_grad, since=1,
       defaults={"auto_pad": "NOTSET", "group": 1})
def conv(xp, inputs, attrs):
    """ONNX Conv: X (N, C, *sp), W (M, C/group, *k), optional B (M,)."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    geo = _ConvGeom("Conv", x.shape, w.shape, attrs)
    return [_conv_forward(xp, x, w, b, geo)]


# ------------------------------------------------------------------ ConvTranspose

class _ConvTGeom:
    """Shapes of ConvTranspose: X (N, C, *in), W (C, M/group, *k) -> (N, M, *out).

    The unpadded result spans ``full = s*(in-1) + (k-1)*d + 1 + output_padding``
    per axis; the output is its window ``[pb, pb + out)``.  ``lo`` (<= 0) and the
    buffer size leave room for windows that reach outside ``full``.
    """

    def __init__(self, op, xshape, wshape, attrs):
        sp, nd, pads, g = _kernel_window(self, op, xshape, wshape, attrs)
        if g < 1 or xshape[1] != wshape[0] or xshape[1] % g:
            raise ShapeError(f"{op}: input {tuple(xshape)} and weight {tuple(wshape)} do not "
                             f"fit group={g} (need C == W.shape[0], C % group == 0)")
        self.g, self.n, self.c, self.m = g, xshape[0], xshape[1], wshape[1] * g
        self.out, self.pb = convt_geometry(op, sp, self.kernel, self.strides,
                                           self.dilations, pads, attrs)
        self.sp, self.nd = sp, nd
        # buffer axis i covers full-result positions [lo_i, hi_i)
        full = [s * (n - 1) + (k - 1) * d + 1
                for s, n, k, d in zip(self.strides, sp, self.kernel, self.dilations)]
        self.lo = [min(0, b) for b in self.pb]
        hi = [max(f, b + o) for f, b, o in zip(full, self.pb, self.out)]
        self.buf = [h - lo for h, lo in zip(hi, self.lo)]
        self.base = [-lo for lo in self.lo]
        self.crop = tuple(slice(b - lo, b - lo + o) for b, lo, o in zip(self.pb, self.lo,
                                                                         self.out))
        self.kk = prod(self.kernel)
        self.p = prod(sp)


def convt_geometry(op, sp, kernel, strides, dilations, pads, attrs):
    """(out sizes, begin pads) of ConvTranspose per spatial axis (None if unknown)."""
    nd = len(sp)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    opad = ints(op, "output_padding", attrs.get("output_padding"), nd, 0)
    oshape = attrs.get("output_shape")
    if oshape is not None:
        oshape = [int(v) for v in oshape][-nd:]
        if len(oshape) != nd:
            raise ShapeError(f"{op}: output_shape {attrs.get('output_shape')} needs {nd} dims")
    outs, pbs = [], []
    for i in range(nd):
        n = sp[i]
        if not isinstance(n, int):
            outs.append(oshape[i] if oshape else None)
            pbs.append(None)
            continue
        full = strides[i] * (n - 1) + opad[i] + (kernel[i] - 1) * dilations[i] + 1
        if oshape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = oshape[i] if oshape is not None else n * strides[i]
            total = max(0, full - o)
            # ONNX spec: SAME_UPPER puts the odd pad at the end, anything else at the start
            pb = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        elif auto_pad == "VALID":
            o, pb = full, 0
        elif auto_pad in ("NOTSET", "", None):
            pb = pads[i]
            o = full - pads[i] - pads[nd + i]
        else:
            raise ShapeError(f"{op}: unknown auto_pad {auto_pad!r}")
        if o < 0:
            raise ShapeError(f"{op}: pads {pads} exceed the output size on axis {i}")
        outs.append(o)
        pbs.append(pb)
    return outs, pbs


def _convt_infer(types, attrs, values):
    r = _conv_infer_geom("ConvTranspose", types, attrs, transpose=True)
    dtype = types[0].dtype
    if not isinstance(r, _Known):
        return [TensorType(dtype, r)]
    xs, m, nd, kernel = r
    kernel, strides, dilations, pads = window_params("ConvTranspose", attrs, nd, kernel)
    out = convt_geometry("ConvTranspose", xs[2:], kernel, strides, dilations, pads, attrs)[0]
    return [TensorType(dtype, (xs[0], m) + tuple(out))]


def _convt_grad(xp, inputs, outputs, douts, attrs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    g = _ConvTGeom("ConvTranspose", x.shape, w.shape, attrs)
    dy = douts[0]
    cg, mgk = g.c // g.g, (g.m // g.g) * g.kk
    dbuf = xp.zeros((g.m, g.n) + tuple(g.buf), dtype=dy.dtype)
    dbuf[(slice(None), slice(None)) + g.crop] = dy.swapaxes(0, 1)
    col = im2col(xp, dbuf, g.kernel, g.strides, g.dilations, g.sp, g.base)
    col = col.reshape(g.g, mgk, -1)
    xt = xp.ascontiguousarray(x.swapaxes(0, 1)).reshape(g.g, cg, -1)
    dxt = gemm(xp, w.reshape(g.g, cg, mgk), col)
    dx = xp.ascontiguousarray(dxt.reshape((g.c, g.n) + tuple(g.sp)).swapaxes(0, 1))
    dw = gemm(xp, xt, col.swapaxes(1, 2)).reshape(w.shape)
    db = None
    if b is not None:
        db = dy.sum(axis=(0,) + tuple(range(2, dy.ndim))).astype(b.dtype, copy=False)
    return [dx.astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False), db][:len(inputs)]


@defop("ConvTranspose", pattern=Pattern.OUT_FUSABLE, infer=_convt_infer, grad=_convt_grad,
       since=1,
       defaults={"auto_pad": "NOTSET", "group": 1})
def conv_transpose(xp, inputs, attrs):
    """ONNX ConvTranspose: X (N, C, *in), W (C, M/group, *k), optional B (M,)."""
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    g = _ConvTGeom("ConvTranspose", x.shape, w.shape, attrs)
    cg, mgk = g.c // g.g, (g.m // g.g) * g.kk
    wgt = w.reshape(g.g, cg, mgk).swapaxes(1, 2)
    xt = xp.ascontiguousarray(x.swapaxes(0, 1)).reshape(g.g, cg, -1)
    col = gemm(xp, wgt, xt).reshape((g.m,) + tuple(g.kernel) + (g.n,) + tuple(g.sp))
    buf = col2im(xp, col, g.buf, g.kernel, g.strides, g.dilations, g.sp, g.base)
    yv = buf[(slice(None), slice(None)) + g.crop].swapaxes(0, 1)
    y = xp.empty(yv.shape, dtype=buf.dtype)
    if b is None:
        y[...] = yv
    else:
        xp.add(yv, _bshape(b, g.nd).astype(y.dtype, copy=False), out=y)
    return [y]
