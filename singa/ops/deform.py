"""DeformConv: convolution whose kernel taps are displaced per output by ``offset``.

Each tap of each output reads the input at its regular position plus its
offset, bilinearly with zeros outside (``_interp.Sampler``, as GridSample at
element coordinates), optionally scaled by ``mask``.  Those samples are the
columns of an im2col-style product with the weights, group by group; offset
groups split the input channels, each with its own offsets and mask.
"""

from __future__ import annotations

import math

from ..errors import ShapeError
from ..ir.types import TensorType
from ._interp import Sampler
from ._window import geometry, window_params
from .base import defop
from .spatial import check_float_array, check_float_operand, work_dtype


class _Geom:
    """Kernel, output size and operand checks of one DeformConv call."""

    def __init__(self, xs, ws, attrs, offs=None):
        op = "DeformConv"
        if xs is None or ws is None:
            raise ShapeError(f"{op}: X and W shapes must be known")
        if len(xs) < 3 or len(ws) != len(xs):
            raise ShapeError(f"{op}: X {tuple(xs)} and W {tuple(ws)} must both be "
                             "(N, C, spatial...) of the same rank >= 3")
        self.nd = len(xs) - 2
        given = attrs.get("kernel_shape")
        self.kernel, self.strides, self.dilations, pads = window_params(
            op, attrs, self.nd, kernel=list(given) if given is not None else list(ws[2:]))
        self.out, self.pb, _, _ = geometry(op, xs[2:], self.kernel, self.strides,
                                           self.dilations, pads)
        self.group, self.og = attrs["group"], attrs["offset_group"]
        c, oc = xs[1], ws[0]
        if self.group < 1 or self.og < 1:
            raise ShapeError(f"{op}: group {self.group} and offset_group {self.og} must be >= 1")
        if isinstance(c, int) and isinstance(ws[1], int) and c != ws[1] * self.group:
            raise ShapeError(f"{op}: X has {c} channels, W {tuple(ws)} with group "
                             f"{self.group} expects {ws[1] * self.group}")
        if isinstance(oc, int) and oc % self.group:
            raise ShapeError(f"{op}: {oc} output channels do not split into {self.group} groups")
        if isinstance(c, int) and c % self.og:
            raise ShapeError(f"{op}: {c} channels do not split into {self.og} offset groups")
        if list(ws[2:]) != list(self.kernel) and all(isinstance(d, int) for d in ws[2:]):
            raise ShapeError(f"{op}: kernel_shape {self.kernel} differs from W {tuple(ws)}")
        self.taps = math.prod(self.kernel)
        if offs is not None:
            want = self.og * self.taps * self.nd
            if len(offs) != len(xs) or (isinstance(offs[1], int) and offs[1] != want):
                raise ShapeError(f"{op}: offset of shape {tuple(offs)} needs {want} channels "
                                 f"(offset_group x kernel taps x {self.nd})")
            for o, d in zip(self.out, offs[2:]):
                if isinstance(o, int) and isinstance(d, int) and o != d:
                    raise ShapeError(f"{op}: offset of shape {tuple(offs)} does not match the "
                                     f"output size {self.out}")
            self.out = [o if o is not None else d for o, d in zip(self.out, offs[2:])]

    def check_types(self, ws, bs, ms):
        """B and mask shapes against the geometry (any dim may be unknown)."""
        op = "DeformConv"
        want = {"B": (ws[0],), "mask": (None, self.og * self.taps) + tuple(self.out)}
        for name, got in (("B", bs), ("mask", ms)):
            if got is None:
                continue
            if len(got) != len(want[name]) or any(
                    isinstance(g, int) and isinstance(w, int) and g != w
                    for g, w in zip(got, want[name])):
                raise ShapeError(f"{op}: {name} of shape {tuple(got)}, expected "
                                 f"{want[name]}")

    def check_arrays(self, x, w, offset, b, mask):
        op = "DeformConv"
        for name, a in (("X", x), ("W", w), ("offset", offset), ("B", b), ("mask", mask)):
            if a is not None:
                check_float_array(op, name, a)
        n = x.shape[0]
        if offset.shape != (n, self.og * self.taps * self.nd) + tuple(self.out):
            raise ShapeError(f"{op}: offset of shape {offset.shape}, expected "
                             f"{(n, self.og * self.taps * self.nd) + tuple(self.out)}")
        if mask is not None and mask.shape != (n, self.og * self.taps) + tuple(self.out):
            raise ShapeError(f"{op}: mask of shape {mask.shape}, expected "
                             f"{(n, self.og * self.taps) + tuple(self.out)}")
        if b is not None and b.shape != (w.shape[0],):
            raise ShapeError(f"{op}: B of shape {b.shape}, expected {(w.shape[0],)}")


def _dc_infer(types, attrs, values):
    x, w, off = types[:3]
    for i, name in enumerate(("X", "W", "offset", "B", "mask")):
        if i < len(types):
            check_float_operand("DeformConv", name, types[i])
    if x.shape is None or w.shape is None:
        return [TensorType(x.dtype, None)]
    if attrs.get("kernel_shape") is None and not all(isinstance(d, int) for d in w.shape[2:]):
        # kernel unknown: the offset's spatial dims are the output's
        out = off.shape[2:] if off.shape is not None else (None,) * (len(x.shape) - 2)
        return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + tuple(out))]
    g = _Geom(x.shape, w.shape, attrs, off.shape)
    g.check_types(w.shape, *[types[i].shape if len(types) > i and types[i] is not None else None
                             for i in (3, 4)])
    return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + tuple(g.out))]


class _Call:
    """Sampled columns of one DeformConv call: (N, C, K, O) before the mask."""

    def __init__(self, xp, inputs, attrs):
        x, w, offset = inputs[:3]
        b = inputs[3] if len(inputs) > 3 else None
        mask = inputs[4] if len(inputs) > 4 else None
        g = self.geom = _Geom(x.shape, w.shape, attrs, offset.shape)
        g.check_arrays(x, w, offset, b, mask)
        self.x, self.w, self.b, self.mask = x, w, b, mask
        self.dtype = work_dtype(x.dtype, w.dtype)
        n, c = x.shape[:2]
        sizes = x.shape[2:]
        self.O = math.prod(g.out)
        # regular tap positions (one (K, O) array per axis): output origin + tap
        mesh = xp.meshgrid(*[xp.arange(k, dtype=self.dtype) for k in g.kernel],
                           *[xp.arange(o, dtype=self.dtype) for o in g.out], indexing="ij")
        off = offset.astype(self.dtype).reshape(n, g.og, g.taps, g.nd, self.O)
        pos = []
        for a in range(g.nd):
            base = mesh[g.nd + a] * g.strides[a] - g.pb[a] + mesh[a] * g.dilations[a]
            pos.append((base.reshape(g.taps, self.O) + off[:, :, :, a, :])
                       .reshape(n * g.og, g.taps * self.O))
        self.sampler = Sampler(xp, sizes, pos, "linear", "zeros",
                               [(0.0, s - 1.0) for s in sizes])
        self.xg = x.reshape((n * g.og, c // g.og) + tuple(sizes))
        self.cols = self.sampler.read(self.xg, self.dtype).reshape(n, g.og, c // g.og,
                                                                   g.taps, self.O)

    def masked(self):
        if self.mask is None:
            return self.cols
        g = self.geom
        m = self.mask.astype(self.dtype).reshape(self.x.shape[0], g.og, 1, g.taps, self.O)
        return self.cols * m

    def weights(self):
        g, w = self.geom, self.w
        return w.astype(self.dtype).reshape(g.group, w.shape[0] // g.group,
                                            w.shape[1] * g.taps)

    def grouped(self, cols):
        """(N, C, K, O)-ordered columns as (N, group, C/group * K, O)."""
        g = self.geom
        return cols.reshape(self.x.shape[0], g.group, self.x.shape[1] // g.group * g.taps,
                            self.O)


def _deform_conv_grad(xp, inputs, outputs, douts, attrs):
    call = _Call(xp, inputs, attrs)
    g, x, n = call.geom, call.x, call.x.shape[0]
    dy = douts[0].astype(call.dtype).reshape(n, g.group, call.w.shape[0] // g.group, call.O)
    cols = call.grouped(call.masked())
    dw = xp.matmul(dy, xp.swapaxes(cols, 2, 3)).sum(axis=0).reshape(call.w.shape)
    dcols = xp.matmul(xp.swapaxes(call.weights(), 1, 2)[None], dy)
    dcols = dcols.reshape(call.cols.shape)
    dmask = None
    if call.mask is not None:
        dmask = (dcols * call.cols).sum(axis=2).reshape(call.mask.shape).astype(call.mask.dtype)
        dcols = dcols * call.mask.astype(call.dtype).reshape(n, g.og, 1, g.taps, call.O)
    dcols = dcols.reshape(n * g.og, x.shape[1] // g.og, g.taps * call.O)
    dx = call.sampler.scatter(dcols).reshape(x.shape).astype(x.dtype)
    dpos = call.sampler.grad_pos(call.xg, dcols, call.dtype)
    doff = xp.stack([d.reshape(n, g.og, g.taps, call.O) for d in dpos], axis=3)
    offset = inputs[2]
    db = None
    if call.b is not None:
        db = douts[0].astype(call.dtype).reshape(n, call.w.shape[0], call.O).sum(axis=(0, 2))
        db = db.astype(call.b.dtype)
    return [dx, dw.astype(call.w.dtype), doff.reshape(offset.shape).astype(offset.dtype),
            db, dmask]


@defop("DeformConv", infer=_dc_infer, grad=_deform_conv_grad, since=19,
       defaults={"group": 1, "offset_group": 1})
def _deform_conv(xp, inputs, attrs):
    call = _Call(xp, inputs, attrs)
    n = call.x.shape[0]
    y = xp.matmul(call.weights()[None], call.grouped(call.masked()))
    y = y.reshape((n, call.w.shape[0]) + tuple(call.geom.out))
    if call.b is not None:
        y = y + call.b.astype(call.dtype).reshape((1, call.w.shape[0]) + (1,) * call.geom.nd)
    return [y.astype(call.x.dtype)]
