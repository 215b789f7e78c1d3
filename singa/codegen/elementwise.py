"""Elementwise kernels: a FusedElementwise group, or one templated op, as one loop.

Each body op contributes one line ``const T t<j> = <template>;`` from the op
table's scalar template (``OpDef.cuda``: a string, or a function of the
operand dtypes, result dtype and attributes that returns one, or None where
that case has no kernel).  Operands are read through *views*: an element
offset and one stride per output dim (0 where an operand is broadcast), so
broadcasting and strided copies (Transpose, Slice, Expand: see
:mod:`.injective`) are the same index arithmetic with other constants.  Dims
that every operand walks contiguously are merged first, so most kernels index
with ``i`` alone.
"""

from __future__ import annotations

import math
import re

from ..ir.types import DType
from . import dialect
from .render import Kernel, Param, snake

_REF = re.compile(r"\{(\w+)\}")


# ------------------------------------------------------------------ templates

def template_of(op_name: str, dtypes, out: DType, attrs) -> str | None:
    """The op's scalar C template for these operand dtypes (None: no kernel)."""
    from ..ops import OPS

    t = OPS[op_name].cuda
    if callable(t):
        return t(list(dtypes), out, attrs)
    return t


def c_literal(v) -> str:
    """A Python scalar as a C literal (double for floats)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return f"{v}LL"
    if isinstance(v, float):
        if math.isnan(v):
            return "__builtin_nan(\"\")"
        if math.isinf(v):
            return "SINGA_INF" if v > 0 else "(-SINGA_INF)"
        return repr(v) if ("e" in repr(v) or "." in repr(v)) else repr(v) + ".0"
    raise TypeError(f"attribute value {v!r} has no C literal")


def fill(template: str, args, ctype: str, attrs) -> str:
    """``template`` with ``{0}``.. replaced by ``args``, ``{T}`` by ``ctype`` and
    ``{name}`` by attribute ``name`` as a C literal."""

    def sub(m):
        key = m.group(1)
        if key.isdigit():
            return args[int(key)]
        if key == "T":
            return ctype
        return c_literal(attrs[key])

    return _REF.sub(sub, template)


# ------------------------------------------------------------------ views and indexing

def contiguous_strides(shape) -> tuple:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def broadcast_view(shape, out_shape) -> tuple[int, tuple]:
    """(offset, strides) reading an array of ``shape`` broadcast to ``out_shape``."""
    lead = len(out_shape) - len(shape)
    own = contiguous_strides(shape)
    strides = [0] * lead + [0 if d == 1 else s for d, s in zip(shape, own)]
    return 0, tuple(strides)


def collapse(shape, views):
    """Drop size-1 dims and merge neighbours every view walks contiguously.

    Returns the new shape and views; the element order is unchanged."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    shape = [shape[d] for d in keep]
    views = [(off, [st[d] for d in keep]) for off, st in views]
    d = len(shape) - 2
    while d >= 0:
        if all(st[d] == st[d + 1] * shape[d + 1] for _, st in views):
            shape[d] *= shape[d + 1]
            del shape[d + 1]
            for _, st in views:
                st[d] = st[d + 1]
                del st[d + 1]
        d -= 1
    return tuple(shape), [(off, tuple(st)) for off, st in views]


def index_code(shape, views) -> tuple[list, list]:
    """C lines computing coordinates of item ``i`` (when needed) and the
    index expression of each view."""
    shape, views = collapse(tuple(shape), views)
    dense = contiguous_strides(shape)
    exprs, need = [], False
    for off, st in views:
        if st == dense:
            exprs.append("i" if off == 0 else f"({off}LL + i)")
        elif not any(st):
            exprs.append(f"{off}LL")
        else:
            need = True
            terms = [f"c{d} * {s}LL" if s != 1 else f"c{d}" for d, s in enumerate(st) if s]
            if off:
                terms.insert(0, f"{off}LL")
            exprs.append("(" + " + ".join(terms) + ")")
    return (_coordinates(shape, "i") if need else []), exprs


def _coordinates(shape, index: str) -> list:
    """C lines setting ``c0``.. to the coordinates of flat position ``index`` in
    ``shape``.  32-bit where they fit: compilers vectorise an unsigned 32-bit
    division by a constant, not a 64-bit one (which would keep the whole loop,
    and the vector math in it, scalar); GPUs divide faster too."""
    t, u = ("unsigned int", "u") if math.prod(shape) < (1 << 31) else ("long long", "LL")
    if len(shape) == 1:
        return [f"const {t} c0 = ({t}){index};"]
    lines = [f"{t} r_ = ({t}){index};"]
    for d in range(len(shape) - 1, 0, -1):
        lines.append(f"const {t} c{d} = r_ % {shape[d]}{u}; r_ /= {shape[d]}{u};")
    return lines + [f"const {t} c0 = r_;"]


MIN_ROW = 16  # shortest innermost run worth a row of its own


def row_code(shape, views):
    """Rows for a broadcast loop: ``(inner, row lines, index expressions, constant)``
    or None.  The innermost dim (after merging) is a row of ``inner`` columns
    ``j``; the row lines find row ``i0``'s coordinates and each view's row base
    once; a view that does not move along the row (a per-channel bias) is loaded
    there too (``constant``), so the columns are a plain vectorisable stream.
    None where every view is dense or broadcast everywhere (the flat loop is
    already that), or the rows are short."""
    shape, views = collapse(tuple(shape), views)
    dense = contiguous_strides(shape)
    if len(shape) < 2 or shape[-1] < MIN_ROW or all(
            st == dense or not any(st) for _, st in views):
        return None
    inner = shape[-1]
    lines = _coordinates(shape[:-1], "i0")
    exprs, constant = [], []
    for k, (off, st) in enumerate(views):
        if st == dense:
            exprs.append("i" if off == 0 else f"({off}LL + i)")
            constant.append(False)
            continue
        terms = [f"{off}LL"] + [f"c{d} * {s}LL" for d, s in enumerate(st[:-1]) if s]
        lines.append(f"const long long b{k} = {' + '.join(terms)};")
        if st[-1] == 0:
            exprs.append(f"b{k}")
            constant.append(True)
        else:
            exprs.append(f"b{k} + j" if st[-1] == 1 else f"b{k} + j * {st[-1]}LL")
            constant.append(False)
    return inner, lines, exprs, constant


# ------------------------------------------------------------------ builders

def _body(op_name, attrs, in_types, out_type):
    """[(op, refs, attrs)] and the dtype of every input and body result."""
    from ..ops import OPS
    from ..ops import fused

    if op_name == "FusedElementwise":
        steps = fused.body(attrs)
        types = fused.body_types(in_types, attrs)
        steps = [(n, r, OPS[n].attrs(a)) for n, r, a in steps]
    else:
        steps = [(op_name, list(range(len(in_types))), attrs)]
        types = list(in_types) + [out_type]
    return steps, [None if t is None else t.dtype for t in types]


def elementwise_kernel(op_name, attrs, in_types, out_type, loc="", views=None, group=None):
    """The Kernel computing op ``op_name`` (a FusedElementwise group or one
    templated elementwise op) on static ``in_types``, or None when some body op
    has no template for its dtypes or a dtype has no C storage type.

    ``views``: operand index -> (offset, strides) replacing the broadcast view
    (for strided copies, then named after ``group``, the op they come from)."""
    if out_type is None or not out_type.is_static or not dialect.supported(out_type.dtype):
        return None
    try:
        steps, dts = _body(op_name, attrs, in_types, out_type)
    except Exception:  # a body that does not type: leave it to the NumPy step
        return None
    k = len(in_types)
    lines, used = [], {}
    for j, (name, refs, a) in enumerate(steps):
        rdt = dts[k + j]
        ops = [None if r < 0 else dts[r] for r in refs]
        if rdt is None or not dialect.supported(rdt) or any(
                o is not None and not dialect.supported(o) for o in ops):
            return None
        tpl = template_of(name, ops, rdt, a)
        if tpl is None:
            return None
        args = []
        for pos, r in enumerate(refs):
            if r < 0:
                args.append("0")
            elif r < k:
                used.setdefault(r, len(used))
                args.append(f"v{r}")
            else:
                args.append(f"t{r - k}")
        try:
            expr = fill(tpl, args, dialect.compute_ctype(rdt), a)
        except (KeyError, IndexError, TypeError):
            return None
        lines.append(f"const {dialect.compute_ctype(rdt)} t{j} = {dialect.rounded(rdt, expr)};")
    out_shape = tuple(out_type.shape)
    n = math.prod(out_shape)
    order = sorted(used)
    vs = []
    for r in order:
        t = in_types[r]
        if t is None or not t.is_static:
            return None
        if views and r in views:
            vs.append(views[r])
        elif len(t.shape) > len(out_shape) or any(
                d != 1 and d != o for d, o in zip(t.shape[::-1], out_shape[::-1])):
            return None
        else:
            vs.append(broadcast_view(t.shape, out_shape))
    odt = out_type.dtype
    store = [f"y[i] = {dialect.store(odt, f't{len(steps) - 1}')};"]
    rows = row_code(out_shape, vs)
    row_body, inner = [], 0
    if rows is not None:
        inner, row_body, idx, constant = rows
        loads = [f"const {dialect.compute_ctype(dts[r])} v{r} = "
                 f"{dialect.load(dts[r], f'a{r}[{e}]')};" for r, e in zip(order, idx)]
        row_body += [ld for ld, c in zip(loads, constant) if c]
        body = [ld for ld, c in zip(loads, constant) if not c] + lines + store
    else:
        coords, idx = index_code(out_shape, vs)
        loads = [f"const {dialect.compute_ctype(dts[r])} v{r} = "
                 f"{dialect.load(dts[r], f'a{r}[{e}]')};" for r, e in zip(order, idx)]
        body = coords + loads + lines + store
    params = [Param(f"a{r}", dts[r]) for r in order] + [Param("y", odt, output=True)]
    names = [s[0] for s in steps]
    if op_name == "FusedElementwise":
        shown = names if len(names) <= 4 else names[:3] + [f"x{len(names)}"]
        default = "fused_" + "_".join(snake(s) for s in shown)
        group = group or f"FusedElementwise[{', '.join(names)}]"
    else:
        default, group = snake(op_name), group or op_name
    shapes = [f"a{r}: {in_types[r]}" for r in order] + [f"y: {out_type} ({n} items)"]
    sources = tuple(s for s in (loc or "").split(" + ") if s)
    return Kernel(snake(group) if views else default, group, sources, params, order, n, body,
                  shapes, out_shape, simd=True, inner=inner, row_body=row_body)
