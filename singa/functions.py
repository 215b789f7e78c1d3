"""SINGA's lower-case autograd functions (``autograd.relu`` ...).

Each runs its operator class (:mod:`singa.operators`, :mod:`singa.operators_logic`,
:mod:`singa.operators_shape`, :mod:`singa.operators_nn`) once and returns the
output Tensor (a tuple for ``split``), as SINGA 3.1 does; arguments and defaults
follow SINGA's.  The losses live in :mod:`singa.losses`.
"""

from __future__ import annotations

from . import operators as O
from . import operators_logic as L
from . import operators_nn as N
from . import operators_shape as S
from .losses import (binary_cross_entropy, cross_entropy, ctensor2numpy,  # noqa: F401
                     mse_loss, ranking_loss, softmax_cross_entropy)

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "negative", "matmul", "gemm", "add_bias", "relu",
    "leakyrelu", "elu", "selu", "prelu", "sigmoid", "hardsigmoid", "tanh", "softplus",
    "softsign", "exp", "log", "sqrt", "abs", "sign", "reciprocal", "erf", "ceil", "floor",
    "round", "rounde", "cos", "cosh", "acos", "acosh", "sin", "sinh", "asin", "asinh", "tan",
    "atan", "atanh", "clip", "softmax", "log_softmax", "identity", "mean", "sum", "add_all",
    "max", "min", "less", "greater", "equal", "less_equal", "greater_equal", "_and", "_or",
    "_xor", "_not", "where", "cast", "cossim", "flatten", "reshape", "transpose", "cat",
    "concat", "split", "squeeze", "unsqueeze", "slice", "gather", "tile", "expand", "pad",
    "upsample", "depth_to_space", "space_to_depth", "scatter_elements", "shape", "nonzero",
    "onehot", "constant_of_shape", "embedding", "reduce_sum", "reduce_mean", "globalaveragepool",
    "dropout", "conv2d", "pooling_2d", "batchnorm_2d", "softmax_cross_entropy", "cross_entropy",
    "binary_cross_entropy", "mse_loss", "ranking_loss", "ctensor2numpy",
]


# ------------------------------------------------------------------ arithmetic

def add(a, b):
    """a + b (broadcasting)."""
    return O.Add()(a, b)[0]


def sub(a, b):
    """a - b (broadcasting)."""
    return O.Sub()(a, b)[0]


def mul(x, y):
    """x * y (broadcasting)."""
    return O.Mul()(x, y)[0]


def div(a, b):
    """a / b (broadcasting)."""
    return O.Div()(a, b)[0]


def pow(a, b):  # noqa: A001 - SINGA's name
    """a ** b (broadcasting)."""
    return O.Pow()(a, b)[0]


def negative(x):
    """-x."""
    return O.Negative()(x)[0]


neg = negative


def matmul(x, w):
    """np.matmul(x, w)."""
    return O.Matmul()(x, w)[0]


def gemm(A, B, C=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    """alpha * op(A) @ op(B) + beta * C, op transposing when transA / transB."""
    op = O.Gemm(alpha, beta, transA, transB)
    return (op(A, B) if C is None else op(A, B, C))[0]


def add_bias(x, b, axis=0):
    """Matrix x plus vector b on each row (axis 0) or each column (axis 1)."""
    return O.AddBias(axis)(x, b)[0]


def mean(*l):
    """Element-wise mean of the tensors."""
    return O.Mean()(*l)[0]


def sum(*l):  # noqa: A001 - SINGA's name
    """Element-wise sum of the tensors."""
    return O.Sum()(*l)[0]


def add_all(*xs):
    """Element-wise sum of the tensors (SINGA's helper; SINGA 3.1's returns None)."""
    return O.Sum()(*xs)[0]


def max(*l):  # noqa: A001 - SINGA's name
    """Element-wise maximum of the tensors."""
    return O.Max()(*l)[0]


def min(*l):  # noqa: A001 - SINGA's name
    """Element-wise minimum of the tensors."""
    return O.Min()(*l)[0]


# ------------------------------------------------------------------ activations and math

def relu(x):
    """max(x, 0)."""
    return O.ReLU()(x)[0]


def leakyrelu(x, a=0.01):
    """x for x >= 0, a * x otherwise."""
    return O.LeakyRelu(a)(x)[0]


def elu(x, alpha=1):
    """alpha * (exp(x) - 1) for x < 0, x otherwise."""
    return O.Elu(alpha)(x)[0]


def selu(x, alpha=1.67326, gamma=1.0507):
    """gamma * alpha * (exp(x) - 1) for x <= 0, gamma * x otherwise."""
    return O.SeLU(alpha, gamma)(x)[0]


def prelu(x, slope):
    """x for x >= 0, slope * x otherwise (slope broadcast to x)."""
    return O.PRelu()(x, slope)[0]


def hardsigmoid(x, alpha=0.2, gamma=0.5):
    """max(0, min(1, alpha * x + gamma))."""
    return O.HardSigmoid(alpha, gamma)(x)[0]


def softmax(x, axis=1):
    """Softmax over the dims from ``axis`` on (x coerced to 2-D at axis, as SINGA)."""
    return O.SoftMax(axis)(x)[0]


def log_softmax(x, axis=1):
    """log(softmax(x)) along ``axis`` (ONNX LogSoftmax)."""
    return O.LogSoftmax(axis)(x)[0]


def clip(x, min=None, max=None):  # noqa: A002 - SINGA's names
    """x limited to [min, max] (None: unbounded)."""
    return O.Clip(min, max)(x)[0]


def identity(x):
    """x itself, as a new tape node."""
    return O.Identity()(x)[0]


def _unary(cls, name, doc):
    def fn(x):
        return cls()(x)[0]
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


sigmoid = _unary(O.Sigmoid, "sigmoid", "1 / (1 + exp(-x)).")
tanh = _unary(O.Tanh, "tanh", "Hyperbolic tangent.")
softplus = _unary(O.SoftPlus, "softplus", "log(1 + exp(x)).")
softsign = _unary(O.SoftSign, "softsign", "x / (1 + |x|).")
exp = _unary(O.Exp, "exp", "e ** x.")
log = _unary(O.Log, "log", "Natural logarithm.")
sqrt = _unary(O.Sqrt, "sqrt", "Square root.")
abs = _unary(O.Abs, "abs", "|x|.")  # noqa: A001 - SINGA's name
sign = _unary(O.Sign, "sign", "-1, 0 or 1 (gradient 0).")
reciprocal = _unary(O.Reciprocal, "reciprocal", "1 / x.")
erf = _unary(O.Erf, "erf", "Gauss error function.")
ceil = _unary(O.Ceil, "ceil", "Smallest integer >= x (gradient 0).")
floor = _unary(O.Floor, "floor", "Largest integer <= x (gradient 0).")
round = _unary(L.Round, "round", "Round half away from zero (gradient 0).")  # noqa: A001
rounde = _unary(O.Rounde, "rounde", "Round half to even (gradient 0).")
cos = _unary(O.Cos, "cos", "Cosine.")
cosh = _unary(O.Cosh, "cosh", "Hyperbolic cosine.")
acos = _unary(O.Acos, "acos", "Arc cosine.")
acosh = _unary(O.Acosh, "acosh", "Inverse hyperbolic cosine.")
sin = _unary(O.Sin, "sin", "Sine.")
sinh = _unary(O.Sinh, "sinh", "Hyperbolic sine.")
asin = _unary(O.Asin, "asin", "Arc sine.")
asinh = _unary(O.Asinh, "asinh", "Inverse hyperbolic sine.")
tan = _unary(O.Tan, "tan", "Tangent.")
atan = _unary(O.Atan, "atan", "Arc tangent.")
atanh = _unary(O.Atanh, "atanh", "Inverse hyperbolic tangent.")


# ------------------------------------------------------------------ comparison and logic

def less(x, y):
    """1 where x < y else 0, in x's dtype."""
    return L.Less()(x, y)[0]


def greater(x, y):
    """1 where x > y else 0, in x's dtype."""
    return L.Greater()(x, y)[0]


def equal(x, y):
    """1 where x == y else 0, in x's dtype."""
    return L.Equal()(x, y)[0]


def less_equal(x, y):
    """1 where x <= y else 0, in x's dtype."""
    return L.LessEqual()(x, y)[0]


def greater_equal(x, y):
    """1 where x >= y else 0, in x's dtype."""
    return L.GreaterEqual()(x, y)[0]


def _and(a, b):
    """1 where a and b are both nonzero, else 0."""
    return L.And()(a, b)[0]


def _or(a, b):
    """1 where a or b is nonzero, else 0."""
    return L.Or()(a, b)[0]


def _xor(a, b):
    """1 where exactly one of a, b is nonzero, else 0."""
    return L.Xor()(a, b)[0]


def _not(x):
    """1 where x is zero, else 0."""
    return L.Not()(x)[0]


def where(x, y, condition):
    """x where ``condition`` (list, array or Tensor; nonzero is true) else y."""
    return L.Where(condition)(x, y)[0]


def cast(x, to):
    """x converted to dtype ``to``."""
    return L.Cast(to)(x)[0]


def cossim(a, b):
    """Cosine similarity of corresponding rows of two matrices."""
    return O.CosSim()(a, b)[0]


# ------------------------------------------------------------------ shapes and indexing

def flatten(x, axis=1):
    """x as a matrix split at ``axis``."""
    return S.Flatten(axis)(x)[0]


def reshape(x, shape):
    """x with a new shape (0 keeps a dim, -1 is inferred)."""
    return S.Reshape(shape)(x)[0]


def transpose(x, shape=None):
    """x with axes permuted by ``shape`` (None: reversed)."""
    return S.Transpose(shape)(x)[0]


def cat(xs, axis=0):
    """The tensors of ``xs`` joined along ``axis``."""
    return S.Concat(axis)(*xs)[0]


concat = cat


def split(x, axis, parts, num_output=None):
    """x cut along ``axis`` into sizes ``parts`` (or ``num_output`` equal parts): a tuple."""
    return S.Split(axis, parts, num_output)(x)


def squeeze(x, axis=None):
    """x without size-1 dims ``axis`` (int or list; None or []: all)."""
    return S.Squeeze(axis)(x)[0]


def unsqueeze(x, axis=-1):
    """x with size-1 dims inserted at ``axis`` (int or list)."""
    return S.Unsqueeze(axis)(x)[0]


def slice(x, starts, ends, axes=None, steps=None):  # noqa: A001 - SINGA's name
    """x[starts:ends:steps] on ``axes``."""
    return S.Slice(starts, ends, axes, steps)(x)[0]


def gather(x, axis, indices):
    """x indexed by ``indices`` along ``axis``."""
    return S.Gather(axis, indices)(x)[0]


def tile(x, repeats):
    """x repeated ``repeats`` times per axis."""
    return S.Tile(repeats)(x)[0]


def expand(x, shape):
    """x broadcast to ``shape``."""
    return S.Expand(shape)(x)[0]


def pad(x, mode, pads, constant=0.0):
    """x padded by ``pads`` in ``mode`` constant, reflect or edge."""
    return S.Pad(mode, pads, constant)(x)[0]


def upsample(x, mode, scales):
    """Nearest-neighbour upsampling by integer ``scales``, one per axis."""
    return S.UpSample(mode, scales)(x)[0]


def depth_to_space(x, blocksize, mode="DCR"):
    """NCHW channels rearranged into spatial blocks."""
    return S.DepthToSpace(blocksize, mode)(x)[0]


def space_to_depth(x, blocksize, mode="DCR"):
    """Spatial blocks rearranged into NCHW channels."""
    return S.SpaceToDepth(blocksize, mode)(x)[0]


def scatter_elements(x, indices, updates, axis=0):
    """x with ``updates`` written at ``indices`` along ``axis``."""
    return S.ScatterElements(indices, updates, axis)(x)[0]


def shape(x):
    """x's shape as an int64 Tensor."""
    return S.Shape()(x)[0]


def nonzero(x):
    """Indices of x's nonzero elements, shape (rank, count)."""
    return S.NonZero()(x)[0]


def onehot(axis, indices, depth, values):
    """One-hot of ``indices`` over ``depth`` classes at ``axis``; ``values`` = (off, on)."""
    return S.OneHot(axis, depth, values)(indices)[0]


def constant_of_shape(x, value=0):
    """A tensor of the shape held by x, filled with ``value``."""
    return S.ConstantOfShape(value)(x)[0]


def embedding(x, w):
    """Rows of ``w`` picked by the ids in x."""
    return S.Embedding()(x, w)[0]


def reduce_sum(x, axes=None, keepdims=1):
    """Sum over ``axes`` (None: all)."""
    return S.ReduceSum(axes, keepdims)(x)[0]


def reduce_mean(x, axes=None, keepdims=1):
    """Mean over ``axes`` (None: all)."""
    return S.ReduceMean(axes, keepdims)(x)[0]


def globalaveragepool(x, data_format="channels_first"):
    """Mean over the spatial axes, kept as size 1."""
    return S.GlobalAveragePool(data_format)(x)[0]


# ------------------------------------------------------------------ network ops

def dropout(x, seed=0, ratio=0.5):
    """While training, drop elements with probability ``ratio`` (rest scaled by 1/(1-ratio))."""
    return N.Dropout(seed, ratio)(x)[0]


def conv2d(handle, x, W, b=None, odd_padding=(0, 0, 0, 0)):
    """2-D convolution with a handle's geometry (see :class:`singa.operators_nn.ConvHandle`)."""
    op = N._Conv2d(handle, odd_padding)
    return (op(x, W) if b is None else op(x, W, b))[0]


def pooling_2d(handle, x, odd_padding=(0, 0, 0, 0)):
    """2-D max or average pooling with a handle's geometry."""
    return N._Pooling2d(handle, odd_padding)(x)[0]


def batchnorm_2d(handle, x, scale, bias, running_mean, running_var):
    """Batch normalisation; updates the running statistics while training."""
    return N._BatchNorm2d(handle, running_mean, running_var)(x, scale, bias)[0]
