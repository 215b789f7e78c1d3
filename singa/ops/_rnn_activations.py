"""The activation functions of ONNX's RNN, GRU and LSTM, with their derivatives.

The ``activations`` attribute names one function per slot (RNN: f; GRU: f, g;
LSTM: f, g, h) and per direction.  Functions that take parameters draw them, in
the order the functions are listed, from ``activation_alpha`` and
``activation_beta`` (the order onnxruntime consumes them in); a list that runs
out leaves the corresponding ONNX operator's default.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError

# name -> (uses alpha, uses beta, default alpha, default beta).  The defaults are
# those of the ONNX operators of the same name (Affine and ScaledTanh: identity
# scaling), where onnxruntime would use 0.
_PARAMS = {
    "relu": (False, False, 0.0, 0.0),
    "tanh": (False, False, 0.0, 0.0),
    "sigmoid": (False, False, 0.0, 0.0),
    "affine": (True, True, 1.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0),
    "thresholdedrelu": (True, False, 1.0, 0.0),
    "scaledtanh": (True, True, 1.0, 1.0),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0.0),
    "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0),
}

NAMES = ("Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
         "HardSigmoid", "Elu", "Softsign", "Softplus")


def _sigmoid(xp, a):
    # exp of a non-positive number only: no overflow for large |a|
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


@dataclass(frozen=True)
class Activation:
    """One activation function with its parameters: ``y = act(a)``."""

    name: str  # lower case
    alpha: float = 0.0
    beta: float = 0.0

    def __call__(self, xp, a):
        n, al, be = self.name, self.alpha, self.beta
        if n == "sigmoid":
            return _sigmoid(xp, a)
        if n == "tanh":
            return xp.tanh(a)
        if n == "relu":
            return xp.maximum(a, 0)
        if n == "affine":
            return a * al + be
        if n == "leakyrelu":
            return xp.where(a >= 0, a, a * al)
        if n == "thresholdedrelu":
            return xp.where(a > al, a, 0)
        if n == "scaledtanh":
            return xp.tanh(a * be) * al
        if n == "hardsigmoid":
            return xp.clip(a * al + be, 0, 1)
        if n == "elu":
            return xp.where(a >= 0, a, (xp.exp(xp.minimum(a, 0)) - 1) * al)
        if n == "softsign":
            return a / (1 + xp.abs(a))
        return xp.logaddexp(0, a)  # softplus

    def derivative(self, xp, a, y):
        """d act / d a at ``a``, where ``y = act(a)``."""
        n, al, be = self.name, self.alpha, self.beta
        if n == "sigmoid":
            return y * (1 - y)
        if n == "tanh":
            return 1 - y * y
        if n == "relu":
            return (a > 0).astype(a.dtype)
        if n == "affine":
            return xp.full_like(a, al)
        if n == "leakyrelu":
            return xp.where(a >= 0, 1, al).astype(a.dtype)
        if n == "thresholdedrelu":
            return (a > al).astype(a.dtype)
        if n == "scaledtanh":
            t = xp.tanh(a * be)
            return (1 - t * t) * (al * be)
        if n == "hardsigmoid":
            z = a * al + be
            return ((z > 0) & (z < 1)).astype(a.dtype) * al
        if n == "elu":
            return xp.where(a >= 0, 1, y + al).astype(a.dtype)
        if n == "softsign":
            d = 1 + xp.abs(a)
            return 1 / (d * d)
        return _sigmoid(xp, a)  # softplus


def parse(op: str, attrs: dict, defaults: tuple, num_directions: int) -> list[tuple]:
    """Per direction, the tuple of the op's activation slots (``defaults`` names
    them when the attribute is absent).  A bidirectional op given one direction's
    list uses it for both."""
    names = list(attrs.get("activations") or [])
    slots = len(defaults)
    if not names:
        names = list(defaults) * num_directions
    elif len(names) == slots and num_directions == 2:
        names = names * 2
    if len(names) != slots * num_directions:
        raise ShapeError(f"{op}: activations {names} must name {slots} function(s) per "
                         f"direction ({num_directions} direction(s))")
    alphas = iter(float(a) for a in (attrs.get("activation_alpha") or []))
    betas = iter(float(b) for b in (attrs.get("activation_beta") or []))
    acts = []
    for name in names:
        name = name.decode() if isinstance(name, bytes) else str(name)
        key = name.lower()
        if key not in _PARAMS:
            raise ShapeError(f"{op}: unknown activation {name!r}; one of {', '.join(NAMES)}")
        uses_alpha, uses_beta, alpha, beta = _PARAMS[key]
        alpha = next(alphas, alpha) if uses_alpha else 0.0
        beta = next(betas, beta) if uses_beta else 0.0
        acts.append(Activation(key, alpha, beta))
    return [tuple(acts[d * slots:(d + 1) * slots]) for d in range(num_directions)]
