"""Copy one graph's ops into another: inlining a traced subgraph, or a region."""

from __future__ import annotations

from ..errors import IRError
from .graph import Graph, Op, Value


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
    return _copy_ops(sub, into, vmap, loc, names=False)


def inline_region(body: Graph, into: Graph, args: list, before: Op,
                  loc: str = "") -> list[Value]:
    """Copy ``body`` (a region) into ``into`` before ``before``, its inputs bound to
    ``args`` in order; return the values of its outputs there.  The body's params
    (a subgraph's initializers, never trained) become constants."""
    if len(args) != len(body.inputs):
        raise IRError(f"inline: @{body.name} takes {len(body.inputs)} inputs, given "
                      f"{len(args)}")
    vmap: dict[Value, Value] = dict(zip(body.inputs, args))
    for v in body.params + body.consts:
        vmap[v] = into.add_const(v.data, v.name)
    return _copy_ops(body, into, vmap, loc, names=True, before=before)


def _copy_ops(sub: Graph, into: Graph, vmap: dict, loc: str, names: bool,
              before: Op | None = None):
    for op in sub.ops:
        new = into.add_op(op.name, [None if v is None else vmap[v] for v in op.operands],
                          [r.type for r in op.results], dict(op.attrs),
                          loc=f"{loc}{op.loc}" if op.loc else loc,
                          result_names=[r.name for r in op.results] if names else (),
                          before=before,
                          regions={k: b.clone() for k, b in op.regions.items()})
        vmap.update(zip(op.results, new.results))
    return [vmap[v] for v in sub.outputs]
