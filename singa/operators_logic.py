"""SINGA's comparison, logic, rounding, cast and select operators.

SINGA computes comparisons and logic on numbers: the results are 0/1 in the
first input's dtype (nonzero counts as true), so ``less(x, 0) * x`` works as
in SINGA.  They are table ops wrapped in Casts; none has a gradient.
"""

from __future__ import annotations

import numpy as np

from .operators import Operator, const, run
from .tensor import Tensor

__all__ = ["Round", "Less", "Greater", "Equal", "LessEqual", "GreaterEqual", "And", "Or", "Xor",
           "Not", "Cast", "Where"]


class Round(Operator):
    """Round half away from zero (C's ``round``, as SINGA's ``Round``); gradient 0.

    Composed exactly from ONNX ops: ``Round`` (half to even) corrected by
    ``sign(x)`` where x lies exactly halfway and Round went towards zero.
    """

    def _forward(self, x):
        r = run("Round", [x])[0]
        halfway = run("Equal", [run("Abs", [run("Sub", [x, r])[0]])[0], 0.5])[0]
        towards_zero = run("Less", [run("Abs", [r])[0], run("Abs", [x])[0]])[0]
        away = run("Add", [r, run("Sign", [x])[0]])[0]
        return run("Where", [run("And", [halfway, towards_zero])[0], away, r])


def _as_bool(x):
    return x if x.dtype == np.bool_ else run("Cast", [x], {"to": 9})[0]


def _like_first(y, a):
    """A boolean result in ``a``'s dtype: SINGA's comparisons give 0/1 numbers."""
    if a.dtype == np.bool_:
        return [y]
    from .ir.types import DType
    return run("Cast", [y], {"to": DType.from_np(a.dtype).value})


class _Compare(Operator):
    _op = ""

    def _forward(self, a, b):
        return _like_first(run(self._op, [a, b])[0], _first(a, b))


def _first(*xs):
    return next(x for x in xs if isinstance(x, Tensor))


def _compare(name, op, doc):
    return type(name, (_Compare,), {"_op": op, "__doc__": doc, "__module__": __name__})


Less = _compare("Less", "Less", "1 where a < b else 0, in a's dtype (no gradient).")
Greater = _compare("Greater", "Greater", "1 where a > b else 0, in a's dtype (no gradient).")
Equal = _compare("Equal", "Equal", "1 where a == b else 0, in a's dtype (no gradient).")
LessEqual = _compare("LessEqual", "LessOrEqual", "1 where a <= b else 0, in a's dtype.")
GreaterEqual = _compare("GreaterEqual", "GreaterOrEqual", "1 where a >= b else 0, in a's dtype.")


class _Logic(Operator):
    """Logical ops on numbers: nonzero is true; the result is 0/1 in the first input's dtype."""

    _op = ""

    def _forward(self, *xs):
        return _like_first(run(self._op, [_as_bool(x) for x in xs])[0], xs[0])


And = type("And", (_Logic,), {"_op": "And", "__doc__": "a and b (nonzero is true), as 0/1."})
Or = type("Or", (_Logic,), {"_op": "Or", "__doc__": "a or b (nonzero is true), as 0/1."})
Xor = type("Xor", (_Logic,), {"_op": "Xor", "__doc__": "a xor b (nonzero is true), as 0/1."})
Not = type("Not", (_Logic,), {"_op": "Not", "__doc__": "1 where x == 0 else 0."})


class Cast(Operator):
    """x converted to dtype ``to`` (a NumPy dtype or singa.tensor's dtype names)."""

    def __init__(self, to):
        super().__init__()
        self.to = to

    def _forward(self, x):
        from .ir.types import DType
        return run("Cast", [x], {"to": DType.from_np(np.dtype(self.to)).value})


class Where(Operator):
    """x where ``condition`` (nonzero is true) else y; the condition is a constant."""

    def __init__(self, condition):
        super().__init__()
        self.condition = condition

    def _forward(self, x, y):
        like = _first(x, y)
        cond = self.condition
        cond = cond if isinstance(cond, Tensor) else const(cond, like)
        return run("Where", [_as_bool(cond), x, y])
