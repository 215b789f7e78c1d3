"""eliminate_dead_code: drop ops none of whose results is used, then unused weights.

Ops have no side effects in this IR (random ops included: an unused sample is
not needed), so an op is dead when no op and no graph output uses any of its
results.  A backwards walk removes whole dead chains in one run.  Params and
consts nobody uses are forgotten too; graph inputs always stay.
"""

from __future__ import annotations

from ..ir.graph import Graph
from .manager import Pass


class EliminateDeadCode(Pass):
    name = "eliminate_dead_code"

    def run(self, graph: Graph) -> bool:
        keep = []
        changed = False
        for op in reversed(graph.ops):
            if not any(r.uses for r in op.results):
                op.drop_operands()
                changed = True
            else:
                keep.append(op)
        keep.reverse()
        graph.ops[:] = keep
        n = len(graph.params) + len(graph.consts)
        graph.drop_unused_values()
        return changed or n != len(graph.params) + len(graph.consts)
