"""Kernels the plans emit for a model, gathered without compiling them."""

from __future__ import annotations

from singa.codegen.kernels import kernel_for
from singa.runtime.executor import Executor


def plan_kernels(graph, shapes) -> list:
    """Every Kernel the 'c'/'cuda' pipeline renders for ``graph`` at input ``shapes``."""
    ex = Executor(graph, target="c")
    g, _, _, _ = ex.specialise(shapes)
    out = []
    for op in g.ops:
        k = kernel_for(op, lambda v: v.data if v.kind in ("const", "param") else None)
        if k is not None:
            out.append(k)
    return out
