"""Autograd tape -> IR :class:`~singa.ir.graph.Graph` (what ``sonnx.to_onnx`` exports).

``autograd.apply`` records every op in a :class:`~singa.autograd.Node` linked
from its output Tensors (``Tensor.creator``, ``Tensor._out_index``).  :func:`trace`
walks that tape back from the requested outputs and stops at the requested
inputs; what it meets becomes:

- the given input Tensors -> graph inputs, named by ``Tensor.name`` or
  ``input_<i>``.  Their shapes stay **static, as traced** (batch dimension
  included).  A symbolic batch dim would be wrong for traced graphs anyway:
  constants such as a Reshape target shape were computed for the traced batch.
  Batch size is not frozen in practice: singa's importer re-specialises the plan
  on the shapes it is run with, as SINGA users expect (no ``update_batch_size``);
  other runtimes (onnxruntime) run the exported model at the traced batch size.
- leaf Tensors with ``stores_grad`` (weights), and the running mean/variance
  operands of BatchNormalization -> params (ONNX initializers), named by
  ``Tensor.name`` when set, else ``<Op>_<k>.<role>`` where ``<Op>_<k>`` is the
  k-th op of that type in graph order and ``<role>`` the ONNX schema's input name
  (``Conv_0.W``, ``MatMul_1.B``, ``BatchNormalization_0.input_mean``).  Values are
  snapshots of the Tensors' current data, so weights updated after the forward
  pass (the guide exports after its last SGD step) are exported as they are now.
- every other leaf (Reshape shapes, Dropout ratios, lifted Python scalars, data
  tensors not listed as inputs) -> consts (exported as ONNX Constant nodes).
- tape nodes -> ops, in a deterministic topological order (depth-first from the
  outputs, operands in order), ``loc`` = the node's name if ``apply`` got one,
  else ``<Op>_<k>``.

Training-mode artefacts are normalised so the exported model is an inference
model whatever ``autograd.training`` was while tracing: BatchNormalization gets
``training_mode=0`` and one result (its running statistics are params), and
Dropout loses its ``training_mode`` operand (ONNX default: inference).  Runtimes
that train an imported model pick the mode themselves
(:mod:`singa.runtime.autograd_runner`).

Internal attributes (names starting with ``_``) are dropped, except
``_num_outputs`` of ops whose output count varies (Split), which the op table
needs; the exporter strips it.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import ExportError
from ..ir.graph import Graph, Value, fresh_name
from ..ir.types import TensorType
from ..tensor import Tensor, to_numpy

__all__ = ["trace", "onnx_standard"]

#: Operand positions of an op that hold state rather than trainable weights but
#: are still named params (ONNX initializers), so importers can update them.
_STATE_OPERANDS = {"BatchNormalization": (3, 4)}

#: Internal attributes the op table needs to run the op (kept in the IR).
_KEPT_INTERNAL = ("_num_outputs", "_channel_slope")  # legacy forms the op reads (PRelu-6)


def onnx_standard(op_name: str) -> bool:
    """Whether ``op_name`` is an ONNX operator (of the default domain, or of the
    domain its table entry names, such as ``ai.onnx.ml``)."""
    from .onnx_import import singa_only

    return not singa_only(op_name)


def _describe(t: Tensor) -> str:
    from ..ir.printer import format_type
    return format_type(TensorType.of(t.data)) if t.data is not None else "?"


def _walk(outputs, input_ids):
    """Tape nodes reachable from ``outputs`` (not through inputs), in topological order.

    Iterative depth-first post-order over operands in order, so deep models do
    not hit Python's recursion limit and the order is reproducible.
    """
    order, state = [], {}  # id(node) -> 1 visiting, 2 done
    for out in outputs:
        if id(out) in input_ids or out.creator is None:
            continue
        stack = [(out.creator, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if state.get(id(node)) == 2:
                    continue
                state[id(node)] = 1
            operands = node.inputs
            while i < len(operands):
                t = operands[i]
                i += 1
                if t is None or id(t) in input_ids or t.creator is None:
                    continue
                if state.get(id(t.creator)) is None:
                    stack.append((node, i))
                    stack.append((t.creator, 0))
                    break
            else:
                state[id(node)] = 2
                order.append(node)
    return order


def _dependencies(out: Tensor, input_ids) -> tuple[bool, list[Tensor]]:
    """(reaches a given input, the leaves it depends on) for one output."""
    leaves, seen, stack, reached = [], set(), [out], False
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if id(t) in input_ids:
            reached = True
        elif t.creator is None:
            leaves.append(t)
        else:
            stack.extend(x for x in t.creator.inputs if x is not None)
    return reached, leaves


def _leaf_summary(leaves, limit=6) -> str:
    parts = []
    for t in leaves[:limit]:
        kind = "weight" if t.stores_grad else "tensor"
        parts.append(f"{kind} {t.name + ' ' if t.name else ''}{_describe(t)}")
    more = f" and {len(leaves) - limit} more" if len(leaves) > limit else ""
    return ", ".join(parts) + more if parts else "nothing (a constant)"


def _roles(op_name: str) -> list[str]:
    """ONNX schema input names of ``op_name`` (the last one repeats if variadic)."""
    try:
        return [p.name for p in onnx.defs.get_schema(op_name).inputs]
    except Exception:  # not an ONNX op: positional roles
        return []


def _role(roles, i):
    if i < len(roles):
        return roles[i]
    return f"{roles[-1]}{i - len(roles) + 1}" if roles else f"in{i}"


def _clean_attrs(node) -> dict:
    out = {}
    for k, v in node.attrs.items():
        if v is None or (k.startswith("_") and k not in _KEPT_INTERNAL):
            continue
        if k == "_num_outputs" and node.opdef.num_outputs is not None:
            continue
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def trace(inputs, outputs, name: str = "sonnx", onnx_only: bool = True,
          training: bool = False, origins: dict | None = None) -> Graph:
    """The IR graph computing ``outputs`` (Tensors) from ``inputs`` (Tensors).

    Raises :class:`~singa.errors.ExportError` when an output does not depend on
    any of the inputs through the tape, or (with ``onnx_only``, the default)
    when an op has no ONNX form (singa's losses: SoftmaxCrossEntropy,
    CrossEntropy) or a user-defined Operator.  See the module docstring for the mapping.

    ``training`` keeps the ops as they ran (compiled training): BatchNormalization
    keeps its batch statistics and running-statistics results, Dropout its
    ``training_mode`` operand, and every op all its results (a backward rule may
    read any of them).  ``origins``, when given, is filled with param/const name ->
    the Tensor it was taken from.
    """
    inputs, outputs = list(inputs), list(outputs)
    for what, ts in (("input", inputs), ("output", outputs)):
        for i, t in enumerate(ts):
            if not isinstance(t, Tensor):
                raise ExportError(f"{what} {i} is a {type(t).__name__}, not a singa Tensor")
    if not outputs:
        raise ExportError("trace: no outputs given")
    input_ids = {id(t): i for i, t in enumerate(inputs)}

    for k, out in enumerate(outputs):
        reached, leaves = _dependencies(out, input_ids)
        if not reached:
            label = f"output {k}" + (f" ({out.name})" if out.name else "") + f" {_describe(out)}"
            ins = ", ".join(_describe(t) for t in inputs) or "none"
            raise ExportError(
                f"{label} is not connected to the given inputs ({ins}) by the autograd tape: "
                f"it depends only on {_leaf_summary(leaves)}. Pass the tensors it was computed "
                f"from as inputs (the very Tensor objects fed to the model).")

    nodes = _walk(outputs, input_ids)

    # Loc names: the name given to apply(), else <Op>_<k> counting per op type.
    counts: dict[str, int] = {}
    locs = {}
    for node in nodes:
        op = node.opdef.name
        if onnx_only and not onnx_standard(op):
            where = f"{op} ({node.name})" if node.name else op
            raise ExportError(
                f"{where} has no ONNX form: it is a singa-only op (losses such as "
                f"SoftmaxCrossEntropy and CrossEntropy, and user-defined Operators, are not ONNX "
                f"operators); export the model's output, not the loss")
        k = counts.get(op, 0)
        counts[op] = k + 1
        locs[id(node)] = node.name or f"{op}_{k}"

    # Which results of each node are used (by later nodes or as outputs).
    used: dict[int, set] = {}
    for node in nodes:
        for t in node.inputs:
            if t is not None and t.creator is not None and id(t) not in input_ids:
                used.setdefault(id(t.creator), set()).add(t._out_index)
    for t in outputs:
        if t.creator is not None and id(t) not in input_ids:
            used.setdefault(id(t.creator), set()).add(t._out_index)

    g = Graph(name)
    env: dict[int, Value] = {}  # id(Tensor) -> Value, for inputs and leaves
    taken: set[str] = set()

    def unique(base: str) -> str:
        return fresh_name(base, taken)

    for i, t in enumerate(inputs):
        if id(t) in env:
            raise ExportError(f"input {i} is the same Tensor as input {input_ids[id(t)]}")
        env[id(t)] = g.add_input(unique(t.name or f"input_{i}"), TensorType.of(t.data))

    def leaf(t: Tensor, node, i) -> Value:
        v = env.get(id(t))
        if v is not None:
            return v
        # A snapshot: the Tensor may be trained further after export.
        arr = np.array(to_numpy(t), copy=True)  # host copy (to_numpy may alias on CPU)
        generated = f"{locs[id(node)]}.{_role(_roles(node.opdef.name), i)}"
        if t.stores_grad or i in _STATE_OPERANDS.get(node.opdef.name, ()):
            v = g.add_param(unique(t.name or generated), arr)
        else:
            v = g.add_const(arr, unique(t.name or generated))
        env[id(t)] = v
        if origins is not None:
            origins[v.name] = t
        return v

    results: dict[tuple, Value] = {}
    for node in nodes:
        op_name = node.opdef.name
        attrs = _clean_attrs(node)
        operands = []
        for i, t in enumerate(node.inputs):
            if t is None:
                operands.append(None)
            elif id(t) in env or t.creator is None:
                operands.append(leaf(t, node, i))
            else:
                operands.append(results[(id(t.creator), t._out_index)])
        nres = max(used.get(id(node), {0})) + 1
        if training:
            nres = len(node.out_arrays)
        elif op_name == "BatchNormalization" and attrs.get("training_mode") and nres == 1:
            attrs["training_mode"] = 0  # an inference model; statistics are the params
            attrs.pop("_num_outputs", None)
        if op_name == "Dropout" and len(operands) > 2 and not training:
            operands = operands[:2]  # training_mode absent: inference unless a runtime says
        if node.opdef.num_outputs is None and "_num_outputs" in attrs:
            nres = max(nres, int(attrs["_num_outputs"]))
        while operands and operands[-1] is None:
            operands.pop()
        types = [None if a is None else TensorType.of(a) for a in node.out_arrays[:nres]]
        op = g.add_op(op_name, operands, types, attrs, loc=locs[id(node)])
        for k, r in enumerate(op.results):
            results[(id(node), k)] = r

    outs = []
    for i, t in enumerate(outputs):
        if id(t) in env:
            v = env[id(t)]
        else:
            v = results[(id(t.creator), t._out_index)]
            if not v.name:
                v.name = unique(t.name or f"output_{i}")
        outs.append(v)
    g.set_outputs(outs)
    return g
