"""Eager execution of an IR graph through ``singa.autograd.apply`` (training).

The compiled plan (:mod:`singa.runtime.executor`) is for inference.  To train
an imported model, :func:`run_graph_autograd` evaluates the graph op by op with
``autograd.apply``, so the tape records every op and ``autograd.backward(loss)``
reaches the parameter Tensors -- the very objects passed in ``params``
(``SingaRep.tensor_map``'s values), which the optimiser then updates in place.

Semantics while ``autograd.training`` is True:

- BatchNormalization runs with ``training_mode=1`` (batch statistics) and writes
  the new running mean/variance into its mean/var operand Tensors in place
  (``params`` entries for an imported model), as ``autograd.BatchNorm2d`` does;
  those statistics never receive gradients, even when marked trainable;
- Dropout runs with ``training_mode`` true (it drops); with training off both
  follow inference semantics whatever the graph says;
- before running, ops that gradients must cross but that have no grad rule
  raise one :class:`~singa.errors.GradError` naming all of them.

``last_layers`` is applied with the Truncate pass on a (cached) copy of the
graph, so the cut is exactly the one the inference runtime makes.  Pass the
graph as imported (before inference rewrites such as fold_batchnorm, which
change the params).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np

from .. import autograd
from ..errors import GradError, InputError, SingaError
from ..codegen.cpu import region_runner
from ..ir.graph import Graph, Value
from ..ir.regions import infer_attrs, run_attrs
from ..ir.types import DType, TensorType
from ..tensor import Tensor

__all__ = ["run_graph_autograd", "ops_without_grad"]

# graph -> {last_layers: truncated copy}; value -> {device: const Tensor}
_TRUNCATED: "weakref.WeakKeyDictionary[Graph, dict]" = weakref.WeakKeyDictionary()
_CONSTS: "weakref.WeakKeyDictionary[Value, dict]" = weakref.WeakKeyDictionary()


def _truncated(graph: Graph, last_layers) -> Graph:
    if last_layers is None:
        return graph
    per = _TRUNCATED.setdefault(graph, {})
    g = per.get(last_layers)
    if g is None:
        from ..passes.truncate import Truncate

        g = graph.clone()
        Truncate(last_layers).run(g)
        per[last_layers] = g
    return g


def _const_tensor(v: Value, dev) -> Tensor:
    per = _CONSTS.setdefault(v, {})
    t = per.get(dev)
    if t is None:
        # A private copy: BN statistics held as consts are updated in place.
        t = Tensor(device=dev, data=np.array(v.data, copy=True), requires_grad=False)
        per[dev] = t
    return t


def _flag(dev, value: bool) -> Tensor:
    return Tensor(device=dev, data=np.asarray(bool(value)), requires_grad=False)


def _view(t: Tensor) -> Tensor:
    """A non-grad Tensor sharing ``t``'s array."""
    v = Tensor(device=t.device, data=t.data, requires_grad=False)
    v.data = t.data
    return v


def _where(op) -> str:
    return f"{op.name} ({op.loc})" if op.loc else op.name


def _type_of(t: Tensor) -> TensorType:
    return TensorType(DType.from_np(t.dtype), t.shape)


def _is_float(t: TensorType | None) -> bool:
    return t is None or t.dtype.is_float  # unknown: it may carry gradients


def ops_without_grad(graph: Graph, env: dict) -> list[str]:
    """Ops gradients would have to cross that lack a grad rule.

    ``env`` maps graph inputs/params/consts to the Tensors they run with.  An op
    counts when one of its float operands depends on a Tensor that needs a
    gradient (a trainable weight, or an input carrying a tape) and one of its
    float results reaches a graph output through float values.  Result types
    come from the op table's ``infer`` on the actual operand types.
    """
    from ..ops import OPS

    types: dict[Value, TensorType | None] = {}
    live: set[Value] = set()
    for v, t in env.items():
        types[v] = _type_of(t)
        if autograd._needs_grad(t) and t.dtype.kind in "fc":
            live.add(v)
    crossing = []  # (op, has a live float operand)
    for op in graph.ops:
        opdef = OPS.get(op.name)
        operand_types = [None if v is None else types.get(v) for v in op.operands]
        try:
            values = [v.data if v is not None and v.kind in ("const", "param") else None
                      for v in op.operands]
            inferred = opdef.infer(operand_types,
                                   infer_attrs(op, opdef.attrs(op.attrs), in_place=False),
                                   values)
        except Exception:  # unknown types: fall back to what the IR says
            inferred = [r.type for r in op.results]
        for r, t in zip(op.results, list(inferred) + [None] * len(op.results)):
            types[r] = t if t is not None else r.type
        fed = any(v in live and _is_float(types.get(v)) for v in op.operands if v is not None)
        if fed:
            live.update(r for r in op.results if _is_float(types[r]))
        crossing.append(fed)
    # Backwards: which live values reach an output through live values.
    reaching = {v for v in graph.outputs if v in live}
    missing = []
    for op, fed in zip(reversed(graph.ops), reversed(crossing)):
        if not fed or not any(r in reaching for r in op.results):
            continue
        if OPS[op.name].grad is None:
            missing.append(_where(op))
        reaching.update(v for v in op.operands if v is not None and v in live)
    return list(reversed(missing))


def run_graph_autograd(graph: Graph, inputs, params: dict, last_layers=None, *,
                       all_outputs: bool = False, device=None):
    """Evaluate ``graph`` on ``inputs`` through the autograd tape.

    ``inputs``: Tensors (used as given, so a tape upstream continues through
    them) or arrays (wrapped as non-grad Tensors on ``device``).  ``params`` maps
    each param's name to the Tensor to use (its gradients reach that very
    object); consts become non-trainable Tensors on the inputs' device.
    ``last_layers`` keeps ``ops[:last_layers]`` as the Truncate pass does.
    Returns the output Tensors, or with ``all_outputs`` an OrderedDict of every
    named op result (name -> Tensor) in graph order, as ``SingaRep.run`` does.
    Raises InputError for wrong inputs or missing params, GradError (training
    only) for ops without a grad rule that gradients would cross.
    """
    from .. import device as _device
    from ..ops import OPS

    g = _truncated(graph, last_layers)
    inputs = list(inputs)
    if len(inputs) != len(g.inputs):
        raise InputError(f"graph @{g.name} takes {len(g.inputs)} inputs "
                         f"({', '.join(v.name for v in g.inputs)}), got {len(inputs)}")
    if device is not None:
        dev = _device.resolve(device)
    else:
        given = [t for t in inputs if isinstance(t, Tensor)] + list(params.values())
        dev = given[0].device if given else _device.get_default_device()
    env: dict[Value, Tensor] = {}
    for v, t in zip(g.inputs, inputs):
        if t is None:
            raise InputError(f"input {v.name} is None")
        if not isinstance(t, Tensor):
            t = Tensor(device=dev, data=t, requires_grad=False, name=v.name)
        if v.type is not None:
            if DType.from_np(t.dtype) != v.type.dtype:
                raise InputError(f"input {v.name}: dtype {t.dtype}, the model takes "
                                 f"{v.type.dtype.short}")
            if v.type.shape is not None and len(v.type.shape) != t.ndim:
                raise InputError(f"input {v.name}: shape {t.shape}, the model takes rank "
                                 f"{len(v.type.shape)}")
        env[v] = t
    missing = [v.name for v in g.params if v.uses and v.name not in params]
    if missing:
        raise InputError(f"graph @{g.name}: no Tensor given for params {missing}")
    for v in g.params:
        if v.uses:
            env[v] = params[v.name]
    for v in g.consts:
        if v.uses:
            env[v] = _const_tensor(v, dev)

    training = bool(autograd.training)
    if training:
        bad = ops_without_grad(g, env)
        if bad:
            raise GradError(f"cannot train graph @{g.name}: no gradient defined for "
                            f"{', '.join(bad)}")

    for op in g.ops:
        opdef = OPS.get(op.name)
        if opdef is None:
            raise SingaError(f"{_where(op)}: not in the op table")
        xs = [None if v is None else env[v] for v in op.operands]
        # bodies run through plans of their own; no gradient crosses them (the
        # control ops have no grad rule, which ops_without_grad reports)
        attrs = run_attrs(op, dict(op.attrs), region_runner(dev, "numpy"))
        if opdef.num_outputs is None and "_num_outputs" not in attrs:
            attrs["_num_outputs"] = len(op.results)
        if op.name == "BatchNormalization":
            attrs["training_mode"] = int(training)
            if training:
                # Running statistics are state, not weights, even where the user
                # marked every tensor of tensor_map trainable (the guide's Infer):
                # non-grad views sharing the arrays, so backward yields no
                # gradient for them and the in-place update below reaches them.
                xs[3:5] = [_view(t) for t in xs[3:5]]
        elif op.name == "Dropout":
            while len(xs) < 3:
                xs.append(None)
            xs[2] = _flag(xs[0].device, training)
        if not any(isinstance(x, Tensor) for x in xs):  # e.g. a generator op
            arrays = opdef.run(dev.xp, [None] * len(xs), attrs)
            outs = [Tensor(device=dev, data=a, requires_grad=False) for a in arrays]
        else:
            outs = autograd.apply(op.name, xs, attrs, name=op.loc or None)
        if len(outs) < len(op.results):
            raise SingaError(f"{_where(op)}: computed {len(outs)} results, the graph uses "
                             f"{len(op.results)}")
        if op.name == "BatchNormalization" and training:
            for k in (3, 4):  # running statistics, in place as BatchNorm2d does
                xs[k].data[...] = outs[k - 2].data
        for r, t in zip(op.results, outs):
            env[r] = t
    if all_outputs:
        return OrderedDict((r.name, env[r]) for op in g.ops for r in op.results if r.name)
    return [env[v] for v in g.outputs]
