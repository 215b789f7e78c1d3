"""The Pass interface, the PassManager and the standard pipeline."""

from __future__ import annotations

import os
import time

from ..errors import IRError
from ..ir.graph import Graph
from ..ir.printer import print_graph
from ..ir.verifier import verify as verify_graph


class Pass:
    """A graph rewrite: ``run(graph)`` edits the graph in place, returns whether it changed."""

    name = "pass"

    def run(self, graph: Graph) -> bool:
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


class OpRewrite(Pass):
    """A pass that offers each op named ``op_name`` (in order, over a snapshot of
    the op list) to ``rewrite(graph, op)``, which returns whether it replaced it."""

    op_name = ""

    def run(self, graph: Graph) -> bool:
        changed = False
        for op in list(graph.ops):
            if op.name == self.op_name and self.rewrite(graph, op):
                changed = True
        return changed

    def rewrite(self, graph: Graph, op) -> bool:
        raise NotImplementedError


class PassManager:
    """Runs passes in order, verifying after each and optionally dumping the IR.

    With ``dump_dir`` it writes ``00-input.ir`` and then ``NN-<pass>.ir`` after
    pass NN (also when the pass or the verifier fails, so the broken IR can be
    read).  ``timings`` holds ``(pass name, seconds)`` of the last run.
    """

    def __init__(self, passes, verify: bool = True, dump_dir: str | os.PathLike | None = None):
        self.passes = list(passes)
        self.verify = verify
        self.dump_dir = dump_dir
        self.timings: list[tuple[str, float]] = []

    def _dump(self, graph: Graph, fname: str) -> None:
        if self.dump_dir is None:
            return
        os.makedirs(self.dump_dir, exist_ok=True)
        with open(os.path.join(self.dump_dir, fname), "w", encoding="utf-8") as f:
            f.write(print_graph(graph))

    def run(self, graph: Graph) -> bool:
        """Run every pass on ``graph``; True when any of them changed it."""
        self.timings = []
        self._dump(graph, "00-input.ir")
        changed = False
        for k, p in enumerate(self.passes, 1):
            fname = f"{k:02d}-{p.name}.ir"
            t0 = time.perf_counter()
            try:
                changed |= bool(p.run(graph))
            except Exception:
                self.timings.append((p.name, time.perf_counter() - t0))
                self._dump(graph, fname)
                raise
            self.timings.append((p.name, time.perf_counter() - t0))
            self._dump(graph, fname)
            if self.verify:
                try:
                    verify_graph(graph)
                except IRError as e:
                    raise IRError(f"after pass {p.name}: {e}") from None
        return changed

    def __repr__(self):
        return f"<PassManager {[p.name for p in self.passes]}>"


def default_pipeline(last_layers: int | None = None, training: bool = False, *,
                     bool_to_int32: bool = False, bind: dict | None = None,
                     fuse: bool = False, plan_memory: bool = False, verify: bool = True,
                     dump_dir=None) -> PassManager:
    """The standard pipeline.

    infer_shapes(bind) -> truncate(last_layers) if given -> fold_constants ->
    fold_batchnorm (inference only) -> bool_to_int32 (when asked) ->
    eliminate_dead_code -> fuse (when asked) -> infer_shapes -> plan_memory (when
    asked).  Truncation runs before any folding so that ``last_layers`` counts
    the model's own ops; dead code goes after the rewrites, which leave replaced
    weights and constants behind.
    """
    from .bool_to_int32 import BoolToInt32
    from .eliminate_dead_code import EliminateDeadCode
    from .fold_batchnorm import FoldBatchNorm
    from .fold_constants import FoldConstants
    from .infer_shapes import InferShapes
    from .plan_memory import PlanMemory
    from .truncate import Truncate

    passes: list[Pass] = [InferShapes(bind)]
    if last_layers is not None:
        passes.append(Truncate(last_layers))
    passes.append(FoldConstants())
    if not training:
        passes.append(FoldBatchNorm())
    if bool_to_int32:
        passes.append(BoolToInt32())
    # after the rewrites, which leave replaced weights and constants behind
    passes.append(EliminateDeadCode())
    if fuse:
        from .fuse import Fuse

        passes.append(Fuse())
    passes.append(InferShapes())
    if plan_memory:
        passes.append(PlanMemory())
    return PassManager(passes, verify=verify, dump_dir=dump_dir)
