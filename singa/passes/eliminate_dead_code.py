"""eliminate_dead_code: drop ops none of whose results is used, then unused weights.

Ops have no side effects in this IR (random ops included: an unused sample is
not needed), so an op is dead when no op and no graph output uses any of its
results.  A backwards walk removes whole dead chains in one run.  Params and
consts nobody uses are forgotten too; graph inputs always stay.  Inside regions
the same holds, and a captured outer value no body reads stops being captured
(a body's own inputs stay: the op passes them).
"""

from __future__ import annotations

from types import MappingProxyType

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
                if op.regions:
                    changed |= self._run_regions(op)
                keep.append(op)
        keep.reverse()
        graph.ops[:] = keep
        n = len(graph.params) + len(graph.consts)
        graph.drop_unused_values()
        return changed or n != len(graph.params) + len(graph.consts)

    def _run_regions(self, op) -> bool:
        """Dead code inside each body, then the captured values no body reads."""
        changed = False
        for body in op.regions.values():
            changed |= self.run(body)
        k = int(op.attrs.get("captures", 0))
        if not k:
            return changed
        bodies = list(op.regions.values())
        first = len(op.operands) - k
        unread = {j for j in range(k)
                  if not any(b.inputs[len(b.inputs) - k + j].uses for b in bodies)}
        if not unread:
            return changed
        for b in bodies:
            base = len(b.inputs) - k
            b.inputs = [v for i, v in enumerate(b.inputs) if i - base not in unread]
        op.set_operands([v for i, v in enumerate(op.operands) if i - first not in unread])
        op.attrs = MappingProxyType(dict(op.attrs, captures=k - len(unread)))
        return True
