"""bool_to_int32: keep bool intermediates as int32 0/1, as SINGA and the CUDA kernels do.

After the pass no op result that any op reads is bool-typed, except locally
around the few ops that need a real bool:

- a bool graph input or param gets a ``Cast(to=INT32)`` at the top; a bool
  const becomes an int32 const;
- an op producing a bool that another op reads (comparisons, IsNaN, ...) gets a
  ``Cast(to=INT32)`` after it;
- ops that compute the same on 0/1 int32 as on bool (Not, And, Or, Xor, Where,
  Equal, Cast, NonZero, Compress and every INJECTIVE op: data
  movement) read the int32 values directly, provided the op table's infer
  accepts them; their bool results become int32 by inference;
  ``Cast(to=BOOL)`` of such a value is the value itself: its readers read the
  value, and the cast goes unless it is a graph output;
- any other op reading one (CastLike, Cast to string, ops we know nothing of)
  gets a ``Cast(to=BOOL)`` right before it, so its semantics cannot change;
- a graph output declared bool whose value is now int32 gets a ``Cast(to=BOOL)``
  at the end, which takes over the output's name.

Semantics, output dtypes included, are unchanged.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, IRError, ShapeError
from ..ir.graph import Graph, Op, Value
from ..ir.types import DType, TensorType
from ._util import infer_op, new_op, redirect_op_uses, unique_name
from .manager import Pass

_BOOL, _I32 = DType.BOOL, DType.INT32
# ReduceMax/Min are not here: over an empty set a bool max is False, an int32 one
# INT_MIN (which casts back to True)
SAFE_OPS = {"Not", "And", "Or", "Xor", "Where", "Equal", "Cast", "Identity", "NonZero",
            "Compress"}


def _dtype(t):
    """The element type of tensor type ``t``; None for a sequence, an optional
    (whose contents no op here rewrites) or an unknown type."""
    return t.dtype if isinstance(t, TensorType) else None


def _is_bool(v: Value | None) -> bool:
    return v is not None and _dtype(v.type) is _BOOL


def _has_op_uses(v: Value) -> bool:
    return any(isinstance(u, Op) for u, _ in v.uses)


class BoolToInt32(Pass):
    name = "bool_to_int32"

    def run(self, graph: Graph) -> bool:
        from ..ops import OPS
        from ..ops.base import Pattern

        declared = [_dtype(v.type) for v in graph.outputs]
        logical: set[Value] = set()  # values holding a bool as int32 0/1
        changed = False
        ops = list(graph.ops)
        first = ops[0] if ops else None

        for v in graph.inputs + graph.params:
            if _is_bool(v) and _has_op_uses(v):
                # named for the node it serves, so errors about it name a model node
                loc = next((u.loc for u in graph.users(v) if u.loc), "")
                cast = new_op(graph, "Cast", [v], {"to": _I32.value}, loc=loc, before=first)
                redirect_op_uses(v, cast.results[0], skip=cast)
                logical.add(cast.results[0])
                changed = True
        for c in list(graph.consts):
            if _is_bool(c) and _has_op_uses(c):
                nc = graph.add_const(np.asarray(c.data).astype(np.int32), c.name)
                redirect_op_uses(c, nc)
                logical.add(nc)
                changed = True

        back: dict[Value, Value] = {}  # logical value -> its Cast(to=BOOL)
        for op in ops:
            opdef = OPS.get(op.name)
            if opdef is None:
                raise IRError(f"{op.name} ({op.loc}): not in the op table")
            idx = [i for i, v in enumerate(op.operands) if v in logical]
            old = [r.type for r in op.results]
            if idx:
                changed = True
                to = op.attrs.get("to")
                if op.name == "Cast" and to == _BOOL.value:
                    # The int32 0/1 value already is the result.  A cast that is a
                    # graph output stays (it keeps the output's name and dtype).
                    # (A Cast to int32 stays too: its result is a number, which
                    # its readers must not take for a bool.)
                    r = op.results[0]
                    redirect_op_uses(r, op.operands[0])
                    if not r.uses:
                        graph.erase_op(op)
                    continue
                safe = (opdef.pattern == Pattern.INJECTIVE or op.name in SAFE_OPS) and not (
                    op.name == "Cast" and to == DType.STRING.value)
                new_types = None
                if safe:
                    try:
                        new_types = infer_op(op, opdef)
                    except (ShapeError, DTypeError):
                        safe = False
                if not safe:
                    for i in idx:
                        v = op.operands[i]
                        if v not in back:
                            back[v] = new_op(graph, "Cast", [v], {"to": _BOOL.value},
                                             loc=op.loc, before=op).results[0]
                        op.set_operand(i, back[v])
                    new_types = infer_op(op, opdef)
                for r, t in zip(op.results, new_types):
                    r.type = t
            for r, t0 in zip(op.results, old):
                if _is_bool(r):
                    if _has_op_uses(r):
                        pos = graph.ops.index(op) + 1
                        nxt = graph.ops[pos] if pos < len(graph.ops) else None
                        cast = new_op(graph, "Cast", [r], {"to": _I32.value}, before=nxt)
                        redirect_op_uses(r, cast.results[0], skip=cast)
                        logical.add(cast.results[0])
                        changed = True
                elif _dtype(t0) is _BOOL and _dtype(r.type) is _I32:
                    logical.add(r)

        outs = list(graph.outputs)
        casts: dict[Value, Value] = {}
        for i, v in enumerate(outs):
            if v in logical and declared[i] is _BOOL:
                if v not in casts:
                    name = v.name
                    if name:
                        v.name = unique_name(graph, f"{name}_i32")
                    casts[v] = new_op(graph, "Cast", [v], {"to": _BOOL.value},
                                      result_names=[name]).results[0]
                outs[i] = casts[v]
        if casts:
            graph.set_outputs(outs)
            changed = True
        return changed
