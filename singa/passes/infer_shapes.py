"""infer_shapes: give every value the type the op table infers for it.

Ops are visited in order; each op's ``infer`` gets its operands' types and the
data of const/param operands (shape-carrying inputs such as Reshape's shape).
Symbolic dims stay symbolic.  Region bodies are typed through their op's
``infer`` (see :mod:`singa.ir.regions`): a Loop's carried values start with the
types they enter with and generalise (dims that change become unknown) until
the body returns what it takes.  ``bind={input name: shape}`` first specialises
inputs to concrete shapes (symbols bound there are also substituted in the
other inputs), which is how the runtime specialises a graph per batch size.
"""

from __future__ import annotations

from ..errors import InputError
from ..ir.graph import Graph
from ..ir.regions import region_types
from ..ir.types import TensorType
from ._util import infer_op
from .manager import Pass


class InferShapes(Pass):
    """Result types from ``OPS[op].infer``; ``bind`` fixes input shapes first."""

    name = "infer_shapes"

    def __init__(self, bind: dict | None = None):
        self.bind = {k: tuple(int(d) for d in v) for k, v in (bind or {}).items()}

    def run(self, graph: Graph) -> bool:
        changed = self._bind(graph) if self.bind else False
        for op in graph.ops:
            before = region_types(op) if op.regions else None
            for r, t in zip(op.results, infer_op(op, graph=graph)):
                if r.type != t:
                    r.type = t
                    changed = True
            if before is not None and before != region_types(op):
                changed = True
        return changed

    def _bind(self, graph: Graph) -> bool:
        by_name = {v.name: v for v in graph.inputs}
        unknown = sorted(set(self.bind) - set(by_name))
        if unknown:
            raise InputError(f"bind names {unknown}, the graph's inputs are "
                             f"{[v.name for v in graph.inputs]}")
        symbols: dict[str, int] = {}
        for name, shape in self.bind.items():
            t = by_name[name].type
            if t is None or t.shape is None:
                continue
            if len(t.shape) != len(shape):
                raise InputError(f"input {name} is {t}, cannot bind shape {shape}")
            for d, n in zip(t.shape, shape):
                if isinstance(d, int) and d != n:
                    raise InputError(f"input {name} is {t}, cannot bind shape {shape}")
                if isinstance(d, str) and symbols.setdefault(d, n) != n:
                    raise InputError(f"input {name}: {d}={n} but {d}={symbols[d]} in another "
                                     f"bound input")
        changed = False
        for v in graph.inputs:
            if v.type is None:
                continue
            if v.name in self.bind:
                new = TensorType(v.type.dtype, self.bind[v.name])
            elif v.type.shape is not None:
                new = TensorType(v.type.dtype, tuple(symbols.get(d, d) if isinstance(d, str)
                                                     else d for d in v.type.shape))
            else:
                continue
            if new != v.type:
                v.type = new
                changed = True
        return changed
