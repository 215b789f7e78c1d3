"""The float64 model and helpers shared by the training tests of imported graphs
(test_autograd_runner.py, test_sonnx_training.py)."""

from __future__ import annotations

import numpy as np

from singa import autograd
from singa.tensor import Tensor


def f64(layer):
    for t in layer._state().values():
        t.data = t.data.astype(np.float64)
    return layer


def X(*shape, seed=0, dtype=np.float64):
    return Tensor(data=np.random.default_rng(seed).normal(size=shape).astype(dtype))


def onehot(n, k, seed=1):
    return Tensor(data=np.eye(k)[np.random.default_rng(seed).integers(0, k, n)])


class Net:
    """Conv -> BN -> relu -> maxpool -> flatten -> linear -> relu -> linear."""

    def __init__(self):
        self.conv = f64(autograd.Conv2d(2, 3, 3, padding=1))
        # ONNX float attributes are float32: momentum and epsilon that float32
        # holds exactly keep the imported model comparable to rounding
        self.bn = f64(autograd.BatchNorm2d(3, momentum=0.75, epsilon=2.0 ** -16))
        self.pool = autograd.MaxPool2d(2, 2)
        self.l1 = f64(autograd.Linear(3 * 3 * 3, 5))
        self.l2 = f64(autograd.Linear(5, 4, bias=False))
        # names trace gives the weights (see tests/frontends/test_trace.py)
        self.weights = {"Conv_0.W": self.conv.W, "Conv_0.B": self.conv.b,
                        "BatchNormalization_0.scale": self.bn.scale,
                        "BatchNormalization_0.B": self.bn.bias,
                        "MatMul_0.B": self.l1.W, "Add_0.B": self.l1.b, "MatMul_1.B": self.l2.W}
        # ... and every tensor of the exported model: the weights and BN's running statistics
        self.named = {**self.weights,
                      "BatchNormalization_0.input_mean": self.bn.running_mean,
                      "BatchNormalization_0.input_var": self.bn.running_var}

    def features(self, x):
        y = self.pool(autograd.relu(self.bn(self.conv(x))))
        return autograd.relu(self.l1(autograd.flatten(y)))

    def forward(self, x):
        return self.l2(self.features(x))


def grads_by_name(loss, named, dy=None):
    """backward's (param, grad) pairs keyed by the param's name in ``named``."""
    ids = {id(t): n for n, t in named.items()}
    return {ids[id(p)]: g.numpy() for p, g in autograd.backward(loss, dy)}
