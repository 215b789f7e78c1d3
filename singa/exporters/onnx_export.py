"""IR :class:`~singa.ir.graph.Graph` -> ``onnx.ModelProto``, and ``to_onnx``.

Mapping: graph inputs/outputs become typed ONNX inputs/outputs (any ONNX tensor
type: bool and int64 outputs keep their types; symbolic dims become
``dim_param``), params become initializers, consts become ``Constant`` nodes (so
importers tell weights from constants), ops become nodes named by ``Op.loc``
with their attributes converted to the types the ONNX schema declares.  Every
op result with a known type gets a ``value_info``; the model passes
``onnx.checker.check_model(model, full_check=True)`` or export fails with
:class:`~singa.errors.ExportError`.

Opsets: the IR holds each op in the op table's (newest) form.  Export supports
opsets :data:`MIN_OPSET` (13, where Split/Squeeze/Unsqueeze/ReduceSum took their
axes as inputs) up to the newest ``onnx`` knows; the default is
:data:`DEFAULT_OPSET`, which onnxruntime releases of the last years load.
Below the opset where an input replaced an attribute (ReduceMean/ReduceMax/...
``axes`` until opset 18), a constant input is written back as the attribute;
an op newer than the opset, an attribute the opset lacks (with a non-default
value) or a non-constant such input is an ExportError naming the op.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ExportError
from ..ir.graph import Graph, Value, fresh_name, walk
from ..ir.types import OptionalType, SequenceType, TensorType

__all__ = ["export_graph", "to_onnx", "DEFAULT_OPSET", "MIN_OPSET"]

#: Lowest opset export writes (see the module docstring).
MIN_OPSET = 13
#: Default opset: 21 is loaded by onnxruntime >= 1.18; capped by what onnx knows.
DEFAULT_OPSET = min(21, onnx.defs.onnx_opset_version())

_AT = onnx.defs.OpSchema.AttrType
_OPTIONAL = onnx.defs.OpSchema.FormalParameterOption.Optional
_VARIADIC = onnx.defs.OpSchema.FormalParameterOption.Variadic


def _where(op) -> str:
    return f"{op.name} ({op.loc})" if op.loc else op.name


def _domain(op) -> str:
    from ..ops import OPS

    d = OPS.get(op.name)
    return d.domain if d is not None else ""


def _schema(op, opset):
    domain = _domain(op)
    if domain:  # ai.onnx.ml...: written at that domain's newest opset
        if not onnx.defs.has(op.name, domain):
            raise ExportError(f"{_where(op)}: this onnx has no {domain} op {op.name}")
        return onnx.defs.get_schema(op.name, domain=domain)
    if not onnx.defs.has(op.name):
        raise ExportError(f"{_where(op)} has no ONNX form: it is a singa-only op "
                          f"(losses such as SoftmaxCrossEntropy are not ONNX operators)")
    try:
        return onnx.defs.get_schema(op.name, opset)
    except onnx.defs.SchemaError:
        first = onnx.defs.get_all_schemas_with_history()
        since = min((s.since_version for s in first if s.name == op.name and s.domain == ""),
                    default="?")
        raise ExportError(f"{_where(op)}: {op.name} exists from opset {since}; cannot export "
                          f"it at opset {opset}") from None


def _input_name(schema, i) -> str | None:
    ins = schema.inputs
    if i < len(ins):
        return ins[i].name
    if ins and ins[-1].option == _VARIADIC:
        return ins[-1].name
    return None


def _plain(v):
    """NumPy scalars/arrays and tuples as plain Python values."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _attribute(op, name, value, atype):
    """One ONNX attribute of the type the schema declares."""
    try:
        if atype == _AT.FLOAT:
            value = float(value)
        elif atype == _AT.INT:
            value = int(value)
        elif atype == _AT.STRING:
            value = value if isinstance(value, bytes) else str(value)
        elif atype == _AT.FLOATS:
            value = [float(x) for x in np.asarray(value, dtype=np.float64).reshape(-1)]
        elif atype == _AT.INTS:
            value = [int(x) for x in np.asarray(value).reshape(-1)]
        elif atype == _AT.STRINGS:
            value = [x if isinstance(x, bytes) else str(x) for x in value]
        elif atype == _AT.TENSOR:
            value = value if isinstance(value, onnx.TensorProto) else \
                numpy_helper.from_array(np.asarray(value))
        else:
            raise ExportError(f"{_where(op)}: attribute {name} of type {atype.name} is not "
                              f"supported by the exporter")
        return helper.make_attribute(name, value, attr_type=int(atype))
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"{_where(op)}: attribute {name}={value!r} cannot be written as "
                          f"ONNX {atype.name}: {e}") from e


def _default_of(op_name, attr):
    from ..ops import OPS

    od = OPS.get(op_name)
    return None if od is None else od.defaults.get(attr)


def _same(a, b) -> bool:
    try:
        return bool(np.array_equal(np.asarray(_plain(a)), np.asarray(_plain(b))))
    except Exception:
        return False


def _value_info(name: str, t) -> onnx.ValueInfoProto:
    if t is None:
        raise ExportError(f"value {name!r} has no type")
    return helper.make_value_info(name, _type_proto(name, t))


def _type_proto(name: str, t) -> onnx.TypeProto:
    """A tensor, sequence or optional type as ONNX writes it."""
    if isinstance(t, SequenceType):
        return helper.make_sequence_type_proto(_type_proto(name, t.elem))
    if isinstance(t, OptionalType):
        return helper.make_optional_type_proto(_type_proto(name, t.elem))
    if not isinstance(t, TensorType):
        raise ExportError(f"value {name!r}: its element type is not known ({t})")
    shape = None if t.shape is None else [d if d is None or isinstance(d, (int, str)) else None
                                          for d in t.shape]
    return helper.make_tensor_type_proto(t.dtype.value, shape)


class _Renamed:
    """An op seen under another ONNX name and attributes (for deprecated ops)."""

    def __init__(self, op, name, attrs, operands):
        self.name, self.loc, self.attrs, self.operands = name, op.loc, attrs, operands
        self.results = op.results


def _upsample_as_resize(op):
    # Upsample (deprecated since opset 10) is Resize with asymmetric coordinates
    # and floor rounding: out = floor(in * scale), as the op table computes it.
    attrs = {"mode": op.attrs.get("mode", "nearest"),
             "coordinate_transformation_mode": "asymmetric"}
    if attrs["mode"] == "nearest":
        attrs["nearest_mode"] = "floor"
    return _Renamed(op, "Resize", attrs, [op.operands[0], None, op.operands[1]])


def _scatter_as_scatter_elements(op):
    # Scatter (deprecated since opset 11) is ScatterElements without a reduction
    return _Renamed(op, "ScatterElements", {"axis": op.attrs.get("axis", 0)},
                    list(op.operands))


#: Ops written as another op (deprecated ONNX ops the checker refuses).
_REWRITES = {"Upsample": _upsample_as_resize, "Scatter": _scatter_as_scatter_elements}


def _convert_op(op, opset, names, node_name, keep_results):
    """The NodeProto of ``op`` at ``opset``."""
    if op.name in _REWRITES:
        op = _REWRITES[op.name](op)
    schema = _schema(op, opset)
    newest = onnx.defs.get_schema(op.name, domain=_domain(op))
    attrs = {k: v for k, v in op.attrs.items() if not k.startswith("_") and v is not None
             and not (k == "captures" and getattr(op, "regions", None))}

    # Inputs the opset still takes as attributes (ReduceMean axes before 18 ...).
    operands = list(op.operands)
    if getattr(op, "regions", None):  # captured values: the bodies read them by name
        operands = operands[:len(operands) - int(op.attrs.get("captures", 0))]
    kept = []
    for i, v in enumerate(operands):
        new_name = _input_name(newest, i)
        old_name = _input_name(schema, i)
        if new_name is not None and old_name != new_name and new_name in schema.attributes:
            if v is None:
                continue
            if v.kind not in ("const", "param"):
                raise ExportError(f"{_where(op)}: input {new_name} must be a constant to be "
                                  f"written as an attribute at opset {opset}")
            attrs[new_name] = np.asarray(v.data).tolist()
            continue
        kept.append(v)
    while kept and kept[-1] is None:
        kept.pop()
    if len(kept) > schema.max_input or len(kept) < schema.min_input:
        raise ExportError(f"{_where(op)}: {len(kept)} inputs, but {op.name} at opset {opset} "
                          f"takes {schema.min_input}..{schema.max_input}")

    onnx_attrs = []
    for k in sorted(attrs):
        v = attrs[k]
        spec = schema.attributes.get(k)
        if spec is None:
            if _same(v, _default_of(op.name, k)):
                continue  # a table default this opset does not have: nothing lost
            raise ExportError(f"{_where(op)}: attribute {k}={_plain(v)!r} does not exist in "
                              f"{op.name} at opset {opset}")
        onnx_attrs.append(_attribute(op, k, v, spec.type))

    outs = [names[r] for r in op.results[:keep_results]]
    if len(outs) > schema.max_output:
        raise ExportError(f"{_where(op)}: {len(outs)} results, {op.name} at opset {opset} has "
                          f"at most {schema.max_output}")
    node = helper.make_node(op.name, [names[v] if v is not None else "" for v in kept], outs,
                            name=node_name)
    node.attribute.extend(onnx_attrs)
    node.domain = _domain(op)
    return node


def _results_to_keep(op, schema) -> int:
    """Trailing results nobody uses are dropped where the schema makes them optional."""
    n = len(op.results)
    outs = schema.outputs
    while n > 1:
        r = op.results[n - 1]
        spec = outs[min(n - 1, len(outs) - 1)] if outs else None
        if r.uses or spec is None or spec.option != _OPTIONAL:
            break
        n -= 1
    return n


def export_graph(graph: Graph, opset: int | None = None, model_name: str | None = None,
                 check: bool = True) -> onnx.ModelProto:
    """The ONNX model of ``graph`` at ``opset`` (default :data:`DEFAULT_OPSET`),
    its ONNX graph named ``model_name`` (default: the IR graph's name).

    Raises :class:`~singa.errors.ExportError` naming the op for ops without an
    ONNX form or not expressible at ``opset``, and when the result fails
    ``onnx.checker.check_model(full_check=True)`` (with ``check``).
    """
    opset = DEFAULT_OPSET if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(f"export supports opsets {MIN_OPSET}..{newest}, not {opset}")
    if any(r.type is None for op in graph.ops for r in op.results) or \
            any(v.type is None for v in graph.inputs):
        graph = _typed(graph)
    if any(op.attrs.get("_channel_slope") for _, op, _ in walk(graph)):
        graph = _per_channel_slopes_reshaped(graph)

    g = _graph_proto(graph, opset, {}, set(), set(), model_name or graph.name or "main")
    from .. import __version__

    opsets = [helper.make_opsetid("", opset)]
    others: dict[str, int] = {}
    for _, op, _ in walk(graph):
        if _domain(op):
            since = _schema(op, opset).since_version
            others[_domain(op)] = max(others.get(_domain(op), 1), since)
    opsets += [helper.make_opsetid(d, v) for d, v in sorted(others.items())]
    model = helper.make_model(g, opset_imports=opsets, producer_name="singa",
                              producer_version=__version__)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
            raise ExportError(f"exported model of @{graph.name} fails onnx.checker: {e}") from e
    return model


def _graph_proto(graph: Graph, opset: int, names: dict, taken: set, node_names: set,
                 name: str, captured: dict | None = None) -> onnx.GraphProto:
    """``graph`` as a GraphProto.  ``names``, ``taken`` and ``node_names`` are shared
    by the model's main graph and its bodies (ONNX names are unique across all of
    them).  For a region, ``captured`` maps its captured inputs to the outer names
    they stand for: a body reads outer values by name, not as inputs."""
    captured = captured or {}

    def unique(base: str) -> str:
        return fresh_name(base, taken)

    def node_name(base: str) -> str:
        return fresh_name(base, node_names)

    own_inputs = [v for v in graph.inputs if v not in captured]
    for v in own_inputs:
        names[v] = unique(v.name or f"input_{len(names)}")
    names.update(captured)
    for v in graph.params:
        names[v] = unique(v.name or "param")
    for v in graph.consts:
        names[v] = unique(v.name or "const")

    counts: dict[str, int] = {}
    op_nodes = []
    for op in graph.ops:
        k = counts.get(op.name, 0)
        counts[op.name] = k + 1
        nn = node_name(op.loc or f"{op.name}_{k}")
        schema = _schema(_REWRITES[op.name](op) if op.name in _REWRITES else op, opset)
        keep = _results_to_keep(op, schema)
        outs = schema.outputs
        for j, r in enumerate(op.results[:keep]):
            if not outs:
                role = f"out{j}"
            elif j >= len(outs) - 1 and outs[-1].option == _VARIADIC:
                role = f"{outs[-1].name}{j - len(outs) + 1}"
            else:
                role = outs[j].name
            names[r] = unique(r.name or f"{nn}.{role}")
        op_nodes.append((op, nn, keep))

    nodes = []
    for v in graph.consts:
        if v.uses:
            nodes.append(helper.make_node(
                "Constant", [], [names[v]], name=node_name(f"Constant.{names[v]}"),
                value=numpy_helper.from_array(np.asarray(v.data))))
    for op, nn, keep in op_nodes:
        node = _convert_op(op, opset, names, nn, keep)
        schema = _schema(op, opset)
        for key, body in op.regions.items():
            if key not in schema.attributes:
                continue  # a region the op implies (Gradient's): ONNX has no attribute for it
            k = int(op.attrs.get("captures", 0))
            caps = dict(zip(body.inputs[len(body.inputs) - k:],
                            (names[v] for v in op.operands[len(op.operands) - k:])))
            sub = _graph_proto(body, opset, names, taken, node_names, f"{nn}.{key}", caps)
            node.attribute.append(helper.make_attribute(key, sub))
        nodes.append(node)

    # Outputs: unique names, each produced by a node (ONNX tools expect that).
    out_names, outputs = set(), []
    for i, v in enumerate(graph.outputs):
        n = names[v]
        if v.kind != "op" or n in out_names:
            alias = unique(f"output_{i}")
            nodes.append(helper.make_node("Identity", [n], [alias],
                                          name=node_name(f"Identity.output_{i}")))
            n = alias
        out_names.add(n)
        outputs.append(_value_info(n, v.type))

    initializers = [numpy_helper.from_array(np.asarray(v.data), names[v]) for v in graph.params
                    if v.uses]
    value_info = [_value_info(names[r], r.type) for op, _, keep in op_nodes
                  for r in op.results[:keep] if r.type is not None and names[r] not in out_names]
    return helper.make_graph(nodes, name, [_value_info(names[v], v.type) for v in own_inputs],
                             outputs, initializer=initializers, value_info=value_info)


def _per_channel_slopes_reshaped(graph: Graph) -> Graph:
    """A copy where each PRelu of the opset-6 form (a slope of shape [C] along axis
    1, ``_channel_slope``) reads its slope reshaped to [C, 1, ...]: the form every
    later opset broadcasts the same way."""
    from types import MappingProxyType

    g = graph.clone()
    for body, op, _ in list(walk(g)):
        if not op.attrs.get("_channel_slope"):
            continue
        x, slope = op.operands[0], op.operands[1]
        rank = None if x.type is None or x.type.shape is None else len(x.type.shape)
        if rank is None:
            raise ExportError(f"{_where(op)}: the rank of its input is unknown; its "
                              f"per-channel slope cannot be written for opset 7+")
        if rank > 2 and slope.type is not None and slope.type.shape is not None \
                and len(slope.type.shape) == 1:
            c = slope.type.shape[0]
            shape = body.add_const(np.array([-1] + [1] * (rank - 2), np.int64))
            reshaped = body.add_op("Reshape", [slope, shape],
                                   [TensorType(slope.type.dtype, (c,) + (1,) * (rank - 2))],
                                   loc=f"{op.loc}.slope" if op.loc else "", before=op)
            op.set_operand(1, reshaped.results[0])
        op.attrs = MappingProxyType({k: v for k, v in op.attrs.items() if k != "_channel_slope"})
    return g


def _typed(graph: Graph) -> Graph:
    """A copy of ``graph`` with every result typed (shape inference)."""
    from ..passes.infer_shapes import InferShapes

    g = graph.clone()
    InferShapes().run(g)
    missing = [f"{op.name} ({op.loc})" for op in g.ops for r in op.results if r.type is None]
    if missing:
        raise ExportError(f"cannot type the results of {', '.join(missing[:10])}")
    return g


def to_onnx(inputs, outputs, model_name: str = "sonnx",
            opset: int | None = None) -> onnx.ModelProto:
    """SINGA's ``sonnx.to_onnx``: trace ``outputs`` back to ``inputs`` and export.

    ``inputs`` and ``outputs`` are lists of Tensors (several outputs allowed);
    the tensors with ``stores_grad`` met on the way become initializers.
    """
    from ..frontends.trace import trace

    return export_graph(trace(inputs, outputs, name=model_name), opset=opset,
                        model_name=model_name)
