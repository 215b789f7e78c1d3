"""Lower a specialised graph into an :class:`ExecutionPlan` of op-table steps.

Each op becomes one step calling ``OPS[op].compute`` with its attributes
completed once, here; constants (and weights the caller does not update) are
put on the device once; liveness says after which step each temporary can be
dropped.  The steps are written against ``device.xp``, so the same plan runs
with NumPy on the CPU and with CuPy on a GPU (op by op there; fused CUDA
kernels would replace groups of steps).
"""

from __future__ import annotations

from ..errors import IRError
from ..ir.graph import Graph, Value
from .plan import Buffer, ExecutionPlan, Step


def lower(graph: Graph, device, live_params=(), collect_all: bool = False) -> ExecutionPlan:
    """The plan of ``graph`` on ``device``.

    ``live_params``: names of params read from the caller on every run; other
    params are bound once like constants.  ``collect_all`` keeps every op
    result until the end and lists them in ``plan.collect`` (for
    ``run(..., all_outputs=True)``).
    """
    from ..ops import OPS

    live_params = set(live_params)
    plan = ExecutionPlan(graph.name, device)
    ids: dict[Value, int] = {}
    memory = getattr(graph, "memory_plan", None)

    def add(v: Value, kind: str, data=None) -> int:
        b = Buffer(len(plan.buffers), v.name, kind, v.type, data=data)
        if memory is not None and v in memory:
            b.slot = memory[v]
        plan.buffers.append(b)
        ids[v] = b.id
        return b.id

    for v in graph.inputs:
        plan.inputs.append(add(v, "input"))
    for v in graph.params:
        if v.name in live_params:
            plan.live_params[add(v, "param")] = v.name
        else:
            add(v, "const", device.put(v.data))
    for v in graph.consts:
        add(v, "const", device.put(v.data))

    outputs = set(graph.outputs)
    last_use: dict[int, int] = {}
    for k, op in enumerate(graph.ops):
        opdef = OPS.get(op.name)
        if opdef is None:
            raise IRError(f"{op.name} ({op.loc}): not in the op table")
        ins = []
        for v in op.operands:
            if v is None:
                ins.append(None)
                continue
            if v not in ids:
                raise IRError(f"{op.name} ({op.loc}): operand %{v.name} is used before "
                              f"it is defined")
            ins.append(ids[v])
            last_use[ids[v]] = k
        attrs = opdef.attrs(op.attrs)
        if opdef.num_outputs != 1 and "_num_outputs" not in attrs:
            attrs["_num_outputs"] = len(op.results)
        outs = []
        for r in op.results:
            keep = bool(r.uses) or collect_all or r in outputs
            outs.append(add(r, "temp") if keep else None)
            if keep and collect_all and r.name:
                plan.collect.append((r.name, ids[r]))
        plan.steps.append(Step(k, op.name, op.loc, opdef.compute, attrs, tuple(ins),
                               tuple(outs)))
    for v in graph.outputs:
        if v not in ids:
            raise IRError(f"graph output %{v.name} is not defined")
        plan.outputs.append(ids[v])

    if not collect_all:
        # A temp dies after its last reader; one never read (an op's unused result
        # that is still kept) dies at its producer. Graph outputs live to the end.
        keep = set(plan.outputs)
        frees: dict[int, list[int]] = {}
        for s in plan.steps:
            for b in s.outputs:
                if b is not None and b not in keep:
                    frees.setdefault(last_use.get(b, s.index), []).append(b)
        for b, k in last_use.items():
            if plan.buffers[b].kind == "input" and b not in keep:
                frees.setdefault(k, []).append(b)
        for s in plan.steps:
            s.frees = tuple(sorted(set(frees.get(s.index, ()))))
    if memory is not None:
        plan.peak_bytes = memory.peak_bytes
        plan.naive_bytes = memory.naive_bytes
    return plan
