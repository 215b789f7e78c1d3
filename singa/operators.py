"""SINGA's ``Operator`` and its arithmetic and activation operators.

``Op(params)(*xs)`` runs the op through ``singa.autograd.apply`` and returns a
tuple of Tensors, as SINGA does; the lower-case functions of
:mod:`singa.functions` take element 0.  The last tape node an operator makes
remembers the operator's operands, so ``y.creator.backward(dy)`` answers with
one gradient per operand even when the operator is built of several table ops.

A user subclass that overrides ``forward``/``backward`` (SINGA's way of adding
an op) works on raw arrays (``Tensor.data``) and is recorded on the tape as one
node whose gradient rule is that ``backward``; such a node has no ONNX form.
"""

from __future__ import annotations

import itertools

import numpy as np

from . import device as _device
from .errors import DTypeError, GradError, ShapeError
from .ops.base import OpDef, Pattern
from .tensor import Tensor

__all__ = [
    "Operator", "Dummy", "ReLU", "Tanh", "Cos", "Cosh", "Acos", "Acosh", "Sin", "Sinh",
    "Asin", "Asinh", "Tan", "Atan", "Atanh", "Sigmoid", "Abs", "Exp", "Log", "Sqrt",
    "SoftSign", "SoftPlus", "Sign", "Reciprocal", "Negative", "Ceil", "Floor", "Rounde",
    "Erf", "Identity", "Add", "Sub", "Mul", "Div", "Pow", "Matmul", "PRelu", "Mean", "Sum",
    "Max", "Min", "Clip", "Elu", "SeLU", "LeakyRelu", "HardSigmoid", "SoftMax",
    "LogSoftmax", "Gemm", "AddBias", "CosSim",
]

_ids = itertools.count()


# ------------------------------------------------------------------ helpers for operators

def run(op_name, inputs, attrs=None) -> list:
    """``autograd.apply`` (imported late: autograd imports this module)."""
    from .autograd import apply
    return apply(op_name, inputs, attrs)


def const(value, like: Tensor, dtype=None) -> Tensor:
    """A constant (no gradient) Tensor on ``like``'s device."""
    arr = np.asarray(value, dtype=dtype)
    return Tensor(device=like.device, data=arr, requires_grad=False)


def i64(values, like: Tensor) -> Tensor:
    """An int64 constant, the form ONNX wants for shapes, axes and indices."""
    return const(values, like, np.int64)


def as_ints(v) -> list:
    """An int, a sequence, an array or a Tensor as a list of Python ints."""
    if isinstance(v, Tensor):
        v = v.numpy()
    return [int(i) for i in np.asarray(v).reshape(-1)]


def _device_of(array):
    if isinstance(array, np.ndarray):
        return _device.resolve("cpu")
    return _device.create_cuda_gpu_on(array.device.id)


def _need_tensor(op, x):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: expects a Tensor, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------ the base class

class Operator:
    """One SINGA operation: ``Op(...)(*xs)`` returns a tuple of output Tensors.

    Built-in operators define ``_forward(*xs) -> list[Tensor]`` through table ops.
    Users may subclass and override ``forward(*arrays)`` and ``backward(*dys)``
    on raw arrays, as in SINGA.
    """

    op_count = 0

    def __init__(self, name=None):
        self._name = name
        self._node = None

    @property
    def name(self) -> str:
        """``ClassName#k`` unless a name was given."""
        if self._name is None:
            self._name = f"{type(self).__name__}#{next(_ids)}"
            Operator.op_count += 1
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    def __call__(self, *xs):
        if type(self).forward is not Operator.forward:
            outs = self._record_custom(xs)
        else:
            outs = self._forward(*xs)
        node = outs[0].creator
        node.operands = xs
        self._node = node
        return tuple(outs)

    def _forward(self, *xs) -> list:
        raise NotImplementedError(f"{type(self).__name__}: override forward and backward")

    def forward(self, *xs):
        """Run on raw arrays (SINGA's CTensors); returns raw array(s)."""
        tensors = [Tensor(device=_device_of(a), data=a, requires_grad=False) for a in xs]
        outs = [t.data for t in self._forward(*tensors)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def backward(self, *dys):
        """Gradients of the last call's operands, as ``y.creator.backward``."""
        if self._node is None:
            raise GradError(f"{type(self).__name__}.backward: the operator has not run yet")
        return self._node.backward(*dys)

    @property
    def requires_grad(self) -> bool:
        return self._node is not None and self._node.requires_grad

    def output_name(self, idx) -> str:
        """Name of output ``idx``: ``<name>:<idx>``."""
        return f"{self.name}:{idx}"

    def grad_name(self, idx) -> str:
        """Name of the gradient of output ``idx``."""
        return f"{self.output_name(idx)}_g"

    def get_params(self):
        """Operators own no parameters."""
        return []

    # a user-defined operator: forward/backward on raw arrays
    def _record_custom(self, xs):
        from .autograd import _record
        tensors = [_need_tensor(type(self).__name__, x) for x in xs]
        dev = tensors[0].device
        arrays = [t.data for t in tensors]
        ys = self.forward(*arrays)
        ys = ys if isinstance(ys, (tuple, list)) else (ys,)
        outs = [dev.put(y.data if isinstance(y, Tensor) else y) for y in ys]
        opdef = OpDef(type(self).__name__, Pattern.OPAQUE, compute=None, infer=None,
                      grad=self._custom_grad)
        return _record(opdef, {}, tensors, arrays, outs, dev, self.name)

    def _custom_grad(self, xp, inputs, outputs, douts, attrs):
        dxs = self.backward(*douts)
        dxs = list(dxs) if isinstance(dxs, (tuple, list)) else [dxs]
        if len(dxs) != len(inputs):
            raise GradError(f"{type(self).__name__}.backward returned {len(dxs)} gradients "
                            f"for {len(inputs)} inputs")
        return [d.data if isinstance(d, Tensor) else d for d in dxs]


class Dummy(Operator):
    """SINGA's placeholder creator of a leaf tensor; here leaves have ``creator`` None,
    so this only wraps a tensor for code that builds one explicitly."""

    def __init__(self, tensor, name=None):
        super().__init__(name)
        self.tensor = tensor

    def __getattr__(self, name):
        return getattr(self.__dict__["tensor"], name)


class _TableOp(Operator):
    """An operator that is one table op on its operands; ``_op`` names it."""

    _op = ""

    def _attrs(self):
        return None

    def _forward(self, *xs):
        return run(self._op, list(xs), self._attrs())


def _table_op(name, op, doc):
    return type(name, (_TableOp,), {"_op": op, "__doc__": doc, "__module__": __name__})


ReLU = _table_op("ReLU", "Relu", "y = max(x, 0).")
Tanh = _table_op("Tanh", "Tanh", "Hyperbolic tangent.")
Cos = _table_op("Cos", "Cos", "Cosine.")
Cosh = _table_op("Cosh", "Cosh", "Hyperbolic cosine.")
Acos = _table_op("Acos", "Acos", "Arc cosine.")
Acosh = _table_op("Acosh", "Acosh", "Inverse hyperbolic cosine.")
Sin = _table_op("Sin", "Sin", "Sine.")
Sinh = _table_op("Sinh", "Sinh", "Hyperbolic sine.")
Asin = _table_op("Asin", "Asin", "Arc sine.")
Asinh = _table_op("Asinh", "Asinh", "Inverse hyperbolic sine.")
Tan = _table_op("Tan", "Tan", "Tangent.")
Atan = _table_op("Atan", "Atan", "Arc tangent.")
Atanh = _table_op("Atanh", "Atanh", "Inverse hyperbolic tangent.")
Sigmoid = _table_op("Sigmoid", "Sigmoid", "1 / (1 + exp(-x)).")
Abs = _table_op("Abs", "Abs", "Absolute value.")
Exp = _table_op("Exp", "Exp", "e ** x.")
Log = _table_op("Log", "Log", "Natural logarithm.")
Sqrt = _table_op("Sqrt", "Sqrt", "Square root.")
SoftSign = _table_op("SoftSign", "Softsign", "x / (1 + |x|).")
SoftPlus = _table_op("SoftPlus", "Softplus", "log(1 + exp(x)).")
Sign = _table_op("Sign", "Sign", "-1, 0 or 1 by the sign of x (gradient 0).")
Reciprocal = _table_op("Reciprocal", "Reciprocal", "1 / x.")
Negative = _table_op("Negative", "Neg", "-x.")
Ceil = _table_op("Ceil", "Ceil", "Smallest integer >= x (gradient 0).")
Floor = _table_op("Floor", "Floor", "Largest integer <= x (gradient 0).")
Rounde = _table_op("Rounde", "Round", "Round half to even (gradient 0).")
Erf = _table_op("Erf", "Erf", "Gauss error function.")
Identity = _table_op("Identity", "Identity", "y = x.")
Add = _table_op("Add", "Add", "a + b, broadcasting.")
Sub = _table_op("Sub", "Sub", "a - b, broadcasting.")
Mul = _table_op("Mul", "Mul", "a * b, broadcasting.")
Div = _table_op("Div", "Div", "a / b, broadcasting.")
Pow = _table_op("Pow", "Pow", "a ** b, broadcasting.")
Matmul = _table_op("Matmul", "MatMul", "Matrix product as np.matmul.")
PRelu = _table_op("PRelu", "PRelu", "x for x >= 0, slope * x otherwise.")
Mean = _table_op("Mean", "Mean", "Element-wise mean of the inputs.")
Sum = _table_op("Sum", "Sum", "Element-wise sum of the inputs.")
Max = _table_op("Max", "Max", "Element-wise maximum of the inputs.")
Min = _table_op("Min", "Min", "Element-wise minimum of the inputs.")


class Clip(Operator):
    """x limited to [min, max]; either bound may be None."""

    def __init__(self, min=None, max=None):  # noqa: A002 - SINGA's names
        super().__init__()
        self.min, self.max = min, max

    def _forward(self, x):
        bounds = [None if v is None else const(v, x, x.dtype) for v in (self.min, self.max)]
        return run("Clip", [x] + bounds)


class Elu(_TableOp):
    """alpha * (exp(x) - 1) for x < 0, x otherwise."""

    _op = "Elu"

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def _attrs(self):
        return {"alpha": float(self.alpha)}


class SeLU(_TableOp):
    """gamma * (alpha * (exp(x) - 1)) for x <= 0, gamma * x otherwise."""

    _op = "Selu"

    def __init__(self, alpha=1.67326, gamma=1.0507):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def _attrs(self):
        return {"alpha": float(self.alpha), "gamma": float(self.gamma)}


class LeakyRelu(_TableOp):
    """x for x >= 0, a * x otherwise."""

    _op = "LeakyRelu"

    def __init__(self, a=0.01):
        super().__init__()
        self.a = a

    def _attrs(self):
        return {"alpha": float(self.a)}


class HardSigmoid(_TableOp):
    """max(0, min(1, alpha * x + gamma))."""

    _op = "HardSigmoid"

    def __init__(self, alpha=0.2, gamma=0.5):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def _attrs(self):
        return {"alpha": float(self.alpha), "beta": float(self.gamma)}


class SoftMax(Operator):
    """Softmax of x coerced to 2-D at ``axis`` (dims before it are rows), as SINGA does."""

    def __init__(self, axis=1):
        super().__init__()
        self.axis = axis

    def _forward(self, x):
        rank = x.ndim
        if not -rank <= self.axis < max(rank, 1):
            raise ShapeError(f"SoftMax: axis {self.axis} out of range for shape {x.shape}")
        axis = self.axis % max(rank, 1)
        if axis >= rank - 1:
            return run("Softmax", [x], {"axis": -1})
        rows = run("Flatten", [x], {"axis": axis})[0]
        y = run("Softmax", [rows], {"axis": 1})[0]
        return run("Reshape", [y, i64(x.shape, x)])


class LogSoftmax(_TableOp):
    """log(softmax(x)) along ``axis`` (ONNX semantics; not a SINGA 3.1 name)."""

    _op = "LogSoftmax"

    def __init__(self, axis=1):
        super().__init__()
        self.axis = axis

    def _attrs(self):
        return {"axis": self.axis}


class Gemm(_TableOp):
    """alpha * A' @ B' + beta * C, A' = A.T if transA, B' = B.T if transB; C optional."""

    _op = "Gemm"

    def __init__(self, alpha=1.0, beta=1.0, transA=0, transB=0):
        super().__init__()
        self.alpha, self.beta, self.transA, self.transB = alpha, beta, transA, transB

    def _attrs(self):
        return {"alpha": float(self.alpha), "beta": float(self.beta),
                "transA": int(self.transA), "transB": int(self.transB)}


class AddBias(Operator):
    """Matrix x plus vector b on every row (axis 0) or every column (axis 1)."""

    def __init__(self, axis=0):
        super().__init__()
        if axis not in (0, 1):
            raise ShapeError(f"AddBias: axis must be 0 (rows) or 1 (columns), got {axis}")
        self.axis = axis

    def _forward(self, x, b):
        if x.ndim != 2 or b.ndim != 1:
            raise ShapeError(f"AddBias: needs a matrix and a vector, got {x.shape} and {b.shape}")
        if self.axis == 1:
            b = run("Unsqueeze", [b, i64([1], b)])[0]
        return run("Add", [x, b])


class CosSim(Operator):
    """Cosine similarity of the rows of two matrices: shape (batch,)."""

    def _forward(self, a, b):
        if a.shape != b.shape or a.ndim != 2:
            raise ShapeError(f"CosSim: needs two matrices of one shape, got {a.shape} and {b.shape}")
        axes = i64([1], a)

        def row_sum(t):
            return run("ReduceSum", [t, axes], {"keepdims": 0})[0]

        dot = row_sum(run("Mul", [a, b])[0])
        na = run("Sqrt", [row_sum(run("Mul", [a, a])[0])])[0]
        nb = run("Sqrt", [row_sum(run("Mul", [b, b])[0])])[0]
        return run("Div", [dot, run("Mul", [na, nb])[0]])
