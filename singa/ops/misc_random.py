"""Random ops: Bernoulli and RandomUniformLike (``random=True``: never constant-folded).

With a ``seed`` attribute a fresh generator seeded by it draws, so a node repeats
itself: on NumPy the same legacy ``RandomState`` streams as onnx's reference
evaluator.  Without one the array module's global generator draws, so
``numpy.random.seed`` (or cupy's) makes a run repeatable, as for Dropout.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, defop, np_dtype
from .misc_math import _is_float
from .nn import _uniform


def _out_dtype(op, x_dtype: DType | None, attrs, floats_only):
    """The ``dtype`` attribute's DType, else the input's; DTypeError outside the schema."""
    dt = attrs.get("dtype")
    out = DType(int(dt)) if dt is not None else x_dtype
    if out is not None and floats_only and not out.is_float:
        raise DTypeError(f"{op}: output dtype {out.short} is not a float type")
    if out is DType.STRING:
        raise DTypeError(f"{op}: output dtype cannot be a string")
    return out


def _generator(xp, attrs):
    seed = attrs.get("seed")
    return xp.random if seed is None else xp.random.RandomState(int(seed) & 0xFFFFFFFF)


# ------------------------------------------------------------------ Bernoulli

def _bernoulli_infer(types, attrs, values):
    x = types[0]
    if x.dtype is not None and not x.dtype.is_float:
        raise DTypeError(f"Bernoulli: probabilities are {x.dtype.short}; the op takes floats")
    return [TensorType(_out_dtype("Bernoulli", x.dtype, attrs, False), x.shape)]


@defop("Bernoulli", pattern=Pattern.OPAQUE, since=15, infer=_bernoulli_infer, random=True)
def _bernoulli(xp, inputs, attrs):
    """1 with probability x, else 0, in type ``dtype`` (default: x's)."""
    x = inputs[0]
    if not _is_float(x.dtype):
        raise DTypeError(f"Bernoulli: probabilities are {x.dtype}; the op takes floats")
    out = _out_dtype("Bernoulli", DType.from_np(x.dtype), attrs, False)
    p = x.astype(np.float64)
    if p.size and not bool(((p >= 0) & (p <= 1)).all()):
        raise ShapeError("Bernoulli: probabilities must lie in [0, 1]")
    draws = _generator(xp, attrs).binomial(1, p, size=p.shape)
    return [xp.asarray(draws).astype(np_dtype(out))]


# ------------------------------------------------------------------ RandomUniformLike

@defop("RandomUniformLike", pattern=Pattern.OPAQUE, since=1, random=True,
       defaults={"low": 0.0, "high": 1.0},
       infer=lambda t, a, v: [TensorType(_out_dtype("RandomUniformLike", t[0].dtype, a, True),
                                         t[0].shape)])
def _random_uniform_like(xp, inputs, attrs):
    """Uniform samples in [low, high) of the input's shape, in type ``dtype``
    (default: the input's, which must then be a float type)."""
    x = inputs[0]
    out = np_dtype(_out_dtype("RandomUniformLike", DType.from_np(x.dtype), attrs, True))
    low, high = float(attrs["low"]), float(attrs["high"])
    # scaled in the output type, as the reference evaluator does
    y = xp.asarray(_uniform(xp, x.shape, attrs.get("seed"))).astype(out)
    return [(y * (high - low) + low).astype(out, copy=False)]
