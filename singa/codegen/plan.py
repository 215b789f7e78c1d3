"""The execution plan: what the runtime runs, with a text form for debugging.

A plan is a flat list of :class:`Step` over numbered :class:`Buffer` s:

- ``input`` buffers are filled from the caller's arrays on each run;
- ``param`` buffers named in ``live_params`` are read from the caller's weights
  on each run (SINGA trains ``tensor_map`` in place, so they are never copied);
- ``const`` buffers hold arrays bound once when the plan is built (constants,
  folded values, weights a pass rewrote such as BatchNorm folded into a Conv);
- ``temp`` buffers are produced by steps; ``slot`` is the reuse slot
  ``plan_memory`` gave the value, and each step lists the buffers whose last
  use it is (``frees``) so the runtime drops them early.

Each step calls one op of the table (``compute(xp, args, attrs)`` with attrs
completed once, at build time).  ``print(plan)`` shows all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..ir.printer import format_attrs, format_type
from ..ir.types import TensorType


def nbytes(t) -> int:
    """Bytes of a static TensorType (0 for None or a symbolic shape)."""
    if t is None or not t.is_static:
        return 0
    n = t.dtype.np.itemsize
    for d in t.shape:
        n *= d
    return n


@dataclass
class Buffer:
    """One array the plan reads or writes."""

    id: int
    name: str
    kind: str  # 'input' | 'param' | 'const' | 'temp'
    type: TensorType | None
    slot: int | None = None
    data: object = None  # the bound array of a const buffer

    def __str__(self):
        extra = f" slot {self.slot}" if self.slot is not None else ""
        name = self.name or "-"
        return f"b{self.id} {self.kind:<5} {format_type(self.type):<20} %{name}{extra}"


@dataclass
class Step:
    """One op call: ``outputs = compute(xp, [buffers[i] for i in inputs], attrs)``."""

    index: int
    op: str
    loc: str
    compute: Callable
    attrs: dict
    inputs: tuple  # buffer ids, None for an absent optional operand
    outputs: tuple  # buffer ids of the results the graph keeps (None: unused result)
    frees: tuple = ()  # buffer ids whose last use is this step
    # in-place epilogues fused after the op (see codegen.cpu): (op, loc, operand
    # position of the running result, buffer ids of its other operands) each;
    # their operands follow the op's own in ``inputs``
    epilogue: tuple = ()
    kernel: object = None  # the generated Kernel this step launches (targets c, cuda)
    into: bool = False  # a library call writing a result the arena holds (targets c, cuda)

    def where(self) -> str:
        return f"{self.op} ({self.loc})" if self.loc else self.op

    def __str__(self):
        n = len(self.inputs) - sum(len(e[3]) for e in self.epilogue)
        ins = ", ".join("_" if i is None else f"b{i}" for i in self.inputs[:n])
        outs = ", ".join("_" if i is None else f"b{i}" for i in self.outputs)
        shown = {k: v for k, v in self.attrs.items() if not k.startswith("_")}
        try:
            attrs = format_attrs(shown)
        except Exception:  # an attribute the IR printer does not know (never fatal here)
            attrs = " {" + ", ".join(sorted(shown)) + "}"
        head = self.op.split("+")[0] if self.epilogue else self.op
        if self.kernel is not None:
            ins = ", ".join(f"b{self.inputs[p]}" for p in self.kernel.inputs)
            head, attrs = f"launch {self.kernel.name}", f"  [{self.kernel.group}]"
        line = f"s{self.index}: {outs} = {head}({ins}){attrs}"
        for op, _, pos, extra in self.epilogue:
            args = ["_" if i is None else f"b{i}" for i in extra]
            args.insert(pos, "^")
            line += f" -> {op}({', '.join(args)}) in place"
        if self.frees:
            line += "  free " + ",".join(f"b{i}" for i in self.frees)
        if self.loc:
            line += f"  # {self.loc}"
        return line


@dataclass
class ExecutionPlan:
    """Buffers, steps, and which buffers are the inputs, outputs and live weights."""

    name: str
    device: object
    buffers: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # buffer ids, in graph-input order
    outputs: list = field(default_factory=list)  # buffer ids, in graph-output order
    live_params: dict = field(default_factory=dict)  # buffer id -> weight name
    collect: list = field(default_factory=list)  # (name, buffer id) of every op result, in order
    kernels: list = field(default_factory=list)  # the generated Kernels, once each
    target: str = "numpy"
    peak_bytes: int | None = None  # temps' slot total from plan_memory
    naive_bytes: int | None = None
    # targets c, cuda (see codegen.arena): where kernel steps write, and the
    # step ranges replayed as recorded calls / CUDA graphs
    places: dict = field(default_factory=dict)
    arena_bytes: int = 0
    segments: list = field(default_factory=list)
    pool: object = None

    def buffer_of(self, name: str) -> Buffer:
        """The buffer holding value ``name`` (KeyError when none)."""
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def __str__(self):
        lines = [f"plan @{self.name} on {self.device}: {len(self.buffers)} buffers, "
                 f"{len(self.steps)} steps"]
        if self.peak_bytes is not None:
            lines.append(f"  temps: {self.peak_bytes} bytes in slots "
                         f"({self.naive_bytes} without reuse)")
        lines.append("buffers:")
        lines += [f"  {b}" for b in self.buffers]
        lines.append("steps:")
        lines += [f"  {s}" for s in self.steps]
        lines.append("inputs: " + ", ".join(f"b{i}" for i in self.inputs))
        lines.append("outputs: " + ", ".join(f"b{i}" for i in self.outputs))
        if self.kernels:
            lines.append(f"kernels ({self.target}): " + ", ".join(k.name for k in self.kernels))
            lines.append(f"arena: {self.arena_bytes} bytes for {len(self.places)} kernel "
                         f"results; replayed segments: "
                         + (", ".join(f"s{a}-s{b - 1}" for a, b in self.segments) or "none"))
        t = self.traffic()
        lines.append(f"per run: {t['steps']} steps, {t['launches']} launches "
                     f"({t['kernel_launches']} generated kernels), {t['bytes']} bytes moved; "
                     f"op by op: {t['op_by_op_launches']} launches, {t['op_by_op_bytes']} bytes")
        return "\n".join(lines) + "\n"

    def traffic(self) -> dict:
        """Per run: steps, launches (steps that are not views: generated kernels,
        library calls, NumPy ops) and bytes read plus written, for this plan and
        for the same graph run one op per launch (fused groups and epilogues
        taken apart), so the effect of fusion is a number.  Views (Reshape,
        Flatten, ...) move no bytes and launch nothing."""
        from ..ops import fused
        from .cpu import VIEW_OPS

        size = {b.id: nbytes(b.type) for b in self.buffers}
        launches = moved = op_launches = op_moved = 0
        for s in self.steps:
            if s.op in VIEW_OPS:
                continue
            launches += 1
            own = sum(size[i] for i in s.inputs if i is not None)
            own += sum(size[o] for o in s.outputs if o is not None)
            moved += own
            if s.op == "FusedElementwise" and s.inputs and all(
                    i is not None and self.buffers[i].type is not None for i in s.inputs):
                types = fused.body_types([self.buffers[i].type for i in s.inputs], s.attrs)
                for refs, t in zip(s.attrs["body_args"], types[len(s.inputs):]):
                    op_launches += 1
                    op_moved += nbytes(t) + sum(nbytes(types[r]) for r in refs if r >= 0)
            else:
                op_launches += 1 + len(s.epilogue)
                out = sum(size[o] for o in s.outputs if o is not None)
                op_moved += own + sum(2 * out + sum(size[i] for i in e[3] if i is not None)
                                      for e in s.epilogue)
        return {"steps": len(self.steps), "launches": launches,
                "kernel_launches": sum(s.kernel is not None for s in self.steps),
                "bytes": moved, "op_by_op_launches": op_launches, "op_by_op_bytes": op_moved}

    def sources(self, dialect: str | None = None) -> dict:
        """File name -> source of every generated kernel in ``dialect`` ('c' or
        'cuda'; default: the plan's target), each file standing alone."""
        from .dialect import DIALECTS
        from .render import module

        d = DIALECTS[dialect or self.target]
        return {k.name + d.suffix: module([k], d)[0] for k in self.kernels}
