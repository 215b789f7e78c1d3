"""plan_memory: assign reusable buffer slots to intermediate values by liveness.

Over the ops' topological order a value produced by op ``i`` is live from ``i``
to its last use.  Walking the ops, each op first takes slots for its results
(so a result never shares a buffer with an operand of the same op: no op is
assumed to work in place), then frees the slots of values whose last use it
was.  A freed slot goes to the next result that fits it best (the smallest big
enough one, else the biggest one, which then grows), so on a chain two slots
ping-pong instead of one buffer per op.

Graph inputs, params, consts and graph outputs are not planned: they live
beyond one run.  The result is ``graph.memory_plan``, a :class:`MemoryPlan`:
a dict ``{Value: slot}`` that also carries each slot's size and the totals.
Sizes count a symbolic or unknown dim as ``symbol_size`` (1 by default); plans
are meant for graphs specialised on concrete input shapes.  The plan describes
the graph as it is: a later pass that changes the graph makes it stale.
"""

from __future__ import annotations

from ..ir.graph import Graph, Value
from .manager import Pass


class MemoryPlan(dict):
    """``{value: slot}`` plus ``slot_bytes`` (size of each slot), ``live`` (value ->
    (first op index, last op index)), ``peak_bytes`` (sum of slot sizes) and
    ``naive_bytes`` (one buffer per value)."""

    def __init__(self):
        super().__init__()
        self.slot_bytes: list[int] = []
        self.live: dict[Value, tuple[int, int]] = {}
        self.naive_bytes = 0

    @property
    def peak_bytes(self) -> int:
        return sum(self.slot_bytes)


def value_bytes(v: Value, symbol_size: int = 1) -> int:
    """Bytes of ``v`` with symbols/unknown dims counted as ``symbol_size``."""
    if v.type is None:
        return 0
    item = v.type.dtype.np.itemsize
    if v.type.shape is None:
        return item * symbol_size
    n = 1
    for d in v.type.shape:
        n *= d if isinstance(d, int) else symbol_size
    return int(n * item)


class PlanMemory(Pass):
    name = "plan_memory"

    def __init__(self, symbol_size: int = 1):
        self.symbol_size = symbol_size

    def run(self, graph: Graph) -> bool:
        plan = MemoryPlan()
        index = {op: i for i, op in enumerate(graph.ops)}
        outputs = set(graph.outputs)
        for i, op in enumerate(graph.ops):
            for r in op.results:
                if r in outputs:
                    continue
                end = max([index[u] for u, _ in r.uses if u in index], default=i)
                plan.live[r] = (i, end)
        order = [r for op in graph.ops for r in op.results if r in plan.live]
        slots, plan.slot_bytes = assign_slots(
            [(plan.live[r][0], plan.live[r][1], value_bytes(r, self.symbol_size)) for r in order])
        plan.update(zip(order, slots))
        plan.naive_bytes = sum(value_bytes(r, self.symbol_size) for r in order)
        graph.memory_plan = plan
        return False


def assign_slots(lives) -> tuple[list[int], list[int]]:
    """Slots for values live over ``lives``: one (first, last, bytes) per value,
    in order of first.  At each position the values starting there take slots
    first, then those ending there free theirs, so a value never shares with one
    read where it is made.  A freed slot goes to the next value that fits it
    best (the smallest big enough one, else the biggest one, which then grows).
    Returns each value's slot and each slot's size."""
    sizes: list[int] = []
    slots: list[int] = []
    free: list[int] = []
    dies_at: dict[int, list[int]] = {}
    pos = None
    for k, (first, last, need) in enumerate(lives):
        if pos is not None and first != pos:
            for p in sorted(q for q in dies_at if q < first):
                free += dies_at.pop(p)
        pos = first
        slot = _pick(free, sizes, need)
        if slot is None:
            slot = len(sizes)
            sizes.append(need)
        else:
            free.remove(slot)
            sizes[slot] = max(sizes[slot], need)
        slots.append(slot)
        dies_at.setdefault(last, []).append(slot)
    return slots, sizes


def _pick(free: list[int], sizes: list[int], need: int):
    if not free:
        return None
    fits = [s for s in free if sizes[s] >= need]
    if fits:
        return min(fits, key=lambda s: (sizes[s], s))
    return max(free, key=lambda s: (sizes[s], -s))
