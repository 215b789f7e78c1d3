"""``Model.compile(..., use_graph=True)``: training steps replayed as compiled plans.

:class:`GraphTrainer` stands between ``Model.__call__`` and the model's
``train_one_batch``.  The first call for a given set of input shapes runs the
step eagerly while recording it (:func:`singa.frontends.train_step.recording`),
builds the step's graph (forward, backward, optimizer update) and plans it;
later calls with the same shapes run that plan and advance the optimizer's
step counter as the eager step did, so schedules and ``get_states`` agree with
eager training.  A step that cannot be compiled (no loss reached an optimizer,
two optimizers, an output not computed from the inputs, an op without a
gradient rule) keeps running eagerly, with one warning saying why.
"""

from __future__ import annotations

import warnings

from .. import device as _device
from ..codegen.target import resolve as resolve_target
from ..errors import SingaError
from ..frontends.step_record import StepRecord, recording
from ..frontends.train_step import build_step_graph
from ..tensor import Tensor
from .train_step import CompiledStep


def _tensors(args, kwargs) -> list:
    """The step's input Tensors: positional ones in order, then keyword ones by name."""
    return ([a for a in args if isinstance(a, Tensor)]
            + [v for _, v in sorted(kwargs.items()) if isinstance(v, Tensor)])


def _flatten(result, leaves):
    """``result`` with each Tensor replaced by its index in ``leaves`` (appended)."""
    if isinstance(result, Tensor):
        leaves.append(result)
        return ("T", len(leaves) - 1)
    if isinstance(result, (tuple, list)):
        return (type(result), [_flatten(r, leaves) for r in result])
    return ("K", result)


def _rebuild(shape, tensors):
    kind, body = shape
    if kind == "T":
        return tensors[body]
    if kind == "K":
        return body
    return kind(_rebuild(s, tensors) for s in body)


class _Compiled:
    __slots__ = ("step", "shape", "steps_taken", "optimizer", "states_version")

    def __init__(self, step, shape, steps_taken, optimizer):
        self.step, self.shape = step, shape
        self.steps_taken, self.optimizer = steps_taken, optimizer
        self.states_version = getattr(optimizer, "states_version", 0)

    def current(self, model) -> bool:
        """Whether the plan still reads the model's optimizer and its state Tensors."""
        opt = self.optimizer
        return (getattr(model, "optimizer", opt) is opt
                and getattr(opt, "states_version", 0) == self.states_version)


class GraphTrainer:
    """Runs ``train_one_batch`` of ``model`` as compiled steps, one per input signature."""

    def __init__(self, model, target: str | None = None):
        self.model = model
        self.target = target
        self.steps: dict = {}
        self.warned = False

    def _key(self, args, kwargs):
        def sig(a):
            if isinstance(a, Tensor):
                return ("T", a.shape, str(a.dtype), a.device)
            return ("K", repr(a))
        return (tuple(sig(a) for a in args), tuple((k, sig(v)) for k, v in sorted(kwargs.items())))

    def __call__(self, *args, **kwargs):
        key = self._key(args, kwargs)
        c = self.steps.get(key)
        if c is None or (c and not c.current(self.model)):
            return self._record(key, args, kwargs)
        if c is False:
            return self.model.train_one_batch(*args, **kwargs)
        inputs = _tensors(args, kwargs)
        results = c.step.run(inputs, c.optimizer.hyper_values())
        for _ in range(c.steps_taken):
            c.optimizer.step()
        return _rebuild(c.shape, results)

    def _record(self, key, args, kwargs):
        inputs = _tensors(args, kwargs)
        rec = StepRecord(inputs=inputs)
        with recording(rec):
            result = self.model.train_one_batch(*args, **kwargs)
        outputs: list = []
        shape = _flatten(result, outputs)
        why = None
        if rec.mixed:
            why = "the step updates parameters with two optimizers"
        elif rec.optimizer is None or rec.loss is None:
            why = "the step hands no loss to an optimizer"
        elif rec.seeded:
            why = "backward is given an explicit dy"
        if why is None:
            rec.outputs = outputs
            try:
                dev = _device.resolve(inputs[0].device if inputs else None)
                target = resolve_target(self.target, dev)
                step = CompiledStep(build_step_graph(rec, lower_conv=target != "numpy"), dev,
                                    target=target)
            except SingaError as e:
                why = f"{type(e).__name__}: {e}"
        if why is not None:
            self.steps[key] = False
            if not self.warned:
                self.warned = True
                warnings.warn(f"use_graph: this training step runs eagerly ({why})",
                              RuntimeWarning, stacklevel=3)
            return result
        taken = rec.optimizer._step - rec.step_before
        self.steps[key] = _Compiled(step, shape, taken, rec.optimizer)
        return result
