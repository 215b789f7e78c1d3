"""SINGA's losses, as Operator classes (the target is a constructor argument,
so ``loss.creator.backward()`` returns the gradient of the scores only) and as
functions.  Every loss is a Tensor of shape (1,).

Targets of :func:`softmax_cross_entropy` and :func:`cross_entropy` are one-hot
(or soft) rows of the scores' shape, or integer class labels: a target with one
value per sample (shape (N,) or (N, 1), ints or integral floats), the rule
SINGA's C++ kernel uses.
"""

from __future__ import annotations

import numpy as np

from . import device as _device
from .errors import ShapeError
from .operators import Operator, i64, run
from .tensor import Tensor

__all__ = ["SoftMaxCrossEntropy", "CrossEntropy", "BinaryCrossEntropy", "MeanSquareError",
           "RankingLoss", "softmax_cross_entropy", "cross_entropy", "binary_cross_entropy",
           "mse_loss", "ranking_loss", "ctensor2numpy"]


def _as_loss(t):
    """A 0-d loss as SINGA's shape (1,)."""
    return run("Reshape", [t, i64([1], t)])


def _check_scores(op, x, t):
    if x.ndim != 2 or t.ndim > 2:
        raise ShapeError(f"{op}: scores must be 2-D and the target at most 2-D, "
                         f"got {x.shape} and {t.shape}")


def _labels(t, x):
    """Integer class labels (int64, shape (N,)) when ``t`` has one value per sample,
    else None (one-hot or soft targets)."""
    if t.size != x.shape[0]:
        return None
    labels = t if t.dtype == np.int64 else run("Cast", [t], {"to": 7})[0]
    return labels if labels.ndim == 1 else run("Reshape", [labels, i64([-1], labels)])[0]


class SoftMaxCrossEntropy(Operator):
    """Mean over the batch of the cross entropy of softmax(x) and target ``t``."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def _forward(self, x):
        _check_scores("SoftMaxCrossEntropy", x, self.t)
        labels = _labels(self.t, x)
        if labels is None:
            return run("SoftmaxCrossEntropy", [x, self.t])
        return _as_loss(run("SoftmaxCrossEntropyLoss", [x, labels], {"reduction": "mean"})[0])


class CrossEntropy(Operator):
    """Mean over the batch of -sum(t * log(x)), x probabilities."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def _forward(self, x):
        _check_scores("CrossEntropy", x, self.t)
        labels = _labels(self.t, x)
        if labels is None:
            return run("CrossEntropy", [x, self.t])
        log_p = run("Log", [x])[0]
        return _as_loss(run("NegativeLogLikelihoodLoss", [log_p, labels], {"reduction": "mean"})[0])


class BinaryCrossEntropy(Operator):
    """-(sum(t * log(x + 1e-4)) + sum((1 - t) * log(1.0001 - x))) / batch, x in [0, 1]
    (SINGA's small offsets keep the logarithms finite)."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def _forward(self, x):
        t = self.t
        if x.shape != t.shape:
            raise ShapeError(f"BinaryCrossEntropy: input {x.shape} and target {t.shape} differ")
        pos = run("Mul", [t, run("Log", [run("Add", [x, 1e-4])[0]])[0]])[0]
        neg = run("Mul", [run("Sub", [1.0, t])[0], run("Log", [run("Sub", [1.0001, x])[0]])[0]])[0]
        total = run("ReduceSum", [run("Add", [pos, neg])[0], None], {"keepdims": 0})[0]
        return _as_loss(run("Div", [total, float(-x.shape[0])])[0])


class MeanSquareError(Operator):
    """Mean over all elements of (x - t) ** 2 (SINGA 3.1)."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def _forward(self, x):
        if x.shape != self.t.shape:
            raise ShapeError(f"MeanSquareError: input {x.shape} and target {self.t.shape} differ")
        err = run("Sub", [x, self.t])[0]
        return _as_loss(run("ReduceMean", [run("Mul", [err, err])[0], None], {"keepdims": 0})[0])


class RankingLoss(Operator):
    """sum(max(0, M + neg - pos)) / batch: positive scores should beat negative ones by M."""

    def __init__(self, M=0.2):
        super().__init__()
        self.M = M

    def _forward(self, pos, neg):
        if pos.shape != neg.shape:
            raise ShapeError(f"RankingLoss: positive {pos.shape} and negative {neg.shape} differ")
        margin = run("Relu", [run("Add", [run("Sub", [neg, pos])[0], float(self.M)])[0]])[0]
        total = run("ReduceSum", [margin, None], {"keepdims": 0})[0]
        return _as_loss(run("Div", [total, float(pos.shape[0])])[0])


def softmax_cross_entropy(x, t):
    """Mean cross entropy of softmax(x) (x: [N, C] scores) and ``t`` (one-hot rows or labels)."""
    return SoftMaxCrossEntropy(t)(x)[0]


def cross_entropy(x, t):
    """Mean of -sum(t * log(x)) (x: [N, C] probabilities; ``t`` one-hot rows or labels)."""
    return CrossEntropy(t)(x)[0]


def binary_cross_entropy(x, t):
    """SINGA's binary cross entropy of probabilities x and 0/1 targets t."""
    return BinaryCrossEntropy(t)(x)[0]


def mse_loss(x, t):
    """Mean squared error over all elements."""
    return MeanSquareError(t)(x)[0]


def ranking_loss(pos, neg, M=0.2):
    """Hinge ranking loss of positive and negative scores with margin ``M``."""
    return RankingLoss(M)(pos, neg)[0]


def ctensor2numpy(x) -> np.ndarray:
    """A raw array (SINGA's CTensor: ``Tensor.data``, or a gradient from
    ``creator.backward``) as a NumPy array on the host."""
    if isinstance(x, Tensor):
        x = x.data
    return _device.resolve("cpu").put(x)
