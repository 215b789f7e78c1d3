"""SINGA's network operators that take a "handle": ``conv2d``, ``pooling_2d``,
``batchnorm_2d`` (and their classes ``_Conv2d``, ``_Pooling2d``,
``_BatchNorm2d``), and ``Dropout``.

In SINGA a handle is a C++ object (``singa_wrap.ConvHandle``...) holding the
op's geometry.  Here any object with the same attribute names will do;
:class:`ConvHandle`, :class:`PoolingHandle` and :class:`BatchNormHandle` are
Python equivalents built with SINGA's constructor arguments.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .operators import Operator, const, i64, run

__all__ = ["Dropout", "_Conv2d", "_Pooling2d", "_BatchNorm2d", "ConvHandle", "CudnnConvHandle",
           "PoolingHandle", "CudnnPoolingHandle", "BatchNormHandle", "CudnnBatchNormHandle"]


def _pair(v):
    v = list(v) if isinstance(v, (tuple, list)) else [v, v]
    return int(v[0]), int(v[1])


class ConvHandle:
    """Geometry of a 2-D convolution, as SINGA's ``ConvHandle(input, kernel_size,
    stride, padding, in_channels, out_channels, bias, groups)``."""

    def __init__(self, input, kernel_size, stride, padding, in_channels, out_channels,  # noqa: A002
                 bias, groups=1, workspace_byte_limit=None, prefer=None):
        self.kernel_h, self.kernel_w = _pair(kernel_size)
        self.stride_h, self.stride_w = _pair(stride)
        self.pad_h, self.pad_w = _pair(padding)
        self.channels, self.num_filters = int(in_channels), int(out_channels)
        self.bias_term, self.group = bool(bias), int(groups)
        self.batchsize = int(input.shape[0])


class PoolingHandle:
    """Geometry of a 2-D pooling, as SINGA's ``PoolingHandle(input, kernel_size,
    stride, padding, is_max=True)`` (average pooling excludes the padding)."""

    def __init__(self, input, kernel_size, stride, padding, is_max=True):  # noqa: A002
        self.kernel_h, self.kernel_w = _pair(kernel_size)
        self.stride_h, self.stride_w = _pair(stride)
        self.pad_h, self.pad_w = _pair(padding)
        self.is_max_pooling = bool(is_max)
        n, _, h, w = input.shape
        self.batchsize = int(n)
        self.pooled_height = (h + 2 * self.pad_h - self.kernel_h) // self.stride_h + 1
        self.pooled_width = (w + 2 * self.pad_w - self.kernel_w) // self.stride_w + 1


class BatchNormHandle:
    """SINGA's ``BatchNormHandle(momentum, input)``: ``factor`` is the weight of the
    batch statistics in the running ones (running = (1 - factor) * running + factor * batch)."""

    def __init__(self, momentum, input):  # noqa: A002
        self.factor = float(momentum)
        self.batchsize = int(input.shape[0])
        self.channels = int(input.shape[1])


CudnnConvHandle, CudnnPoolingHandle, CudnnBatchNormHandle = ConvHandle, PoolingHandle, BatchNormHandle


def _check_4d(op, x):
    if x.ndim != 4:
        raise ShapeError(f"{op}: input must be 4-D (NCHW), got shape {x.shape}")


class _Conv2d(Operator):
    """Convolution by a handle's geometry; ``odd_padding`` (top, bottom, left, right)
    adds zero rows/columns on one side only, as SINGA's 'SAME' padding needs."""

    def __init__(self, handle, odd_padding=(0, 0, 0, 0)):
        super().__init__()
        self.handle, self.odd_padding = handle, tuple(odd_padding)

    def _forward(self, x, W, b=None):
        _check_4d("Conv2d", x)
        h, (top, bottom, left, right) = self.handle, self.odd_padding
        attrs = {"kernel_shape": [h.kernel_h, h.kernel_w], "strides": [h.stride_h, h.stride_w],
                 "pads": [h.pad_h + top, h.pad_w + left, h.pad_h + bottom, h.pad_w + right],
                 "group": h.group}
        return run("Conv", [x, W, b if h.bias_term else None], attrs)


def _odd_pad_copies(x, odd_padding):
    """x extended by copies of its own first/last rows and columns (SINGA's odd
    padding before pooling): (top, bottom, left, right) counts."""
    for (axis, at_start), n in zip([(2, True), (2, False), (3, True), (3, False)], odd_padding):
        if n == 0:
            continue
        size = x.shape[axis]
        lo, hi = (0, n) if at_start else (size - n, size)
        piece = run("Slice", [x, i64([lo], x), i64([hi], x), i64([axis], x)])[0]
        x = run("Concat", [piece, x] if at_start else [x, piece], {"axis": axis})[0]
    return x


class _Pooling2d(Operator):
    """Max or average pooling by a handle's geometry (average excludes padding)."""

    def __init__(self, handle, odd_padding=(0, 0, 0, 0)):
        super().__init__()
        self.handle, self.odd_padding = handle, tuple(odd_padding)

    def _forward(self, x):
        _check_4d("Pooling2d", x)
        h = self.handle
        x = _odd_pad_copies(x, self.odd_padding)
        attrs = {"kernel_shape": [h.kernel_h, h.kernel_w], "strides": [h.stride_h, h.stride_w],
                 "pads": [h.pad_h, h.pad_w, h.pad_h, h.pad_w]}
        if h.is_max_pooling:
            return run("MaxPool", [x], attrs)
        return run("AveragePool", [x], dict(attrs, count_include_pad=0))


class _BatchNorm2d(Operator):
    """Batch normalisation (epsilon 1e-5).  While ``autograd.training`` it normalises
    by the batch statistics and updates ``running_mean``/``running_var`` in place
    with the handle's ``factor``; otherwise it uses the running statistics."""

    def __init__(self, handle, running_mean, running_var, name=None):
        super().__init__(name)
        self.handle, self.running_mean, self.running_var = handle, running_mean, running_var

    def _forward(self, x, scale, bias):
        from . import autograd
        train = bool(autograd.training)
        attrs = {"epsilon": 1e-5, "momentum": 1.0 - self.handle.factor, "training_mode": int(train)}
        outs = run("BatchNormalization", [x, scale, bias, self.running_mean, self.running_var], attrs)
        if train:
            self.running_mean.data[...] = outs[1].data
            self.running_var.data[...] = outs[2].data
        return outs[:1]


class Dropout(Operator):
    """While ``autograd.training``, zero each element with probability ``ratio`` and
    scale the rest by 1 / (1 - ratio); the identity otherwise.  A nonzero ``seed``
    makes the mask reproducible; 0 draws from the array module's generator."""

    def __init__(self, seed=0, ratio=0.5):
        super().__init__()
        self.seed, self.ratio = int(seed), ratio

    def _forward(self, x):
        from . import autograd
        ratio = const(self.ratio, x, np.float32)
        mode = const(bool(autograd.training), x)
        return run("Dropout", [x, ratio, mode], {"seed": self.seed} if self.seed else None)[:1]
