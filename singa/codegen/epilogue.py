"""Elementwise epilogues run inside a matrix product (host dialect).

After a MatMul or a convolution's product (ConvGemm) comes, in most models, an
elementwise group: the bias, an activation, a residual Add.  As a kernel of its
own that group is one more pass over the product's result, and on two cores
the worse one: its threads split the result by rows where the product's split
it by columns, so half of every thread's reads come from the other core's cache
(EfficientNet-B0's bias + SiLU passes took 0.44 ms in a plan against 0.24 ms
on their own).  Here the group runs in the product's own threads, on each block
of columns as soon as it is final, while it is in that thread's cache.

:func:`fuse` makes the one kernel: the product's C with its ``ep`` pointer set
to a ``struct singa_ep`` (see :mod:`.gemm`) whose function runs the group's
per-item body over flat positions ``[lo, hi)`` of the result, reading the
product's value from the result itself.  The group is the one the elementwise
renderer (:mod:`.elementwise`) made: the same body text, in another loop.
Kernels of work items that each write one range of the result (``item_out``:
a depthwise convolution's planes, then its ReLU6 or SiLU) call the same
function after each item, or, where the item's body marks parts of its range
final (:func:`part_done`: a plane's rows), after each part, while it is in L1.
"""

from __future__ import annotations

import hashlib
import re

from .dialect import HOST, STORAGE
from .render import Kernel, Param

NO_EPILOGUE = "const struct singa_ep *const ep = 0;"
_PART = re.compile(r"^(\s*)/\* final: y\[(.+) \.\. (.+)\) \*/$")


def part_done(lo: str, hi: str) -> str:
    """The body line of an ``item_out`` kernel saying that ``y[lo, hi)`` (C
    expressions) is final: a fused epilogue runs there, on that range, instead of
    after the item (a comment where none is fused)."""
    return f"/* final: y[{lo} .. {hi}) */"


def _function(ek: Kernel, q: int) -> tuple[str, str]:
    """(name, C text) of the function running ``ek``'s body over [lo, hi) of its
    result ``y``, input param ``q`` being the result itself (the product's value)
    and the others ``args``, in order."""
    lines = []
    k = 0
    for idx, p in enumerate(ek.params):
        if p.output:
            continue
        if idx == q:
            lines.append(f"  const {STORAGE[p.dtype]} *{p.name} = y;")
        else:
            lines.append(f"  const {STORAGE[p.dtype]} *restrict {p.name} = "
                         f"(const {STORAGE[p.dtype]} *)args[{k}];")
            k += 1
    if ek.inner:
        inner = f"{ek.inner}LL"
        lines += [f"  for (long long i0 = lo / {inner}; i0 * {inner} < hi; ++i0) {{"]
        lines += [f"    {s}" for s in ek.row_body]
        lines += [f"    const long long first = lo > i0 * {inner} ? lo - i0 * {inner} : 0;",
                  f"    const long long stop = hi - i0 * {inner} < {inner} ? "
                  f"hi - i0 * {inner} : {inner};",
                  f"    {HOST.simd}",
                  "    for (long long j = first; j < stop; ++j) {",
                  f"      const long long i = i0 * {inner} + j;"]
        lines += [f"      {s}" for s in ek.body]
        lines += ["    }", "  }"]
    else:
        lines += [f"  {HOST.simd}", "  for (long long i = lo; i < hi; ++i) {"]
        lines += [f"    {s}" for s in ek.body]
        lines.append("  }")
    text = "\n".join(lines)
    name = "singa_ep_" + hashlib.sha1(text.encode()).hexdigest()[:8]
    src = (f"\n/* epilogue: {ek.group} */\n"
           f"static void {name}({STORAGE[ek.outputs[0].dtype]} *y, const void *const *args, "
           "long long lo, long long hi) {\n"
           f"{text}\n}}\n")
    return name, src


def fuse(gk: Kernel, ek: Kernel, position: int):
    """The kernel of ``gk`` (a product, or a kernel whose items each write one
    range of its result: ``item_out``) followed by elementwise kernel ``ek``, whose
    operand ``position`` is ``gk``'s result, or None where they do not combine.
    Returns (kernel, the ``ek`` operand positions of its extra inputs, in order);
    the fused kernel's step operands are ``gk``'s, then those."""
    hooked = NO_EPILOGUE in gk.function if gk.function else gk.item_out > 0
    if not hooked or ek.function or not ek.simd or ek.inplace is not None \
            or gk.inplace is not None:
        return None
    q = next((idx for idx, p in enumerate(ek.params)
              if not p.output and ek.inputs[idx] == position), None)
    out = ek.outputs
    size = gk.n * gk.item_out if not gk.function else gk.n
    if q is None or len(out) != 1 or out[0].dtype != gk.outputs[0].dtype \
            or ek.params[q].dtype != gk.outputs[0].dtype or ek.n != size:
        return None
    name, src = _function(ek, q)
    others = [idx for idx, p in enumerate(ek.params) if not p.output and idx != q]
    extra = [Param(f"e{j}", ek.params[idx].dtype) for j, idx in enumerate(others)]
    n_in = len(gk.params) - 1
    params = gk.params[:n_in] + extra + [Param("y", out[0].dtype, output=True)]
    args = f"const void *const ep_args[] = {{{', '.join(p.name for p in extra) or '0'}}};"
    if gk.function:
        ep = (f"{args} const struct singa_ep ep_ = {{{name}, y, ep_args}}; "
              "const struct singa_ep *const ep = &ep_;")
        function, body = [ep if line == NO_EPILOGUE else line for line in gk.function], []
    else:  # after each part the item marks final, else after the item
        function = []
        parts = [_PART.match(line) for line in gk.body]
        if any(parts):
            body = [f"{m[1]}{{ {args} {name}(y, ep_args, {m[2]}, {m[3]}); }}" if m else line
                    for m, line in zip(parts, gk.body)]
        else:
            body = gk.body + [f"{{ {args} {name}(y, ep_args, i * {gk.item_out}LL, "
                              f"(i + 1) * {gk.item_out}LL); }}"]
    base = gk.base + "_" + ek.base.removeprefix("fused_")
    shapes = gk.shapes + [f"then {ek.group} in the product's threads:"] + [
        f"  {s}" for s in ek.shapes]
    support = (gk.support,) if isinstance(gk.support, str) else tuple(gk.support)
    kernel = Kernel(base, f"{gk.group} + {ek.group}", gk.sources + ek.sources, params,
                    list(gk.inputs) + [n_in + j for j in range(len(extra))], gk.n, body,
                    shapes, ek.out_shape, parallel=gk.parallel, work=gk.work,
                    function=function, support=support + (src,), host_only=True)
    return kernel, [ek.inputs[idx] for idx in others]
