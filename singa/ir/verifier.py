"""Structural and type checks of a Graph.

:func:`verify` checks that

- every value is defined once (inputs, params, consts, then op results in order)
  and every operand is defined before the op using it;
- use lists match operands exactly (graph outputs count as uses);
- params and consts hold data of their declared type;
- every op is in the op table, and its results agree in count and type with what
  ``OPS[op].infer`` says for its operands (a symbol matches only the same symbol,
  None matches anything, an unknown value type matches anything);
- the graph's outputs are defined values.

All problems found are reported together in one :class:`singa.errors.IRError`;
each names the op, its source location, and its values with their types.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, IRError, ShapeError
from .graph import Graph, Op, Value
from .printer import format_type, value_names
from .regions import infer_attrs
from .types import TensorType

MAX_REPORTED = 20


def dims_compatible(a, b) -> bool:
    """Two dims agree: equal, or either unknown (None)."""
    return a is None or b is None or a == b


def types_compatible(declared: TensorType | None, inferred: TensorType | None) -> bool:
    """``declared`` does not contradict ``inferred`` (unknown parts match anything)."""
    if declared is None or inferred is None:
        return True
    if not (isinstance(declared, TensorType) and isinstance(inferred, TensorType)):
        # sequences and optionals: the same kind, holding compatible elements
        return type(declared) is type(inferred) and types_compatible(
            getattr(declared, "elem", None), getattr(inferred, "elem", None))
    if declared.dtype != inferred.dtype:
        return False
    if declared.shape is None or inferred.shape is None:
        return True
    if len(declared.shape) != len(inferred.shape):
        return False
    return all(dims_compatible(a, b) for a, b in zip(declared.shape, inferred.shape))


def operand_values(op: Op) -> list:
    """What ``infer`` gets as ``values``: the data of const/param operands, else None."""
    return [v.data if v is not None and v.kind in ("const", "param") else None
            for v in op.operands]


def describe_op(op: Op, names: dict | None = None) -> str:
    """``Conv (conv1): (%x: f32[N,1,28,28], %w: f32[...]) -> (%0: f32[...])``."""

    def one(v):
        if v is None:
            return "_"
        n = names.get(v) if names else None
        n = n if n is not None else (v.name or "?")
        return f"%{n}: {format_type(v.type)}"

    loc = f" ({op.loc})" if op.loc else ""
    return (f"{op.name}{loc}: ({', '.join(one(v) for v in op.operands)}) -> "
            f"({', '.join(one(r) for r in op.results)})")


def verify(graph: Graph, check_types: bool = True) -> None:
    """Raise IRError listing every inconsistency of ``graph`` and of the regions
    it holds, recursively; return None if sound."""
    errors = _errors(graph, check_types, frozenset())
    if errors:
        more = f"\n  ... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED \
            else ""
        raise IRError(f"graph @{graph.name} failed verification:\n  - "
                      + "\n  - ".join(errors[:MAX_REPORTED]) + more)


def _errors(graph: Graph, check_types: bool, outer: frozenset) -> list[str]:
    """Every problem of ``graph``; ``outer`` holds the values of enclosing graphs."""
    from ..ops import OPS  # the table imports the IR; import it lazily

    errors: list[str] = []
    names = value_names(graph)

    def err(msg):
        errors.append(msg)

    def vname(v):
        return "%" + names.get(v, v.name or "?")

    defined: set[Value] = set()
    all_results = {r for op in graph.ops for r in op.results}

    for kind, vals in (("input", graph.inputs), ("param", graph.params),
                       ("const", graph.consts)):
        for v in vals:
            if v in defined:
                err(f"value {vname(v)} is defined twice")
            defined.add(v)
            if v.kind != kind:
                err(f"value {vname(v)} is listed as a {kind} but its kind is '{v.kind}'")
            if kind in ("param", "const"):
                if v.data is None:
                    err(f"{kind} {vname(v)} has no data")
                else:
                    have = TensorType.of(np.asarray(v.data))
                    if v.type != have:
                        err(f"{kind} {vname(v)} is typed {format_type(v.type)} but holds "
                            f"{have}")

    seen_ops: set[Op] = set()
    for idx, op in enumerate(graph.ops):
        where = f"op #{idx} {describe_op(op, names)}"
        if op in seen_ops:
            err(f"{where}: appears twice in the op list")
        seen_ops.add(op)
        for i, v in enumerate(op.operands):
            if v is None:
                continue
            if v not in defined:
                if v in all_results:
                    err(f"{where}: operand {i} {vname(v)} is used before its definition")
                elif v in outer:
                    err(f"{where}: operand {i} %{v.name or '?'} belongs to an enclosing "
                        f"graph; a region reads outer values only as captured inputs")
                else:
                    err(f"{where}: operand {i} {vname(v)} is not defined in the graph")
            if sum(1 for u in v.uses if u[0] is op and u[1] == i) != 1:
                err(f"{where}: operand {i} {vname(v)} does not list this use exactly once")
        for k, r in enumerate(op.results):
            if r in defined:
                err(f"{where}: result {vname(r)} is defined twice")
            defined.add(r)
            if r.kind != "op" or r.producer is not op or r.index != k:
                err(f"{where}: result {k} {vname(r)} does not point back to its op")
        opdef = OPS.get(op.name)
        if opdef is None:
            err(f"{where}: unknown op '{op.name}'")
            continue
        if op.regions or opdef.regions:
            region_errors = _region_errors(op, opdef, check_types,
                                           outer | defined | set(graph.values()))
            for e in region_errors:
                err(f"{where}: {e}")
            if region_errors:
                continue
        if check_types:
            _check_types(op, opdef, where, err)

    for v in defined:
        for u, i in v.uses:
            if u is graph._sink:
                if not (0 <= i < len(graph.outputs)) or graph.outputs[i] is not v:
                    err(f"value {vname(v)} lists a use as graph output {i} that is not it")
            elif isinstance(u, Op):
                if u not in seen_ops:
                    err(f"value {vname(v)} is used by {u.name} ({u.loc}) which is not in "
                        f"the graph")
                elif i >= len(u.operands) or u.operands[i] is not v:
                    err(f"value {vname(v)} lists a use by {u.name} ({u.loc}) operand {i} "
                        f"that is not it")
            else:
                err(f"value {vname(v)} has a use by a foreign object {u!r}")
        if len(set((id(u), i) for u, i in v.uses)) != len(v.uses):
            err(f"value {vname(v)} lists a use twice")

    for i, v in enumerate(graph.outputs):
        if v not in defined:
            err(f"graph output {i} {vname(v)} is not defined in the graph")
        elif sum(1 for u in v.uses if u[0] is graph._sink and u[1] == i) != 1:
            err(f"graph output {i} {vname(v)} does not list its use as output")

    return errors


def _region_errors(op: Op, opdef, check_types: bool, outer) -> list[str]:
    """The op's regions: among the ones its table entry names (in that order; an
    optional one may be absent, a required one is the importer's concern), the
    captures consistent,
    and each body sound (problems prefixed with the region's name)."""
    out = []
    if tuple(op.regions) != tuple(k for k in opdef.regions if k in op.regions):
        out.append(f"has regions {list(op.regions)}, the op takes {list(opdef.regions)}")
        return out
    k = op.attrs.get("captures", 0)
    if not isinstance(k, int) or not 0 <= k <= len(op.operands):
        out.append(f"captures={k!r} but the op has {len(op.operands)} operands")
        return out
    for key, body in op.regions.items():
        if len(body.inputs) < k:
            out.append(f"region {key} has {len(body.inputs)} inputs, fewer than the {k} "
                       f"captured values")
        for j, (v, b) in enumerate(zip(op.operands[len(op.operands) - k:],
                                       body.inputs[len(body.inputs) - k:])):
            if (check_types and v is not None and v.type is not None and b.type is not None
                    and not types_compatible(b.type, v.type)):
                out.append(f"region {key} capture {j} %{b.name} is {format_type(b.type)}, "
                           f"the captured value is {format_type(v.type)}")
        out += [f"region {key}: {e}" for e in _errors(body, check_types, frozenset(outer))]
    return out


def _check_types(op: Op, opdef, where: str, err) -> None:
    if opdef.num_outputs is not None and len(op.results) > opdef.num_outputs:
        err(f"{where}: {len(op.results)} results, the op has at most {opdef.num_outputs}")
        return
    types = [None if v is None else v.type for v in op.operands]
    if any(v is not None and v.type is None for v in op.operands):
        return  # operand types not inferred yet: nothing to compare against
    try:
        inferred = opdef.infer(types, infer_attrs(op, opdef.attrs(op.attrs), in_place=False),
                               operand_values(op))
    except (ShapeError, DTypeError) as e:
        err(f"{where}: the op rejects its operands: {e}")
        return
    except Exception as e:  # a bug in infer must not hide the graph's problems
        err(f"{where}: infer failed: {type(e).__name__}: {e}")
        return
    if len(inferred) < len(op.results):
        err(f"{where}: {len(op.results)} results but infer gives {len(inferred)}")
        return
    for k, (r, t) in enumerate(zip(op.results, inferred)):
        if not types_compatible(r.type, t):
            err(f"{where}: result {k} is typed {format_type(r.type)} but infer gives "
                f"{format_type(t)}")
