"""fold_constants: evaluate at compile time what does not depend on the inputs.

An op is folded, i.e. replaced by constants holding its results, when

- it is not random (``OpDef.random``), and
- every present operand is a const, or a param that is not a trainable weight:
  params are weights that training updates, so float params are folded over
  only with ``fold_params=True`` (integer and bool params, e.g. shape tensors
  stored as ONNX initializers, are never trained and always fold), or
- it is ``Shape``/``Size`` of a value whose type is static.

Regions: an ``If`` whose condition is a constant is replaced by the branch it
takes; a Loop or Scan whose operands are all constants is evaluated (its bodies
by the reference interpreter); otherwise folding recurses into the bodies.

``small_params`` (elements) also lets float vectors (rank 0 or 1) up to that
size fold: the kernel targets fold BatchNormalization's per-channel arithmetic
this way, while matrices and convolution weights stay live; the
executor compares such weights with its snapshot on every run, which costs
little at that size (a Conv weight folded the same way would cost a pass over
it per run).

Results over ``max_elements`` elements are not materialised (an Expand or
ConstantOfShape of a constant can be far larger than what it saves).  After
folding, types are re-inferred so that consumers see the now-known values
(a Reshape whose shape became constant gets a concrete result type).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import IRError, OpError, SingaError
from ..ir.graph import Graph, Op
from ..ir.regions import run_attrs
from ..ir.splice import inline_region
from ..ir.types import TensorType
from ..ir.verifier import describe_op
from ._util import infer_op
from .manager import Pass

_SHAPE_ONLY = ("Shape", "Size")


class FoldConstants(Pass):
    name = "fold_constants"

    def __init__(self, fold_params: bool = False, max_elements: int = 1 << 20,
                 small_params: int = 0):
        self.fold_params = fold_params
        self.max_elements = max_elements
        self.small_params = small_params

    def _foldable(self, v) -> bool:
        if v is None or v.kind == "const":
            return True
        if v.kind == "param":
            return (self.fold_params or v.type is None or not v.type.dtype.is_float
                    or (v.type.is_static and len(v.type.shape) <= 1
                        and int(np.prod(v.type.shape)) <= self.small_params))
        return False

    def _too_big(self, t: TensorType | None) -> bool:
        """Over the element cap, or over what the memory budget leaves for folding."""
        if t is None or not t.is_static:
            return False
        n = math.prod(int(d) for d in t.shape)  # Python ints: never wraps
        return n > self.max_elements or self._folded + n * t.dtype.np.itemsize > self._room

    def run(self, graph: Graph) -> bool:
        from ..ops import OPS
        from ..runtime import budget

        # folded constants are allocated now, at compile time: they share the budget
        self._room, self._folded = budget.max_bytes(), 0
        changed = False
        for op in list(graph.ops):
            opdef = OPS.get(op.name)
            if opdef is None:
                continue
            # Types are refreshed on the way: a Reshape whose shape was just folded
            # gets a static type, so a Shape of it further down folds in this run.
            for r, t in zip(op.results, infer_op(op, opdef, graph)):
                if r.type != t:
                    r.type = t
                    changed = True
            if op.regions and op.results:
                if self._fold_region_op(graph, op):
                    changed = True
                    continue
                for body in op.regions.values():
                    changed |= self._run_body(body)
            if opdef.random or not op.results or any(
                    r.type is not None and not isinstance(r.type, TensorType)
                    for r in op.results):  # sequences and optionals are not constants
                continue
            if op.name in _SHAPE_ONLY and op.operands and op.operands[0] is not None \
                    and op.operands[0].type is not None and op.operands[0].type.is_static:
                t = op.operands[0].type
                # Only the shape is read: a zero-strided view stands in for the data.
                args = [np.broadcast_to(np.zeros((), t.dtype.np), t.shape)]
            elif all(self._foldable(v) for v in op.operands):
                args = [None if v is None else v.data for v in op.operands]
            else:
                continue
            if any(self._too_big(r.type) for r in op.results):
                continue
            outs = self._compute(op, opdef, args)
            if any(np.asarray(a).size > self.max_elements for a in outs[:len(op.results)]):
                continue
            self._folded += sum(np.asarray(a).nbytes for a in outs[:len(op.results)])
            self._replace(graph, op, outs)
            changed = True
        return changed

    def _run_body(self, body: Graph) -> bool:
        room, folded = self._room, self._folded
        try:
            return self.run(body)
        finally:  # one budget for the whole model
            self._room, self._folded = room, folded + self._folded

    def _fold_region_op(self, graph: Graph, op: Op) -> bool:
        """An If whose condition is a constant becomes the branch it takes."""
        cond = op.operands[0] if op.name == "If" and op.operands else None
        if cond is None or cond.kind != "const" or np.asarray(cond.data).size != 1:
            return False
        key = "then_branch" if bool(np.asarray(cond.data).reshape(-1)[0]) else "else_branch"
        k = int(op.attrs.get("captures", 0))
        caps = op.operands[len(op.operands) - k:] if k else []
        outs = inline_region(op.regions[key], graph, caps, before=op,
                             loc=f"{op.loc}.{key}/" if op.loc else "")
        for r, v in zip(op.results, outs):
            r.replace_all_uses_with(v)
        graph.erase_op(op)
        return True

    @staticmethod
    def _compute(op: Op, opdef, args) -> list:
        from ..ir.interpret import region_runner

        attrs = run_attrs(op, op.attrs, region_runner())
        try:
            outs = opdef.run(np, args, attrs)
        except SingaError as e:
            raise type(e)(f"folding {describe_op(op)}: {e}") from e
        except Exception as e:
            raise OpError(f"folding {describe_op(op)} failed: {type(e).__name__}: {e}") from e
        if len(outs) < len(op.results):
            raise OpError(f"folding {describe_op(op)}: compute gave {len(outs)} results")
        return outs

    @staticmethod
    def _replace(graph: Graph, op: Op, outs) -> None:
        for r, a in zip(op.results, outs):
            a = np.asarray(a)
            have = TensorType.of(a)
            if r.type is not None and r.type.dtype != have.dtype:
                raise IRError(f"folding {describe_op(op)}: compute gave {have} for a result "
                              f"typed {r.type} (the op table's infer and compute disagree)")
            c = graph.add_const(np.array(a, order="C"), r.name)  # own, dense copy
            r.replace_all_uses_with(c)
        graph.erase_op(op)
