"""Cases of training.py (domain ai.onnx.preview.training): Adagrad, Adam, Momentum.

onnxruntime has none of these ops, so each reference is the ONNX spec's pseudo
code written out in float64, one optimized tensor at a time.
"""

import numpy as np

from tests.ops.case import Case, rand


def _split(inputs, per_tensor):
    """(R, T, [(X, G, states...) per optimized tensor])."""
    r, t, rest = float(inputs[0]), int(inputs[1]), inputs[2:]
    k = len(rest) // per_tensor
    return r, t, [tuple(rest[j * k + i] for j in range(per_tensor)) for i in range(k)]


def _outputs(per):
    """Every tensor's new X first, then every tensor's first state, ..."""
    return [res[j] for j in range(len(per[0])) for res in per]


def adagrad_reference(*inputs, decay_factor=0.0, epsilon=1e-6, norm_coefficient=0.0):
    r, t, groups = _split(inputs, 3)
    per = []
    for x, g, h in groups:
        rate = r / (1 + t * decay_factor)
        g = norm_coefficient * x + g
        h = h + g * g
        per.append((x - rate * g / (np.sqrt(h) + epsilon), h))
    return _outputs(per)


def adam_reference(*inputs, alpha=0.9, beta=0.999, epsilon=1e-6, norm_coefficient=0.0,
                   norm_coefficient_post=0.0):
    r, t, groups = _split(inputs, 4)
    per = []
    for x, g, v, h in groups:
        g = norm_coefficient * x + g
        v = alpha * v + (1 - alpha) * g
        h = beta * h + (1 - beta) * g * g
        rate = r * np.sqrt(1 - beta ** t) / (1 - alpha ** t) if t > 0 else r
        x = x - rate * v / (np.sqrt(h) + epsilon)
        per.append(((1 - norm_coefficient_post) * x, v, h))
    return _outputs(per)


def momentum_reference(*inputs, alpha, beta, mode, norm_coefficient):
    r, t, groups = _split(inputs, 3)
    per = []
    for x, g, v in groups:
        g = norm_coefficient * x + g
        v = alpha * v + (beta if t > 0 else 1.0) * g
        step = g + alpha * v if mode == "nesterov" else v
        per.append((x - r * step, v))
    return _outputs(per)


R = np.array(0.1, np.float32)
T0, T5 = np.array(0, np.int64), np.array(5, np.int64)
X, G = rand(3, 4), rand(3, 4, seed=1)
X2, G2 = rand(5), rand(5, seed=2)
V, V2 = rand(3, 4, seed=3), rand(5, seed=4)
H, H2 = rand(3, 4, low=0.0, seed=5), rand(5, low=0.0, seed=6)


def _case(op, inputs, attrs, reference, outputs, id):
    return Case(op, inputs, attrs, reference=reference, outputs=outputs, grad=False, id=id)


MOMENTUM = {"alpha": 0.9, "beta": 0.5, "norm_coefficient": 0.01}

CASES = [
    _case("Adagrad", [R, T5, X, G, H], {"decay_factor": 0.1, "epsilon": 1e-5,
                                        "norm_coefficient": 0.01}, adagrad_reference, 2,
          "one"),
    _case("Adagrad", [R, T0, X, X2, G, G2, H, H2], {}, adagrad_reference, 4,
          "two_defaults"),
    _case("Adagrad", [R.astype(np.float64), T5] + [a.astype(np.float64) for a in (X, G, H)],
          {"decay_factor": 0.5}, adagrad_reference, 2, "f64"),
    _case("Adam", [R, T0, X, G, V, H], {"alpha": 0.95, "beta": 0.1, "epsilon": 1e-7,
                                        "norm_coefficient": 0.001}, adam_reference, 3,
          "first_step"),
    _case("Adam", [R, T5, X, G, V, H], {"norm_coefficient_post": 0.02}, adam_reference, 3,
          "bias_corrected"),
    _case("Adam", [R, T5, X, X2, G, G2, V, V2, H, H2], {}, adam_reference, 6, "two"),
    _case("Momentum", [R, T0, X, G, V], dict(MOMENTUM, mode="standard"),
          momentum_reference, 2, "first_step"),
    _case("Momentum", [R, T5, X, G, V], dict(MOMENTUM, mode="standard"),
          momentum_reference, 2, "standard"),
    _case("Momentum", [R, T5, X, G, V], dict(MOMENTUM, mode="nesterov"),
          momentum_reference, 2, "nesterov"),
    _case("Momentum", [R, T5, X, X2, G, G2, V, V2], dict(MOMENTUM, mode="nesterov"),
          momentum_reference, 4, "nesterov_two"),
    _case("Momentum", [R.astype(np.float64), T0] + [a.astype(np.float64) for a in (X, G, V)],
          dict(MOMENTUM, mode="standard"), momentum_reference, 2, "f64"),
]
