"""Optimizer steps of domain ``ai.onnx.preview.training``: Adagrad, Adam, Momentum.

Each node takes the learning rate R, the update count T and, for k tensors, k
values X, then k gradients G, then k of each optimizer state; it returns the k
new values, then the k new values of each state.  ``since`` counts in that
domain's opsets.  The scalar factors (bias corrections, the adjusted rate) are
0-d float64 arrays on the device; the element-wise update runs in X's dtype.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ModelError, ShapeError
from ..ir.types import TensorType
from .base import check_int_operand, defop

TRAINING = "ai.onnx.preview.training"


def _groups(op, n_inputs, per_tensor):
    """How many tensors a node of ``n_inputs`` inputs optimizes."""
    k, rest = divmod(n_inputs - 2, per_tensor)
    if n_inputs < 2 + per_tensor or rest:
        raise ShapeError(f"{op}: takes R, T and {per_tensor} tensors per optimized tensor "
                         f"(X.., G.., states..); got {n_inputs} inputs")
    return k


def _check_types(op, types, per_tensor):
    """DTypeError/ShapeError for a bad R or T, or tensors of one X unlike in dtype or
    shape; returns the X types, one per optimized tensor."""
    k = _groups(op, len(types), per_tensor)
    r, t = types[0], types[1]
    if r is None or t is None or any(x is None for x in types[2:]):
        raise ModelError(f"{op}: every input is required")
    if not r.dtype.is_float:
        raise DTypeError(f"{op}: learning rate R must be f32 or f64, got {r.dtype.short}")
    check_int_operand(op, "update count T", t, allowed=("INT64",))
    for what, u in (("R", r), ("T", t)):
        if u.shape is not None and all(isinstance(d, int) for d in u.shape) \
                and int(np.prod(u.shape, dtype=np.int64)) != 1:
            raise ShapeError(f"{op}: {what} must be a scalar, got shape {u.shape}")
    xs = types[2:2 + k]
    for i, x in enumerate(xs):
        if x.dtype.name not in ("FLOAT", "DOUBLE"):
            raise DTypeError(f"{op}: X{i} must be f32 or f64, got {x.dtype.short}")
        for j in range(1, per_tensor):
            u = types[2 + j * k + i]
            if u.dtype != x.dtype:
                raise DTypeError(f"{op}: input {2 + j * k + i} is {u.dtype.short}, its "
                                 f"X{i} {x.dtype.short}")
            if x.shape is not None and u.shape is not None and (
                    len(x.shape) != len(u.shape)
                    or any(isinstance(a, int) and isinstance(b, int) and a != b
                           for a, b in zip(x.shape, u.shape))):
                raise ShapeError(f"{op}: input {2 + j * k + i} has shape {u.shape}, its X{i} "
                                 f"{x.shape}")
    return xs


def _infer(op, per_tensor):
    def infer(types, attrs, values):
        xs = _check_types(op, types, per_tensor)
        return [TensorType(x.dtype, x.shape) for x in xs] * (per_tensor - 1)

    return infer


def _run(op, xp, inputs, per_tensor, step):
    """``step(r, t, x, g, *states) -> (x_new, *states_new)`` for every tensor;
    outputs all new values, then each state's new values."""
    _check_types(op, [TensorType.of(a) for a in inputs], per_tensor)
    k = _groups(op, len(inputs), per_tensor)
    r = inputs[0].reshape(()).astype(np.float64)
    t = inputs[1].reshape(())
    per = [step(r, t, *(inputs[2 + j * k + i] for j in range(per_tensor)))
           for i in range(k)]
    return [res[j].astype(inputs[2 + i].dtype) for j in range(per_tensor - 1)
            for i, res in enumerate(per)]


def _scalar(a, like):
    """0-d float64 factor ``a`` in the update's dtype."""
    return a.astype(like.dtype)


# ------------------------------------------------------------------ Adagrad

@defop("Adagrad", since=1, infer=_infer("Adagrad", 3), num_outputs=None, domain=TRAINING,
       defaults={"decay_factor": 0.0, "epsilon": 1e-6, "norm_coefficient": 0.0})
def _adagrad(xp, inputs, attrs):
    """X_new = X - R / (1 + T decay) * G' / (sqrt(H_new) + eps), H_new = H + G'^2,
    with G' = G + norm_coefficient X."""

    def step(r, t, x, g, h):
        rate = _scalar(r / (1 + t * attrs["decay_factor"]), x)
        g = attrs["norm_coefficient"] * x + g
        h_new = h + g * g
        return x - rate * g / (xp.sqrt(h_new) + attrs["epsilon"]), h_new

    return _run("Adagrad", xp, inputs, 3, step)


# ------------------------------------------------------------------ Adam

@defop("Adam", since=1, infer=_infer("Adam", 4), num_outputs=None, domain=TRAINING,
       defaults={"alpha": 0.9, "beta": 0.999, "epsilon": 1e-6, "norm_coefficient": 0.0,
                 "norm_coefficient_post": 0.0})
def _adam(xp, inputs, attrs):
    """Adam with bias correction from T > 0 and both L2 terms (norm_coefficient on
    the gradient, norm_coefficient_post on the result), as the ONNX spec writes it."""
    alpha, beta = attrs["alpha"], attrs["beta"]

    def step(r, t, x, g, v, h):
        later = t > 0
        # bias corrections only from the first counted step; T = 0 keeps R
        safe_t = xp.where(later, t, 1)
        rate = xp.where(later, r * xp.sqrt(1 - beta ** safe_t) / (1 - alpha ** safe_t), r)
        g = attrs["norm_coefficient"] * x + g
        v_new = alpha * v + (1 - alpha) * g
        h_new = beta * h + (1 - beta) * g * g
        x_new = x - _scalar(rate, x) * v_new / (xp.sqrt(h_new) + attrs["epsilon"])
        return (1 - attrs["norm_coefficient_post"]) * x_new, v_new, h_new

    return _run("Adam", xp, inputs, 4, step)


# ------------------------------------------------------------------ Momentum

def _momentum_mode(attrs):
    mode = attrs.get("mode")
    if mode not in ("standard", "nesterov"):
        raise ModelError(f"Momentum: mode must be 'standard' or 'nesterov', got {mode!r}")
    for name in ("alpha", "beta", "norm_coefficient"):
        if attrs.get(name) is None:
            raise ModelError(f"Momentum: attribute {name} is required")
    return mode


def _momentum_infer(types, attrs, values):
    _momentum_mode(attrs)
    return _infer("Momentum", 3)(types, attrs, values)


@defop("Momentum", since=1, infer=_momentum_infer, num_outputs=None, domain=TRAINING)
def _momentum(xp, inputs, attrs):
    """SGD with momentum V_new = alpha V + beta' G' (beta' = 1 at T = 0), G' = G +
    norm_coefficient X; standard: X - R V_new, nesterov: X - R (G' + alpha V_new)."""
    nesterov = _momentum_mode(attrs) == "nesterov"
    alpha = attrs["alpha"]

    def step(r, t, x, g, v):
        beta = _scalar(xp.where(t > 0, attrs["beta"], 1.0), x)
        g = attrs["norm_coefficient"] * x + g
        v_new = alpha * v + beta * g
        rate = _scalar(r, x)
        return x - rate * (g + alpha * v_new if nesterov else v_new), v_new

    return _run("Momentum", xp, inputs, 3, step)
