"""append_gradients: reverse-mode differentiation of the graph, as ops of the same graph.

Compiled training needs the gradients in the IR so that the backward pass is
optimised, fused and memory-planned with the forward one.  For the graph output
``loss`` (a float value of static shape; its gradient is seeded with ones) the
pass walks the ops backwards and, for every op that has an incoming gradient and
an operand that depends on a requested param, appends one ``VJP`` op (see
:mod:`singa.ops.vjp`); contributions to a value used several times are summed
with ``Add``.  The gradient of each requested param becomes a new graph output,
named ``<param>.grad``, in the order asked; ``grads`` maps param name -> that
value after ``run``.  A param the loss does not depend on gets a zero gradient,
as the eager tape gives none: the caller decides whether to update it.

Only float values carry gradients; integer operands (shapes, indices) never do.
An op on the path without a gradient rule is a ``GradError`` naming it.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradError, IRError
from ..ir.graph import Graph, Value, fresh_name
from ..ops import OPS
from .manager import Pass


def _is_float(v: Value) -> bool:
    return v.type is not None and v.type.dtype is not None and v.type.dtype.np.kind == "f"


def _static(v: Value) -> tuple:
    shape = None if v.type is None else v.type.shape
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise IRError(f"append_gradients: loss %{v.name} needs a static shape, has "
                      f"{shape}")
    return tuple(shape)


class AppendGradients(Pass):
    """Append the gradients of graph output ``loss`` (index) w.r.t. params ``wrt``
    (names; default: every float param) as new graph outputs."""

    name = "append_gradients"

    def __init__(self, wrt=None, loss: int = 0):
        self.wrt = None if wrt is None else list(wrt)
        self.loss = loss
        self.grads: dict[str, Value] = {}

    def run(self, graph: Graph) -> bool:
        params = {v.name: v for v in graph.params}
        names = [n for n, v in params.items() if _is_float(v)] if self.wrt is None else self.wrt
        for n in names:
            if n not in params:
                raise IRError(f"append_gradients: no param named {n!r}")
        if not -len(graph.outputs) <= self.loss < len(graph.outputs):
            raise IRError(f"append_gradients: graph has {len(graph.outputs)} outputs, "
                          f"loss index {self.loss}")
        loss = graph.outputs[self.loss]
        if not _is_float(loss):
            raise IRError(f"append_gradients: loss %{loss.name} is not a float value")
        wrt = [params[n] for n in names]

        # values whose gradient is wanted: the params and everything computed from them
        active = set(wrt)
        for op in graph.ops:
            if any(v in active for v in op.operands if v is not None):
                active.update(r for r in op.results if _is_float(r))

        seed = graph.add_const(np.ones(_static(loss), loss.type.dtype.np))
        grads: dict[Value, Value] = {loss: seed}
        for op in reversed(list(graph.ops)):
            douts = [grads.get(r) for r in op.results]
            if all(d is None for d in douts):
                continue
            needs = [v is not None and v in active and _is_float(v) for v in op.operands]
            if not any(needs):
                continue
            if OPS.get(op.name) is None or OPS[op.name].grad is None:
                raise GradError(f"{op.name} ({op.loc or 'unnamed'}): no gradient rule, and a "
                                f"trained param depends on it")
            attrs = dict(op.attrs, grad_of=op.name, grad_needs=[int(n) for n in needs],
                         grad_arity=[len(op.operands), len(op.results)])
            wanted = [v for v, n in zip(op.operands, needs) if n]
            vjp = graph.add_op("VJP", list(op.operands) + list(op.results) + douts,
                               [v.type for v in wanted], attrs,
                               loc=f"{op.loc}.grad" if op.loc else "")
            for v, g in zip(wanted, vjp.results):
                prev = grads.get(v)
                if prev is None:
                    grads[v] = g
                else:
                    grads[v] = graph.add_op("Add", [prev, g], [v.type]).results[0]

        self.grads = {}
        taken = {v.name for v in graph.values() if v.name}
        outs = list(graph.outputs)
        for p in wrt:
            g = grads.get(p)
            if g is None:
                g = graph.add_const(np.zeros(_static(p), p.type.dtype.np))
            if g.kind != "const" and not g.name:
                g.name = fresh_name(f"{p.name}.grad", taken)
            self.grads[p.name] = g
            outs.append(g)
        graph.set_outputs(outs)
        return True
