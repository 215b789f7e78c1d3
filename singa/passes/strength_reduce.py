"""strength_reduce: a float Pow by a constant small integer becomes multiplications.

``Pow(x, 3.0)`` (GPT-2's GELU) costs a general ``pow`` per element, and vector
``pow`` implementations fall back to scalar code for negative bases; ``x*x*x``
is three multiplies that fuse with everything around them.  Exponents 1..4,
given as a constant of one element whose broadcast leaves x's shape unchanged:

    Pow(x, 1) -> Identity(x)      Pow(x, 2) -> Mul(x, x)
    Pow(x, 3) -> Mul(Mul(x, x), x)      Pow(x, 4) -> Mul(t, t), t = Mul(x, x)

The products round once per multiply, where ``pow`` rounds once: at most a
couple of units in the last place apart.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Op
from ._util import new_op
from .manager import OpRewrite


class StrengthReduce(OpRewrite):
    op_name = "Pow"
    name = "strength_reduce"

    @staticmethod
    def _exponent(v) -> int | None:
        if v is None or v.kind != "const" or v.data is None:
            return None
        e = np.asarray(v.data)
        if e.size != 1 or e.dtype.kind not in "iuf":
            return None
        k = float(e.reshape(()))
        return int(k) if k in (1.0, 2.0, 3.0, 4.0) else None

    def rewrite(self, graph: Graph, op: Op) -> bool:
        x, e = op.operands[0], op.operands[1]
        res = op.results[0]
        k = self._exponent(e)
        if (k is None or x is None or x.type is None or res.type is None
                or not x.type.dtype.is_float or x.type != res.type):
            return False

        def add(name, operands, last=False):
            names = (res.name,) if last else ()
            return new_op(graph, name, operands, None, op.loc, names, before=op).results[0]

        if k == 1:
            y = add("Identity", [x], True)
        elif k == 2:
            y = add("Mul", [x, x], True)
        elif k == 3:
            y = add("Mul", [add("Mul", [x, x]), x], True)
        else:
            sq = add("Mul", [x, x])
            y = add("Mul", [sq, sq], True)
        res.replace_all_uses_with(y)
        graph.erase_op(op)
        return True
