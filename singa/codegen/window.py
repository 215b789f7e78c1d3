"""Sliding-window kernels: depthwise convolution, MaxPool, AveragePool, Im2Col, Col2Im.

One work item per output row (image, channel, output row; 1-D windows are
2-D ones of height 1).  The geometry (output size, pads, ceil_mode's extra
cells) comes from the op table's own classes, so kernel and NumPy step agree
on every shape.  Cases the kernels do not cover (16-bit floats, 3-D windows,
MaxPool's Indices output) stay NumPy steps.

Depthwise convolution accumulates tap by tap into the output row, over the
range of output columns whose input column exists: the inner loop has no
branches and, at stride 1, reads and writes contiguously, so the compiler
vectorises it (the NumPy step needs two passes over memory per tap).
"""

from __future__ import annotations

import math

from . import dialect
from .render import Kernel, Param


def _two_d(shape, kernel, strides, dilations, pb, pe, out):
    """Everything as 2-D (a 1-D window is a window of height 1)."""
    if len(kernel) == 1:
        return ((1,) + tuple(shape), (1,) + tuple(kernel), (1,) + tuple(strides),
                (1,) + tuple(dilations), (0,) + tuple(pb), (0,) + tuple(pe), (1,) + tuple(out))
    return tuple(shape), tuple(kernel), tuple(strides), tuple(dilations), tuple(pb), \
        tuple(pe), tuple(out)


def _kernel(op, base, types, out, n, body, note, taps, items="rows"):
    params = [Param(f"a{p}", t.dtype) for p, t in types.items()]
    params.append(Param("y", out.dtype, output=True))
    shapes = [f"a{p}: {t}" for p, t in types.items()] + [f"y: {out} ({n} {items})", note]
    sources = tuple(s for s in (op.loc or "").split(" + ") if s)
    return Kernel(base, op.name, sources, params, list(types), n, body, shapes,
                  tuple(out.shape), parallel=True, work=math.prod(out.shape) * taps)


def _float32_or_64(*types) -> bool:
    return all(t is not None and t.dtype.is_float and t.dtype.np.itemsize >= 4
               and t.dtype == types[0].dtype for t in types)


def _over_taps(t, geo, plane, weight, update):
    """Lines adding every kernel tap into the output row ``yr``: for each tap,
    over the output columns whose input column exists, ``update`` with ``v``
    the input element (and ``wv`` the tap's weight when ``weight`` indexes it).
    The inner loop has no branch: at stride 1 it vectorises."""
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    lines = [f"for (long long r = 0; r < {kh}LL; ++r) {{",
             f"  const long long ih = oh * {sh}LL - {ph}LL + r * {dh}LL;",
             f"  if (ih < 0 || ih >= {h}LL) continue;",
             f"  const {t} *SINGA_RESTRICT xr = {plane} + ih * {wd}LL;",
             f"  for (long long s = 0; s < {kw}LL; ++s) {{"]
    if weight:
        lines.append(f"    const {t} wv = {weight};")
    lines += [f"    const long long off = s * {dw}LL - {pw}LL;",
              # output columns ow whose input column off + ow * sw lies in [0, W)
              f"    const long long lo = off < 0 ? (-off + {sw - 1}LL) / {sw}LL : 0;",
              f"    if ({wd - 1}LL - off < 0) continue;",
              f"    long long hi = ({wd - 1}LL - off) / {sw}LL + 1;",
              f"    if (hi > {ow_n}LL) hi = {ow_n}LL;",
              f"    for (long long ow = lo; ow < hi; ++ow) {{",
              f"      const {t} v = xr[ow * {sw}LL + off];",
              f"      {update}",
              "    }", "  }", "}"]
    return lines


MAX_UNROLLED_TAPS = 64


def _unrolled_taps(t, geo, plane, weight, init, pad, update, store, first=None):
    """A window row with every tap written out: input rows (and weights, where
    ``weight(r, s)`` gives one) are set up once per row, then each output column
    folds its taps into ``acc`` in registers: ``acc = init``, per tap ``update``
    (C with ``v``, the tap's value, ``pad`` in the padding, and ``w``), then the
    lines of ``store(checked)``.  Columns whose taps all lie in the input (a
    range known here) run without checks, vectorised across columns, when the
    row's taps do; border columns, and rows reaching into the padding, check
    each tap.  ``first``, where given, is (lines, condition, lines): after the
    set-up, the first lines; where the condition holds, the other lines make the
    row instead.  Needs ``oh`` and ``yr``."""
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    lines = []
    for r in range(kh):
        lines += [f"const long long ih{r} = oh * {sh}LL + {r * dh - ph}LL;",
                  f"const int ok{r} = ih{r} >= 0 && ih{r} < {h}LL;",
                  f"const {t} *SINGA_RESTRICT xr{r} = {plane} + (ok{r} ? ih{r} : 0) * {wd}LL;"]
        if weight is not None:
            lines += [f"const {t} w{r}_{s} = {weight(r, s)};" for s in range(kw)]
    # columns whose every tap s reads ow*sw + s*dw - pw inside [0, W)
    lo = min(ow_n, -(-pw // sw))
    hi = max(lo, min(ow_n, (wd - 1 + pw - (kw - 1) * dw) // sw + 1))

    def column(cols, rows):
        out = [f"{t} acc = {init};"] + (["int nan_ = 0;"] if "nan_" in update else [])
        for s_ in range(kw):
            iw = f"ow * {sw}LL + {s_ * dw - pw}LL"
            if cols:
                out.append(f"const long long iw{s_} = {iw};")
                out.append(f"const int in{s_} = iw{s_} >= 0 && iw{s_} < {wd}LL;")
            for r in range(kh):
                ok = " && ".join(([f"ok{r}"] if rows else []) + ([f"in{s_}"] if cols else []))
                at = f"in{s_} ? iw{s_} : 0" if cols else iw
                v = f"({ok} ? xr{r}[{at}] : {pad})" if ok else f"xr{r}[{at}]"
                w = f"w{r}_{s_}" if weight is not None else ""
                out.append(f"{{ const {t} v = {v}; {update.replace('{w}', w)} }}")
        return out + store(cols or rows)

    def loop(a, b_, cols, rows, indent="  "):
        if b_ <= a:
            return []
        out = [indent + "SINGA_SIMD"] if not (cols or rows) else []
        out.append(f"{indent}for (long long ow = {a}LL; ow < {b_}LL; ++ow) {{")
        out += [indent + "  " + c for c in column(cols, rows)]
        return out + [indent + "}"]

    inside = "if (" + " && ".join(f"ok{r}" for r in range(kh)) + ") {"
    if first is not None:
        lines += first[0] + [f"if ({first[1]}) {{"] + ["  " + ln for ln in first[2]]
        inside = "} else " + inside
    lines.append(inside)
    lines += loop(0, lo, True, False) + loop(lo, hi, False, False) + loop(hi, ow_n, True, False)
    lines.append("} else {")
    lines += loop(0, ow_n, True, True)
    lines.append("}")
    return lines


def _padded_extent(geo, oh_n):
    """The padded rows and columns a window reads over ``oh_n`` output rows, and
    the input rows and columns among them."""
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    hp, wp = (oh_n - 1) * sh + (kh - 1) * dh + 1, (ow_n - 1) * sw + (kw - 1) * dw + 1
    return hp, wp, min(h, hp - ph), min(wd, wp - pw)


PLANE_FLOATS = 16384  # stack buffers of a padded plane (64 KB in float32) at most
# output rows at least this long are made one by one straight into y (each then
# final for an epilogue while in L1: 1.5x faster at 56 and 112 columns); shorter
# ones as one flat stream through a buffer (1.4x faster at 28 columns and less)
ROW_WISE_MIN = 48


# MaxPool rows by _separable_max from this many taps and output columns
SEPARABLE_MIN_TAPS = 9
SEPARABLE_MIN_COLUMNS = 32


def _separable_max(t, geo):
    """``first`` for :func:`_unrolled_taps`: a MaxPool row as the maxima of the
    window's rows at each column (``m``, over the padded columns the windows
    read), then of each window's columns of ``m``: kh + kw comparisons per output
    rather than kh x kw, and the first pass reads the input rows contiguously
    (3x3 windows at stride 2 over 64 channels: 1.4x faster at 111 columns, 1.7x
    at 112, but 1.1x slower at 55 and 2x at 27; 2x2 windows, left out: 1.1x
    faster at 224 columns, 1.05x slower at 416).  NaN wins as in the unrolled
    loops: a row with a NaN in its input rows is made by them.  None for windows
    and rows below the minimums, or where a row of ``m`` would not fit on the
    stack."""
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    wp = _padded_extent(geo, 1)[1]  # padded columns the windows read
    if kh * kw < SEPARABLE_MIN_TAPS or ow_n < SEPARABLE_MIN_COLUMNS or wp > PLANE_FLOATS:
        return None
    lo, hi = min(pw, wp), min(wp, pw + wd)
    at = f"c - {pw}LL" if pw else "c"
    rows = " && ".join(f"ok{r}" for r in range(kh))
    pre = [f"{t} m[{wp}];", "int row_nan = 0;", f"if ({rows}) {{"]
    if lo > 0:
        pre.append(f"  for (long long c = 0; c < {lo}LL; ++c) m[c] = (-SINGA_INF);")
    pre += ["  SINGA_SIMD_REDUCING(reduction(|:row_nan))",
            f"  for (long long c = {lo}LL; c < {hi}LL; ++c) {{",
            f"    {t} acc = xr0[{at}];", "    row_nan |= acc != acc;"]
    pre += [f"    {{ const {t} v = xr{r}[{at}]; acc = v > acc ? v : acc; "
            "row_nan |= v != v; }" for r in range(1, kh)]
    pre += ["    m[c] = acc;", "  }"]
    if hi < wp:
        pre.append(f"  for (long long c = {hi}LL; c < {wp}LL; ++c) m[c] = (-SINGA_INF);")
    pre.append("}")
    make = ["SINGA_SIMD", f"for (long long ow = 0; ow < {ow_n}LL; ++ow) {{",
            f"  {t} acc = m[ow * {sw}LL];"]
    make += [f"  {{ const {t} v = m[ow * {sw}LL + {s_ * dw}LL]; acc = v > acc ? v : acc; }}"
             for s_ in range(1, kw)]
    make += ["  yr[ow] = acc;", "}"]
    return pre, f"{rows} && !row_nan", make


def _padded_plane(t, geo, oh_n, wt, bias, base):
    """Lines computing one channel's output plane ``yp`` (at ``y + base``) from its
    input plane ``xp`` through a zero-padded copy on the stack, or None when the
    copy is too big.

    At stride 1 each output row reads its taps' rows of the copy contiguously.
    Short rows are instead made as one flat row: output q = oh * Wp + ow (Wp the
    padded width) reads q + r * dh * Wp + s * dw, so every tap is one contiguous
    stream over all output rows at once, vectorised whatever the row length
    (EfficientNet's 7x7 and 14x14 planes leave most lanes of a row-by-row loop
    idle); the padding columns computed along are dropped when the rows are
    copied out.  At other strides the padded columns are split by phase (column c
    to plane c % sw, at c / sw), so each tap reads its phase plane contiguously
    along an output row.  Rows made straight into ``yp`` are each marked final
    (:func:`.epilogue.part_done`)."""
    from .epilogue import part_done

    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    hp, wp, rows, cols = _padded_extent(geo, oh_n)
    if rows <= 0 or cols <= 0:
        return None
    taps = [(r, s_) for r in range(kh) for s_ in range(kw)]
    w = [f"const {t} w{r}_{s_} = {wt(r, s_)};" for r, s_ in taps]
    done = part_done(f"{base} + oh * {ow_n}LL", f"{base} + (oh + 1) * {ow_n}LL")
    if sh == 1 and sw == 1:
        slack = (kw - 1) * dw  # the last row's padding columns read past the plane
        if hp * wp + slack > PLANE_FLOATS:
            return None
        right = wp - pw - cols
        # only the padding is zeroed: the rows' copies fill the rest
        fill = [f"{t} pad[{hp * wp + slack}] __attribute__((aligned(64)));",
                f"memset(pad, 0, {ph * wp} * sizeof *pad);" if ph else "",
                f"for (long long r = 0; r < {rows}LL; ++r) {{",
                f"  {t} *SINGA_RESTRICT d = pad + (r + {ph}LL) * {wp}LL;",
                f"  memset(d, 0, {pw} * sizeof *pad);" if pw else "",
                f"  memcpy(d + {pw}LL, xp + r * {wd}LL, {cols} * sizeof *pad);",
                f"  memset(d + {pw + cols}LL, 0, {right} * sizeof *pad);" if right else "",
                "}",
                f"memset(pad + {(ph + rows) * wp}LL, 0, {(hp - ph - rows) * wp + slack} "
                "* sizeof *pad);"]
        fill = [line for line in fill if line]
        if ow_n >= ROW_WISE_MIN:
            acc = " + ".join(f"w{r}_{s_} * pr[ow + {r * dh * wp + s_ * dw}LL]" for r, s_ in taps)
            return w + fill + [
                f"for (long long oh = 0; oh < {oh_n}LL; ++oh) {{",
                f"  const {t} *SINGA_RESTRICT pr = pad + oh * {wp}LL;",
                f"  {t} *SINGA_RESTRICT yr = yp + oh * {ow_n}LL;",
                "  SINGA_SIMD",
                f"  for (long long ow = 0; ow < {ow_n}LL; ++ow) yr[ow] = {bias} + {acc};",
                f"  {done}",
                "}"]
        acc = " + ".join(f"w{r}_{s_} * pad[q + {r * dh * wp + s_ * dw}LL]" for r, s_ in taps)
        return w + fill + [
            f"{t} res[{oh_n * wp}] __attribute__((aligned(64)));",
            "SINGA_SIMD",
            f"for (long long q = 0; q < {oh_n * wp}LL; ++q) res[q] = {bias} + {acc};",
            f"for (long long r = 0; r < {oh_n}LL; ++r)",
            f"  memcpy(yp + r * {ow_n}LL, res + r * {wp}LL, {ow_n} * sizeof *yp);"]
    wh = -(-wp // sw)  # each phase plane's width
    if sw * hp * wh > PLANE_FLOATS:
        return None
    acc = " + ".join(f"w{r}_{s_} * pad[{(s_ * dw) % sw * hp * wh}LL + (oh * {sh}LL + {r * dh}LL)"
                     f" * {wh}LL + ow + {(s_ * dw) // sw}LL]" for r, s_ in taps)
    lines = w + [f"{t} pad[{sw * hp * wh}] __attribute__((aligned(64)));",
                 "memset(pad, 0, sizeof pad);",
                 f"for (long long r = 0; r < {rows}LL; ++r) {{"]
    for phase in range(sw):  # input columns c0, c0 + sw, ... land on this phase's row
        c0 = (phase - pw) % sw
        count = len(range(c0, cols, sw))
        if count:
            lines += ["  SINGA_SIMD",
                      f"  for (long long k = 0; k < {count}LL; ++k) "
                      f"pad[{phase * hp * wh + (c0 + pw) // sw}LL + (r + {ph}LL) * {wh}LL + k]"
                      f" = xp[r * {wd}LL + {c0}LL + k * {sw}LL];"]
    return lines + [line for line in [
        "}",
        f"for (long long oh = 0; oh < {oh_n}LL; ++oh) {{",
        "  SINGA_SIMD",
        f"  for (long long ow = 0; ow < {ow_n}LL; ++ow) yp[oh * {ow_n}LL + ow] = {bias} + {acc};",
        f"  {done}" if ow_n >= ROW_WISE_MIN else "",
        "}"] if line]


# channels a work item of the channel-blocked depthwise convolution makes (one
# vector of float32 lanes), and the floats of its stack buffers at most
CHANNEL_BLOCK = 16
BLOCK_FLOATS = 12288
# output planes of at most this many are made channel-blocked (host dialect)
BLOCKED_MAX_OUTPUTS = 64
# ... and those of at most this many for windows of this many taps or more
BLOCKED_WIDE_TAPS, BLOCKED_WIDE_OUTPUTS = 25, 256


def _channel_blocks(geo, oh_n, bias):
    """Lines making CHANNEL_BLOCK output planes (``yb``) from as many input
    planes (``xb``) with the channels as the vector lanes: the planes are copied
    into a zero-padded buffer with the channels interleaved, each output takes one
    multiply-add per tap over all of them, and the results are copied back.  For
    small planes, whose rows leave most lanes of a row-wise loop idle and whose
    per-plane set-up costs as much as the taps (EfficientNet's 5x5 windows over
    1152 channels of 7x7: 1.7x faster; but 3x3 windows over 14x14 planes 1.5x
    slower: the copies in and out cost more than the few taps save), or None
    where the buffers would pass BLOCK_FLOATS."""
    (h, wd), (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n = geo
    hp, wp, rows, cols = _padded_extent(geo, oh_n)
    lanes = CHANNEL_BLOCK
    if rows <= 0 or cols <= 0 or (hp * wp + oh_n * ow_n) * lanes > BLOCK_FLOATS:
        return None
    taps = [(r, s_) for r in range(kh) for s_ in range(kw)]
    acc = " + ".join(f"wv[{(r * kw + s_) * lanes}LL + l] * "
                     f"src[{(r * dh * wp + s_ * dw) * lanes}LL + l]" for r, s_ in taps)
    return [
        f"float win[{hp * wp * lanes}] __attribute__((aligned(64)));",
        f"float res[{oh_n * ow_n * lanes}] __attribute__((aligned(64)));",
        f"float wv[{kh * kw * lanes}] __attribute__((aligned(64)));",
        f"float bv[{lanes}] __attribute__((aligned(64)));",
        "memset(win, 0, sizeof win);",
        f"for (long long l = 0; l < {lanes}LL; ++l) {{",
        f"  bv[l] = {bias};",
        f"  for (long long q = 0; q < {kh * kw}LL; ++q) wv[q * {lanes}LL + l] = "
        f"a1[(m0 + l) * {kh * kw}LL + q];",
        "}",
        # the lanes innermost: each position one vector store (1.1x faster)
        f"for (long long r = 0; r < {rows}LL; ++r)",
        f"  for (long long c = 0; c < {cols}LL; ++c) {{",
        "    SINGA_SIMD",
        f"    for (long long l = 0; l < {lanes}LL; ++l)",
        f"      win[((r + {ph}LL) * {wp}LL + c + {pw}LL) * {lanes}LL + l] = "
        f"xb[l * {h * wd}LL + r * {wd}LL + c];",
        "  }",
        f"for (long long oh = 0; oh < {oh_n}LL; ++oh)",
        f"  for (long long ow = 0; ow < {ow_n}LL; ++ow) {{",
        f"    const float *SINGA_RESTRICT src = win + (oh * {sh * wp}LL + ow * {sw}LL) "
        f"* {lanes}LL;",
        f"    float *SINGA_RESTRICT rq = res + (oh * {ow_n}LL + ow) * {lanes}LL;",
        "    SINGA_SIMD",
        f"    for (long long l = 0; l < {lanes}LL; ++l) rq[l] = bv[l] + {acc};",
        "  }",
        f"for (long long l = 0; l < {lanes}LL; ++l)",
        f"  for (long long q = 0; q < {oh_n * ow_n}LL; ++q) "
        f"yb[l * {oh_n * ow_n}LL + q] = res[q * {lanes}LL + l];"]


def depthwise_conv(op, attrs, types, out, target=None):
    """Conv with one input channel per group (any depth multiplier), 1-D or 2-D;
    on the host, small float32 planes a block of channels at a time."""
    from ..ops.conv import _ConvGeom

    x, w = types[0], types[1]
    b = types[2] if len(types) > 2 else None
    if len(x.shape) not in (3, 4) or not _float32_or_64(x, w, *([b] if b else [])):
        return None
    g = _ConvGeom("Conv", x.shape, w.shape, attrs)
    if g.g != g.c or g.g == 1 or g.m % g.c:
        return None
    sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), _, (oh_n, ow_n) = _two_d(
        g.sp, g.kernel, g.strides, g.dilations, g.pb, g.pe, g.out)
    h, wd = sp
    mult = g.m // g.c
    t = dialect.compute_ctype(x.dtype)
    geo = (sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n)
    ins = {0: x, 1: w} if b is None else {0: x, 1: w, 2: b}
    note = (f"depthwise {kh}x{kw} stride {sh},{sw} dilation {dh},{dw} pads {ph},{pw}; "
            f"multiplier {mult}")
    lanes = CHANNEL_BLOCK
    blocked = None
    small = oh_n * ow_n <= BLOCKED_MAX_OUTPUTS or (
        kh * kw >= BLOCKED_WIDE_TAPS and oh_n * ow_n <= BLOCKED_WIDE_OUTPUTS)
    if target == "c" and t == "float" and mult == 1 and g.m % lanes == 0 and small:
        blocked = _channel_blocks(geo, oh_n, "a2[m0 + l]" if b is not None else "0.f")
    if blocked is not None:  # one item per block of channels
        blocks = g.m // lanes
        body = [f"const long long m0 = i % {blocks}LL * {lanes}LL;",
                f"const float *SINGA_RESTRICT xb = a0 + (i / {blocks}LL * {g.c}LL + m0) "
                f"* {h * wd}LL;",
                f"float *SINGA_RESTRICT yb = y + i * {lanes * oh_n * ow_n}LL;"] + blocked
        k = _kernel(op, "depthwise_conv", ins, out, g.n * blocks, body,
                    note + f"; blocks of {lanes} channels as the vector lanes", kh * kw,
                    "channel blocks")
        k.item_out = lanes * oh_n * ow_n
        return k
    plane = _padded_plane(t, geo, oh_n, lambda r, s_: f"a1[m * {kh * kw}LL + {r * kw + s_}LL]",
                          "a2[m]" if b is not None else f"({t})0", f"i * {oh_n * ow_n}LL")
    if plane is not None:  # one item per output plane
        body = [f"const long long m = i % {g.m}LL;",
                f"const {t} *SINGA_RESTRICT xp = a0 + (i / {g.m}LL * {g.c}LL + m / {mult}LL)"
                f" * {h * wd}LL;",
                f"{t} *SINGA_RESTRICT yp = y + i * {oh_n * ow_n}LL;"] + plane
        k = _kernel(op, "depthwise_conv", ins, out, g.n * g.m, body,
                    note + "; a zero-padded copy of each plane", kh * kw, "planes")
        k.item_out = oh_n * ow_n
        return k
    rows = g.n * g.m * oh_n
    body = [f"const long long oh = i % {oh_n}LL, nm = i / {oh_n}LL, m = nm % {g.m}LL;",
            f"const long long xb = (nm / {g.m}LL * {g.c}LL + m / {mult}LL) * {h * wd}LL;",
            f"{t} *SINGA_RESTRICT yr = y + i * {ow_n}LL;",
            f"const {t} bias = {'a2[m]' if b is not None else '0'};"]
    if kh * kw <= MAX_UNROLLED_TAPS:
        body += _unrolled_taps(t, geo, "a0 + xb",
                               lambda r, s_: f"a1[m * {kh * kw}LL + {r * kw + s_}LL]",
                               "bias", f"({t})0", "acc += v * {w};",
                               lambda checked: ["yr[ow] = acc;"])
    else:
        body.append(f"for (long long ow = 0; ow < {ow_n}LL; ++ow) yr[ow] = bias;")
        body += _over_taps(t, geo, "a0 + xb", f"a1[m * {kh * kw}LL + r * {kw}LL + s]",
                           "yr[ow] += v * wv;")
    return _kernel(op, "depthwise_conv", ins, out, rows, body, note, kh * kw)


def pool(op, attrs, types, out):
    """MaxPool (values only) and AveragePool, 1-D or 2-D."""
    from ..ops.pool import _PoolGeom

    x = types[0]
    if len(x.shape) not in (3, 4) or not _float32_or_64(x) or len(op.results) != 1:
        return None
    g = _PoolGeom(op.name, x.shape, attrs)
    sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), (eh, ew), (oh_n, ow_n) = _two_d(
        g.sp, g.kernel, g.strides, g.dilations, g.pb, g.pe, g.out)
    h, wd = sp
    t = dialect.compute_ctype(x.dtype)
    rows = x.shape[0] * x.shape[1] * oh_n
    geo = (sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), ow_n)
    body = [f"const long long oh = i % {oh_n}LL, nc = i / {oh_n}LL;",
            f"{t} *SINGA_RESTRICT yr = y + i * {ow_n}LL;"]
    plane = f"a0 + nc * {h * wd}LL"
    if op.name == "MaxPool":
        # taps in the padding never win (they count as the lowest value);
        # NaN wins, as in np.maximum: noted per window in an int, a third of the
        # cost of testing for it in every comparison
        update = "acc = v > acc ? v : acc; nan_ |= v != v;"
        init = pad = "(-SINGA_INF)"
        store = lambda checked: ["yr[ow] = nan_ ? (SINGA_INF - SINGA_INF) : acc;"]  # noqa: E731
    else:
        update, init, pad = "acc += v;", f"({t})0", f"({t})0"
        inc = bool(attrs.get("count_include_pad", 0))
        # the taps a window counts: inside the input, or inside input and pads
        lo_h, hi_h = (-ph, h + eh) if inc else (0, h)
        lo_w, hi_w = (-pw, wd + ew) if inc else (0, wd)
        body += ["long long cnt_h = 0;",
                 f"for (long long r = 0; r < {kh}LL; ++r) {{",
                 f"  const long long ih = oh * {sh}LL - {ph}LL + r * {dh}LL;",
                 f"  cnt_h += ih >= {lo_h}LL && ih < {hi_h}LL;", "}"]

        def store(checked):
            if not checked:  # every tap of the window is in the input
                return [f"yr[ow] = acc / ({t}){kh * kw};"]
            return ["long long cnt = 0;",
                    f"for (long long s = 0; s < {kw}LL; ++s) {{",
                    f"  const long long iw = ow * {sw}LL - {pw}LL + s * {dw}LL;",
                    f"  cnt += iw >= {lo_w}LL && iw < {hi_w}LL;", "}",
                    f"yr[ow] = acc / ({t})(cnt_h * cnt);"]
    if kh * kw <= MAX_UNROLLED_TAPS:
        first = _separable_max(t, geo) if op.name == "MaxPool" else None
        body += _unrolled_taps(t, geo, plane, None, init, pad, update, store, first)
    else:
        body.append(f"for (long long ow = 0; ow < {ow_n}LL; ++ow) yr[ow] = {init};")
        big = ("yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];" if op.name == "MaxPool"
               else "yr[ow] += v;")
        body += _over_taps(t, geo, plane, None, big)
        if op.name != "MaxPool":
            body.append(f"for (long long ow = 0; ow < {ow_n}LL; ++ow) {{")
            body += ["  " + ln for ln in store(True)[:-1]]
            body.append("  " + store(True)[-1].replace("acc", "yr[ow]"))
            body.append("}")
    note = f"{kh}x{kw} window stride {sh},{sw} dilation {dh},{dw} pads {ph},{pw}"
    return _kernel(op, "maxpool" if op.name == "MaxPool" else "avgpool", {0: x}, out,
                   rows, body, note, kh * kw)


def im2col(op, attrs, types, out):
    """Im2Col (see ops/im2col.py): one row of output columns per work item."""
    from ..ops.im2col import im2col_geometry

    x = types[0]
    if len(x.shape) not in (3, 4) or not dialect.supported(x.dtype):
        return None
    kernel, strides, dilations, pb, o = im2col_geometry(x.shape, attrs)
    sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), _, (oh_n, ow_n) = _two_d(
        x.shape[2:], kernel, strides, dilations, pb, pb, o)
    h, wd = sp
    t = dialect.STORAGE[x.dtype]
    rows = x.shape[0] * x.shape[1] * kh * kw * oh_n
    body = [f"const long long oh = i % {oh_n}LL, q = i / {oh_n}LL, s = q % {kw}LL;",
            f"const long long r = q / {kw}LL % {kh}LL, nc = q / {kh * kw}LL;",
            f"{t} *SINGA_RESTRICT yr = y + i * {ow_n}LL;",
            f"const long long ih = oh * {sh}LL - {ph}LL + r * {dh}LL;",
            f"const long long off = s * {dw}LL - {pw}LL;",
            # output columns whose input column lies in [0, W); zeros elsewhere
            f"long long lo = off < 0 ? (-off + {sw - 1}LL) / {sw}LL : 0;",
            f"long long hi = {wd - 1}LL - off < 0 ? 0 : ({wd - 1}LL - off) / {sw}LL + 1;",
            f"if (hi > {ow_n}LL) hi = {ow_n}LL;",
            f"if (ih < 0 || ih >= {h}LL || lo > hi) lo = hi = 0;",
            f"const {t} *SINGA_RESTRICT xr = a0 + nc * {h * wd}LL + (hi > 0 ? ih : 0) * {wd}LL;",
            "for (long long ow = 0; ow < lo; ++ow) yr[ow] = 0;",
            f"for (long long ow = lo; ow < hi; ++ow) yr[ow] = xr[ow * {sw}LL + off];",
            f"for (long long ow = hi; ow < {ow_n}LL; ++ow) yr[ow] = 0;"]
    note = f"{kh}x{kw} window stride {sh},{sw} dilation {dh},{dw} pads {ph},{pw}"
    return _kernel(op, "im2col", {0: x}, out, rows, body, note, 1)


def col2im(op, attrs, types, out, const_value):
    """Col2Im (Im2Col's adjoint): one image row per work item, gathering every
    column entry that was copied from it (no two items write one element)."""
    from ..ops.base import as_int_list
    from ..ops.im2col import im2col_geometry

    x = types[0]
    if (len(op.operands) != 3 or len(out.shape) not in (3, 4)
            or not dialect.supported(x.dtype) or x.dtype != out.dtype):
        return None
    block = as_int_list(const_value(op.operands[2]))
    if len(block) != len(out.shape) - 2:
        return None
    kernel, strides, dilations, pb, o = im2col_geometry(out.shape, dict(attrs, kernel_shape=block))
    sp, (kh, kw), (sh, sw), (dh, dw), (ph, pw), _, (oh_n, ow_n) = _two_d(
        out.shape[2:], kernel, strides, dilations, pb, pb, o)
    h, wd = sp
    t = dialect.STORAGE[x.dtype]
    rows = out.shape[0] * out.shape[1] * h
    body = [f"const long long ih = i % {h}LL, nc = i / {h}LL;",
            f"{t} *SINGA_RESTRICT yr = y + i * {wd}LL;",
            f"for (long long w = 0; w < {wd}LL; ++w) yr[w] = 0;",
            f"for (long long r = 0; r < {kh}LL; ++r) {{",
            f"  const long long num = ih + {ph}LL - r * {dh}LL;",
            f"  if (num < 0 || num % {sh}LL != 0 || num / {sh}LL >= {oh_n}LL) continue;",
            f"  for (long long s = 0; s < {kw}LL; ++s) {{",
            f"    const long long off = s * {dw}LL - {pw}LL;",
            f"    long long lo = off < 0 ? (-off + {sw - 1}LL) / {sw}LL : 0;",
            f"    long long hi = {wd - 1}LL - off < 0 ? 0 : ({wd - 1}LL - off) / {sw}LL + 1;",
            f"    if (hi > {ow_n}LL) hi = {ow_n}LL;",
            f"    const {t} *SINGA_RESTRICT cr = a0 + ((nc * {kh * kw}LL + r * {kw}LL + s) "
            f"* {oh_n}LL + num / {sh}LL) * {ow_n}LL;",
            f"    for (long long ow = lo; ow < hi; ++ow) yr[ow * {sw}LL + off] += cr[ow];",
            "  }", "}"]
    note = f"{kh}x{kw} window stride {sh},{sw} dilation {dh},{dw} pads {ph},{pw}"
    return _kernel(op, "col2im", {0: x}, out, rows, body, note, kh * kw)


def window_kernel(op, attrs, types, out, target=None):
    """A Kernel for a depthwise Conv, MaxPool or AveragePool, or None (``target``:
    the dialect it is for, where that decides the form)."""
    if not types or types[0] is None or out is None or not out.is_static:
        return None
    if op.name == "Conv" and len(types) >= 2 and types[1] is not None:
        return depthwise_conv(op, attrs, types, out, target)
    if op.name in ("MaxPool", "AveragePool"):
        return pool(op, attrs, types, out)
    if op.name == "Im2Col":
        return im2col(op, attrs, types, out)
    return None
