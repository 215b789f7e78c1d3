"""Unary elementwise math and activations (one input, output of the same shape).

Every op keeps its input dtype (float32 in, float32 out): constants are Python
scalars, which NumPy >= 2 and CuPy treat as weak and do not promote with.
"""

from __future__ import annotations

import math

from . import _ctemplates as ct
from ._blockwise import blockwise
from .base import Pattern, defop, same_as

_SQRT_PI = math.sqrt(math.pi)


def _unary(name, *, cuda=None, since=1, defaults=None, grad=None, adapt=None):
    """Register ``f(xp, x, attrs) -> y`` as a unary op.

    ``grad(xp, x, y, dy, attrs) -> dx`` is the backward rule of the single input.
    """

    def deco(f):
        def compute(xp, inputs, attrs):
            return [f(xp, inputs[0], attrs)]

        g = None
        if grad is not None:
            def g(xp, inputs, outputs, douts, attrs):
                return [grad(xp, inputs[0], outputs[0], douts[0], attrs)]

        compute.__doc__ = f.__doc__
        defop(name, pattern=Pattern.ELEMWISE, infer=same_as(), grad=g, cuda=cuda,
              since=since, defaults=defaults, adapt=adapt)(compute)
        return f

    return deco


def _zero_grad(xp, x, y, dy, attrs):
    """Piecewise-constant functions: the gradient is zero almost everywhere."""
    return xp.zeros_like(x)


def erf(xp, x, out=None):
    """The error function, exact to ~1e-15 with only ``xp`` primitives, in x's dtype.

    NumPy has no erf.  |x| < 3: the everywhere-positive series
    ``erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!`` (no cancellation);
    |x| >= 3: the continued fraction of erfc, evaluated bottom-up.  The float64
    work runs block by block (:func:`~singa.ops._blockwise.blockwise`), so it
    never holds float64 copies of all of x; ``out`` (x itself: in place) takes
    the result.
    """
    return blockwise(xp, _erf_block, x, out=out)


def _erf_block(xp, x):
    """erf of the elements ``x`` in float64: the series and the continued
    fraction, in place on a few float64 arrays."""
    a = xp.abs(x.astype("float64"))
    s = xp.minimum(a, 3.0)
    x2 = s * s
    twice = 2.0 * x2
    t = xp.empty_like(a)
    term = s.copy()
    acc = s  # s is not read again
    for n in range(1, 50):  # at |x| = 3 term 50 is ~1e-21 of the sum
        xp.divide(twice, 2 * n + 1, out=t)
        xp.multiply(term, t, out=term)
        xp.add(acc, term, out=acc)
    xp.negative(x2, out=t)
    xp.exp(t, out=t)
    xp.multiply(2.0 / _SQRT_PI, t, out=t)
    series = xp.multiply(t, acc, out=acc)
    near = a < 3.0
    if not near.all():  # the continued fraction only where some |x| >= 3
        b = xp.maximum(a, 3.0)
        frac = b.copy()
        for k in range(60, 0, -1):
            xp.divide(k / 2.0, frac, out=frac)
            xp.add(b, frac, out=frac)
        xp.negative(b, out=t)
        xp.multiply(t, b, out=t)
        xp.exp(t, out=t)
        xp.multiply(_SQRT_PI, frac, out=frac)
        xp.divide(t, frac, out=t)
        xp.subtract(1.0, t, out=t)
        series = xp.where(near, series, t)
    return xp.sign(x) * series


def sigmoid(xp, x, out=None):
    """1 / (1 + exp(-x)) without overflow for large |x|, in x's dtype (block by
    block: :func:`~singa.ops._blockwise.blockwise`)."""
    return blockwise(xp, _sigmoid_block, x, out=out)


def _sigmoid_block(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(xp, x):
    """log(1 + exp(x)) without overflow."""
    return (xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype)


# ------------------------------------------------------------------ basic math

@_unary("Identity", since=1, cuda="({0})", grad=lambda xp, x, y, dy, a: dy)
def _identity(xp, x, attrs):
    """A copy-free pass-through (the array itself)."""
    return x


@_unary("Neg", cuda="(-{0})", grad=lambda xp, x, y, dy, a: -dy)
def _neg(xp, x, attrs):
    """-x."""
    return -x


@_unary("Abs", cuda=ct.abs_,
        grad=lambda xp, x, y, dy, a: dy * xp.sign(x))
def _abs(xp, x, attrs):
    """|x|."""
    return xp.abs(x)


@_unary("Exp", cuda="exp({0})", grad=lambda xp, x, y, dy, a: dy * y)
def _exp(xp, x, attrs):
    """e**x."""
    return xp.exp(x)


@_unary("Log", cuda="log({0})", grad=lambda xp, x, y, dy, a: dy / x)
def _log(xp, x, attrs):
    """Natural logarithm."""
    return xp.log(x)


@_unary("Sqrt", cuda="sqrt({0})", grad=lambda xp, x, y, dy, a: dy * 0.5 / y)
def _sqrt(xp, x, attrs):
    """Square root."""
    return xp.sqrt(x)


@_unary("Reciprocal", cuda="(({T})1 / {0})", grad=lambda xp, x, y, dy, a: -dy * y * y)
def _reciprocal(xp, x, attrs):
    """1 / x."""
    return xp.reciprocal(x) if x.dtype.kind == "f" else (1 // x).astype(x.dtype)


@_unary("Floor", cuda="floor({0})", grad=_zero_grad)
def _floor(xp, x, attrs):
    """Round towards -inf."""
    return xp.floor(x)


@_unary("Ceil", cuda="ceil({0})", grad=_zero_grad)
def _ceil(xp, x, attrs):
    """Round towards +inf."""
    return xp.ceil(x)


@_unary("Round", since=11, cuda="rint({0})", grad=_zero_grad)
def _round(xp, x, attrs):
    """Round half to even, as ONNX specifies."""
    return xp.round(x)


@_unary("Sign", since=9, cuda="(({T})({0} > ({T})0) - ({T})({0} < ({T})0))", grad=_zero_grad)
def _sign(xp, x, attrs):
    """-1, 0 or 1 by the sign of x."""
    return xp.sign(x)


@_unary("Erf", since=9, cuda="erf({0})",
        grad=lambda xp, x, y, dy, a: dy * (2.0 / _SQRT_PI) * xp.exp(-x * x))
def _erf(xp, x, attrs):
    """The error function."""
    return erf(xp, x)


# ------------------------------------------------------------------ trigonometry

_TRIG = {
    # name: (forward, d/dx given (xp, x, y))
    "Sin": (lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x)),
    "Cos": (lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x)),
    "Tan": (lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y),
    "Asin": (lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x)),
    "Acos": (lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x)),
    "Atan": (lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x)),
    "Sinh": (lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x)),
    "Cosh": (lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x)),
    "Asinh": (lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1)),
    "Acosh": (lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1)),
    "Atanh": (lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x)),
}


def _register_trig(name, fwd, deriv):
    since = 7 if name in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan") else 9

    @_unary(name, since=since, cuda=f"{name.lower()}({{0}})",
            grad=lambda xp, x, y, dy, a: dy * deriv(xp, x, y))
    def _f(xp, x, attrs):
        return fwd(xp, x)

    _f.__doc__ = f"Elementwise {name.lower()}."


for _name, (_fwd, _deriv) in _TRIG.items():
    _register_trig(_name, _fwd, _deriv)


# ------------------------------------------------------------------ activations

@_unary("Relu", cuda="({0} < ({T})0 ? ({T})0 : {0})",
        grad=lambda xp, x, y, dy, a: dy * (x > 0))
def _relu(xp, x, attrs):
    """max(x, 0)."""
    return xp.maximum(x, 0).astype(x.dtype, copy=False)


@_unary("LeakyRelu", defaults={"alpha": 0.01},
        cuda="({0} >= ({T})0 ? {0} : ({T}){alpha} * {0})",
        grad=lambda xp, x, y, dy, a: dy * xp.where(x >= 0, 1, a["alpha"]).astype(x.dtype))
def _leaky_relu(xp, x, attrs):
    """x for x >= 0, alpha * x below."""
    return xp.where(x >= 0, x, x * attrs["alpha"]).astype(x.dtype, copy=False)


@_unary("Elu", defaults={"alpha": 1.0},
        cuda="({0} >= ({T})0 ? {0} : ({T}){alpha} * (exp({0}) - ({T})1))",
        grad=lambda xp, x, y, dy, a: dy * xp.where(x >= 0, 1, y + a["alpha"]).astype(x.dtype))
def _elu(xp, x, attrs):
    """x for x >= 0, alpha * (exp(x) - 1) below."""
    neg = xp.expm1(xp.minimum(x, 0)) * attrs["alpha"]
    return xp.where(x >= 0, x, neg).astype(x.dtype)


_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


def _selu_grad(xp, x, y, dy, a):
    return dy * xp.where(x > 0, a["gamma"], y + a["gamma"] * a["alpha"]).astype(x.dtype)


@_unary("Selu", defaults={"alpha": _SELU_ALPHA, "gamma": _SELU_GAMMA},
        cuda="(({T}){gamma} * ({0} > ({T})0 ? {0} : ({T}){alpha} * (exp({0}) - ({T})1)))",
        grad=_selu_grad)
def _selu(xp, x, attrs):
    """gamma * (x for x > 0, alpha * (exp(x) - 1) below)."""
    neg = xp.expm1(xp.minimum(x, 0)) * attrs["alpha"]
    return (xp.where(x > 0, x, neg) * attrs["gamma"]).astype(x.dtype)


@_unary("Celu", since=12, defaults={"alpha": 1.0},
        cuda="({0} > ({T})0 ? {0} : ({T}){alpha} * (exp({0} / ({T}){alpha}) - ({T})1))",
        grad=lambda xp, x, y, dy, a: dy * xp.where(
            x > 0, 1, xp.exp(xp.minimum(x, 0) / a["alpha"])).astype(x.dtype))
def _celu(xp, x, attrs):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    alpha = attrs["alpha"]
    neg = xp.expm1(xp.minimum(x, 0) / alpha) * alpha
    return xp.where(x > 0, x, neg).astype(x.dtype)


@_unary("ThresholdedRelu", since=10, defaults={"alpha": 1.0},
        cuda="({0} > ({T}){alpha} ? {0} : ({T})0)",
        grad=lambda xp, x, y, dy, a: dy * (x > a["alpha"]))
def _thresholded_relu(xp, x, attrs):
    """x where x > alpha, else 0."""
    return xp.where(x > attrs["alpha"], x, 0).astype(x.dtype)


@_unary("Sigmoid", cuda="(({T})1 / (({T})1 + exp(-{0})))",
        grad=lambda xp, x, y, dy, a: dy * y * (1 - y))
def _sigmoid(xp, x, attrs):
    """1 / (1 + exp(-x))."""
    return sigmoid(xp, x)


def _hard_sigmoid_grad(xp, x, y, dy, a):
    inner = x * a["alpha"] + a["beta"]
    return dy * ((inner > 0) & (inner < 1)) * a["alpha"]


@_unary("HardSigmoid", defaults={"alpha": 0.2, "beta": 0.5},
        cuda="fmax(({T})0, fmin(({T})1, ({T}){alpha} * {0} + ({T}){beta}))",
        grad=_hard_sigmoid_grad)
def _hard_sigmoid(xp, x, attrs):
    """max(0, min(1, alpha * x + beta))."""
    return xp.clip(x * attrs["alpha"] + attrs["beta"], 0, 1).astype(x.dtype)


def _hard_swish_grad(xp, x, y, dy, a):
    inner = x / 6 + 0.5
    hs = xp.clip(inner, 0, 1)
    return (dy * (hs + x * ((inner > 0) & (inner < 1)) / 6)).astype(x.dtype)


@_unary("HardSwish", since=14,
        cuda="({0} * fmax(({T})0, fmin(({T})1, {0} / ({T})6 + ({T})0.5)))",
        grad=_hard_swish_grad)
def _hard_swish(xp, x, attrs):
    """x * HardSigmoid(x) with alpha 1/6, beta 1/2."""
    return (x * xp.clip(x / 6 + 0.5, 0, 1)).astype(x.dtype)


@_unary("Tanh", cuda="tanh({0})", grad=lambda xp, x, y, dy, a: dy * (1 - y * y))
def _tanh(xp, x, attrs):
    """Hyperbolic tangent."""
    return xp.tanh(x)


@_unary("Softplus", since=1, cuda="(fmax({0}, ({T})0) + log1p(exp(-fabs({0}))))",
        grad=lambda xp, x, y, dy, a: dy * sigmoid(xp, x))
def _softplus(xp, x, attrs):
    """log(1 + exp(x))."""
    return softplus(xp, x)


@_unary("Softsign", since=1, cuda="({0} / (({T})1 + fabs({0})))",
        grad=lambda xp, x, y, dy, a: dy / ((1 + xp.abs(x)) ** 2))
def _softsign(xp, x, attrs):
    """x / (1 + |x|)."""
    return x / (1 + xp.abs(x))


def _mish_grad(xp, x, y, dy, a):
    t = xp.tanh(softplus(xp, x))
    return dy * (t + x * sigmoid(xp, x) * (1 - t * t))


@_unary("Mish", since=18, cuda="({0} * tanh(fmax({0}, ({T})0) + log1p(exp(-fabs({0})))))",
        grad=_mish_grad)
def _mish(xp, x, attrs):
    """x * tanh(softplus(x))."""
    return x * xp.tanh(softplus(xp, x))


_GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_grad(xp, x, y, dy, a):
    if a["approximate"] == "tanh":
        u = (x + 0.044715 * x ** 3) * _GELU_C
        t = xp.tanh(u)
        du = (1 + 3 * 0.044715 * x * x) * _GELU_C
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    else:
        cdf = 0.5 * (1 + erf(xp, x / math.sqrt(2.0)))
        d = cdf + x * xp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return (dy * d).astype(x.dtype)


@_unary("Gelu", since=20, defaults={"approximate": "none"}, grad=_gelu_grad, cuda=ct.gelu)
def _gelu(xp, x, attrs):
    """x * Phi(x); ``approximate="tanh"`` uses the tanh formula."""
    return blockwise(xp, _gelu_tanh if attrs["approximate"] == "tanh" else _gelu_erf, x)


def _gelu_tanh(xp, x):
    u = (x + 0.044715 * x ** 3) * _GELU_C
    return 0.5 * x * (1 + xp.tanh(u))


def _gelu_erf(xp, x):
    z = x / math.sqrt(2.0)
    cdf = _erf_block(xp, z).astype(z.dtype)  # as erf() rounds it
    return 0.5 * x * (1 + cdf)
