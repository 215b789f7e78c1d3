"""Where generated kernels write: one preallocated arena per plan, and the
segments of steps that replay without Python.

Arena.  Every kernel step whose result is a temporary (and every library call
that can write a given array, ``OpDef.into``: MatMul, Concat) writes into a fixed
place of one byte array instead of a new array per run: no allocation, no
page faults on large temporaries, and (on a GPU) fixed addresses, which a
CUDA graph needs.  Places come from the offset allocator of ``plan_memory``
(:func:`~singa.passes.plan_memory.assign_offsets`) run over the plan's steps,
with one difference: a NumPy step may return a view of its operand (Reshape,
Identity, Slice...), so a value's life is extended to the last use of any step
result that may alias it.  A graph output never lives in the arena; a result
that reaches the caller through a view is copied out by the runtime.

Assembled concatenations.  A Concat whose parts each lie in one contiguous
range of its result (the dims before its axis are all 1: a batch split in
chunks, as ``lower_conv`` makes for big batches) and are each made by a placed
step for this Concat alone is one block of the arena: every part is written in
its range of the result where it is made, and the Concat step only hands the
result on.  So the whole result is never held twice (once in parts, once
joined), and nothing is copied.

Arenas are taken from a per-plan pool for one run and given back after it, so
threads running one plan never share one.

Segments.  A run of consecutive kernel steps whose operands all sit at fixed
addresses (constants, the arena, the caller's weights, views of those) does the
same launches with the same pointers on every run.  Weights are passed on every
run, so a segment reading one, directly or through a view, replays only while
the caller passes the very array it was recorded with (an identity check per
weight; changes made in place are seen, since the kernels read through the
pointer) and is recorded again otherwise; with a strided weight (which the
launcher copies on every call) the segment runs step by step.  On ``cuda`` such a segment (of two kernels or
more) is captured once per arena as a CUDA graph and replayed; on ``c`` its
calls (one or more) are recorded once as (function, pointers) and replayed
without the launcher's per-call checks.  Views (Reshape...) of fixed arrays
inside a segment are made once per arena.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..passes.plan_memory import assign_offsets
from .plan import nbytes

ALIGN = 256  # bytes; enough for any vector load on either side


@dataclass(frozen=True)
class Place:
    """Where step ``step`` writes its result in the arena."""

    step: int
    offset: int
    dtype: object  # numpy dtype
    shape: tuple


def layout(plan) -> None:
    """Give ``plan`` its arena: ``plan.places`` (step index -> Place),
    ``plan.arena_bytes`` and ``plan.segments`` ((first, stop) step ranges)."""
    steps, buffers = plan.steps, plan.buffers
    forever = len(steps)
    end = {}
    for s in steps:
        for i in s.inputs:
            if i is not None:
                end[i] = s.index
    for b in plan.outputs:
        end[b] = forever
    # A result that may alias an operand keeps that operand alive as long as itself.
    for s in reversed(steps):
        aliased = _aliased_inputs(s)
        last = max((end.get(o, s.index) for o in s.outputs if o is not None), default=s.index)
        for i in aliased:
            end[i] = max(end.get(i, s.index), last)
    outputs = set(plan.outputs)
    placed = {}  # buffer id -> the step writing it in the arena
    for s in steps:
        k = s.kernel
        if len(s.outputs) != 1 or not (s.into or (k is not None and k.inplace is None)):
            continue
        o = s.outputs[0]
        if o is None or o in outputs or nbytes(buffers[o].type) == 0:
            continue
        placed[o] = s
    parts = _assembled(plan, placed, end)
    inside = {p for ps in parts.values() for p in ps}
    blocks = [o for o in placed if o not in inside]  # each part lies in its Concat's block
    starts = {o: min([placed[o].index] + [placed[p].index for p in parts.get(o, ())])
              for o in blocks}
    offsets, plan.arena_bytes = assign_offsets(
        [(starts[o], end.get(o, placed[o].index),
          -(-nbytes(buffers[o].type) // ALIGN) * ALIGN) for o in blocks])
    plan.places = {}

    def put(o, offset):
        plan.places[placed[o].index] = Place(placed[o].index, offset, buffers[o].type.dtype.np,
                                             tuple(buffers[o].type.shape))

    for o, off in zip(blocks, offsets):
        put(o, off)
        for p in parts.get(o, ()):
            put(p, off)
            off += nbytes(buffers[p].type)
    plan.segments = _segments(plan)


def _assembled(plan, placed, end) -> dict:
    """Concat steps whose parts are made in place (see the module docstring):
    result buffer -> its parts' buffers, in order.  Their steps' computes are
    replaced by :func:`_hand_on`."""
    buffers, found = plan.buffers, {}
    for o, s in placed.items():
        if s.op != "Concat" or not s.inputs or (s.kernel is not None
                                                 and s.kernel.base != "concat"):
            continue
        shape = buffers[o].type.shape
        axis = s.attrs.get("axis", 0)
        axis = axis + len(shape) if axis < 0 else axis
        ins = list(s.inputs)
        if (not 0 <= axis < len(shape) or any(d != 1 for d in shape[:axis])
                or len(set(ins)) != len(ins)
                or any(i not in placed or placed[i].op == "Concat" or end.get(i) != s.index
                       or buffers[i].type.dtype != buffers[o].type.dtype for i in ins)):
            continue
        found[o] = ins
        s.compute, s.kernel = _hand_on, None  # a copy kernel, where it had one, is not needed
    return found


def _hand_on(xp, args, attrs, out=None):
    """compute() of an assembled Concat: its parts already lie in ``out``."""
    return [out]


_hand_on.static_view = True  # fixed memory in, the same fixed memory out: part of a segment


def _aliased_inputs(step) -> list:
    """The operands ``step``'s results may be views of: the one an in-place
    kernel writes over; for a NumPy step, any (it may return views)."""
    k = step.kernel
    if k is not None:
        return [] if k.inplace is None else [step.inputs[k.inputs[k.inplace]]]
    if step.into:
        return []
    return [i for i in step.inputs if i is not None]


# kernels a segment needs to be worth recording: on the host a single recorded
# call already skips the launcher's per-call checks; a CUDA graph pays off from two
MIN_KERNELS = {"c": 1, "cuda": 2}


def _segments(plan) -> list:
    """Maximal runs (first, stop) of steps that read and write only fixed
    addresses: generated kernels, and views (Reshape...) of fixed arrays, which
    are made once per arena; each run holds at least ``MIN_KERNELS`` kernels."""
    # weights the caller passes on every run count as fixed too: a segment reading
    # one is replayed only while the caller passes that very array (see
    # plan.segment_params), and recorded again when it passes another
    params = {b.id for b in plan.buffers if b.kind == "param"}
    fixed = {b.id for b in plan.buffers if b.kind == "const"} | params
    # the weights a buffer's memory belongs to: a weight's own, and a view's (a
    # Reshape of a weight, made outside the segment that reads it)
    origin = {p: {p} for p in params}
    need = MIN_KERNELS.get(plan.target, 2)
    runs, first, kernels = [], None, 0
    plan.segment_params = {}

    def close(stop):
        if first is not None and kernels >= need:
            runs.append((first, stop))
            plan.segment_params[first] = tuple(sorted(set().union(
                *(origin.get(i, ()) for st in plan.steps[first:stop] for i in st.inputs))))

    for s in plan.steps:
        k = s.kernel
        ins_fixed = all(i is None or i in fixed for i in s.inputs)
        view = getattr(s.compute, "static_view", False) and ins_fixed
        placed = view or s.index in plan.places or (
            k is not None and k.inplace is not None and s.inputs[k.inputs[k.inplace]] in fixed)
        if placed:  # its result has a fixed address, whatever its operands
            fixed.update(o for o in s.outputs if o is not None)
        if view:
            src = set().union(*(origin.get(i, ()) for i in s.inputs))
            origin.update((o, src) for o in s.outputs if o is not None and src)
        # only generated kernels replay (a library call is not recorded)
        if placed and ins_fixed and (k is not None or view):
            first = s.index if first is None else first
            kernels += k is not None
            continue
        close(s.index)
        first, kernels = None, 0
    close(len(plan.steps))
    return runs


class Arena:
    """One arena's memory, the result view of each placed step, and the
    segments recorded over it (their replays are only valid for this memory)."""

    def __init__(self, plan, xp):
        size = max(plan.arena_bytes, 1)
        # offsets are multiples of ALIGN, which holds for addresses only from an
        # aligned base: NumPy aligns to 16 bytes (bases 32 and 48 bytes into a
        # cache line were seen), and a vector store across two lines costs two
        raw = xp.empty(size + ALIGN, dtype="uint8")
        ptr = raw.data.ptr if hasattr(raw.data, "ptr") else raw.ctypes.data
        shift = -ptr % ALIGN
        self.memory = raw[shift:shift + size]
        self.views = [None] * len(plan.steps)
        for p in plan.places.values():
            n = p.dtype.itemsize
            for d in p.shape:
                n *= d
            self.views[p.step] = self.memory[p.offset:p.offset + n].view(p.dtype).reshape(p.shape)
        self.replays: dict = {}  # segment first step -> replay
        self.bound: dict = {}  # segment first step -> ((param buffer, array recorded), ...)
        self.fixed_views: dict = {}  # step index -> its view of fixed memory (segments)
        self.settle: dict = {}  # segment first step -> what its replay leaves in the buffers
        self.stream = None  # the CUDA stream its graphs were captured on


class Pool:
    """Arenas of one plan, handed to one run at a time."""

    def __init__(self):
        self._free: list = []
        self._lock = threading.Lock()

    def take(self, plan, xp) -> Arena:
        with self._lock:
            if self._free:
                return self._free.pop()
        return Arena(plan, xp)

    def give(self, arena: Arena) -> None:
        with self._lock:
            self._free.append(arena)
