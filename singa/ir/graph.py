"""SSA values, ops and graphs.

A :class:`Value` is defined exactly once: by a graph input, a parameter (a named
weight), a constant, or one result of an :class:`Op`.  Values compare by identity
and keep a use list, so ``replace_all_uses_with`` is one walk over that list.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Iterable, Iterator

import numpy as np

from ..errors import IRError
from .types import OptionalType, SequenceType, TensorType


class Value:
    """One SSA value. ``kind`` is 'input', 'param', 'const' or 'op'."""

    __slots__ = ("type", "kind", "producer", "index", "name", "uses", "data", "__weakref__")

    def __init__(self, type: TensorType | None, kind: str, name: str = "",
                 producer: "Op | None" = None, index: int = 0, data=None):
        self.type = type
        self.kind = kind
        self.name = name  # a hint for printing and for ONNX names; not an identity
        self.producer = producer
        self.index = index  # which result of the producer
        self.uses: list[tuple[Op, int]] = []  # (op, operand position)
        self.data = data  # NumPy array for 'param' and 'const'

    def replace_all_uses_with(self, new: "Value") -> None:
        """Make every user of this value use ``new`` instead (graph outputs too)."""
        for op, i in list(self.uses):
            op.set_operand(i, new)

    def __repr__(self):
        return f"<Value {self.kind} %{self.name or id(self)} : {self.type}>"


class Op:
    """One operation: ONNX op name, operands, results and immutable attributes.

    ``loc`` names where the op came from (the ONNX node name, or the autograd
    call) so that errors can point back to the model.

    ``regions`` maps an ONNX graph attribute's name (``then_branch``, ``body``)
    to the nested :class:`Graph` it holds.  A region is isolated from above: it
    reads only its own inputs (block arguments), params and constants.  The
    outer values a body reads by name in ONNX are passed explicitly: they are
    the op's last ``attrs["captures"]`` operands and every region's last as
    many inputs, in the same order.  So every use of an outer value is an
    operand the outer graph's passes see, and a body plans on its own.
    """

    __slots__ = ("name", "operands", "results", "attrs", "loc", "regions", "__weakref__")

    def __init__(self, name: str, operands: Iterable[Value | None], result_types: Iterable,
                 attrs: dict | None = None, loc: str = "", result_names: Iterable[str] = (),
                 regions: dict | None = None):
        self.name = name
        self.operands: list[Value | None] = []
        self.attrs = MappingProxyType(dict(attrs or {}))
        self.loc = loc
        self.regions: dict[str, Graph] = dict(regions or {})
        names = list(result_names)
        self.results = [Value(t, "op", names[i] if i < len(names) else "", self, i)
                        for i, t in enumerate(result_types)]
        for v in operands:
            self._append_operand(v)

    def _append_operand(self, v):
        self.operands.append(v)
        if v is not None:
            v.uses.append((self, len(self.operands) - 1))

    def set_operand(self, i: int, new: Value | None) -> None:
        old = self.operands[i]
        if old is not None:
            old.uses.remove((self, i))
        self.operands[i] = new
        if new is not None:
            new.uses.append((self, i))

    def set_operands(self, values) -> None:
        """Replace the whole operand list (its length may change)."""
        self.drop_operands()
        self.operands = []
        for v in values:
            self._append_operand(v)

    def drop_operands(self) -> None:
        """Unlink this op from its operands' use lists (before erasing it)."""
        for i in range(len(self.operands)):
            self.set_operand(i, None)

    def with_attrs(self, **changes) -> dict:
        """A copy of the attributes with ``changes`` applied (attrs are immutable)."""
        d = dict(self.attrs)
        d.update(changes)
        return d

    def __repr__(self):
        return f"<Op {self.name} {self.loc!r}>"


class _OutputSink:
    """Stands in as the 'user' of graph outputs so outputs are uses like any other."""

    __slots__ = ("graph",)

    def __init__(self, graph):
        self.graph = graph

    def set_operand(self, i, new):
        g = self.graph
        old = g.outputs[i]
        old.uses.remove((self, i))
        g.outputs[i] = new
        new.uses.append((self, i))

    name = "return"


def _plain(x) -> bool:
    """Data without Values/Ops/arrays in it: safe to copy into a cloned graph."""
    if x is None or isinstance(x, (str, int, float, bool, TensorType, SequenceType,
                                   OptionalType)):
        return True
    if isinstance(x, (list, tuple)):
        return all(_plain(y) for y in x)
    if isinstance(x, dict):
        return all(_plain(k) and _plain(y) for k, y in x.items())
    return False


class Graph:
    """Inputs, outputs, ops in topological order, and params/constants by value."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.ops: list[Op] = []
        self.params: list[Value] = []  # named weights (ONNX initializers)
        self.consts: list[Value] = []  # anonymous constants (Constant nodes, folded)
        self.opset: int | None = None
        self._sink = _OutputSink(self)

    # ---------------------------------------------------------------- building
    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(type, "input", name)
        self.inputs.append(v)
        return v

    def add_param(self, name: str, array: np.ndarray) -> Value:
        v = Value(TensorType.of(array), "param", name, data=array)
        self.params.append(v)
        return v

    def add_const(self, array: np.ndarray, name: str = "") -> Value:
        array = np.asarray(array)
        v = Value(TensorType.of(array), "const", name, data=array)
        self.consts.append(v)
        return v

    def add_op(self, name: str, operands, result_types, attrs=None, loc="",
               result_names=(), before: Op | None = None, regions=None) -> Op:
        """Create an op and insert it at the end (or before ``before``)."""
        op = Op(name, operands, result_types, attrs, loc, result_names, regions)
        if before is None:
            self.ops.append(op)
        else:
            self.ops.insert(self.ops.index(before), op)
        return op

    def set_outputs(self, values: Iterable[Value]) -> None:
        for i, v in enumerate(self.outputs):
            v.uses.remove((self._sink, i))
        self.outputs = []
        for v in values:
            self.outputs.append(v)
            v.uses.append((self._sink, len(self.outputs) - 1))

    # ---------------------------------------------------------------- editing
    def erase_op(self, op: Op) -> None:
        """Remove ``op``; its results must have no uses left."""
        for r in op.results:
            if r.uses:
                raise IRError(f"erase {op.name} ({op.loc}): result %{r.name} still used "
                              f"by {', '.join(u.name for u, _ in r.uses)}")
        op.drop_operands()
        self.ops.remove(op)

    def drop_unused_values(self) -> None:
        """Forget params and constants nobody uses."""
        self.params = [v for v in self.params if v.uses]
        self.consts = [v for v in self.consts if v.uses]

    # ---------------------------------------------------------------- queries
    def values(self) -> Iterator[Value]:
        yield from self.inputs
        yield from self.params
        yield from self.consts
        for op in self.ops:
            yield from op.results

    def is_output(self, v: Value) -> bool:
        return any(u is self._sink for u, _ in v.uses)

    def users(self, v: Value) -> list[Op]:
        """Ops using ``v`` (graph outputs excluded), each once, in graph order."""
        seen = {id(u): u for u, _ in v.uses if isinstance(u, Op)}
        return [op for op in self.ops if id(op) in seen]

    def clone(self) -> "Graph":
        """A structural copy: new Values and Ops sharing the (never mutated) arrays."""
        g = Graph(self.name)
        g.opset = self.opset
        vmap: dict[Value, Value] = {}
        for v in self.inputs:
            vmap[v] = g.add_input(v.name, v.type)
        for src, dst in ((self.params, g.params), (self.consts, g.consts)):
            for v in src:
                nv = Value(v.type, v.kind, v.name, data=v.data)
                dst.append(nv)
                vmap[v] = nv
        for op in self.ops:
            new = Op(op.name, [None if v is None else vmap[v] for v in op.operands],
                     [r.type for r in op.results], dict(op.attrs), op.loc,
                     [r.name for r in op.results],
                     {k: body.clone() for k, body in op.regions.items()})
            g.ops.append(new)
            vmap.update(zip(op.results, new.results))
        g.set_outputs(vmap[v] for v in self.outputs)
        digests = getattr(self, "_text_digests", None)  # see singa.ir.parser
        if digests:
            g._text_digests = {vmap[v]: d for v, d in digests.items() if v in vmap}
        # Extra annotations (e.g. an importer's declared output types) travel along
        # when they are plain data; anything holding Values would point into self.
        for k, v in self.__dict__.items():
            if k not in g.__dict__ and _plain(v):
                setattr(g, k, copy.deepcopy(v))
        return g

    def __str__(self):
        from .printer import print_graph

        return print_graph(self)

    def __repr__(self):
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self.ops)} ops>"


def walk(graph: Graph, path: str = ""):
    """(graph, op, path) for every op of ``graph`` and, depth first after the op
    holding them, of its regions; ``path`` names the nesting (``Loop_1.body/``)."""
    for op in graph.ops:
        yield graph, op, path
        for key, body in op.regions.items():
            yield from walk(body, f"{path}{op.loc or op.name}.{key}/")


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, else ``base_2``, ``base_3``...: the first not in ``taken``, which it joins."""
    n, k = base, 1
    while n in taken:
        k += 1
        n = f"{base}_{k}"
    taken.add(n)
    return n
