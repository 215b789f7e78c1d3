"""SINGA's older autograd layers (``autograd.Conv2d(in_channels, out_channels, k)``,
``autograd.Linear(in_features, out_features)``...), as thin forms of
:mod:`singa.layer`'s.

They take the input sizes up front and create their parameters at once (on the
host; they follow the input to its device on the first call), where
:mod:`singa.layer`'s create them on the first call.  Everything else (the op
they run, initialisation, names, ``get_params``) is the :mod:`singa.layer` code.
"""

from __future__ import annotations

from . import layer_conv as _conv
from .layer_base import Layer
from .layer_dense import Dropout, Flatten, ReLU
from .layer_dense import Linear as _Linear

__all__ = ["Layer", "Conv2d", "Conv1d", "Linear", "MaxPool2d", "AvgPool2d", "MaxPool1d",
           "AvgPool1d", "BatchNorm2d", "Dropout", "ReLU", "Flatten"]


class Linear(_Linear):
    """``y = x @ W + b``; W of shape (in_features, out_features), created now."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(out_features, bias=bias)
        self._create(in_features)
        self._initialized = True


class Conv2d(_conv.Conv2d):
    """Convolution over NCHW input from ``in_channels`` to ``out_channels``
    (ONNX Conv); W and b created now."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 group=1, bias=True, pad_mode="NOTSET", **_ignored):
        super().__init__(out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, group=group, bias=bias, pad_mode=pad_mode)
        self._create(in_channels)
        self._initialized = True


class Conv1d(Conv2d):
    """Convolution over NCW input."""

    _rank = 1


class BatchNorm2d(_conv.BatchNorm2d):
    """Batch normalisation over ``num_features`` channels.  Unlike
    :class:`singa.layer.BatchNorm2d`, ``momentum`` has ONNX's meaning here, as
    this class always had: ``running = momentum * running + (1 - momentum) * batch``."""

    def __init__(self, num_features, momentum=0.9, epsilon=1e-5):
        super().__init__(num_features, momentum=momentum, epsilon=epsilon)
        self._create(num_features)
        self._initialized = True

    def _onnx_momentum(self) -> float:
        return self.momentum


class _PoolArgs:
    """The older pooling signature: ``(kernel_size, stride, padding, ceil_mode,
    dilation, count_include_pad)``; stride defaults to the kernel size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, dilation=1,
                 count_include_pad=False, pad_mode="NOTSET", **_ignored):
        super().__init__(kernel_size, stride, padding, pad_mode=pad_mode, ceil_mode=ceil_mode,
                         dilation=dilation, count_include_pad=count_include_pad)


class MaxPool2d(_PoolArgs, _conv.MaxPool2d):
    """2-d max pooling (ONNX MaxPool)."""


class AvgPool2d(_PoolArgs, _conv.AvgPool2d):
    """2-d average pooling (ONNX AveragePool)."""


class MaxPool1d(_PoolArgs, _conv.MaxPool1d):
    """1-d max pooling."""


class AvgPool1d(_PoolArgs, _conv.AvgPool1d):
    """1-d average pooling."""
