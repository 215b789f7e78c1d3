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
from ..ir.types import DType, TensorType
from .onnx_data import load_proto, sparse_to_array, tensor_to_array
from .onnx_schema import check_schema

DEFAULT_DOMAINS = ("", "ai.onnx")

#: The domain of singa's own ops (Im2Col, FusedElementwise, VJP, its losses): a model
#: may name them only there, so an ONNX model cannot reach them by an op's name.
SINGA_DOMAIN = "ai.singa"


def singa_only(op_type: str) -> bool:
    """Whether table op ``op_type`` is singa's own rather than an ONNX operator."""
    return not onnx.defs.has(op_type)

__all__ = ["import_model", "load_proto", "model_opset", "tensor_to_array", "unsupported_ops"]


# ------------------------------------------------------------------ opset

def model_opset(proto: onnx.ModelProto) -> int:
    """The model's default-domain opset; ModelError when it imports none."""
    versions = [o.version for o in proto.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        if not proto.opset_import and proto.ir_version and proto.ir_version < 3:
            return 1  # IR version 1-2 models predate opset_import
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


def _value_type(vi: onnx.ValueInfoProto, symbols: _Symbols, what: str) -> TensorType:
    t = vi.type
    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        raise UnsupportedOpError(f"{what} {vi.name!r} has {kind or 'no'} type; only tensors "
                                 f"are supported")
    tt = t.tensor_type
    if tt.elem_type == onnx.TensorProto.UNDEFINED:
        raise ModelError(f"{what} {vi.name!r} has no element type")
    try:
        dtype = DType(tt.elem_type)
    except ValueError:
        raise ModelError(f"{what} {vi.name!r}: unknown element type {tt.elem_type}") from None
    if not tt.HasField("shape"):
        return TensorType(dtype, None)
    dims = []
    for d in tt.shape.dim:
        which = d.WhichOneof("value")
        if which == "dim_value":
            if d.dim_value < 0:
                raise ModelError(f"{what} {vi.name!r}: negative dim {d.dim_value}")
            dims.append(int(d.dim_value))
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
    """Every (op, opset, [node names]) of ``proto`` the op table cannot run."""
    from ..ops import OPS

    opset = model_opset(proto)
    domains = {o.domain: o.version for o in proto.opset_import}
    found: OrderedDict = OrderedDict()
    for i, n in enumerate(proto.graph.node):
        where = _node_where(n, i)
        if n.domain in DEFAULT_DOMAINS:
            if n.op_type == "Constant":
                continue
            d = OPS.get(n.op_type)
            if d is not None and d.since <= opset and not singa_only(n.op_type):
                continue
            key = (n.op_type, opset)
        elif n.domain == SINGA_DOMAIN and n.op_type in OPS and singa_only(n.op_type):
            continue
        else:
            key = (f"{n.domain}.{n.op_type}", domains.get(n.domain, 0))
        found.setdefault(key, []).append(where)
    return [(op, v, names) for (op, v), names in found.items()]


def _raise_unsupported(found) -> None:
    from ..ops import OPS

    lines = []
    for op, v, names in found:
        d = OPS.get(op)
        if d is not None and singa_only(op):
            why = f"singa's own op, not an ONNX one (a model names it in domain {SINGA_DOMAIN!r})"
        else:
            why = (f"the table has it from opset {d.since}" if d is not None
                   else "not in the op table")
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} nodes)" if len(names) > 8 else "")
        lines.append(f"  {op} (opset {v}): {why}; used by {shown}")
    err = UnsupportedOpError(f"{len(found)} unsupported op(s):\n" + "\n".join(lines))
    err.unsupported = found
    raise err


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
        for name in n.input:
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


def _import(proto: onnx.ModelProto, base_dir) -> Graph:
    from ..ops import OPS

    if not proto.HasField("graph"):
        raise ModelError("model has no graph (truncated or not an ONNX model)")
    if proto.ir_version <= 0:
        raise ModelError("model has no ir_version (truncated or not an ONNX model)")
    opset = model_opset(proto)
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise UnsupportedOpError(f"model uses opset {opset}; this onnx ({onnx.__version__}) "
                                 f"knows opsets up to {newest}")
    if opset < 1:
        raise ModelError(f"model imports default-domain opset {opset}")
    gp = proto.graph
    where = lambda i: _node_where(gp.node[i], i)  # noqa: E731

    # Structure first: names defined twice, node fields.
    defined_by: dict[str, str] = {}

    def define(name: str, what: str):
        if name in defined_by:
            raise ModelError(f"value {name!r} is defined twice: by {defined_by[name]} and "
                             f"by {what}")
        defined_by[name] = what

    inits = OrderedDict()
    for t in gp.initializer:
        if not t.name:
            raise ModelError("an initializer has no name")
        define(t.name, f"initializer {t.name!r}")
        inits[t.name] = t
    for s in gp.sparse_initializer:
        if not s.values.name:
            raise ModelError("a sparse initializer has no name")
        define(s.values.name, f"sparse initializer {s.values.name!r}")
        inits[s.values.name] = s
    graph_inputs = []
    seen_inputs = set()
    for vi in gp.input:
        if not vi.name:
            raise ModelError("a graph input has no name")
        if vi.name in seen_inputs:
            raise ModelError(f"graph input {vi.name!r} is listed twice")
        seen_inputs.add(vi.name)
        if vi.name in inits:
            continue  # an initializer listed as input: a weight, not an input
        define(vi.name, f"graph input {vi.name!r}")
        graph_inputs.append(vi)
    for i, n in enumerate(gp.node):
        if not n.op_type:
            raise ModelError(f"node {where(i)} has no op_type")
        for o in n.output:
            if o:
                define(o, f"node {where(i)} ({n.op_type})")

    order = _topo_order(gp.node, set(inits) | {vi.name for vi in graph_inputs}, where)

    found = unsupported_ops(proto)
    if found:
        _raise_unsupported(found)

    g = Graph(gp.name or "main")
    g.opset = opset
    env: dict[str, Value] = {}
    taken = {d.dim_param for vi in gp.input for d in vi.type.tensor_type.shape.dim
             if d.dim_param}
    symbols = _Symbols(taken)
    for vi in graph_inputs:
        env[vi.name] = g.add_input(vi.name, _value_type(vi, symbols, "graph input"))
    for name, t in inits.items():
        if isinstance(t, onnx.SparseTensorProto):
            arr = sparse_to_array(t, base_dir)
        else:
            arr = tensor_to_array(t, base_dir)
        env[name] = g.add_param(name, arr)

    for i in order:
        n = gp.node[i]
        loc = where(i)
        if n.op_type == "Constant":
            if len([o for o in n.output if o]) != 1:
                raise ModelError(f"node {loc} (Constant) must have one output")
            env[n.output[0]] = g.add_const(_constant_value(n, base_dir, f"node {loc} (Constant)"),
                                           n.output[0])
            continue
        opdef = OPS[n.op_type]
        attrs = {}
        for a in n.attribute:
            if a.name in attrs:
                raise ModelError(f"node {loc} ({n.op_type}): attribute {a.name!r} given twice")
            attrs[a.name] = _attr_value(a, base_dir, f"node {loc} ({n.op_type})")
        check_schema(n, attrs, opset, f"node {loc} ({n.op_type}, opset {opset})")
        operands = [env[x] if x else None for x in n.input]
        if opdef.adapt is not None:
            try:
                attrs, extra = opdef.adapt(attrs, opset)
            except SingaError as e:
                raise ModelError(f"node {loc} ({n.op_type}, opset {opset}): {e}") from e
            except Exception as e:
                raise ModelError(f"node {loc} ({n.op_type}, opset {opset}): cannot convert "
                                 f"to the current form: {type(e).__name__}: {e}") from e
            for idx, arr in sorted((extra or {}).items()):
                while len(operands) <= idx:
                    operands.append(None)
                if operands[idx] is None:
                    operands[idx] = g.add_const(np.asarray(arr), f"{loc}.in{idx}")
        while operands and operands[-1] is None:
            operands.pop()
        outs = list(n.output)
        while outs and not outs[-1]:
            outs.pop()
        if opdef.num_outputs != 1:
            # How many results the node names: variadic ops (Split) need it, and ops
            # with optional results (MaxPool's Indices) skip work nobody reads.
            attrs["_num_outputs"] = len(outs)
        op = g.add_op(n.op_type, operands, [None] * len(outs), attrs, loc, outs)
        for name, r in zip(outs, op.results):
            if name:
                env[name] = r

    outputs = []
    for vi in gp.output:
        _check_declared_dims(vi, "graph output")
        if vi.name not in env:
            raise ModelError(f"graph output {vi.name!r} is not produced by any node, "
                             f"initializer or input")
        outputs.append(env[vi.name])
    if not outputs:
        raise ModelError("the graph has no outputs")
    g.set_outputs(outputs)
    return g
