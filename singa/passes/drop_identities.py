"""drop_identities: ops that return their input unchanged are removed.

Exporters leave such ops behind: torchvision's DenseNet concatenates the first
layer's input with nothing (``torch.cat([x], 1)``, a ``Concat`` of one input: a
copy of a 64x56x56 map per dense block), casts to the type a value already has,
transposes by the identity permutation, expands to the shape it already has;
an inference Dropout (SqueezeNet, Inception) was a 30 us copy per run.
Each is a copy in a plan; here its users read the input instead.  Which ops
are identities, and when, is the table ``IDENTITIES``; every case also needs
the result's type to equal the input's, and the result not to be a graph
output (whose name the caller asks for).

    %y = Concat(%x) {axis=1} : f32[1,64,56,56]    ->  (users of %y read %x)
"""

from __future__ import annotations

from ..ir.graph import Graph, Op
from .manager import Pass

# op name -> whether this op (whose result already has its input's type) is an identity
IDENTITIES = {
    "Identity": lambda op: True,
    "Concat": lambda op: len(op.operands) == 1,
    "Cast": lambda op: True,
    "Expand": lambda op: True,
    "Transpose": lambda op: list(op.attrs.get("perm", ())) == list(
        range(len(op.results[0].type.shape))),
    # without a training_mode operand ONNX's Dropout passes its input through (its
    # mask, a second result, must be unused: see DropIdentities.run)
    "Dropout": lambda op: len(op.operands) < 3 or op.operands[2] is None,
}


class DropIdentities(Pass):
    name = "drop_identities"

    def run(self, graph: Graph) -> bool:
        changed = False
        outputs = set(graph.outputs)
        for op in list(graph.ops):
            same = IDENTITIES.get(op.name)
            if same is None or not op.operands or any(
                    r is not None and (r.uses or r in outputs) for r in op.results[1:]):
                continue
            x, y = op.operands[0], op.results[0]
            if (x is None or y in outputs or x.type is None or y.type is None
                    or not y.type.is_static or x.type != y.type or not same(op)):
                continue
            y.replace_all_uses_with(x)
            graph.erase_op(op)
            changed = True
        return changed
