"""SINGA's autograd layers: objects that own parameters and call table ops.

Parameters are created on the host at construction and follow the input to
its device on the first call.
"""

from __future__ import annotations

import math

import numpy as np

from . import tensor as _tensor
from .tensor import Tensor

__all__ = ["Layer", "Conv2d", "Conv1d", "Linear", "MaxPool2d", "AvgPool2d", "MaxPool1d",
           "AvgPool1d", "BatchNorm2d", "Dropout", "ReLU", "Flatten"]


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _param(shape, std=None, fill=None, name=None) -> Tensor:
    t = Tensor(shape, requires_grad=True, stores_grad=True, name=name)
    if std is not None:
        t.data[...] = _tensor.rng().normal(0.0, std, shape).astype(np.float32)
    elif fill is not None:
        t.data[...] = fill
    return t


class Layer:
    """Base class: ``layer(x)`` calls ``forward``; parameters by name via get_params()."""

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _state(self):
        return {k: v for k, v in vars(self).items() if isinstance(v, Tensor)}

    def get_params(self) -> dict:
        """Trainable tensors by attribute name."""
        return {k: v for k, v in self._state().items() if v.stores_grad}

    def set_params(self, params: dict) -> None:
        for k, v in params.items():
            getattr(self, k).copy_from_numpy(np.asarray(v))

    def _follow(self, x: Tensor) -> None:
        for t in self._state().values():
            t.to_device(x.device)


class Conv2d(Layer):
    """2-D convolution over NCHW input (ONNX Conv)."""

    _rank = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 group=1, bias=True, pad_mode="NOTSET", **_ignored):
        n = self._rank
        self.in_channels, self.out_channels, self.group = in_channels, out_channels, group
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.dilation = _tuple(dilation, n)
        p = _tuple(padding, n)
        self.pads = list(p) + list(p)
        self.pad_mode = pad_mode
        if in_channels % group or out_channels % group:
            from .errors import ShapeError
            raise ShapeError(f"Conv: channels {in_channels}->{out_channels} not divisible by group {group}")
        fan_in = in_channels // group * math.prod(self.kernel_size)
        self.W = _param((out_channels, in_channels // group) + self.kernel_size,
                        std=math.sqrt(2.0 / fan_in))
        self.b = _param((out_channels,), fill=0.0) if bias else None

    def _attrs(self):
        a = {"kernel_shape": list(self.kernel_size), "strides": list(self.stride),
             "dilations": list(self.dilation), "group": self.group}
        if self.pad_mode in ("SAME_UPPER", "SAME_LOWER", "VALID"):
            a["auto_pad"] = self.pad_mode
        else:
            a["pads"] = self.pads
        return a

    def forward(self, x):
        self._follow(x)
        from .autograd import apply
        return apply("Conv", [x, self.W, self.b], self._attrs())[0]


class Conv1d(Conv2d):
    """1-D convolution over NCW input."""

    _rank = 1


class Linear(Layer):
    """y = x @ W (+ b); W has shape (in_features, out_features) as in SINGA."""

    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = in_features, out_features
        self.W = _param((in_features, out_features), std=math.sqrt(2.0 / (in_features + out_features)))
        self.b = _param((out_features,), fill=0.0) if bias else None

    def forward(self, x):
        self._follow(x)
        from .autograd import apply
        y = apply("MatMul", [x, self.W])[0]
        return apply("Add", [y, self.b])[0] if self.b is not None else y


class _Pool(Layer):
    _op = "MaxPool"
    _rank = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, dilation=1,
                 count_include_pad=False, **_ignored):
        n = self._rank
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride if stride is not None else kernel_size, n)
        p = _tuple(padding, n)
        self.pads = list(p) + list(p)
        self.ceil_mode = int(ceil_mode)
        self.dilation = _tuple(dilation, n)
        self.count_include_pad = int(count_include_pad)

    def forward(self, x):
        from .autograd import apply
        a = {"kernel_shape": list(self.kernel_size), "strides": list(self.stride),
             "pads": self.pads, "ceil_mode": self.ceil_mode}
        if any(d != 1 for d in self.dilation):
            a["dilations"] = list(self.dilation)
        if self._op == "AveragePool":
            a["count_include_pad"] = self.count_include_pad
        return apply(self._op, [x], a)[0]


class MaxPool2d(_Pool):
    """2-D max pooling (ONNX MaxPool); stride defaults to the kernel size."""


class AvgPool2d(_Pool):
    """2-D average pooling (ONNX AveragePool)."""

    _op = "AveragePool"


class MaxPool1d(_Pool):
    _rank = 1


class AvgPool1d(_Pool):
    _op = "AveragePool"
    _rank = 1


class BatchNorm2d(Layer):
    """Batch normalisation over NCHW; running stats follow SINGA/ONNX momentum:
    running = momentum * running + (1 - momentum) * batch."""

    def __init__(self, num_features, momentum=0.9, epsilon=1e-5):
        self.num_features, self.momentum, self.epsilon = num_features, momentum, epsilon
        self.scale = _param((num_features,), fill=1.0)
        self.bias = _param((num_features,), fill=0.0)
        self.running_mean = Tensor((num_features,), requires_grad=False)
        self.running_var = Tensor((num_features,), requires_grad=False).set_value(1.0)

    def forward(self, x):
        self._follow(x)
        from . import autograd
        train = autograd.training
        attrs = {"epsilon": self.epsilon, "momentum": self.momentum, "training_mode": int(train)}
        outs = autograd.apply("BatchNormalization",
                              [x, self.scale, self.bias, self.running_mean, self.running_var], attrs)
        if train:
            self.running_mean.data[...] = outs[1].data
            self.running_var.data[...] = outs[2].data
        return outs[0]


class Dropout(Layer):
    """Drops each element with probability ``ratio`` while training."""

    def __init__(self, ratio=0.5):
        self.ratio = ratio

    def forward(self, x):
        from .functions import dropout
        return dropout(x, self.ratio)


class ReLU(Layer):
    def forward(self, x):
        from .functions import relu
        return relu(x)


class Flatten(Layer):
    def __init__(self, axis=1):
        self.axis = axis

    def forward(self, x):
        from .functions import flatten
        return flatten(x, self.axis)
