"""The kernel renderer: one dialect-free kernel description, written as C in any dialect.

A :class:`Kernel` is what every generated kernel is: pointer parameters (the
step's inputs it reads, then its output), one loop over ``n`` independent
work items ``i``, and the C statements of one item, with all shapes and
strides already constants.  :func:`render` wraps those statements in the
dialect's kernel signature and loop (a grid-stride loop on CUDA, an OpenMP
loop on the host), under a header naming the op group and source nodes;
:func:`module` puts several kernels behind one preamble.

The builders that make Kernels live beside this module: elementwise groups
(:mod:`.elementwise`) and the kernels that are not one plain elementwise loop
(:mod:`.templated`: reductions, softmax, normalisation, pooling, copies).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ..ir.types import DType
from .dialect import STORAGE, Dialect


@dataclass(frozen=True)
class Param:
    """One pointer parameter: its C name, element dtype, and whether the kernel writes it."""

    name: str
    dtype: DType
    output: bool = False


@dataclass
class Kernel:
    """A kernel before rendering: everything but the dialect.

    ``inputs`` maps each input Param to the position of the step operand it
    reads; ``body`` are the C statements for work item ``i`` (``long long``,
    0 <= i < n); ``shapes`` describe operands and result for the header.
    """

    base: str  # what it does, e.g. "fused_add_relu" (dtype and hash are appended)
    group: str  # the op group, e.g. "FusedElementwise[Add, Relu]"
    sources: tuple  # source node names
    params: list  # [Param], inputs first, then outputs
    inputs: list  # step operand position of each input Param
    n: int
    body: list
    shapes: list = field(default_factory=list)  # header lines, e.g. "y: f32[2,3]"
    out_shape: tuple = ()
    parallel: bool = True  # whether work items may run on several host threads
    simd: bool = False  # items are independent straight-line code: vectorise across them
    # rows of ``inner`` items: ``row_body`` (C lines of row ``i0``) runs once per row
    # where the dialect nests the loops (host), per item where it does not (CUDA);
    # ``body`` then sees ``i`` and its column ``j``
    inner: int = 0
    row_body: list = field(default_factory=list)
    inplace: int | None = None  # index of the input param the output overwrites
    name: str = ""
    # > 0: item i writes exactly y[i * item_out, (i + 1) * item_out) (an
    # elementwise epilogue may follow each item: codegen.epilogue)
    item_out: int = 0
    work: int = 0  # elements all items touch together (default n): when threads pay
    # a kernel that is not one loop over items: its whole body (C lines), with
    # ``support`` (C text the module holds once, e.g. helper functions; or a tuple
    # of such texts, each held once) before it; such kernels exist in the host
    # dialect only
    function: list = field(default_factory=list)
    support: str | tuple = ""
    host_only: bool = False

    def __post_init__(self):
        if not self.name:
            out = next((p.dtype.short for p in self.params if p.output), "")
            digest = hashlib.sha1(self.signature().encode()).hexdigest()[:8]
            self.name = f"{self.base}_{out}_{digest}"

    def signature(self) -> str:
        """What makes two kernels the same code (identical kernels are rendered once)."""
        ps = ",".join(f"{p.name}:{p.dtype.short}:{int(p.output)}" for p in self.params)
        return (f"{self.base}|{ps}|{self.n}|{self.out_shape}|{self.inplace}|{self.simd}|"
                + f"{self.inner}|" + "\n".join(self.row_body) + "|"
                + "\n".join(self.body) + "|" + "\n".join(self.function))

    @property
    def outputs(self) -> list:
        return [p for p in self.params if p.output]


def host_function(base, op, types, out, lines, note, n, support="",
                  positions=None) -> "Kernel":
    """A kernel of the host dialect only whose whole body is C ``lines`` (after
    ``support``): parameters ``a0..`` for ``types`` (the op's operands at
    ``positions``, by default all of them) and ``y`` for ``out``, a header of the
    types and ``note``, ``n`` elements of work."""
    params = [Param(f"a{i}", t.dtype) for i, t in enumerate(types)]
    params.append(Param("y", out.dtype, output=True))
    shapes = [f"a{i}: {t}" for i, t in enumerate(types)] + [f"y: {out}", note]
    sources = tuple(s for s in (op.loc or "").split(" + ") if s)
    positions = list(range(len(types))) if positions is None else list(positions)
    return Kernel(base, op.name, sources, params, positions, n, [], shapes,
                  tuple(out.shape), function=lines, support=support, host_only=True)


def snake(op_name: str) -> str:
    """``LeakyRelu`` -> ``leaky_relu``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", op_name).lower()


def render(k: Kernel, d: Dialect) -> str:
    """The kernel's source in dialect ``d`` (without the module preamble)."""
    lines = [f"// {k.name}", f"// op group: {k.group}"]
    if k.sources:
        lines.append("// source nodes: " + ", ".join(k.sources))
    lines += [f"// {s}" for s in k.shapes]
    params = []
    aliased = {k.params[k.inplace].name, "y"} if k.inplace is not None else set()
    if aliased:
        lines.append(f"// in place: y overwrites {k.params[k.inplace].name}")
    for p in k.params:
        const = "" if p.output or p.name in aliased else "const "
        restrict = "" if p.name in aliased else f" {d.restrict}"
        params.append(f"{const}{STORAGE[p.dtype]}*{restrict} {p.name}")
    lines.append(f"{d.kernel_prefix} {k.name}({', '.join(params)}) {{")
    if k.function:
        if k.host_only and d.name != "c":
            raise ValueError(f"kernel {k.name} exists in the host dialect only")
        return "\n".join(lines + [f"  {s}" for s in k.function] + ["}"]) + "\n"
    threads = d.parallel and max(k.n, k.work) >= d.parallel_min and k.parallel and k.n > 1
    if k.inner:
        rows = k.n // k.inner
        if d.row_loop:  # nested: the row's lines once, the columns vectorised
            if threads and rows > 1:
                lines.append(f"  {d.parallel}")
            lines.append(f"  {d.row_loop.format(rows=rows)} {{")
            lines += [f"    {s}" for s in k.row_body]
            lines.append(f"    {d.simd}")
            lines.append(f"    for (long long j = 0; j < {k.inner}LL; ++j) {{")
            lines.append(f"      const long long i = i0 * {k.inner}LL + j;")
            lines += [f"      {s}" for s in k.body]
            lines += ["    }", "  }", "}"]
            return "\n".join(lines) + "\n"
        # flat: every item finds its row and column
        lines.append(f"  {d.loop.format(n=k.n)} {{")
        lines.append(f"    const long long i0 = i / {k.inner}LL, j = i % {k.inner}LL;")
        lines += [f"    {s}" for s in k.row_body + k.body]
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"
    if k.simd and d.simd:
        lines.append("  " + (d.parallel_simd if threads else d.simd))
    elif threads:
        lines.append(f"  {d.parallel}")
    lines.append(f"  {d.loop.format(n=k.n)} {{")
    lines += [f"    {s}" for s in k.body]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def module(kernels, d: Dialect) -> tuple[str, list]:
    """One source file for ``kernels`` (identical ones once) and the line span of
    each kernel in it: ``[(first line, last line, kernel)]``, 1-based."""
    text = [d.preamble()]
    line = text[0].count("\n") + 1
    spans = []
    seen = set()
    for k in kernels:
        if k.name in seen:
            continue
        seen.add(k.name)
        for part in (k.support,) if isinstance(k.support, str) else k.support:
            if part and part not in seen:  # shared helpers: a span of the preamble
                seen.add(part)
                text.append(part)
                line += part.count("\n")
        src = "\n" + render(k, d)
        first = line + 1
        line += src.count("\n")
        spans.append((first, line - 1, k))
        text.append(src)
    return "".join(text), spans


def locate(spans, line: int):
    """The kernel whose span holds ``line`` and the line within its own source,
    or (None, line) for a line of the preamble."""
    for first, last, k in spans:
        if first <= line <= last:
            return k, line - first + 1
    return None, line
