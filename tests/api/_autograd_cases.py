"""One case per ``singa.autograd`` function: float64 inputs, the call, and an
independent NumPy reference.  ``grad`` lists the inputs whose gradients
``creator.backward`` must match finite differences of the forward."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from singa import autograd as ag
from singa.operators_nn import BatchNormHandle, ConvHandle, PoolingHandle
from singa.tensor import Tensor

rng = np.random.default_rng(7)


def U(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


@dataclass
class Case:
    name: str
    inputs: list
    fn: Callable            # Tensors -> Tensor or tuple of Tensors
    ref: Callable           # arrays -> array or tuple of arrays
    grad: tuple = ()        # indices of inputs to check by finite differences
    id: str = ""
    dtype: object = None    # expected output dtype (default: that of the reference)
    extra: dict = field(default_factory=dict)

    @property
    def test_id(self):
        return f"{self.name}-{self.id}" if self.id else self.name


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _coerced_softmax(x, axis):
    rows = x.reshape(int(np.prod(x.shape[:axis])), -1)
    return _softmax_rows(rows).reshape(x.shape)


def _conv_ref(x, w, b, stride, pads):
    """Direct 2-D convolution; pads = (top, left, bottom, right)."""
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, _, h, wd = x.shape
    co, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, co, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return y + (0 if b is None else b[None, :, None, None])


def _pool_ref(x, k, s, p, op):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s - p, j * s - p
            win = x[:, :, max(r0, 0):r0 + k, max(c0, 0):c0 + k]
            y[:, :, i, j] = win.max(axis=(2, 3)) if op == "max" else win.mean(axis=(2, 3))
    return y


def _d2s(x, k, mode):
    b, c, h, w = x.shape
    if mode == "DCR":
        t = x.reshape(b, k, k, c // k ** 2, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(b, c // k ** 2, k, k, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(b, c // k ** 2, h * k, w * k)


def _s2d(y, k, mode):
    b, c, h, w = y.shape
    t = y.reshape(b, c, h // k, k, w // k, k)
    t = t.transpose(0, 3, 5, 1, 2, 4) if mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
    return t.reshape(b, c * k * k, h // k, w // k)


def _scatter_ref(x, idx, upd, axis):
    y = x.copy()
    np.put_along_axis(y, np.where(idx < 0, idx + x.shape[axis], idx), upd, axis)
    return y


def _onehot_ref(indices, depth, values, axis):
    eye = (np.arange(depth) == np.mod(indices, depth)[..., None]).astype(np.float32)
    eye = np.moveaxis(eye, -1, axis)
    return eye * (values[1] - values[0]) + values[0]


X34, Y34, Z34 = U(3, 4), U(3, 4), U(3, 4)
POS34 = U(3, 4, lo=0.5, hi=2.0)
HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7, 3.49])
LOGIC_A = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
LOGIC_B = np.array([[0.0, 0.0, 1.0], [2.0, 0.0, -1.0]])
COND = [[True, False, True, True], [False, False, True, False], [True, True, True, False]]
IMG = U(2, 3, 5, 5)
WGT = U(4, 3, 3, 3)
BIAS4 = U(4)
LABELS = np.array([2, 0, 3])
ONEHOT = np.eye(4)[LABELS]
PROBS = _softmax_rows(U(3, 4) * 2)
conv_h = ConvHandle(IMG, (3, 3), (2, 2), (1, 1), 3, 4, True, 1)
conv_h_nobias = ConvHandle(IMG, (3, 3), (1, 1), (0, 0), 3, 4, False, 1)
maxpool_h = PoolingHandle(IMG, (2, 2), (2, 2), (0, 0), True)
avgpool_h = PoolingHandle(IMG, (3, 3), (2, 2), (1, 1), False)
EQ_B = np.where(rng.random((3, 4)) < 0.5, X34, Y34)


def _bn_case():
    mean, var = U(3), U(3, lo=0.5, hi=1.5)
    handle = BatchNormHandle(0.1, IMG)

    def fn(x, s, b):
        return ag.batchnorm_2d(handle, x, s, b, Tensor(data=mean.copy(), requires_grad=False),
                               Tensor(data=var.copy(), requires_grad=False))

    def ref(x, s, b):
        c = (slice(None), None, None)
        return (x - mean[c]) / np.sqrt(var[c] + 1e-5) * s[c] + b[c]

    return Case("batchnorm_2d", [IMG, U(3), U(3)], fn, ref, grad=(0, 1, 2), id="inference")


def _unary(name, np_fn, lo=-1.0, hi=1.0, grad=True):
    x = U(3, 4, lo=lo, hi=hi)
    return Case(name, [x], getattr(ag, name), np_fn, grad=(0,) if grad else ())


_erf = np.vectorize(math.erf)

CASES = [
    # arithmetic
    Case("add", [X34, U(4)], ag.add, np.add, grad=(0, 1)),
    Case("sub", [X34, U(3, 1)], ag.sub, np.subtract, grad=(0, 1)),
    Case("mul", [X34, Y34], ag.mul, np.multiply, grad=(0, 1)),
    Case("div", [X34, POS34], ag.div, np.divide, grad=(0, 1)),
    Case("pow", [POS34, X34], ag.pow, np.power, grad=(0, 1)),
    Case("neg", [X34], ag.neg, np.negative, grad=(0,)),
    Case("negative", [X34], ag.negative, np.negative, grad=(0,)),
    Case("matmul", [U(2, 3, 4), U(4, 5)], ag.matmul, np.matmul, grad=(0, 1)),
    Case("gemm", [U(3, 4), U(5, 4), U(5)],
         lambda a, b, c: ag.gemm(a, b, c, alpha=0.5, beta=2.0, transB=1),
         lambda a, b, c: 0.5 * a @ b.T + 2.0 * c, grad=(0, 1, 2)),
    Case("gemm", [U(4, 3), U(4, 5)], lambda a, b: ag.gemm(a, b, transA=1),
         lambda a, b: a.T @ b, grad=(0, 1), id="no_c"),
    Case("add_bias", [X34, U(4)], ag.add_bias, lambda x, b: x + b, grad=(0, 1), id="rows"),
    Case("add_bias", [X34, U(3)], lambda x, b: ag.add_bias(x, b, axis=1),
         lambda x, b: x + b[:, None], grad=(0, 1), id="columns"),
    Case("mean", [X34, Y34, U(4)], ag.mean, lambda a, b, c: (a + b + c) / 3, grad=(0, 1, 2)),
    Case("sum", [X34, Y34, Z34], ag.sum, lambda a, b, c: a + b + c, grad=(0, 1, 2)),
    Case("add_all", [X34, Y34, Z34], ag.add_all, lambda a, b, c: a + b + c, grad=(0, 1, 2)),
    Case("max", [X34, Y34, Z34], ag.max, lambda a, b, c: np.maximum(np.maximum(a, b), c),
         grad=(0, 1, 2)),
    Case("min", [X34, Y34, Z34], ag.min, lambda a, b, c: np.minimum(np.minimum(a, b), c),
         grad=(0, 1, 2)),
    # activations and math
    _unary("relu", lambda x: np.maximum(x, 0)),
    Case("leakyrelu", [X34], lambda x: ag.leakyrelu(x, 0.1),
         lambda x: np.where(x >= 0, x, 0.1 * x), grad=(0,)),
    Case("elu", [X34], lambda x: ag.elu(x, 0.7),
         lambda x: np.where(x >= 0, x, 0.7 * (np.exp(x) - 1)), grad=(0,)),
    Case("selu", [X34], ag.selu,
         lambda x: 1.0507 * np.where(x > 0, x, 1.67326 * (np.exp(x) - 1)), grad=(0,)),
    Case("prelu", [X34, U(4)], ag.prelu, lambda x, s: np.where(x >= 0, x, s * x), grad=(0, 1)),
    _unary("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    Case("hardsigmoid", [X34 * 4], ag.hardsigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1),
         grad=(0,)),
    _unary("tanh", np.tanh),
    _unary("softplus", lambda x: np.log1p(np.exp(x))),
    _unary("softsign", lambda x: x / (1 + np.abs(x))),
    _unary("exp", np.exp),
    _unary("log", np.log, lo=0.5, hi=2.0),
    _unary("sqrt", np.sqrt, lo=0.5, hi=2.0),
    _unary("abs", np.abs),
    _unary("sign", np.sign),
    _unary("reciprocal", np.reciprocal, lo=0.5, hi=2.0),
    _unary("erf", _erf),
    _unary("ceil", np.ceil, lo=-3, hi=3),
    _unary("floor", np.floor, lo=-3, hi=3),
    Case("round", [HALVES], ag.round, lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5)),
    Case("rounde", [HALVES], ag.rounde, np.round),
    _unary("cos", np.cos), _unary("cosh", np.cosh), _unary("sin", np.sin),
    _unary("sinh", np.sinh), _unary("tan", np.tan), _unary("atan", np.arctan),
    _unary("asinh", np.arcsinh),
    _unary("acos", np.arccos, lo=-0.9, hi=0.9), _unary("asin", np.arcsin, lo=-0.9, hi=0.9),
    _unary("atanh", np.arctanh, lo=-0.9, hi=0.9), _unary("acosh", np.arccosh, lo=1.2, hi=3.0),
    Case("clip", [X34], lambda x: ag.clip(x, -0.3, 0.5), lambda x: np.clip(x, -0.3, 0.5),
         grad=(0,)),
    Case("softmax", [U(2, 3, 4)], lambda x: ag.softmax(x, 1), lambda x: _coerced_softmax(x, 1),
         grad=(0,), id="coerced"),
    Case("softmax", [U(2, 3, 4)], lambda x: ag.softmax(x, -1),
         lambda x: _coerced_softmax(x, 2), grad=(0,), id="last"),
    Case("log_softmax", [X34], lambda x: ag.log_softmax(x, 1),
         lambda x: np.log(_softmax_rows(x)), grad=(0,)),
    Case("identity", [X34], ag.identity, lambda x: x, grad=(0,)),
    # comparison and logic: 0/1 in the first input's dtype
    Case("less", [X34, Y34], ag.less, lambda a, b: (a < b).astype(np.float64)),
    Case("greater", [X34, Y34], ag.greater, lambda a, b: (a > b).astype(np.float64)),
    Case("equal", [X34, EQ_B], ag.equal, lambda a, b: (a == b).astype(np.float64)),
    Case("less_equal", [X34, EQ_B], ag.less_equal, lambda a, b: (a <= b).astype(np.float64)),
    Case("greater_equal", [X34, EQ_B], ag.greater_equal,
         lambda a, b: (a >= b).astype(np.float64)),
    Case("_and", [LOGIC_A, LOGIC_B], ag._and, lambda a, b: ((a != 0) & (b != 0)) * 1.0),
    Case("_or", [LOGIC_A, LOGIC_B], ag._or, lambda a, b: ((a != 0) | (b != 0)) * 1.0),
    Case("_xor", [LOGIC_A, LOGIC_B], ag._xor, lambda a, b: ((a != 0) ^ (b != 0)) * 1.0),
    Case("_not", [LOGIC_A], ag._not, lambda a: (a == 0) * 1.0),
    Case("where", [X34, Y34], lambda x, y: ag.where(x, y, COND),
         lambda x, y: np.where(COND, x, y), grad=(0, 1)),
    Case("cast", [X34 * 5], lambda x: ag.cast(x, np.int32),
         lambda x: np.trunc(x).astype(np.int32)),
    Case("cossim", [X34, Y34], ag.cossim,
         lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1),
         grad=(0, 1)),
    # shapes and indexing
    Case("flatten", [U(2, 3, 4)], lambda x: ag.flatten(x, 2), lambda x: x.reshape(6, 4),
         grad=(0,)),
    Case("reshape", [U(2, 3, 4)], lambda x: ag.reshape(x, (0, -1)), lambda x: x.reshape(2, 12),
         grad=(0,)),
    Case("transpose", [U(2, 3, 4)], lambda x: ag.transpose(x, (2, 0, 1)),
         lambda x: x.transpose(2, 0, 1), grad=(0,)),
    Case("cat", [X34, U(3, 2)], lambda a, b: ag.cat([a, b], 1),
         lambda a, b: np.concatenate([a, b], 1), grad=(0, 1)),
    Case("concat", [X34, U(1, 4)], lambda a, b: ag.concat([a, b], 0),
         lambda a, b: np.concatenate([a, b], 0), grad=(0, 1)),
    Case("split", [U(2, 7)], lambda x: ag.split(x, 1, [2, 4, 1]),
         lambda x: tuple(np.split(x, [2, 6], 1)), grad=(0,)),
    Case("split", [U(6, 2)], lambda x: ag.split(x, 0, None, num_output=3),
         lambda x: tuple(np.split(x, 3, 0)), grad=(0,), id="num_output"),
    Case("squeeze", [U(2, 1, 3, 1)], lambda x: ag.squeeze(x, [1]), lambda x: x[:, 0],
         grad=(0,)),
    Case("squeeze", [U(2, 1, 3, 1)], ag.squeeze, lambda x: x.reshape(2, 3), grad=(0,), id="all"),
    Case("unsqueeze", [X34], lambda x: ag.unsqueeze(x, [0, 2]), lambda x: x[None, :, None],
         grad=(0,)),
    Case("slice", [U(4, 5, 6)], lambda x: ag.slice(x, [1, 0], [3, 6], [0, 2], [1, 2]),
         lambda x: x[1:3, :, 0:6:2], grad=(0,)),
    Case("slice", [U(4, 5)], lambda x: ag.slice(x, [1, 2], [9, 4]), lambda x: x[1:, 2:4],
         grad=(0,), id="default_axes"),
    Case("gather", [U(3, 4, 2)], lambda x: ag.gather(x, 1, [[0, 2], [3, -1]]),
         lambda x: x[:, [[0, 2], [3, 3]]], grad=(0,)),
    Case("tile", [U(3)], lambda x: ag.tile(x, [2, 1, 2]), lambda x: np.tile(x, [2, 1, 2]),
         grad=(0,)),
    Case("tile", [U(2, 3)], lambda x: ag.tile(x, 2), lambda x: np.tile(x, [2, 1]), grad=(0,),
         id="leading_axis"),
    Case("expand", [U(3, 1)], lambda x: ag.expand(x, (2, 3, 4)),
         lambda x: np.broadcast_to(x, (2, 3, 4)), grad=(0,)),
    Case("pad", [X34], lambda x: ag.pad(x, "constant", [1, 0, 0, 2], 1.5),
         lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=1.5), grad=(0,)),
    Case("pad", [X34], lambda x: ag.pad(x, "reflect", [0, 2, 1, 1]),
         lambda x: np.pad(x, ((0, 1), (2, 1)), mode="reflect"), grad=(0,), id="reflect"),
    Case("pad", [X34], lambda x: ag.pad(x, "edge", [2, 1, 0, 1]),
         lambda x: np.pad(x, ((2, 0), (1, 1)), mode="edge"), grad=(0,), id="edge"),
    Case("upsample", [U(1, 2, 2, 3)], lambda x: ag.upsample(x, "nearest", [1, 1, 2, 3]),
         lambda x: x.repeat(2, axis=2).repeat(3, axis=3), grad=(0,)),
    Case("depth_to_space", [U(1, 8, 2, 3)], lambda x: ag.depth_to_space(x, 2),
         lambda x: _d2s(x, 2, "DCR"), grad=(0,)),
    Case("depth_to_space", [U(1, 8, 2, 3)], lambda x: ag.depth_to_space(x, 2, "CRD"),
         lambda x: _d2s(x, 2, "CRD"), grad=(0,), id="crd"),
    Case("space_to_depth", [U(1, 2, 4, 6)], lambda x: ag.space_to_depth(x, 2),
         lambda x: _s2d(x, 2, "DCR"), grad=(0,)),
    Case("space_to_depth", [U(1, 2, 4, 6)], lambda x: ag.space_to_depth(x, 2, "CRD"),
         lambda x: _s2d(x, 2, "CRD"), grad=(0,), id="crd"),
    Case("scatter_elements", [U(3, 3)],
         lambda x: ag.scatter_elements(x, [[1, 0, 2], [0, 2, 1]], [[1.0, 1.1, 1.2], [2.0, 2.1, 2.2]]),
         lambda x: _scatter_ref(x, np.array([[1, 0, 2], [0, 2, 1]]),
                                np.array([[1.0, 1.1, 1.2], [2.0, 2.1, 2.2]]), 0), grad=(0,)),
    Case("scatter_elements", [U(1, 5)],
         lambda x: ag.scatter_elements(x, np.array([[1, -3]]), np.array([[1.1, 2.1]]), axis=1),
         lambda x: _scatter_ref(x, np.array([[1, -3]]), np.array([[1.1, 2.1]]), 1), grad=(0,),
         id="negative_axis1"),
    Case("shape", [U(3, 1, 2)], ag.shape, lambda x: np.array(x.shape, np.int64)),
    Case("nonzero", [LOGIC_A], ag.nonzero, lambda x: np.array(np.nonzero(x))),
    Case("onehot", [np.array([[1.0, 9.0], [2.0, -1.0]])],
         lambda i: ag.onehot(1, i, 10, [1, 3]),
         lambda i: _onehot_ref(i.astype(int), 10, (1, 3), 1).astype(np.float32)),
    Case("constant_of_shape", [np.array([4, 3, 2], np.int64)],
         lambda s: ag.constant_of_shape(s, 1.5), lambda s: np.full(s, 1.5, np.float32)),
    Case("constant_of_shape", [np.array([2, 3], np.int64)],
         lambda s: ag.constant_of_shape(s, 1), lambda s: np.ones(s, np.int32), id="int"),
    Case("embedding", [np.array([[0, 2, 2], [1, 0, 3]]), U(4, 5)], ag.embedding,
         lambda i, w: w[i], grad=(1,)),
    Case("reduce_sum", [U(2, 3, 4)], lambda x: ag.reduce_sum(x, [0, 2], 0),
         lambda x: x.sum(axis=(0, 2)), grad=(0,)),
    Case("reduce_sum", [U(2, 3, 4)], ag.reduce_sum, lambda x: x.sum(keepdims=True), grad=(0,),
         id="all"),
    Case("reduce_mean", [U(2, 3, 4)], lambda x: ag.reduce_mean(x, -1),
         lambda x: x.mean(axis=-1, keepdims=True), grad=(0,)),
    Case("globalaveragepool", [U(2, 3, 4, 5)], ag.globalaveragepool,
         lambda x: x.mean(axis=(2, 3), keepdims=True), grad=(0,)),
    Case("globalaveragepool", [U(2, 4, 5, 3)], lambda x: ag.globalaveragepool(x, "channels_last"),
         lambda x: x.mean(axis=(1, 2), keepdims=True), grad=(0,), id="channels_last"),
    # network ops
    Case("dropout", [X34], lambda x: ag.dropout(x, ratio=0.3), lambda x: x, grad=(0,),
         id="inference"),
    Case("conv2d", [IMG, WGT, BIAS4], lambda x, w, b: ag.conv2d(conv_h, x, w, b),
         lambda x, w, b: _conv_ref(x, w, b, 2, (1, 1, 1, 1)), grad=(0, 1, 2)),
    Case("conv2d", [IMG, WGT], lambda x, w: ag.conv2d(conv_h_nobias, x, w, odd_padding=(0, 1, 1, 0)),
         lambda x, w: _conv_ref(x, w, None, 1, (0, 1, 1, 0)), grad=(0, 1), id="odd_padding"),
    Case("pooling_2d", [IMG], lambda x: ag.pooling_2d(maxpool_h, x),
         lambda x: _pool_ref(x, 2, 2, 0, "max"), grad=(0,)),
    Case("pooling_2d", [IMG], lambda x: ag.pooling_2d(avgpool_h, x),
         lambda x: _pool_ref(x, 3, 2, 1, "avg"), grad=(0,), id="avg_excludes_padding"),
    _bn_case(),
    # losses (shape (1,))
    Case("softmax_cross_entropy", [X34 * 3, ONEHOT], ag.softmax_cross_entropy,
         lambda x, t: np.array([-(t * np.log(_softmax_rows(x))).sum() / 3]), grad=(0,)),
    Case("softmax_cross_entropy", [X34 * 3, LABELS], ag.softmax_cross_entropy,
         lambda x, t: np.array([-np.log(_softmax_rows(x))[range(3), t].mean()]), grad=(0,),
         id="labels"),
    Case("cross_entropy", [PROBS, ONEHOT], ag.cross_entropy,
         lambda p, t: np.array([-(t * np.log(p)).sum() / 3]), grad=(0,)),
    Case("cross_entropy", [PROBS, LABELS.reshape(3, 1).astype(np.float64)], ag.cross_entropy,
         lambda p, t: np.array([-np.log(p[range(3), t[:, 0].astype(int)]).mean()]), grad=(0,),
         id="float_labels_column"),
    Case("binary_cross_entropy", [U(3, 4, lo=0.05, hi=0.95), (U(3, 4) > 0) * 1.0],
         ag.binary_cross_entropy,
         lambda x, t: np.array([-(t * np.log(x + 1e-4) + (1 - t) * np.log(1.0001 - x)).sum() / 3]),
         grad=(0,)),
    Case("mse_loss", [U(3, 2, 2), U(3, 2, 2)], ag.mse_loss,
         lambda x, t: np.array([((x - t) ** 2).mean()]), grad=(0,)),
    Case("ranking_loss", [U(5, 1), U(5, 1)], lambda p, n: ag.ranking_loss(p, n, 0.3),
         lambda p, n: np.array([np.maximum(0, 0.3 + n - p).sum() / 5]), grad=(0, 1)),
    Case("ctensor2numpy", [X34], lambda x: Tensor(data=ag.ctensor2numpy(x.data)),
         lambda x: x),
]
