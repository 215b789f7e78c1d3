"""ONNX ``ModelProto`` -> IR :class:`~singa.ir.graph.Graph`.

The importer validates what ``onnx.checker`` would (and what the rest of the
compiler relies on) and turns every problem into a :mod:`singa.errors`
exception that names the node or tensor at fault:

- bytes or files that do not parse -> :class:`ModelError`;
- a value used but defined nowhere (missing initializer, undefined input name),
  a value defined twice, a cycle -> :class:`ModelError`;
- ops the table lacks, ops whose table entry starts at a later opset, other
  domains -> one :class:`UnsupportedOpError` listing every (op, opset) and the
  nodes using it;
- external data that leaves the model's folder -> :class:`ExternalDataError`
  (the path is resolved, symlinks included, before anything is opened);
- a node that breaks its op's ONNX schema at the model's opset (too few or too
  many inputs or outputs, a required input left empty, a required attribute
  missing, an unknown attribute, an attribute of the wrong kind such as a
  string for an int) -> :class:`ModelError`;
- a negative dim in an initializer or a graph input or output -> :class:`ModelError`;
- paths that are not regular files, names that are not UTF-8, arrays that cannot
  be allocated: see :mod:`singa.frontends.onnx_data`, which reads the files.

Model-local functions are inlined first (onnx's inliner).

Mapping: initializers become params (also when the graph lists them as inputs:
ONNX then treats them as overridable defaults, SINGA as weights), Constant
nodes become consts, graph inputs keep their dims (``dim_value`` -> int,
``dim_param`` -> symbol, neither -> a fresh symbol).  Old op forms are
normalised with ``OPS[op].adapt`` for the model's opset, so the IR always holds
the newest form.  ``Op.loc`` is the node name (``<op_type>_<index>`` when the
node has none); value names are the ONNX tensor names.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import onnx
from onnx import helper

from ..errors import ModelError, ResourceError, SingaError, UnsupportedOpError
from ..ir.graph import Graph, Value
from ..ir.types import DType, OptionalType, SequenceType, TensorType
from .onnx_data import load_proto, sparse_to_array, tensor_to_array
from .onnx_schema import check_schema

DEFAULT_DOMAINS = ("", "ai.onnx")

#: The domain of singa's own ops (Im2Col, FusedElementwise, VJP, its losses): a model
#: may name them only there, so an ONNX model cannot reach them by an op's name.
SINGA_DOMAIN = "ai.singa"


def singa_only(op_type: str) -> bool:
    """Whether table op ``op_type`` is singa's own rather than an ONNX operator."""
    from ..ops import OPS

    d = OPS.get(op_type)
    return not onnx.defs.has(op_type, d.domain if d is not None else "")


def _domain(d: str) -> str:
    return "" if d in DEFAULT_DOMAINS else d

__all__ = ["import_model", "load_proto", "model_opset", "tensor_to_array", "unsupported_ops"]


# ------------------------------------------------------------------ opset

def model_opset(proto: onnx.ModelProto) -> int:
    """The model's default-domain opset; 0 when it imports only other domains (an
    ``ai.onnx.ml`` model); ModelError when it imports none at all."""
    versions = [o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        if not proto.opset_import and proto.ir_version and proto.ir_version < 3:
            return 1  # IR version 1-2 models predate opset_import
        if proto.opset_import:
            return 0  # no default-domain op may appear: each is reported unsupported
        raise ModelError("model imports no opset of the default ONNX domain")
    return max(versions)


# ------------------------------------------------------------------ attributes

def _attr_value(a: onnx.AttributeProto, base_dir, where: str):
    """An attribute as the op table wants it: str for strings, arrays for tensors."""
    A = onnx.AttributeProto
    if a.ref_attr_name:
        raise ModelError(f"{where}: attribute {a.name!r} refers to a function attribute "
                         f"outside a function")
    if a.type == A.TENSOR:
        return tensor_to_array(a.t, base_dir)
    if a.type == A.TENSORS:
        return [tensor_to_array(t, base_dir) for t in a.tensors]
    if a.type == A.SPARSE_TENSOR:
        return sparse_to_array(a.sparse_tensor, base_dir)
    if a.type == A.STRING:
        return a.s.decode("utf-8", "surrogateescape")
    if a.type == A.STRINGS:
        return [s.decode("utf-8", "surrogateescape") for s in a.strings]
    if a.type == A.UNDEFINED:
        raise ModelError(f"{where}: attribute {a.name!r} has no type")
    try:
        v = helper.get_attribute_value(a)
    except Exception as e:
        raise ModelError(f"{where}: unreadable attribute {a.name!r}: {e}") from e
    if isinstance(v, tuple):
        v = list(v)
    return v


def _constant_value(node: onnx.NodeProto, base_dir, where: str) -> np.ndarray:
    """The array a Constant node holds (any of its attribute forms)."""
    if len(node.attribute) != 1:
        raise ModelError(f"{where}: a Constant needs exactly one value attribute, has "
                         f"{[a.name for a in node.attribute]}")
    a = node.attribute[0]
    v = _attr_value(a, base_dir, where)
    if a.name in ("value", "sparse_value"):
        return np.asarray(v)
    if a.name == "value_float":
        return np.array(v, dtype=np.float32)
    if a.name == "value_floats":
        return np.array(v, dtype=np.float32).reshape(-1)
    if a.name == "value_int":
        return np.array(v, dtype=np.int64)
    if a.name == "value_ints":
        return np.array(v, dtype=np.int64).reshape(-1)
    if a.name == "value_string":
        return np.array(v, dtype=object)
    if a.name == "value_strings":
        return np.array(v, dtype=object).reshape(-1)
    raise ModelError(f"{where}: unknown Constant attribute {a.name!r}")


# ------------------------------------------------------------------ types

class _Symbols:
    """Fresh symbol names for dims that carry neither a value nor a name."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.k = 0

    def fresh(self) -> str:
        while f"unk__{self.k}" in self.taken:
            self.k += 1
        s = f"unk__{self.k}"
        self.taken.add(s)
        return s


def _value_type(vi: onnx.ValueInfoProto, symbols: _Symbols, what: str):
    return type_from_proto(vi.type, symbols, f"{what} {vi.name!r}")


def type_from_proto(t: onnx.TypeProto, symbols: _Symbols | None = None,
                    what: str = "a type"):
    """The IR type of ONNX TypeProto ``t``: a TensorType, or a SequenceType /
    OptionalType of one.  A tensor dim with neither value nor name becomes a
    fresh symbol of ``symbols`` (None: an unknown dim); inside a sequence or an
    optional every dim without a value is unknown, as the elements' may differ."""
    kind = t.WhichOneof("value")
    if kind in ("sequence_type", "optional_type"):
        inner = getattr(t, kind)
        elem = (type_from_proto(inner.elem_type, None, what)
                if inner.HasField("elem_type") else None)
        if kind == "optional_type" and isinstance(elem, OptionalType):
            raise ModelError(f"{what}: an optional cannot hold an optional")
        return SequenceType(elem) if kind == "sequence_type" else OptionalType(elem)
    if kind != "tensor_type":
        raise UnsupportedOpError(f"{what} has {kind or 'no'} type; only tensors, "
                                 f"sequences and optionals are supported")
    tt = t.tensor_type
    if tt.elem_type == onnx.TensorProto.UNDEFINED:
        raise ModelError(f"{what} has no element type")
    try:
        dtype = DType(tt.elem_type)
    except ValueError:
        raise ModelError(f"{what}: unknown element type {tt.elem_type}") from None
    if not tt.HasField("shape"):
        return TensorType(dtype, None)
    dims = []
    for d in tt.shape.dim:
        which = d.WhichOneof("value")
        if which == "dim_value":
            if d.dim_value < 0:
                raise ModelError(f"{what}: negative dim {d.dim_value}")
            dims.append(int(d.dim_value))
        elif symbols is None:
            dims.append(None)
        elif which == "dim_param" and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(symbols.fresh())
    return TensorType(dtype, tuple(dims))


def _check_declared_dims(vi: onnx.ValueInfoProto, what: str) -> None:
    """ModelError for a negative ``dim_value`` in a declared (possibly untyped) value."""
    t = vi.type
    if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.HasField("shape"):
        return
    for d in t.tensor_type.shape.dim:
        if d.WhichOneof("value") == "dim_value" and d.dim_value < 0:
            raise ModelError(f"{what} {vi.name!r}: negative dim {d.dim_value} in its "
                             f"declared shape")


# ------------------------------------------------------------------ checks

def _node_where(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def unsupported_ops(proto: onnx.ModelProto) -> list[tuple[str, int, list[str]]]:
    """Every (op, opset, [node names]) of ``proto`` the op table cannot run, in
    the main graph and in every subgraph (If/Loop/Scan bodies)."""
    from ..ops import OPS

    domains = {_domain(o.domain): o.version for o in proto.opset_import}
    domains.setdefault("", model_opset(proto))
    found: OrderedDict = OrderedDict()
    for n, where in _all_nodes(proto.graph):
        dom = _domain(n.domain)
        if dom == "" and n.op_type == "Constant":
            continue
        d = OPS.get(n.op_type)
        if dom == SINGA_DOMAIN and d is not None and singa_only(n.op_type):
            continue
        version = domains.get(dom, 0)
        if (d is not None and d.domain == dom and d.since <= version
                and not (dom == "" and singa_only(n.op_type))):
            continue
        key = (n.op_type if dom == "" else f"{n.domain}.{n.op_type}", version)
        found.setdefault(key, []).append(where)
    return [(op, v, names) for (op, v), names in found.items()]


def _all_nodes(gp: onnx.GraphProto, prefix: str = ""):
    """(node, where) of ``gp`` and, depth first, of the graphs its attributes hold."""
    for i, n in enumerate(gp.node):
        where = prefix + _node_where(n, i)
        yield n, where
        for a in n.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else (
                list(a.graphs) if a.type == onnx.AttributeProto.GRAPHS else [])
            for sub in subs:
                yield from _all_nodes(sub, f"{where}.{a.name}/")


def _raise_unsupported(found) -> None:
    from ..ops import OPS

    lines = []
    for op, v, names in found:
        d = OPS.get(op.rsplit(".", 1)[-1])
        if d is not None and d.domain == "" and singa_only(op):
            why = f"singa's own op, not an ONNX one (a model names it in domain {SINGA_DOMAIN!r})"
        else:
            why = (f"the table has it from opset {d.since}" if d is not None
                   else "not in the op table")
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} nodes)" if len(names) > 8 else "")
        lines.append(f"  {op} (opset {v}): {why}; used by {shown}")
    err = UnsupportedOpError(f"{len(found)} unsupported op(s):\n" + "\n".join(lines))
    err.unsupported = found
    raise err


def _subgraphs(n: onnx.NodeProto):
    """(attribute name, GraphProto) of the graphs a node holds (If's branches...)."""
    for a in n.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.name, a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            for g in a.graphs:
                yield a.name, g


def _free_names(gp: onnx.GraphProto) -> list[str]:
    """Names ``gp``'s nodes (and their subgraphs) read that ``gp`` does not define:
    the outer values a body captures."""
    defined = {vi.name for vi in gp.input} | {t.name for t in gp.initializer}
    defined |= {s.values.name for s in gp.sparse_initializer}
    defined |= {o for n in gp.node for o in n.output if o}
    out = []
    for n in gp.node:
        for name in _node_inputs(n):
            if name and name not in defined and name not in out:
                out.append(name)
    for vi in gp.output:
        if vi.name not in defined and vi.name not in out:
            out.append(vi.name)
    return out


def _node_inputs(n: onnx.NodeProto) -> list[str]:
    """A node's inputs, then the outer names its subgraphs read."""
    names = list(n.input)
    for _, sub in _subgraphs(n):
        names += [x for x in _free_names(sub) if x not in names]
    return names


def _topo_order(nodes, defined: set[str], where) -> list[int]:
    """Node indices in an order where each node follows its inputs' producers.

    ONNX requires sorted nodes but tools emit unsorted ones; a value defined by
    no one is reported here, and so is a cycle (naming the nodes on it).
    """
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, i)
    deps = []
    for i, n in enumerate(nodes):
        d = set()
        for name in _node_inputs(n):
            if not name or name in defined:
                continue
            if name not in producer:
                raise ModelError(f"node {where(i)} ({n.op_type}): input {name!r} is not "
                                 f"defined by any node, initializer or graph input "
                                 f"(missing initializer?)")
            d.add(producer[name])
        deps.append(d)
    order, state = [], [0] * len(nodes)  # 0 new, 1 on stack, 2 done
    for start in range(len(nodes)):
        if state[start]:
            continue
        stack = [(start, iter(sorted(deps[start])))]
        state[start] = 1
        while stack:
            i, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[i] = 2
                order.append(i)
            elif state[nxt] == 1:
                cyc = [j for j, _ in stack]
                cyc = cyc[cyc.index(nxt):]
                raise ModelError("the graph has a cycle through nodes "
                                 + " -> ".join(where(j) for j in cyc + [nxt]))
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
    return order


# ------------------------------------------------------------------ import

def import_model(model, base_dir=None) -> Graph:
    """Lower an ONNX model (ModelProto, bytes, or a file path) into an IR Graph.

    ``base_dir`` is the folder external data is read from (default: the model
    file's folder; for a ModelProto or bytes there is none unless given).
    Raises ModelError, ExternalDataError, UnsupportedOpError (see the module doc)
    or ResourceError (an array that cannot be allocated).
    """
    proto, base_dir = load_proto(model, base_dir)
    try:
        return _import(proto, base_dir)
    except SingaError:
        raise
    except MemoryError:  # the tensors name themselves; this is what is left over
        raise ResourceError("not enough memory to import the model") from None
    except RecursionError:
        raise ModelError("the model is nested too deeply to import") from None
    except Exception as e:  # anything the protobuf could still hide
        raise ModelError(f"malformed model: {type(e).__name__}: {e}") from e


def _inline_functions(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its model-local functions inlined (onnx's own inliner; calls
    nested in functions and subgraphs too)."""
    from onnx import inliner

    try:
        out = inliner.inline_local_functions(proto)
    except Exception as e:
        names = ", ".join(f"{f.domain}.{f.name}" for f in proto.functions)
        raise ModelError(f"cannot inline the model's functions ({names}): "
                         f"{type(e).__name__}: {e}") from e
    local = {(f.domain, f.name) for f in proto.functions}
    del out.functions[:]
    left = [w for n, w in _all_nodes(out.graph) if (n.domain, n.op_type) in local]
    if left:
        raise ModelError(f"model-local function calls left after inlining: {left[:8]}")
    return out


class _Scope:
    """The names visible while one graph is imported: its own values, then those of
    the enclosing graphs, which a body reads through captured inputs."""

    def __init__(self, parent: "_Scope | None" = None):
        self.env: dict[str, Value] = {}
        self.parent = parent
        self.captured: OrderedDict[str, Value] = OrderedDict()  # outer name -> body input

    def visible(self, name: str) -> bool:
        return name in self.env or (self.parent is not None and self.parent.visible(name))

    def names(self) -> set[str]:
        return set(self.env) | (self.parent.names() if self.parent is not None else set())

    def get(self, name: str) -> Value:
        v = self.env.get(name)
        if v is None:
            outer = self.parent.get(name)  # KeyError when defined nowhere
            v = self.env[name] = self.captured[name] = Value(outer.type, "input", name)
        return v


class _Context:
    """What every graph of one model is imported with."""

    def __init__(self, proto, base_dir):
        self.opset = model_opset(proto)
        self.domains = {_domain(o.domain): o.version for o in proto.opset_import}
        self.domains[""] = self.opset
        self.base_dir = base_dir
        taken = {d.dim_param for vi in proto.graph.input
                 for d in vi.type.tensor_type.shape.dim if d.dim_param}
        self.symbols = _Symbols(taken)


def _import(proto: onnx.ModelProto, base_dir) -> Graph:
    if not proto.HasField("graph"):
        raise ModelError("model has no graph (truncated or not an ONNX model)")
    if proto.ir_version <= 0:
        raise ModelError("model has no ir_version (truncated or not an ONNX model)")
    opset = model_opset(proto)
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise UnsupportedOpError(f"model uses opset {opset}; this onnx ({onnx.__version__}) "
                                 f"knows opsets up to {newest}")
    if opset < 1 and any(o.domain in DEFAULT_DOMAINS for o in proto.opset_import):
        raise ModelError(f"model imports default-domain opset {opset}")
    if proto.functions:
        proto = _inline_functions(proto)
    ctx = _Context(proto, base_dir)
    g = _build_graph(proto.graph, _Scope(), ctx, "", unsupported=lambda: unsupported_ops(proto))
    g.opset = opset or None
    return g


def _build_graph(gp: onnx.GraphProto, scope: _Scope, ctx: _Context, prefix: str,
                 unsupported=None) -> Graph:
    """One graph (the model's, or a body with ``scope.parent`` set) as IR.  A body's
    captured outer values are not among its inputs yet: the caller appends them."""
    from ..ops import OPS

    is_body = scope.parent is not None
    where = lambda i: prefix + _node_where(gp.node[i], i)  # noqa: E731
    what = "body" if is_body else "graph"

    # Structure first: names defined twice, node fields.
    defined_by: dict[str, str] = {}

    def define(name: str, desc: str):
        if name in defined_by:
            raise ModelError(f"value {name!r} is defined twice: by {defined_by[name]} and "
                             f"by {desc}")
        defined_by[name] = desc

    inits = OrderedDict()
    for t in gp.initializer:
        if not t.name:
            raise ModelError(f"an initializer of {prefix or 'the graph'} has no name")
        define(t.name, f"initializer {t.name!r}")
        inits[t.name] = t
    for sp in gp.sparse_initializer:
        if not sp.values.name:
            raise ModelError("a sparse initializer has no name")
        define(sp.values.name, f"sparse initializer {sp.values.name!r}")
        inits[sp.values.name] = sp
    graph_inputs = []
    seen_inputs = set()
    for vi in gp.input:
        if not vi.name:
            raise ModelError(f"a {what} input of {prefix or 'the graph'} has no name")
        if vi.name in seen_inputs:
            raise ModelError(f"{what} input {prefix}{vi.name!r} is listed twice")
        seen_inputs.add(vi.name)
        if vi.name in inits and not is_body:
            continue  # an initializer listed as input: a weight, not an input
        define(vi.name, f"{what} input {vi.name!r}")
        graph_inputs.append(vi)
    for i, n in enumerate(gp.node):
        if not n.op_type:
            raise ModelError(f"node {where(i)} has no op_type")
        for o in n.output:
            if o:
                define(o, f"node {where(i)} ({n.op_type})")

    outer = scope.parent.names() if is_body else set()
    order = _topo_order(gp.node, set(inits) | {vi.name for vi in graph_inputs} | outer, where)

    if unsupported is not None:
        found = unsupported()
        if found:
            _raise_unsupported(found)

    g = Graph(gp.name or ("body" if is_body else "main"))
    g.opset = None if is_body else ctx.opset
    env = scope.env
    for vi in graph_inputs:
        if is_body and not vi.type.WhichOneof("value"):
            t = None  # body inputs may leave their type to the op
        else:
            t = _value_type(vi, ctx.symbols, f"{what} input")
        env[vi.name] = g.add_input(vi.name, t)
    for name, t in inits.items():
        if isinstance(t, onnx.SparseTensorProto):
            arr = sparse_to_array(t, ctx.base_dir)
        else:
            arr = tensor_to_array(t, ctx.base_dir)
        env[name] = g.add_param(name, arr)

    for i in order:
        n = gp.node[i]
        loc = where(i)
        if n.op_type == "Constant" and _domain(n.domain) == "":
            if len([o for o in n.output if o]) != 1:
                raise ModelError(f"node {loc} (Constant) must have one output")
            env[n.output[0]] = g.add_const(
                _constant_value(n, ctx.base_dir, f"node {loc} (Constant)"), n.output[0])
            continue
        _add_node(g, n, loc, scope, ctx, OPS[n.op_type], gp)

    outputs = []
    for vi in gp.output:
        _check_declared_dims(vi, f"{what} output")
        if not scope.visible(vi.name):
            raise ModelError(f"{what} output {prefix}{vi.name!r} is not produced by any node, "
                             f"initializer or input")
        outputs.append(scope.get(vi.name))
    if not outputs and not is_body:
        raise ModelError("the graph has no outputs")
    g.set_outputs(outputs)
    return g


def _gradient_body(gp: onnx.GraphProto, n: onnx.NodeProto, desc: str) -> onnx.GraphProto:
    """The region of a Gradient node: the nodes of ``gp`` computing its ``y`` from
    its ``xs`` and ``zs`` (what else they read, the body captures)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    names = lambda k: [x.decode() if isinstance(x, bytes) else x  # noqa: E731
                       for x in attrs.get(k, [])]
    xs, zs = names("xs"), names("zs")
    y = attrs.get("y", b"")
    y = y.decode() if isinstance(y, bytes) else y
    if list(n.input) != xs + zs:
        raise ModelError(f"{desc}: inputs {list(n.input)} must be xs {xs} then zs {zs}")
    producer = {o: node for node in gp.node for o in node.output if o}
    if y not in producer and y not in xs + zs:
        raise ModelError(f"{desc}: y {y!r} is not computed in this graph")
    stop, order, seen = set(xs + zs), [], set()
    stack = [y]
    while stack:  # the ancestors of y, up to xs and zs
        name = stack.pop()
        node = producer.get(name)
        if name in stop or node is None or id(node) in seen:
            continue
        if node is n:
            raise ModelError(f"{desc}: y depends on the Gradient node itself")
        seen.add(id(node))
        order.append(node)
        stack += [x for x in _node_inputs(node) if x]
    body_nodes = [node for node in gp.node if id(node) in seen]  # in the graph's order
    return helper.make_graph(body_nodes, f"{n.name or 'Gradient'}_body",
                             [onnx.ValueInfoProto(name=x) for x in xs + zs],
                             [onnx.ValueInfoProto(name=y)])


def _add_node(g: Graph, n: onnx.NodeProto, loc: str, scope: _Scope, ctx: _Context,
              opdef, gp: onnx.GraphProto) -> None:
    from ..ir.regions import declare_inputs

    desc = f"node {loc} ({n.op_type})"
    opset = ctx.domains.get(opdef.domain, 0)
    attrs, graphs = {}, {}
    for a in n.attribute:
        if a.name in attrs or a.name in graphs:
            raise ModelError(f"{desc}: attribute {a.name!r} given twice")
        if a.type == onnx.AttributeProto.GRAPH:
            graphs[a.name] = a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            raise ModelError(f"{desc}: attribute {a.name!r} holds a list of graphs, which no "
                             f"supported op takes")
        else:
            attrs[a.name] = _attr_value(a, ctx.base_dir, desc)
    with_opset = f"node {loc} ({n.op_type}, opset {opset})"
    check_schema(n, {**attrs, **graphs}, opset, with_opset, domain=opdef.domain)
    if n.op_type == "Gradient" and opdef.domain == "ai.onnx.preview.training":
        graphs["body"] = _gradient_body(gp, n, desc)  # a region the node implies
    if not set(graphs) <= set(opdef.regions):  # required ones: see check_schema
        raise ModelError(f"{desc}: has graph attribute(s) {sorted(graphs)}, the op takes "
                         f"{sorted(opdef.regions) or 'none'}")
    operands = [scope.get(x) if x else None for x in n.input]
    if opdef.adapt is not None:
        try:
            attrs, extra = opdef.adapt(attrs, opset)
        except SingaError as e:
            raise ModelError(f"{with_opset}: {e}") from e
        except Exception as e:
            raise ModelError(f"{with_opset}: cannot convert to the current form: "
                             f"{type(e).__name__}: {e}") from e
        for idx, arr in sorted((extra or {}).items()):
            while len(operands) <= idx:
                operands.append(None)
            if operands[idx] is None:
                operands[idx] = g.add_const(np.asarray(arr), f"{loc}.in{idx}")
    while operands and operands[-1] is None:
        operands.pop()
    regions = {}
    if graphs:
        scopes = {}
        for key in (k for k in opdef.regions if k in graphs):
            sub = _Scope(scope)
            regions[key] = _build_graph(graphs[key], sub, ctx, f"{loc}.{key}/")
            declare_inputs(regions[key])
            scopes[key] = sub
        # every region takes the union of what any of them captures, in one order
        union = list(OrderedDict.fromkeys(name for sub in scopes.values()
                                          for name in sub.captured))
        own = len(operands)
        operands += [scope.get(name) for name in union]
        for key, body in regions.items():
            for name, v in zip(union, operands[own:]):
                cap = scopes[key].captured.get(name) or Value(v.type, "input", name)
                body.inputs.append(cap)
        attrs["captures"] = len(union)
    outs = list(n.output)
    while outs and not outs[-1]:
        outs.pop()
    if opdef.num_outputs != 1:
        # How many results the node names: variadic ops (Split) need it, and ops
        # with optional results (MaxPool's Indices) skip work nobody reads.
        attrs["_num_outputs"] = len(outs)
    op = g.add_op(n.op_type, operands, [None] * len(outs), attrs, loc, outs, regions=regions)
    for name, r in zip(outs, op.results):
        if name:
            scope.env[name] = r
