"""lower_batchnorm: an inference BatchNormalization as elementwise ops (kernel targets).

``BatchNormalization(x, scale, B, mean, var)`` in inference mode becomes the
op table's own arithmetic, per channel on the (C,) vectors and then per element:

    %a = Div(%scale, Sqrt(Add(%var, eps)))          : (C,)
    %c = Sub(%B, Mul(%mean, %a))                    : (C,)
    %y = Add(Mul(%x, Reshape(%a, [C, 1, ...])), Reshape(%c, [C, 1, ...]))

so that ``fuse`` joins the per-element part with what surrounds it (a Conv's
bias Add before, a Relu after) into one kernel that reads the per-channel
values once per row.  The statistics stay live weights: a changed ``mean`` is
used by the next run without rebuilding anything (``fold_batchnorm`` instead
folds them into the Conv, when the caller allows folding weights).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Op
from ._util import new_op
from .manager import OpRewrite


class LowerBatchNorm(OpRewrite):
    op_name = "BatchNormalization"
    name = "lower_batchnorm"

    def rewrite(self, graph: Graph, bn: Op) -> bool:
        from ..ops import OPS

        attrs = OPS["BatchNormalization"].attrs(bn.attrs)
        if attrs.get("training_mode", 0) or len(bn.operands) < 5 or any(
                r.uses for r in bn.results[1:]):
            return False
        x, scale, b, mean, var = bn.operands[:5]
        vals = [x, scale, b, mean, var]
        if any(v is None or v.type is None or not v.type.is_static for v in vals):
            return False
        dt = x.type.dtype
        if not dt.is_float or any(v.type.dtype != dt for v in vals) or len(x.type.shape) < 2:
            return False
        c = x.type.shape[1]
        if any(tuple(v.type.shape) != (c,) for v in vals[1:]):
            return False

        def add(name, operands, names=()):
            return new_op(graph, name, operands, None, bn.loc, names, before=bn).results[0]

        eps = graph.add_const(np.array(float(attrs.get("epsilon", 1e-5)), dt.np))
        a = add("Div", [scale, add("Sqrt", [add("Add", [var, eps])])])
        shift = add("Sub", [b, add("Mul", [mean, a])])
        shape = graph.add_const(np.array([c] + [1] * (len(x.type.shape) - 2), np.int64))
        y = add("Add", [add("Mul", [x, add("Reshape", [a, shape])]),
                        add("Reshape", [shift, shape])], names=(bn.results[0].name,))
        bn.results[0].replace_all_uses_with(y)
        graph.erase_op(bn)
        return True
