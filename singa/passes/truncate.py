"""truncate: keep the first ``last_layers`` ops, as SINGA's ``run(x, last_layers=k)``.

The layers are the graph's ops in topological order (params and constants are
not ops, so ONNX initializers and Constant nodes turned into consts do not
count).  ``last_layers`` follows Python slice semantics, ``ops[:last_layers]``:
``k > 0`` keeps the first ``k`` ops, ``-1`` drops the last op, ``-k`` the last
``k``; None keeps everything.  A cut that keeps no op (``0``, ``-len``) or
reaches past the graph (``k > len``, ``k < -len``) is an error, not a silent
no-op.  As in SINGA, the graph's outputs become the results of the last kept
op; ops that no longer feed them are removed as dead code.  Keeping all ops
(``k == len``) leaves the graph, outputs included, unchanged.
"""

from __future__ import annotations

from ..errors import IRError
from ..ir.graph import Graph
from .eliminate_dead_code import EliminateDeadCode
from .manager import Pass


class Truncate(Pass):
    name = "truncate"

    def __init__(self, last_layers: int | None):
        if last_layers is not None and (isinstance(last_layers, bool)
                                        or not isinstance(last_layers, int)):
            raise IRError(f"last_layers must be an int or None, not {last_layers!r}")
        self.last_layers = last_layers

    def run(self, graph: Graph) -> bool:
        k = self.last_layers
        n = len(graph.ops)
        if k is None:
            return False
        if k == 0 or k > n or k <= -n:
            raise IRError(f"last_layers={k} is out of range: the graph has {n} layers "
                          f"(use 1..{n}, or -1..-{n - 1} to drop layers from the end)")
        kept = graph.ops[:k]
        if len(kept) == n:
            return False
        graph.set_outputs(kept[-1].results)
        for op in reversed(graph.ops[len(kept):]):
            op.drop_operands()
        graph.ops[:] = kept
        EliminateDeadCode().run(graph)
        return True
