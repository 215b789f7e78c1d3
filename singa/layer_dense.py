"""SINGA's dense layers (``Linear``, ``Gemm``, ``Embedding``) and the layers
without parameters (activations, shape layers, losses), over the op table."""

from __future__ import annotations

import math

import numpy as np

from .errors import ShapeError
from .layer_base import Layer, float_dtype, new_param
from .tensor import Tensor

__all__ = ["Linear", "Gemm", "Embedding", "ReLU", "Sigmoid", "SoftMax", "Add", "Flatten",
           "Dropout", "Cat", "Reshape", "SoftMaxCrossEntropy", "MeanSquareError",
           "CrossEntropy", "BinaryCrossEntropy"]


class Linear(Layer):
    """``y = x @ W + b`` with ``W`` of shape (in_features, out_features).

    ``Linear(out_features)`` takes ``in_features`` from the first input's last
    dimension; SINGA's older form ``Linear(in_features, out_features[, bias])``
    fixes it, and a different input then raises ShapeError.  ``W`` is drawn from
    N(0, 2 / (in + out)), ``b`` starts at zero.
    """

    def __init__(self, out_features, *args, bias=True, **kwargs):
        super().__init__()
        self.in_features = None
        self.out_features = out_features
        if args:  # the older (in_features, out_features[, bias]) form
            self.in_features, self.out_features = out_features, args[0]
        self.bias = args[1] if len(args) > 1 else bias

    def initialize(self, x):
        n_in = x.shape[-1]
        if self.in_features is not None and n_in != self.in_features:
            raise ShapeError(f"expects {self.in_features} input features, got input of "
                             f"shape {x.shape}")
        self._create(n_in, x.device, float_dtype(x))

    def _create(self, in_features, device=None, dtype=np.float32):
        self.in_features = in_features
        self.W = new_param((in_features, self.out_features), device, dtype)
        self.W.gaussian(0.0, math.sqrt(2.0 / (in_features + self.out_features)))
        self.b = new_param((self.out_features,), device, dtype) if self.bias else None

    def forward(self, x):
        self.device_check(x, self.W, self.b)
        self.dtype_check(x, self.W, self.b)
        if x.ndim < 1 or x.shape[-1] != self.W.shape[0]:
            raise ShapeError(f"MatMul of input {x.shape} with W {self.W.shape}: expects "
                             f"{self.W.shape[0]} input features")
        y = autograd.apply("MatMul", [x, self.W])[0]
        return autograd.apply("Add", [y, self.b])[0] if self.b is not None else y


class Gemm(Layer):
    """ONNX Gemm with a learnt ``B`` (``W``) and ``C`` (``b``):
    ``y = alpha * op(x) @ op(W) + beta * b``.

    ``W`` is (nb_kernels, in_features) when ``transB`` (the default), else
    (in_features, nb_kernels); ``b`` has ``bias_shape`` (default (1, nb_kernels)).
    """

    def __init__(self, nb_kernels, alpha=1.0, beta=1.0, transA=False, transB=True, bias=True,
                 bias_shape=None):
        super().__init__()
        self.nb_kernels = nb_kernels
        self.alpha, self.beta = alpha, beta
        self.transA, self.transB = int(bool(transA)), int(bool(transB))
        self.bias = bias
        self.bias_shape = tuple(bias_shape) if bias_shape else (1, nb_kernels)

    def _in_features(self, x):
        if x.ndim != 2:
            raise ShapeError(f"expects a 2-d input, got shape {x.shape}")
        return x.shape[0] if self.transA else x.shape[1]

    def initialize(self, x):
        n_in, n_out = self._in_features(x), self.nb_kernels
        self.in_features = n_in
        dtype = float_dtype(x)
        self.W = new_param((n_out, n_in) if self.transB else (n_in, n_out), x.device, dtype)
        self.W.gaussian(0.0, math.sqrt(2.0 / (n_in + n_out)))
        self.b = new_param(self.bias_shape, x.device, dtype) if self.bias else None

    def forward(self, x):
        self.device_check(x, self.W, self.b)
        self.dtype_check(x, self.W, self.b)
        want = self.W.shape[1] if self.transB else self.W.shape[0]
        if self._in_features(x) != want:
            raise ShapeError(f"Gemm of input {x.shape} (transA={self.transA}) with W "
                             f"{self.W.shape} (transB={self.transB}): expects {want} input "
                             "features")
        attrs = {"alpha": float(self.alpha), "beta": float(self.beta),
                 "transA": self.transA, "transB": self.transB}
        return autograd.apply("Gemm", [x, self.W, self.b], attrs)[0]


class Embedding(Layer):
    """Rows of ``W`` (input_dim x output_dim) picked by integer (or integral
    float) indices; ``initializer`` 'gaussian' (N(0, 1), the default) or
    'uniform' (U(-1, 1))."""

    def __init__(self, input_dim, output_dim, initializer="gaussian"):
        super().__init__()
        if initializer not in ("gaussian", "uniform"):
            raise ValueError(f"Embedding: initializer must be 'gaussian' or 'uniform', "
                             f"not {initializer!r}")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.initializer = initializer

    def initialize(self, x):
        self._create(x.device)

    def _create(self, device=None):
        self.W = new_param((self.input_dim, self.output_dim), device)
        if self.initializer == "uniform":
            self.W.uniform(-1.0, 1.0)
        else:
            self.W.gaussian(0.0, 1.0)

    def from_pretrained(self, W, freeze=True):
        """Use ``W`` (Tensor or array, input_dim x output_dim) as the table;
        ``freeze`` keeps it out of training."""
        if not self._initialized:
            self._create(W.device if isinstance(W, Tensor) else None)
            self._initialized = True
        self.set_params({self._get_name_prefix() + "W": W})
        self.W.requires_grad = not freeze

    def forward(self, x):
        self.device_check(x, self.W)
        idx = x if x.dtype.kind in "iu" else autograd.cast(x, np.int64)
        return autograd.apply("Gather", [self.W, idx], {"axis": 0})[0]


# ------------------------------------------------------------------ no parameters

class ReLU(Layer):
    """``max(x, 0)``."""

    def forward(self, x):
        return autograd.relu(x)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``."""

    def forward(self, x):
        return autograd.sigmoid(x)


class SoftMax(Layer):
    """Softmax over axis 1, as SINGA's ``autograd.softmax``."""

    def forward(self, x):
        return autograd.softmax(x)


class Add(Layer):
    """``a + b`` (broadcasting)."""

    def forward(self, a, b):
        return autograd.add(a, b)


class Flatten(Layer):
    """Dims before ``axis`` become rows, the rest columns (ONNX Flatten)."""

    def __init__(self, axis=1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return autograd.flatten(x, self.axis)


class Dropout(Layer):
    """Zeroes each element with probability ``ratio`` while training
    (``autograd.training``), scaling the rest by 1 / (1 - ratio); identity otherwise."""

    def __init__(self, ratio=0.5):
        super().__init__()
        self.ratio = ratio

    def forward(self, x):
        return autograd.dropout(x, ratio=self.ratio)


class Cat(Layer):
    """Concatenation of a list of tensors along ``axis``."""

    def __init__(self, axis=0):
        super().__init__()
        self.axis = axis

    def forward(self, xs):
        return autograd.cat(xs, self.axis)


class Reshape(Layer):
    """``x`` reshaped to ``shape`` (given per call, as in SINGA)."""

    def forward(self, x, shape):
        return autograd.reshape(x, shape)


class SoftMaxCrossEntropy(Layer):
    """Mean over the batch of the cross entropy of softmax(x) and targets ``t``."""

    def forward(self, x, t):
        return autograd.softmax_cross_entropy(x, t)


class MeanSquareError(Layer):
    """SINGA's squared-error loss of ``x`` against ``t`` (``autograd.mse_loss``)."""

    def forward(self, x, t):
        return autograd.mse_loss(x, t)


class CrossEntropy(Layer):
    """Mean over the batch of ``-sum(t * log(x))``; ``x`` are probabilities."""

    def forward(self, x, t):
        return autograd.cross_entropy(x, t)


class BinaryCrossEntropy(Layer):
    """SINGA's binary cross entropy of probabilities ``x`` and targets ``t``
    (``autograd.binary_cross_entropy``)."""

    def forward(self, x, t):
        return autograd.binary_cross_entropy(x, t)


# Last: singa.autograd imports singa.layers, which subclasses the classes above.
from . import autograd  # noqa: E402
