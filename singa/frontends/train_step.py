"""One eager training step -> one IR graph: forward, backward and optimizer update.

``Model.compile(..., use_graph=True)`` runs the first step eagerly and records
what it did (:class:`StepRecord`): the step's input and output Tensors, the loss
handed to the optimizer, the parameters it updated and the optimizer itself.
:func:`build_step_graph` turns that into one graph:

1. the autograd tape from the inputs to the outputs and the loss, traced in
   training mode (:func:`singa.frontends.trace.trace`): weights, BatchNorm
   running statistics and optimizer states are params, read live each step;
2. the gradients of the loss w.r.t. the updated parameters, appended by the
   ``append_gradients`` pass as ``VJP`` ops;
3. per parameter, the optimizer's update rule, traced once on stand-in Tensors
   and spliced in; step-dependent hyper-parameters (learning rate, Adam's bias
   corrections) are scalar graph inputs fed every step.

The graph returns the step's outputs and loss, then every new value that must
be written back after the step (parameters, optimizer states, running
statistics): :attr:`StepGraph.writes` says where each goes.

Leaves that are neither inputs nor params (a Python scalar lifted by an op, a
mask built once) are constants of the step, as SINGA's own graph mode has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GradError
from ..ir.graph import Graph, Value, fresh_name
from ..ir.splice import splice
from ..ir.types import DType, TensorType
from ..passes.append_gradients import AppendGradients
from ..tensor import Tensor
from .step_record import StepRecord, recording  # noqa: F401 - re-exported
from .trace import trace

#: BatchNormalization operands holding running statistics -> the result with their
#: new value in training mode.
_STATE_RESULTS = {"BatchNormalization": {3: 1, 4: 2}}


@dataclass
class StepGraph:
    """The step's graph and how to feed it and use its results.

    Inputs: the step's Tensors, then one float32 scalar per name of ``hyper``.
    Outputs: ``n_results`` step results (outputs, then loss), then one per ``writes``
    entry, whose Tensor receives that output after the step.  ``tensors``: param
    name -> the Tensor read live for it.
    """

    graph: Graph
    n_results: int
    hyper: tuple
    writes: list
    tensors: dict


def _stand_in(t: Tensor, name: str) -> Tensor:
    return Tensor(device=t.device, data=t.data.copy(), requires_grad=False, name=name)


def build_step_graph(rec: StepRecord, lower_conv: bool = False) -> StepGraph:
    """The graph of the step ``rec`` recorded (see the module docstring).

    ``lower_conv`` (the kernel targets) rewrites convolutions as columns and a
    matrix product before differentiating, so that their backward is matrix
    products too (see :mod:`singa.passes.lower_vjp`).
    """
    if rec.loss is None:
        raise GradError("use_graph: the training step handed no loss to its optimizer")
    leaves: dict[str, Tensor] = {}
    results = list(rec.outputs) + [rec.loss]
    g = trace(rec.inputs, results, name="train_step", onnx_only=False, training=True,
              origins=leaves)
    if lower_conv:
        from ..passes import InferShapes, LowerConv

        InferShapes().run(g)
        LowerConv().run(g)
    by_id = {id(t): n for n, t in leaves.items()}
    params = {v.name: v for v in g.params}
    trained = [p for p in rec.params if by_id.get(id(p)) in params]
    names = [by_id[id(p)] for p in trained]
    grads = AppendGradients(wrt=names, loss=len(results) - 1)
    grads.run(g)

    taken = {v.name for v in g.values() if v.name}
    hyper = {k: g.add_input(fresh_name(k, taken), TensorType(DType.FLOAT, ()))
             for k in rec.hyper}
    writes: list[tuple[Tensor, Value]] = []
    for p, name in zip(trained, names):
        states = rec.states.get(id(p), {})
        bind = {"param": params[name], "grad": grads.grads[name]}
        for k, t in states.items():
            v = g.add_param(fresh_name(f"{name}.{k}", taken), np.array(t.data, copy=True))
            leaves[v.name] = t
            bind[f"state.{k}"] = v
        for k, v in hyper.items():
            bind[f"hyper.{k}"] = v if p.dtype == np.float32 else g.add_op(
                "Cast", [v], [TensorType(DType.from_np(p.dtype), ())],
                {"to": DType.from_np(p.dtype).value}).results[0]
        new = _traced_rule(rec, p, states)
        values = splice(new, g, bind, loc=f"{name}.update/")
        writes.append((p, values[0]))
        writes.extend(zip(states.values(), values[1:]))
    for op in g.ops:
        moves = _STATE_RESULTS.get(op.name)
        if moves and op.attrs.get("training_mode"):
            for i, r in moves.items():
                v = op.operands[i] if i < len(op.operands) else None
                if v is not None and v.kind == "param" and r < len(op.results):
                    writes.append((leaves[v.name], op.results[r]))

    g.set_outputs(list(g.outputs[:len(results)]) + [v for _, v in writes])
    g.drop_unused_values()
    return StepGraph(graph=g, n_results=len(results), hyper=tuple(rec.hyper),
                     writes=[(t, len(results) + i) for i, (t, _) in enumerate(writes)],
                     tensors={v.name: leaves[v.name] for v in g.params})


def _traced_rule(rec: StepRecord, p: Tensor, states: dict) -> Graph:
    """The update rule for ``p`` as a graph over inputs param, grad, state.*, hyper.*."""
    from .. import autograd

    ins = {"param": _stand_in(p, "param"), "grad": _stand_in(p, "grad")}
    st = {k: _stand_in(t, f"state.{k}") for k, t in states.items()}
    # in the parameter's dtype, as optimizers hand them to their rules
    hy = {k: Tensor(device=p.device, data=np.ones((), p.dtype), requires_grad=False,
                    name=f"hyper.{k}") for k in rec.hyper}
    saved = autograd.training
    try:
        new_p, new_states = rec.rule(ins["param"], ins["grad"], st, hy)
    finally:
        autograd.training = saved
    outs = [new_p] + [new_states[k] for k in states]
    inputs = list(ins.values()) + list(st.values()) + list(hy.values())
    return trace(inputs, outs, name="update", onnx_only=False)
