"""Checks a specialised graph must pass before it becomes a plan.

- A batch other than a static declared one (SINGA users export at batch 1) runs only
  when every output keeps its declared shape, the batch dim moving along; otherwise
  the computation would silently differ (a Reshape to ``[1, -1]``).
- The memory budget (:mod:`singa.runtime.budget`): no buffer, and not the memory
  plan's peak, over the limit.
"""

from __future__ import annotations

from ..errors import InputError
from ..ir.graph import Graph
from ..ir.printer import format_type
from ..ir.types import TensorType


def within_budget(g: Graph, limit) -> None:
    """ResourceError before a plan is built whose buffers would not fit the memory
    budget: any one value, or the peak of the memory plan plus the outputs."""
    from ..passes.plan_memory import value_bytes
    from . import budget

    limit = budget.max_bytes() if limit is None else limit
    biggest, where = 0, None
    for op in g.ops:
        for r in op.results:
            n = value_bytes(r)
            if n > biggest:
                biggest, where = n, (op, r)
    if where is not None:
        op, r = where
        budget.check(biggest, f"{op.name} ({op.loc or 'unnamed'}) result "
                              f"{format_type(r.type)}", limit)
    mp = getattr(g, "memory_plan", None)
    if mp is not None:
        outs = sum(value_bytes(v) for v in set(g.outputs) if v.kind == "op")
        budget.check(mp.peak_bytes + outs, "the plan at its peak (its reused buffers "
                     "and outputs)", limit)


def relaxed_batch(graph: Graph, shapes) -> list[tuple]:
    """``(input, declared batch, given batch)`` for each input whose static leading
    dim the caller overrode (``check_inputs`` lets it through)."""
    out = []
    for v, shape in zip(graph.inputs, shapes):
        t = v.type
        if isinstance(t, TensorType) and t.shape and shape and isinstance(t.shape[0], int) \
                and t.shape[0] != shape[0]:
            out.append((v, t.shape[0], shape[0]))
    return out


def describe_relaxed(relaxed) -> str:
    """The first relaxed input, for error messages."""
    v, _, given = relaxed[0]
    return (f"input {v.name!r}: declared {format_type(v.type)}, given batch {given}"
            + (f" (and {len(relaxed) - 1} more input(s))" if len(relaxed) > 1 else ""))


def declared_outputs(graph: Graph) -> list:
    """The output types shape inference gives at the inputs' declared shapes (None
    where it cannot say), the reference a relaxed batch must keep to."""
    from ..passes import InferShapes

    g = graph.clone()
    try:
        InferShapes().run(g)
        return [v.type for v in g.outputs]
    except Exception:  # noqa: BLE001 - no reference: nothing to hold the outputs to
        return [None] * len(g.outputs)


def outputs_hold(g: Graph, relaxed, declared: list) -> None:
    """InputError unless every output keeps its declared shape, the batch dim
    moving with the relaxed inputs' (ONNX Runtime refuses such inputs outright;
    singa runs them only where the model provably computes per sample)."""
    batches = {(decl, given) for _, decl, given in relaxed}
    for v, want in zip(g.outputs, declared):
        have = v.type
        if not (isinstance(want, TensorType) and isinstance(have, TensorType)) \
                or want.shape is None or have.shape is None:
            continue
        ok = len(want.shape) == len(have.shape) and all(
            not (isinstance(w, int) and isinstance(h, int)) or w == h
            or (i == 0 and (w, h) in batches)
            for i, (w, h) in enumerate(zip(want.shape, have.shape)))
        if not ok:
            raise InputError(
                f"{describe_relaxed(relaxed)}: the model does not compute per sample at "
                f"this batch size: output {v.name!r} would be {list(have.shape)}, declared "
                f"{list(want.shape)}")
