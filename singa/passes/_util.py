"""Small helpers shared by the passes."""

from __future__ import annotations

from ..errors import DTypeError, IRError, ShapeError
from ..ir.graph import Graph, Op, Value, fresh_name
from ..ir.printer import value_names
from ..ir.regions import infer_attrs
from ..ir.verifier import describe_op, operand_values


def infer_op(op: Op, opdef=None, graph: Graph | None = None) -> list:
    """What the op table infers for ``op``'s results, errors naming the op and its loc.

    With ``graph``, errors name values as ``print_graph(graph)`` does.
    """
    if opdef is None:
        from ..ops import OPS

        opdef = OPS.get(op.name)
        if opdef is None:
            raise IRError(f"{op.name} ({op.loc}): not in the op table")
    types = [None if v is None else v.type for v in op.operands]
    try:
        out = opdef.infer(types, infer_attrs(op, opdef.attrs(op.attrs)), operand_values(op))
    except (ShapeError, DTypeError) as e:
        raise type(e)(f"{_describe(op, graph)}: {e}") from e
    except Exception as e:
        raise IRError(f"{_describe(op, graph)}: shape inference failed: "
                      f"{type(e).__name__}: {e}") from e
    out = list(out)
    if len(out) < len(op.results):
        raise IRError(f"{_describe(op, graph)}: infer gives {len(out)} results for "
                      f"{len(op.results)}")
    return out


def _describe(op: Op, graph: Graph | None) -> str:
    return describe_op(op, value_names(graph) if graph is not None else None)


def new_op(graph: Graph, name: str, operands, attrs=None, loc: str = "",
           result_names=(), before: Op | None = None, nresults: int = 1) -> Op:
    """Insert an op whose result types come from the op table's infer."""
    op = Op(name, operands, [None] * nresults, attrs, loc, result_names)
    for r, t in zip(op.results, infer_op(op)):
        r.type = t
    if before is None:
        graph.ops.append(op)
    else:
        graph.ops.insert(graph.ops.index(before), op)
    return op


def unique_name(graph: Graph, base: str) -> str:
    """``base`` or ``base_2``, ``base_3``... whichever no value of the graph uses."""
    return fresh_name(base, {v.name for v in graph.values()})


def redirect_op_uses(old: Value, new: Value, skip: Op | None = None) -> None:
    """Make ops (not graph outputs, not ``skip``) that use ``old`` use ``new``."""
    for u, i in list(old.uses):
        if isinstance(u, Op) and u is not skip:
            u.set_operand(i, new)
