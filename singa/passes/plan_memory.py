"""plan_memory: assign reusable buffer slots to intermediate values by liveness.

Over the ops' topological order a value produced by op ``i`` is live from ``i``
to its last use.  Walking the ops, each op first takes slots for its results
(so a result never shares a buffer with an operand of the same op: no op is
assumed to work in place), then frees the slots of values whose last use it
was.  A freed slot goes to the next result that fits it best (the smallest big
enough one, else the biggest one, which then grows), so on a chain two slots
ping-pong instead of one buffer per op.

The slots say which values may share a buffer; how many bytes the temps need
at the peak comes from placing them in one arena instead (``assign_offsets``:
biggest first, each at the lowest address clear of every value live with it),
which the kernel targets' arena uses too.  Slots that only grow waste the
difference between a big value and the small ones that later take its slot;
offsets do not, and come within a few percent of the most bytes ever live at
once.

Graph inputs, params, consts and graph outputs are not planned: they live
beyond one run.  The result is ``graph.memory_plan``, a :class:`MemoryPlan`:
a dict ``{Value: slot}`` that also carries each slot's size, each value's
offset in one arena and the totals.
Sizes count a symbolic or unknown dim as ``symbol_size`` (1 by default); plans
are meant for graphs specialised on concrete input shapes.  The plan describes
the graph as it is: a later pass that changes the graph makes it stale.
"""

from __future__ import annotations

from ..ir.graph import Graph, Value
from ..ir.types import TensorType
from .manager import Pass


class MemoryPlan(dict):
    """``{value: slot}`` plus ``slot_bytes`` (size of each slot), ``live`` (value ->
    (first op index, last op index)), ``offsets`` (value -> byte offset in one
    arena of ``peak_bytes``, see :func:`assign_offsets`) and ``naive_bytes``
    (one buffer per value)."""

    def __init__(self):
        super().__init__()
        self.slot_bytes: list[int] = []
        self.live: dict[Value, tuple[int, int]] = {}
        self.offsets: dict[Value, int] = {}
        self.peak_bytes = 0
        self.naive_bytes = 0


def value_bytes(v: Value, symbol_size: int = 1) -> int:
    """Bytes of ``v`` with symbols/unknown dims counted as ``symbol_size``."""
    if not isinstance(v.type, TensorType):  # unknown, or a sequence/optional: no buffer
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
        lives = [(plan.live[r][0], plan.live[r][1], value_bytes(r, self.symbol_size))
                 for r in order]
        slots, plan.slot_bytes = assign_slots(lives)
        plan.update(zip(order, slots))
        offsets, plan.peak_bytes = assign_offsets(lives)
        plan.offsets = dict(zip(order, offsets))
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


def assign_offsets(lives) -> tuple[list[int], int]:
    """Byte offsets in one arena for values live over ``lives`` (one (first, last,
    bytes) each, lives inclusive as in :func:`assign_slots`), such that two values
    live at the same position never overlap; returns the offsets and the arena's size.

    Greedy by size: the biggest value first, each at the lowest offset where it
    fits between the values already placed whose lives meet its own.  Big values
    settle at the bottom and small ones fill the gaps around them, so the arena
    comes close to the most bytes live at once (a slot that grew for a big value
    wastes its surplus for as long as small values hold it).  Offsets are sums of
    the given sizes: sizes rounded to an alignment give aligned offsets."""
    import numpy as np

    n = len(lives)
    offsets = [0] * n
    first = np.fromiter((f for f, _, _ in lives), np.int64, n)
    last = np.fromiter((l for _, l, _ in lives), np.int64, n)
    placed = np.zeros(n, bool)
    # offsets stay Python ints: a bomb's sizes (past 2**63) must reach the budget check
    hi = [0] * n
    total = 0
    for k in sorted(range(n), key=lambda k: (-lives[k][2], lives[k][0], k)):
        f, l, need = lives[k]
        if need <= 0:
            continue
        off = 0
        meet = np.flatnonzero((first <= l) & (last >= f) & placed).tolist()
        for j in sorted(meet, key=offsets.__getitem__):
            if offsets[j] >= off + need:
                break
            off = max(off, hi[j])
        offsets[k], hi[k] = off, off + need
        placed[k] = True
        total = max(total, off + need)
    return offsets, total
