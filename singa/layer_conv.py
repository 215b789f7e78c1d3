"""SINGA's convolution, batch-normalisation and pooling layers over the op
table's ONNX ``Conv``, ``BatchNormalization``, ``MaxPool`` and ``AveragePool``.

Padding follows SINGA: an int (every side), one value per spatial dim (both
sides), or ``(begin, end)`` pairs per dim, e.g. ``(top, bottom, left, right)``;
``pad_mode`` 'SAME_UPPER' / 'SAME_LOWER' / 'VALID' become ONNX ``auto_pad``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ShapeError
from .layer_base import Layer, float_dtype, new_param, new_state

__all__ = ["Conv2d", "SeparableConv2d", "BatchNorm2d", "Pooling2d", "MaxPool2d", "AvgPool2d",
           "MaxPool1d", "AvgPool1d"]

_PAD_MODES = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
_CONV_OPTIONS = ("cudnn_prefer", "workspace_MB_limit")  # SINGA's cuDNN tuning, accepted


def _per_dim(value, rank, what, layer):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    if isinstance(value, (tuple, list)) and len(value) == rank:
        return tuple(int(v) for v in value)
    raise ValueError(f"{layer}: {what} must be an int or {rank} ints, not {value!r}")


def _onnx_pads(padding, rank, layer):
    """SINGA padding -> ONNX ``pads`` (all begins, then all ends)."""
    if padding is None:  # SINGA allows None with a SAME pad_mode
        return [0] * (2 * rank)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 * rank and len(padding) != rank:
        return [int(p) for p in padding[0::2]] + [int(p) for p in padding[1::2]]
    p = _per_dim(padding, rank, "padding", layer)
    return list(p) + list(p)


def _check_pad_mode(pad_mode, layer):
    if pad_mode not in _PAD_MODES:
        raise ValueError(f"{layer}: pad_mode must be one of {_PAD_MODES}, not {pad_mode!r}")
    return pad_mode


def _check_rank(x, rank, what):
    if x.ndim != rank + 2:
        raise ShapeError(f"expects a {rank + 2}-d {what} input, got shape {x.shape}")


class Conv2d(Layer):
    """2-d convolution (ONNX Conv) with ``nb_kernels`` filters over NCHW input.

    ``Conv2d(nb_kernels, kernel_size, ...)`` takes the input channels from the
    first input; SINGA's older ``Conv2d(in_channels, nb_kernels, kernel_size,
    stride, padding)`` fixes them.  ``W`` is drawn from
    N(0, 2 / (in_channels / group * kh * kw + nb_kernels)), ``b`` starts at
    zero.  ``activation='RELU'`` applies a ReLU after the convolution.
    """

    _rank = 2

    def __init__(self, nb_kernels, kernel_size, *args, stride=1, padding=0, dilation=1, group=1,
                 bias=True, pad_mode="NOTSET", activation="NOTSET", **kwargs):
        super().__init__()
        self.in_channels = None
        if args:  # the older (in_channels, nb_kernels, kernel_size, stride, padding) form
            self.in_channels, nb_kernels, kernel_size = nb_kernels, kernel_size, args[0]
            stride = args[1] if len(args) > 1 else stride
            padding = args[2] if len(args) > 2 else padding
        label, n = type(self).__name__, self._rank
        unknown = sorted(set(kwargs) - set(_CONV_OPTIONS))
        if unknown:
            raise TypeError(f"{label}: unexpected keyword argument(s) {unknown}")
        if activation not in ("NOTSET", "RELU"):
            raise ValueError(f"{label}: activation must be 'NOTSET' or 'RELU', not {activation!r}")
        if group < 1 or nb_kernels % group:
            raise ShapeError(f"{label}: {nb_kernels} kernels cannot form {group} groups")
        self.inner_params = {"cudnn_prefer": "fastest", "workspace_MB_limit": 1024, **kwargs}
        self.nb_kernels, self.group, self.bias = nb_kernels, group, bias
        self.kernel_size = _per_dim(kernel_size, n, "kernel_size", label)
        self.stride = _per_dim(stride, n, "stride", label)
        self.dilation = _per_dim(dilation, n, "dilation", label)
        self.pads = _onnx_pads(padding, n, label)
        self.padding = tuple(self.pads[:n])
        self.pad_mode = _check_pad_mode(pad_mode, label)
        self.activation = activation

    def initialize(self, x):
        _check_rank(x, self._rank, "NC" + "DHW"[-self._rank:])
        channels = x.shape[1]
        if self.in_channels is not None and channels != self.in_channels:
            raise ShapeError(f"expects {self.in_channels} input channels, got input of "
                             f"shape {x.shape}")
        self._create(channels, x.device, float_dtype(x))

    def _create(self, in_channels, device=None, dtype=np.float32):
        if in_channels % self.group:
            raise ShapeError(f"{self._label()}: {in_channels} input channels cannot form "
                             f"{self.group} groups")
        self.in_channels = in_channels
        per_group = in_channels // self.group
        self.W = new_param((self.nb_kernels, per_group) + self.kernel_size, device, dtype)
        fan = per_group * math.prod(self.kernel_size) + self.nb_kernels
        self.W.gaussian(0.0, math.sqrt(2.0 / fan))
        self.b = new_param((self.nb_kernels,), device, dtype) if self.bias else None

    def _attrs(self) -> dict:
        attrs = {"kernel_shape": list(self.kernel_size), "strides": list(self.stride),
                 "dilations": list(self.dilation), "group": self.group}
        if self.pad_mode == "NOTSET":
            attrs["pads"] = list(self.pads)
        else:
            attrs["auto_pad"] = self.pad_mode
        return attrs

    def forward(self, x):
        _check_rank(x, self._rank, "NC" + "DHW"[-self._rank:])
        if x.shape[1] != self.in_channels:
            raise ShapeError(f"expects {self.in_channels} input channels, got input of "
                             f"shape {x.shape}")
        self.device_check(x, self.W, self.b)
        self.dtype_check(x, self.W, self.b)
        y = autograd.apply("Conv", [x, self.W, self.b], self._attrs())[0]
        return autograd.relu(y) if self.activation == "RELU" else y


class SeparableConv2d(Layer):
    """A depthwise convolution (one filter per input channel) followed by a
    1x1 convolution to ``nb_kernels`` channels; the two are sublayers
    ``depthwise_conv`` and ``point_conv``."""

    def __init__(self, nb_kernels, kernel_size, *args, stride=1, padding=0, bias=False):
        super().__init__()
        if args:  # the older (in_channels, nb_kernels, kernel_size, stride, padding) form
            nb_kernels, kernel_size = kernel_size, args[0]
            stride = args[1] if len(args) > 1 else stride
            padding = args[2] if len(args) > 2 else padding
        self.nb_kernels, self.kernel_size = nb_kernels, kernel_size
        self.stride, self.padding, self.bias = stride, padding, bias

    def initialize(self, x):
        _check_rank(x, 2, "NCHW")
        channels = x.shape[1]
        self.in_channels = channels
        self.depthwise_conv = Conv2d(channels, self.kernel_size, stride=self.stride,
                                     padding=self.padding, group=channels, bias=self.bias)
        self.point_conv = Conv2d(self.nb_kernels, 1, bias=self.bias)

    def forward(self, x):
        return self.point_conv(self.depthwise_conv(x))


class BatchNorm2d(Layer):
    """Batch normalisation over the channels (axis 1) of NCHW input.

    While training (``autograd.training``) it normalises with the batch
    statistics and updates the running ones as SINGA does:
    ``running = (1 - momentum) * running + momentum * batch``; otherwise it
    uses the running statistics.  ``scale`` starts at 1, ``bias`` at 0.
    """

    _state_attrs = ("running_mean", "running_var")

    def __init__(self, *args, momentum=0.9, epsilon=1e-5):
        super().__init__()
        self.channels = args[0] if args else None
        self.momentum = args[1] if len(args) > 1 else momentum
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm2d: momentum must lie in [0, 1], not {self.momentum}")
        self.epsilon = epsilon

    def initialize(self, x):
        self._check(x, self.channels)
        self._create(x.shape[1], x.device, float_dtype(x))

    def _check(self, x, channels):
        if x.ndim < 2:
            raise ShapeError(f"expects an (N, C, ...) input, got shape {x.shape}")
        if channels is not None and x.shape[1] != channels:
            raise ShapeError(f"expects {channels} channels, got input of shape {x.shape}")

    def _create(self, channels, device=None, dtype=np.float32):
        self.channels = channels
        self.scale = new_param((channels,), device, dtype).set_value(1.0)
        self.bias = new_param((channels,), device, dtype)
        self.running_mean = new_state((channels,), device, dtype, 0.0)
        self.running_var = new_state((channels,), device, dtype, 1.0)

    def _onnx_momentum(self) -> float:
        """ONNX weights the running statistic by ``momentum``; SINGA the batch's."""
        return 1.0 - self.momentum

    def forward(self, x):
        self._check(x, self.channels)
        tensors = (self.scale, self.bias, self.running_mean, self.running_var)
        self.device_check(x, *tensors)
        self.dtype_check(x, *tensors)
        training = bool(autograd.training)
        attrs = {"epsilon": float(self.epsilon), "momentum": float(self._onnx_momentum()),
                 "training_mode": int(training)}
        outs = autograd.apply("BatchNormalization", [x, *tensors], attrs)
        if training:
            self.running_mean.copy_data(outs[1])
            self.running_var.copy_data(outs[2])
        return outs[0]


class Pooling2d(Layer):
    """Max (``is_max``) or average pooling over the spatial dims; ``stride``
    defaults to the kernel size.  Average pooling leaves padding out of the
    count, as SINGA does; ``ceil_mode``, ``count_include_pad`` and ``dilation``
    give the other ONNX forms."""

    _rank = 2

    def __init__(self, kernel_size, stride=None, padding=0, is_max=True, pad_mode="NOTSET", *,
                 ceil_mode=False, count_include_pad=False, dilation=1):
        super().__init__()
        label, n = type(self).__name__, self._rank
        self.kernel_size = _per_dim(kernel_size, n, "kernel_size", label)
        self.stride = self.kernel_size if stride is None else _per_dim(stride, n, "stride", label)
        self.pads = _onnx_pads(padding, n, label)
        self.padding = tuple(self.pads[:n])
        self.is_max = bool(is_max)
        self.pad_mode = _check_pad_mode(pad_mode, label)
        self.ceil_mode = int(bool(ceil_mode))
        self.count_include_pad = int(bool(count_include_pad))
        self.dilation = _per_dim(dilation, n, "dilation", label)

    def _attrs(self, lift: bool) -> dict:
        kernel, stride, dilation, pads = self.kernel_size, self.stride, self.dilation, self.pads
        if lift:  # a 1-d pool on (N, C, H, W) pools along W only, as SINGA's does
            kernel, stride, dilation = (1,) + kernel, (1,) + stride, (1,) + dilation
            pads = [0, pads[0], 0, pads[1]]
        attrs = {"kernel_shape": list(kernel), "strides": list(stride),
                 "ceil_mode": self.ceil_mode}
        if self.pad_mode == "NOTSET":
            attrs["pads"] = list(pads)
        else:
            attrs["auto_pad"] = self.pad_mode
        if any(d != 1 for d in dilation):
            attrs["dilations"] = list(dilation)
        if not self.is_max:
            attrs["count_include_pad"] = self.count_include_pad
        return attrs

    def forward(self, x):
        lift = self._rank == 1 and x.ndim == 4
        if not lift:
            _check_rank(x, self._rank, "NC" + "DHW"[-self._rank:])
        op = "MaxPool" if self.is_max else "AveragePool"
        return autograd.apply(op, [x], self._attrs(lift))[0]


class MaxPool2d(Pooling2d):
    """2-d max pooling."""

    def __init__(self, kernel_size, stride=None, padding=0, pad_mode="NOTSET", **options):
        super().__init__(kernel_size, stride, padding, True, pad_mode, **options)


class AvgPool2d(Pooling2d):
    """2-d average pooling."""

    def __init__(self, kernel_size, stride=None, padding=0, pad_mode="NOTSET", **options):
        super().__init__(kernel_size, stride, padding, False, pad_mode, **options)


class MaxPool1d(MaxPool2d):
    """1-d max pooling over (N, C, W) input, or along W of (N, C, H, W) input."""

    _rank = 1


class AvgPool1d(AvgPool2d):
    """1-d average pooling over (N, C, W) input, or along W of (N, C, H, W) input."""

    _rank = 1


# Last: singa.autograd imports singa.layers, which subclasses the classes above.
from . import autograd  # noqa: E402
