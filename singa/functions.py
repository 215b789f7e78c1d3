"""SINGA's autograd functions (``autograd.relu`` ...), each one table op via ``apply``.

Attributes that ONNX passes as inputs (shapes, axes) are passed here as int64
constant tensors, so a traced graph exports to the same ONNX form.
"""

from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "gemm", "relu", "leakyrelu", "elu",
    "selu", "sigmoid", "hardsigmoid", "tanh", "softplus", "softsign", "exp", "log", "sqrt",
    "abs", "reciprocal", "erf", "clip", "softmax", "log_softmax", "flatten", "reshape",
    "transpose", "cat", "concat", "split", "squeeze", "unsqueeze", "reduce_mean", "reduce_sum",
    "mean", "cast", "less", "greater", "less_equal", "greater_equal", "equal", "where",
    "dropout", "softmax_cross_entropy", "cross_entropy", "mse_loss", "identity", "gather",
]


def _apply(name, inputs, attrs=None):
    from .autograd import apply
    return apply(name, inputs, attrs)


def _one(name, inputs, attrs=None) -> Tensor:
    return _apply(name, inputs, attrs)[0]


def _i64(values, like: Tensor) -> Tensor:
    return Tensor(device=like.device, data=np.asarray(values, dtype=np.int64), requires_grad=False)


def _first_tensor(*xs) -> Tensor:
    return next(x for x in xs if isinstance(x, Tensor))


def add(a, b): return _one("Add", [a, b])
def sub(a, b): return _one("Sub", [a, b])
def mul(a, b): return _one("Mul", [a, b])
def div(a, b): return _one("Div", [a, b])
def pow(a, b): return _one("Pow", [a, b])  # noqa: A001 - SINGA's name
def neg(x): return _one("Neg", [x])
def matmul(a, b): return _one("MatMul", [a, b])
def relu(x): return _one("Relu", [x])
def sigmoid(x): return _one("Sigmoid", [x])
def tanh(x): return _one("Tanh", [x])
def softplus(x): return _one("Softplus", [x])
def softsign(x): return _one("Softsign", [x])
def exp(x): return _one("Exp", [x])
def log(x): return _one("Log", [x])
def sqrt(x): return _one("Sqrt", [x])
def abs(x): return _one("Abs", [x])  # noqa: A001
def reciprocal(x): return _one("Reciprocal", [x])
def erf(x): return _one("Erf", [x])
def identity(x): return _one("Identity", [x])
def less(a, b): return _one("Less", [a, b])
def greater(a, b): return _one("Greater", [a, b])
def less_equal(a, b): return _one("LessOrEqual", [a, b])
def greater_equal(a, b): return _one("GreaterOrEqual", [a, b])
def equal(a, b): return _one("Equal", [a, b])
def where(cond, a, b): return _one("Where", [cond, a, b])


def gemm(A, B, C=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    return _one("Gemm", [A, B, C], {"alpha": alpha, "beta": beta, "transA": transA, "transB": transB})


def leakyrelu(x, a=0.01): return _one("LeakyRelu", [x], {"alpha": a})
def elu(x, alpha=1.0): return _one("Elu", [x], {"alpha": alpha})


def selu(x, alpha=1.67326, gamma=1.0507):
    return _one("Selu", [x], {"alpha": alpha, "gamma": gamma})


def hardsigmoid(x, alpha=0.2, gamma=0.5):
    return _one("HardSigmoid", [x], {"alpha": alpha, "beta": gamma})


def clip(x, min=None, max=None):  # noqa: A002
    lo = None if min is None else Tensor(device=x.device, data=np.asarray(min, x.dtype), requires_grad=False)
    hi = None if max is None else Tensor(device=x.device, data=np.asarray(max, x.dtype), requires_grad=False)
    return _one("Clip", [x, lo, hi])


def softmax(x, axis=1): return _one("Softmax", [x], {"axis": axis})
def log_softmax(x, axis=1): return _one("LogSoftmax", [x], {"axis": axis})
def flatten(x, axis=1): return _one("Flatten", [x], {"axis": axis})


def reshape(x, shape):
    return _one("Reshape", [x, _i64(list(shape), x)])


def transpose(x, shape=None):
    return _one("Transpose", [x], {} if shape is None else {"perm": list(shape)})


def cat(xs, axis=0):
    return _one("Concat", list(xs), {"axis": axis})


concat = cat


def split(x, axis, parts):
    """Split ``x`` along ``axis`` into pieces of the sizes in ``parts``."""
    return _apply("Split", [x, _i64(list(parts), x)], {"axis": axis, "_num_outputs": len(parts)})


def squeeze(x, axis=None):
    return _one("Squeeze", [x, None if axis is None else _i64(np.atleast_1d(axis), x)])


def unsqueeze(x, axis):
    return _one("Unsqueeze", [x, _i64(np.atleast_1d(axis), x)])


def gather(x, axis, indices):
    idx = indices if isinstance(indices, Tensor) else _i64(indices, x)
    return _one("Gather", [x, idx], {"axis": axis})


def reduce_mean(x, axes=None, keepdims=1):
    return _one("ReduceMean", [x, None if axes is None else _i64(np.atleast_1d(axes), x)],
                {"keepdims": keepdims})


def reduce_sum(x, axes=None, keepdims=1):
    return _one("ReduceSum", [x, None if axes is None else _i64(np.atleast_1d(axes), x)],
                {"keepdims": keepdims})


def mean(*xs): return _one("Mean", list(xs))


def cast(x, dtype):
    from .ir.types import DType
    return _one("Cast", [x], {"to": DType.from_np(dtype).value})


def dropout(x, ratio=0.5):
    """Dropout in training mode (``autograd.training``), identity otherwise."""
    from . import autograd
    r = Tensor(device=x.device, data=np.asarray(ratio, np.float32), requires_grad=False)
    mode = Tensor(device=x.device, data=np.asarray(bool(autograd.training)), requires_grad=False)
    return _apply("Dropout", [x, r, mode])[0]


def softmax_cross_entropy(x, t):
    """Mean over the batch of -sum(t * log_softmax(x)); ``t`` one-hot or soft targets."""
    return _one("SoftmaxCrossEntropy", [x, t])


def cross_entropy(y, t):
    """Mean over the batch of -sum(t * log(y)); ``y`` are probabilities."""
    return _one("CrossEntropy", [y, t])


def mse_loss(x, t):
    """SINGA's squared error loss; see the MSELoss op for its scaling."""
    return _one("MSELoss", [x, t])
