"""fuse: turn trees of elementwise/broadcast ops into single FusedElementwise ops.

A group grows backwards from a consumer: a producer joins when it is fusable and
every use of its result is by ops already in the group (and the result is not a
graph output), so no intermediate of a group is visible outside it.  Groups are
trees (or DAGs: a value read twice inside the group is computed once) whose
root, the last op in topological order, gives the group's result; the fused op
takes the root's place, its operands are the group's outside inputs, its loc
lists the fused ops' locs.  See :mod:`singa.ops.fused` for the body encoding.

Fusable: pattern ELEMWISE or BROADCAST, one result, not random, not a string
result, and (with ``require_cuda``, the default: fusion exists for the CUDA
emitter) a CUDA template in the op table.  Epilogue fusion into a producing
Conv/MatMul (OUT_FUSABLE) is not done here.
"""

from __future__ import annotations

from ..ir.graph import Graph, Op
from ..ir.types import DType, TensorType
from ._util import new_op
from .manager import Pass

FUSED = "FusedElementwise"


class Fuse(Pass):
    name = "fuse"

    def __init__(self, require_cuda: bool = True, min_ops: int = 2):
        self.require_cuda = require_cuda
        self.min_ops = min_ops

    def _fusable(self, op: Op) -> bool:
        from ..ops import OPS
        from ..ops.base import Pattern

        d = OPS.get(op.name)
        return (d is not None and op.name != FUSED and d.pattern <= Pattern.BROADCAST
                and len(op.results) == 1 and not d.random
                and (d.cuda is not None or not self.require_cuda)
                and isinstance(op.results[0].type, TensorType)
                and op.results[0].type.dtype is not DType.STRING)

    def run(self, graph: Graph) -> bool:
        index = {op: i for i, op in enumerate(graph.ops)}
        outputs = set(graph.outputs)
        taken: set[Op] = set()
        groups = []
        for root in reversed(graph.ops):
            if root in taken or not self._fusable(root):
                continue
            group = {root}
            frontier = [root]
            while frontier:
                op = frontier.pop()
                for v in op.operands:
                    if v is None or v.kind != "op" or v in outputs:
                        continue
                    p = v.producer
                    if p in group or p in taken or not self._fusable(p):
                        continue
                    if all(u in group for u, _ in v.uses):
                        group.add(p)
                        frontier.append(p)
            if len(group) >= self.min_ops:
                taken |= group
                groups.append(sorted(group, key=index.__getitem__))
        for ops in groups:
            self._replace(graph, ops)
        return bool(groups)

    @staticmethod
    def _replace(graph: Graph, ops: list[Op]) -> None:
        inside = {op.results[0]: j for j, op in enumerate(ops)}
        inputs: list = []
        for op in ops:
            for v in op.operands:
                if v is not None and v not in inside and v not in inputs:
                    inputs.append(v)
        k = len(inputs)
        pos = {v: i for i, v in enumerate(inputs)}
        args = [[-1 if v is None else (k + inside[v] if v in inside else pos[v])
                 for v in op.operands] for op in ops]
        flat = [[x for kv in op.attrs.items() for x in kv] for op in ops]
        locs = list(dict.fromkeys(op.loc for op in ops if op.loc))
        root = ops[-1]
        out = root.results[0]
        fused = new_op(graph, FUSED, inputs, {"body_ops": [op.name for op in ops],
                                              "body_args": args, "body_attrs": flat},
                       " + ".join(locs), [out.name], before=root)
        if out.type is not None:
            fused.results[0].type = out.type
        out.replace_all_uses_with(fused.results[0])
        for op in reversed(ops):
            graph.erase_op(op)
