"""Compiled training: replay a traced training step as an execution plan.

:class:`CompiledStep` takes a :class:`~singa.frontends.train_step.StepGraph`,
optimises and plans it once (the same passes and code generation as inference,
minus the ones that would freeze weights: nothing folds a param, so the plan
stays valid while training changes them) and runs it: the current weights and
optimizer states are read live, the new ones written back into their Tensors in
place, so layers, ``tensor_map`` and the optimizer see them as after an eager step.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..tensor import Tensor
from .executor import Executor


def training_passes(target: str):
    """The pass list of a training-step plan on ``target``."""
    from ..passes import (BoolToInt32, EliminateDeadCode, FoldConstants, InferShapes,
                          LowerConv, PlanMemory, StrengthReduce)
    from ..passes.fuse import Fuse

    from ..passes.lower_vjp import LowerVJP

    ps = [InferShapes(), FoldConstants(), StrengthReduce(), EliminateDeadCode()]
    if target != "numpy":
        ps += [LowerConv(), LowerVJP(), FoldConstants(), EliminateDeadCode(), BoolToInt32(),
               Fuse()]
    return ps + [InferShapes(), PlanMemory()]


class CompiledStep:
    """A training step as a plan; ``run(inputs, hyper)`` does one step."""

    def __init__(self, step, device, target: str | None = None, dump_dir=None):
        self.step = step
        self.executor = Executor(step.graph, device, target=target, relax_batch=False,
                                 dump_dir=dump_dir, passes=lambda: training_passes(self.target))
        self.target = self.executor.target
        self.shapes = [tuple(v.type.shape) for v in step.graph.inputs[:self.n_inputs]]

    @property
    def n_inputs(self) -> int:
        return len(self.step.graph.inputs) - len(self.step.hyper)

    @property
    def graph(self):
        """The optimised graph of the plan (after the first run)."""
        c = next(iter(self.executor._cache.values()), None)
        return None if c is None else c.graph

    def run(self, inputs, hyper: dict) -> list[Tensor]:
        """One step on ``inputs`` (Tensors, as traced); returns the step's results."""
        dev = self.executor.device
        if len(inputs) != self.n_inputs:
            raise InputError(f"compiled step takes {self.n_inputs} tensors, got {len(inputs)}")
        arrays = [t.data if isinstance(t, Tensor) else dev.put(np.asarray(t)) for t in inputs]
        arrays += [dev.put(np.asarray(hyper[k], np.float32)) for k in self.step.hyper]
        params = {n: t.data for n, t in self.step.tensors.items()}
        outs = self.executor.run(arrays, params=params)
        for t, i in self.step.writes:
            t.data[...] = outs[i]
        return [Tensor(device=dev, data=o, requires_grad=False)
                for o in outs[:self.step.n_results]]
