"""``singa.compile``: an ONNX model through the whole pipeline, every stage inspectable.

::

    cm = singa.compile("model.onnx")
    print(cm.ir)       # the optimised IR (symbolic dims unless input_shapes given)
    print(cm.plan)     # the execution plan
    cm.dump("out/")    # 00-input.ir, NN-<pass>.ir after each pass, plan.txt
    y, = cm.run([x])   # as SingaRep.run: any batch size, tensor_map, last_layers

Unlike ``sonnx.prepare``, compile lets passes fold float weights (BatchNorm into
Conv); weights changed through ``tensor_map`` are still noticed and re-folded.
"""

from __future__ import annotations

import os

from .errors import IRError
from .ir.printer import print_graph
from .sonnx import SingaRep, _device_of

__all__ = ["compile", "CompiledModel", "PASSES", "resolve_passes"]


def _pass_table(fold_params: bool) -> dict:
    from . import passes as P

    table = {
        "infer_shapes": P.InferShapes,
        "fold_constants": lambda: P.FoldConstants(fold_params=fold_params),
        "eliminate_dead_code": P.EliminateDeadCode,
        "dce": P.EliminateDeadCode,
        "fold_batchnorm": P.FoldBatchNorm,
        "bool_to_int32": P.BoolToInt32,
        "lower_conv": P.LowerConv,
        "lower_batchnorm": P.LowerBatchNorm,
        "strength_reduce": P.StrengthReduce,
        "drop_identities": P.DropIdentities,
        "plan_memory": P.PlanMemory,
    }
    try:
        from .passes.fuse import Fuse

        table["fuse"] = Fuse
    except ImportError:
        pass
    return table


#: Pass names ``compile(passes=[...])`` accepts.
PASSES = ("infer_shapes", "fold_constants", "strength_reduce", "drop_identities",
          "eliminate_dead_code",
          "fold_batchnorm",
          "lower_conv", "lower_batchnorm", "bool_to_int32", "fuse", "plan_memory")


def resolve_passes(passes, fold_params: bool = True):
    """A factory of fresh pass objects from names and/or Pass objects.

    Types are inferred first whatever the list says (every later stage reads
    them); ``truncate`` is not a pass name here: use ``last_layers``.
    """
    if passes is None:
        return None
    table = _pass_table(fold_params)
    items = [passes] if isinstance(passes, str) else list(passes)
    for p in items:
        if isinstance(p, str) and p not in table:
            raise IRError(f"unknown pass {p!r}; known: {', '.join(sorted(table))} "
                          f"(cut layers with last_layers=)")

    def build():
        from .passes import InferShapes

        out = [table[p]() if isinstance(p, str) else p for p in items]
        if not out or not isinstance(out[0], InferShapes):
            out.insert(0, InferShapes())
        return out

    return build


class CompiledModel(SingaRep):
    """A model compiled once for inspection (``ir``, ``plan``, ``dump``) and runnable.

    ``run`` behaves as :meth:`SingaRep.run`; its ``last_layers`` defaults to the
    one given to :func:`compile`.
    """

    def __init__(self, graph, device=None, passes=None, last_layers=None, input_shapes=None,
                 target=None):
        factory = resolve_passes(passes)
        super().__init__(graph, device, fold_params=True, passes=factory, target=target)
        self.last_layers = last_layers
        self.input_shapes = dict(input_shapes or {})
        self._build()

    def _shapes(self):
        shapes = []
        for v in self.graph.inputs:
            if v.name in self.input_shapes:
                shapes.append(tuple(int(d) for d in self.input_shapes[v.name]))
            else:
                shapes.append(getattr(v.type, "shape", None))
        unknown = set(self.input_shapes) - {v.name for v in self.graph.inputs}
        if unknown:
            raise IRError(f"input_shapes names {sorted(unknown)}, the model's inputs are "
                          f"{self.input_names}")
        return shapes

    def _build(self, dump_dir=None):
        from .codegen.cpu import lower

        g, live, _, timings = self._executor.specialise(
            self._shapes(), last_layers=self.last_layers,
            params={n: t.data for n, t in self.tensor_map.items()}, dump_dir=dump_dir)
        self.optimized = g
        self.timings = timings
        self._plan = lower(g, self.device, live, target=self._executor.target)
        return self._plan

    @property
    def ir(self) -> str:
        """The optimised IR as text."""
        return print_graph(self.optimized)

    @property
    def plan(self) -> str:
        """The execution plan as text."""
        return str(self._plan)

    @property
    def input_ir(self) -> str:
        """The IR as imported, before any pass."""
        return print_graph(self.graph)

    def dump(self, folder) -> list[str]:
        """Write ``00-input.ir``, ``NN-<pass>.ir`` after each pass and ``plan.txt``
        into ``folder`` (created if needed); returns the paths written."""
        folder = os.fspath(folder)
        os.makedirs(folder, exist_ok=True)
        plan = self._build(dump_dir=folder)
        with open(os.path.join(folder, "plan.txt"), "w", encoding="utf-8") as f:
            f.write(str(plan))
        return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                      if n.endswith(".ir") or n == "plan.txt")

    def run(self, inputs, last_layers="default", all_outputs: bool = False, **kwargs):
        if last_layers == "default":
            last_layers = self.last_layers
        return super().run(inputs, last_layers=last_layers, all_outputs=all_outputs, **kwargs)

    def __repr__(self):
        return (f"<CompiledModel @{self.graph.name} on {self.device}: {len(self.graph.ops)} ops "
                f"-> {len(self.optimized.ops)} after passes>")


def compile(model_or_path, device=None, passes=None, last_layers=None, input_shapes=None,
            base_dir=None, target=None) -> CompiledModel:
    """Import and compile an ONNX model (ModelProto, path or bytes).

    ``passes``: pass names (see :data:`PASSES`) or Pass objects replacing the
    default pipeline; ``last_layers``: cut as in ``SingaRep.run``;
    ``input_shapes``: {input name: shape} to specialise ``ir``/``plan`` on
    (otherwise they keep the model's symbolic dims); ``target``: 'numpy', 'c' or
    'cuda' (see :mod:`singa.codegen.target`).
    """
    from .frontends.onnx_import import import_model

    graph = import_model(model_or_path, base_dir=base_dir)
    return CompiledModel(graph, _device_of(device if device is not None else "CPU"), passes,
                         last_layers, input_shapes, target)
