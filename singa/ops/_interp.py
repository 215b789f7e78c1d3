"""Separable interpolation of (B, C, spatial...) arrays at fractional positions.

GridSample and DeformConv read their input at positions given per output
element.  Along each spatial axis a position has a few *taps* (an index and a
weight: one for nearest, two for linear, four for Keys cubic); the value is the
sum, over every combination of one tap per axis, of the product of the weights
times the element the taps address.  Python loops run over those combinations
(at most 4**3), never over positions.

Taps that fall outside the input under ``zeros`` padding address a sentinel
row of zeros appended to the input, so a NaN elsewhere in the input never leaks
into them; ``border`` clamps a tap's index, ``reflection`` mirrors it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .index import scatter_add

PADDINGS = ("zeros", "border", "reflection")
MODES = ("nearest", "linear", "cubic")
KEYS_A = -0.75  # the cubic convolution constant of PyTorch and ONNX


def reflect(xp, x, lo: float, hi: float):
    """``x`` mirrored at ``lo`` and ``hi`` until it lies in ``[lo, hi]``, and the
    slope (+1 or -1) of that map at ``x``."""
    span = hi - lo
    if span <= 0:
        return xp.full_like(x, lo), xp.zeros_like(x)
    y = xp.mod(x - lo, 2 * span)
    flip = y > span
    return lo + xp.where(flip, 2 * span - y, y), xp.where(flip, -1.0, 1.0).astype(x.dtype)


def fit(xp, pos, size: int, padding: str, bounds):
    """Positions moved inside the input as ``padding`` asks, and d(moved)/d(pos).

    ``border`` clamps to the centres of the edge elements, ``reflection`` mirrors
    at ``bounds`` (the edge centres or the outer edges); ``zeros`` keeps them."""
    if padding == "border":
        inside = (pos >= 0) & (pos <= size - 1)
        return xp.clip(pos, 0, size - 1), inside.astype(pos.dtype)
    if padding == "reflection":
        return reflect(xp, pos, *bounds)
    return pos, xp.ones_like(pos)


def _far(s):
    return ((KEYS_A * s - 5 * KEYS_A) * s + 8 * KEYS_A) * s - 4 * KEYS_A


def _dfar(s):
    return (3 * KEYS_A * s - 10 * KEYS_A) * s + 8 * KEYS_A


def _near(s):
    return ((KEYS_A + 2) * s - (KEYS_A + 3)) * s * s + 1


def _dnear(s):
    return (3 * (KEYS_A + 2) * s - 2 * (KEYS_A + 3)) * s


def tap_weights(xp, mode, t):
    """(offsets, weights, d weight / d t) of the taps at ``floor(pos) + offset``
    for fractional parts ``t``."""
    if mode == "nearest":
        return [0], [xp.ones_like(t)], [xp.zeros_like(t)]
    if mode == "linear":
        return [0, 1], [1 - t, t], [-xp.ones_like(t), xp.ones_like(t)]
    u = 1 - t
    return ([-1, 0, 1, 2],
            [_far(t + 1), _near(t), _near(u), _far(u + 1)],
            [_dfar(t + 1), _dnear(t), -_dnear(u), -_dfar(u + 1)])


class _Tap:
    __slots__ = ("idx", "valid", "w", "dw")

    def __init__(self, idx, valid, w, dw):
        self.idx, self.valid, self.w, self.dw = idx, valid, w, dw


def axis_taps(xp, pos, size, mode, padding, bounds):
    """The taps of positions ``pos`` (already :func:`fit`) along an axis of ``size``."""
    base = xp.rint(pos) if mode == "nearest" else xp.floor(pos)
    offsets, weights, dweights = tap_weights(xp, mode, pos - base)
    with np.errstate(invalid="ignore"):  # NaN positions: any index, weight NaN
        base = base.astype(np.int64)
    taps = []
    for off, w, dw in zip(offsets, weights, dweights):
        i = base + off
        valid = None
        if padding == "zeros":
            valid = (i >= 0) & (i < size)
        elif padding == "border":
            i = xp.clip(i, 0, size - 1)
        else:
            i = xp.clip(xp.rint(reflect(xp, i.astype(np.float64), *bounds)[0]).astype(np.int64),
                        0, size - 1)
        taps.append(_Tap(i, valid, w, dw))
    return taps


class Sampler:
    """Reads a (B, C, *sizes) array at positions ``pos`` and scatters back.

    ``pos`` holds one (B, P) array per spatial axis, in element units, already
    :func:`fit` to the padding.  ``read`` gives (B, C, P); ``scatter`` is its
    adjoint in the input; ``grad_pos`` its derivative along each axis.
    """

    def __init__(self, xp, sizes, pos, mode, padding, bounds):
        self.xp, self.sizes, self.mode = xp, tuple(sizes), mode
        self.B, self.P = pos[0].shape
        self.S = math.prod(self.sizes)
        self.axes = [axis_taps(xp, p, n, mode, padding, b)
                     for p, n, b in zip(pos, self.sizes, bounds)]
        self.strides = [math.prod(self.sizes[a + 1:]) for a in range(len(self.sizes))]
        self.base = (xp.arange(self.B, dtype=np.int64) * self.S)[:, None]

    def _combos(self):
        """(taps, rows): per tap combination, the row of every position in the
        (B*S + 1, C) layout of the input (row B*S is the zero sentinel)."""
        xp = self.xp
        for taps in itertools.product(*self.axes):
            rows = self.base
            valid = None
            for t, st in zip(taps, self.strides):
                rows = rows + t.idx * st
                if t.valid is not None:
                    valid = t.valid if valid is None else valid & t.valid
            if valid is not None:
                rows = xp.where(valid, rows, self.B * self.S)
            yield taps, rows.reshape(-1)

    def _rows(self, x, dtype, fill=0):
        """x as (B*S + 1, C) rows in ``dtype``, the last row the zero sentinel."""
        xp = self.xp
        c = x.shape[1]
        xl = xp.empty((self.B * self.S + 1, c), dtype=dtype)
        xl[:-1] = xp.moveaxis(x.reshape(self.B, c, self.S), 1, 2).reshape(self.B * self.S, c)
        xl[-1] = fill
        return xl

    @staticmethod
    def _weight(taps, skip=None):
        w = None
        for a, t in enumerate(taps):
            f = t.dw if a == skip else t.w
            w = f if w is None else w * f
        return w.reshape(-1, 1)

    def read(self, x, dtype, fill=0):
        """Values at the positions: (B, C, P) in ``dtype`` (that of x for nearest)."""
        xp = self.xp
        c = x.shape[1]
        if self.mode == "nearest":
            xl = self._rows(x, x.dtype, fill)
            (_, rows), = self._combos()
            out = xl[rows]
        else:
            xl = self._rows(x, dtype)
            out = xp.zeros((self.B * self.P, c), dtype=dtype)
            for taps, rows in self._combos():
                out += xl[rows] * self._weight(taps)
        return xp.moveaxis(out.reshape(self.B, self.P, c), 2, 1)

    def scatter(self, dy):
        """The adjoint of :meth:`read`: (B, C, P) -> float64 (B, C, *sizes)."""
        xp = self.xp
        c = dy.shape[1]
        dyl = xp.moveaxis(dy, 1, 2).reshape(self.B * self.P, c)
        size = (self.B * self.S + 1) * c
        cols = xp.arange(c, dtype=np.int64)
        dx = xp.zeros(size, dtype=np.float64)
        for taps, rows in self._combos():
            dx += scatter_add(xp, rows[:, None] * c + cols, dyl * self._weight(taps), size)
        dx = dx[:-c].reshape(self.B, self.S, c)
        return xp.moveaxis(dx, 2, 1).reshape((self.B, c) + self.sizes)

    def grad_pos(self, x, dy, dtype):
        """d<dy, read(x)>/d pos along each axis: a list of (B, P) arrays."""
        xp = self.xp
        c = x.shape[1]
        if self.mode == "nearest":
            return [xp.zeros((self.B, self.P), dtype=dtype) for _ in self.axes]
        xl = self._rows(x, dtype)
        dyl = xp.moveaxis(dy, 1, 2).reshape(self.B * self.P, c).astype(dtype, copy=False)
        grads = [xp.zeros((self.B * self.P, 1), dtype=dtype) for _ in self.axes]
        for taps, rows in self._combos():
            g = (xl[rows] * dyl).sum(axis=1, keepdims=True)
            for a in range(len(self.axes)):
                grads[a] += g * self._weight(taps, skip=a)
        return [g.reshape(self.B, self.P) for g in grads]
