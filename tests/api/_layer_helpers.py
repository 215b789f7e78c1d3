"""References shared by the layer and model tests: float64 inputs, central
finite differences, and NumPy convolution / pooling written out by loops."""

from __future__ import annotations

import numpy as np

from singa import autograd, layer
from singa.tensor import Tensor


def T(*shape, seed=0, scale=1.0, grad=False) -> Tensor:
    """A float64 Tensor of normal samples; ``grad``: backward yields its gradient."""
    a = np.random.default_rng(seed).normal(size=shape) * scale
    return Tensor(data=a, requires_grad=True, stores_grad=grad)


def check_grads(fn, tensors, eps=1e-6, rtol=1e-5, atol=1e-8, seed=7):
    """Compare backward's gradients of ``sum(fn() * w)`` (random ``w``) for each of
    ``tensors`` with central differences of the same sum."""
    out = fn()
    w = np.random.default_rng(seed).normal(size=out.shape)
    got = {id(p): g.numpy() for p, g in autograd.backward(out, dy=w)}

    def value():
        return float((fn().numpy() * w).sum())

    for t in tensors:
        assert id(t) in got, f"no gradient for a tensor of shape {t.shape}"
        num = np.zeros(t.shape)
        for idx in np.ndindex(*t.shape):
            orig = t.data[idx]
            t.data[idx] = orig + eps
            up = value()
            t.data[idx] = orig - eps
            down = value()
            t.data[idx] = orig
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(got[id(t)], num, rtol=rtol, atol=atol)


def conv_ref(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), group=1):
    """NCHW convolution; ``pads`` = (top, bottom, left, right)."""
    x = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    n, _, h, wd = x.shape
    m, cg, kh, kw = w.shape
    eh, ew = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    oh, ow = (h - eh) // stride[0] + 1, (wd - ew) // stride[1] + 1
    mg = m // group
    y = np.zeros((n, m, oh, ow))
    for g in range(group):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * mg:(g + 1) * mg]
        for i in range(oh):
            for j in range(ow):
                r, c = i * stride[0], j * stride[1]
                patch = xs[:, :, r:r + eh:dilation[0], c:c + ew:dilation[1]]
                y[:, g * mg:(g + 1) * mg, i, j] = np.einsum("nchw,mchw->nm", patch, ws)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def pool_ref(x, kernel, stride, pads=(0, 0, 0, 0), is_max=True):
    """NCHW pooling; ``pads`` = (top, bottom, left, right); averages leave padding out."""
    padding = ((0, 0), (0, 0), pads[:2], pads[2:])
    xp = np.pad(x, padding, constant_values=-np.inf if is_max else 0.0)
    count = np.pad(np.ones_like(x), padding)
    _, _, h, w = xp.shape
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = (slice(None), slice(None), slice(i * stride[0], i * stride[0] + kernel[0]),
                   slice(j * stride[1], j * stride[1] + kernel[1]))
            if is_max:
                y[:, :, i, j] = xp[win].max(axis=(2, 3))
            else:
                y[:, :, i, j] = xp[win].sum(axis=(2, 3)) / count[win].sum(axis=(2, 3))
    return y


def softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class DoubleLinear(layer.Layer):
    """Two Linear sublayers: SINGA's tests' model of a nested layer."""

    def __init__(self, a, b, c):
        super().__init__()
        self.l1 = layer.Linear(a, b)
        self.l2 = layer.Linear(b, c)

    def forward(self, x):
        return self.l2(self.l1(x))
