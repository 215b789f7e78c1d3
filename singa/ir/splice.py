"""Copy one graph's ops into another (inlining a traced subgraph)."""

from __future__ import annotations

from ..errors import IRError
from .graph import Graph, Value


def splice(sub: Graph, into: Graph, bind: dict[str, Value], loc: str = "") -> list[Value]:
    """Append ``sub``'s ops to ``into`` and return the values of ``sub``'s outputs there.

    ``bind`` maps each of ``sub``'s input names (and any of its params) to a value of
    ``into``; ``sub``'s constants are copied, params not bound are an error (they
    would silently become copies of weights).  ``loc`` prefixes the copied ops' locs.
    """
    vmap: dict[Value, Value] = {}
    for v in sub.inputs + sub.params:
        if v.name in bind:
            vmap[v] = bind[v.name]
        elif v.kind == "input" or v.kind == "param":
            raise IRError(f"splice: {v.kind} %{v.name} of @{sub.name} is not bound")
    for v in sub.consts:
        vmap[v] = into.add_const(v.data)
    for op in sub.ops:
        new = into.add_op(op.name, [None if v is None else vmap[v] for v in op.operands],
                          [r.type for r in op.results], dict(op.attrs),
                          loc=f"{loc}{op.loc}" if op.loc else loc)
        vmap.update(zip(op.results, new.results))
    return [vmap[v] for v in sub.outputs]
