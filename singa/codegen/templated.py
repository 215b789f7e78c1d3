"""Kernels that are not one plain elementwise loop: reductions (and the global
pools, which are reductions over the spatial axes), ArgMax / ArgMin, Softmax /
LogSoftmax and LayerNormalization.

Each work item owns one position of the axes that are kept and walks the
elements of the reduced axes in a serial inner loop (:func:`walk`, the one
piece of index arithmetic all of them share); Softmax and LayerNormalization
then write the row they reduced.  Semantics follow the op table's NumPy
``compute``; any case that would differ (empty reductions that need a fill
value, integer logs, ...) returns None and stays a NumPy step.

Accumulators: floats of every width accumulate in double (a float32 Softmax
takes its exponentials in float, within an ulp, and sums them in double).  NumPy
sums pairwise, so a serial float loop over a long row drifts further than the
NumPy step does; a double loop is more accurate than either and costs little next to the
memory traffic.  Summing loops of floats are marked ``SINGA_SIMD_SUM`` (host:
``omp simd reduction``), so the double partial sums run in vector lanes and are
added at the end, as NumPy's pairwise sums are.  Integers accumulate in
``unsigned long long``: it wraps
modulo 2**64 without signed overflow, and the final cast to the operand's
dtype gives NumPy's wrap-around in that dtype.
"""

from __future__ import annotations

import math

from . import dialect
from .elementwise import c_literal, contiguous_strides
from .render import Kernel, Param, snake

_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
# update of ``acc`` (type A) by element ``v``, for the ops that are one pass
_UPDATE = {
    "ReduceSum": "acc += (A)v;", "ReduceMean": "acc += (A)v;", "ReduceLogSum": "acc += (A)v;",
    "ReduceProd": "acc *= (A)v;", "ReduceL1": "acc += v < 0 ? -(A)v : (A)v;",
    "ReduceSumSquare": "acc += (A)v * (A)v;", "ReduceL2": "acc += (A)v * (A)v;",
    # v != v: NaN wins, as in np.max / np.min
    "ReduceMax": "if (v > acc || v != v) acc = v;", "ReduceMin": "if (v < acc || v != v) acc = v;",
}
_GLOBAL_POOLS = {"GlobalAveragePool": "ReduceMean", "GlobalMaxPool": "ReduceMax"}
# ops whose integer form NumPy computes outside the operand's dtype (float64 logs, sqrt)
_FLOAT_ONLY = ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp")


def walk(shape, axes):
    """Index arithmetic of a row-major array of ``shape`` reduced over ``axes``.

    Returns ``(n, count, base, loop)``: ``n`` work items, one per position of
    the kept axes in row-major order (the result's layout, with or without
    keepdims); ``count`` elements per item; ``base`` the C lines setting ``b``,
    the offset of item ``i``'s first element; ``loop(body)`` the lines running
    ``body`` for each of the item's elements in row-major order, with ``j`` its
    offset and ``k`` its rank in the reduced index space (0 .. count-1).
    """
    # size-1 dims never move an offset, and neighbours of one kind merge into
    # one dim, so most reductions become one kept and one reduced loop
    dims = []  # [reduced?, size, stride]
    for d, (s, st) in enumerate(zip(shape, contiguous_strides(shape))):
        if s == 1:
            continue
        if dims and dims[-1][0] == (d in axes):
            dims[-1][1:] = [dims[-1][1] * s, st]
        else:
            dims.append([d in axes, s, st])
    kept = [(s, st) for r, s, st in dims if not r]
    red = [(s, st) for r, s, st in dims if r]
    base = ["long long b = 0;"]
    if kept:
        base = ["long long q_ = i, b = 0;"]
        for s, st in reversed(kept[1:]):
            base.append(f"b += q_ % {s}LL * {st}LL; q_ /= {s}LL;")
        base.append(f"b += q_ * {kept[0][1]}LL;")

    def loop(body, simd_sum=None, simd=False, reducing=None):
        lines, pad, j, k = [], "", "b", "0LL"
        for d, (s, st) in enumerate(red):
            if d == len(red) - 1 and simd_sum:
                # the innermost loop only adds into ``simd_sum``: partial sums
                # may run in vector lanes (as NumPy's pairwise sums do)
                lines.append(f"{pad}SINGA_SIMD_SUM({simd_sum})")
            elif d == len(red) - 1 and reducing:  # OpenMP reduction clauses
                lines.append(f"{pad}SINGA_SIMD_REDUCING({reducing})")
            elif d == len(red) - 1 and simd:  # independent elements (a row written)
                lines.append(f"{pad}SINGA_SIMD")
            lines.append(f"{pad}for (long long r{d} = 0; r{d} < {s}LL; ++r{d}) {{")
            pad += "  "
            j += f" + r{d} * {st}LL"
            k = f"r{d}" if d == 0 else f"({k}) * {s}LL + r{d}"
        if not red:  # every reduced dim has size 1: one element, still its own scope
            lines.append("{")
            pad = "  "
        lines.append(f"{pad}const long long j = {j}, k = {k};")
        lines += [pad + s for s in body]
        lines += ["  " * d + "}" for d in reversed(range(max(len(red), 1)))]
        return lines

    return math.prod(s for s, _ in kept), math.prod(s for s, _ in red), base, loop


def _elem(dt, ref, wide=True):
    """``ref`` loaded as double (floats, when ``wide``) or its compute type."""
    v = dialect.load(dt, ref)
    return f"(double){v}" if wide and dt.is_float else v


def _vtype(dt, wide=True):
    return "double" if wide and dt.is_float else dialect.compute_ctype(dt)


def _strip(shape):
    """``shape`` without its leading 1s."""
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _kernel(op, base, types, out, n, body, note, size=None, count=1):
    """The Kernel reading operands ``types`` ({position: type}) and writing ``out``
    (``size`` elements, default ``n``), or None when ``out`` disagrees."""
    if math.prod(out.shape) != (n if size is None else size):
        return None  # the inferred result is not what this kernel writes
    params = [Param(f"a{p}", t.dtype) for p, t in types.items()]
    params.append(Param("y", out.dtype, output=True))
    shapes = [f"a{p}: {t}" for p, t in types.items()]
    shapes += [f"y: {out} ({n} items)", note]
    sources = tuple(s for s in (op.loc or "").split(" + ") if s)
    return Kernel(base, op.name, sources, params, list(types), n, body, shapes,
                  tuple(out.shape), parallel=True, work=n * max(count, 1))


def _reduce(op, attrs, x, out, const_value, as_reduce=None):
    """A reduction kernel; ``as_reduce`` = (reduce op name, axes) computes a
    global pool as the reduction it is (GlobalAveragePool: ReduceMean over the
    spatial axes)."""
    from ..ops.reduce import _axes

    if as_reduce is not None:
        name, axes = as_reduce
    else:
        given = None
        if len(op.operands) > 1 and op.operands[1] is not None:
            given = const_value(op.operands[1])
            if given is None:  # axes known only at run time
                return None
        name, axes = op.name, _axes(op.name, len(x.shape), [None, given], attrs)
    n, count, base, loop = walk(x.shape, axes)
    dt = x.dtype
    fl = dt.is_float
    if dt.name == "BOOL" or (not fl and name in _FLOAT_ONLY):
        return None
    if name == "ReduceMean" and (count == 0 or dt.name == "UINT64"):
        return None  # NumPy: an empty mean is NaN (or 0) with a warning; uint64 sums as int64
    if count == 0 and name in ("ReduceMax", "ReduceMin", "ReduceLogSumExp"):
        return None  # the max starts from the first element
    v = f"const {_vtype(dt)} v = {_elem(dt, 'a0[j]')};"
    if name == "ReduceLogSumExp":
        body = base + ["double m = " + _elem(dt, "a0[b]") + ";"]
        body += loop([v, _UPDATE["ReduceMax"].replace("acc", "m")])
        # as the NumPy step: an infinite or NaN max shifts by 0
        body += ["if (!isfinite(m)) m = 0.0;", "double s = 0.0;"]
        body += loop([v, "s += exp(v - m);"])
        res = "log(s) + m"
    else:
        acc = _vtype(dt) if name in ("ReduceMax", "ReduceMin") else (
            "double" if fl else "unsigned long long")
        init = _elem(dt, "a0[b]") if name in ("ReduceMax", "ReduceMin") else (
            "1" if name == "ReduceProd" else "0")
        body = base + [f"{acc} acc = {init};"]
        sums = _UPDATE[name].startswith("acc += ") and fl
        body += loop([v, _UPDATE[name].replace("(A)", f"({acc})")],
                     simd_sum="acc" if sums else None)
        res = {"ReduceL2": "sqrt(acc)", "ReduceLogSum": "log(acc)"}.get(name, "acc")
        if name == "ReduceMean":
            # integers: the int64 sum divided with C's truncation, as the NumPy step
            res = f"acc / {count}.0" if fl else f"(long long)acc / {count}LL"
    body.append(f"y[i] = {dialect.store(out.dtype, res)};")
    note = f"reduce axes {list(axes)}: {count} elements per item"
    return _kernel(op, snake(name), {0: x}, out, n, body, note, count=count)


def _arg(op, attrs, x, out):
    from ..ops.base import norm_axis

    if not x.shape:  # NumPy's 0-d argmax gives shape (1,), not the inferred ()
        return None
    axis = norm_axis(attrs["axis"], len(x.shape), op.name)
    n, count, base, loop = walk(x.shape, (axis,))
    if count == 0:  # np.argmax raises on an empty axis
        return None
    dt = x.dtype
    gt = ">" if op.name == "ArgMax" else "<"
    # NaN counts as the extreme, as in np.argmax / np.argmin: the first NaN wins,
    # or the last one with select_last_index (NumPy on the flipped axis)
    if attrs["select_last_index"]:
        better = f"v != v || (best == best && v {gt}= best)"
    else:
        better = f"best == best && (v {gt} best || v != v)"
    body = base + [f"{_vtype(dt, False)} best = {_elem(dt, 'a0[b]', False)};",
                   "long long bi = 0;"]
    body += loop([f"const {_vtype(dt, False)} v = {_elem(dt, 'a0[j]', False)};",
                  f"if ({better}) {{ best = v; bi = k; }}"])
    body.append("y[i] = bi;")
    return _kernel(op, op.name.lower(), {0: x}, out, n, body, f"along axis {axis}",
                   count=count)


def _softmax(op, attrs, x, out):
    from ..ops.base import norm_axis

    if not x.shape or x.dtype.np.itemsize < 4:
        # 16-bit floats: NumPy rounds exp, sum and divide each to 16 bits; one
        # rounding at the end differs by an ulp, past the conformance tolerance
        return None
    axis = norm_axis(attrs["axis"], len(x.shape), op.name)
    # before opset 13 the adapter marks the 2-D coercion: normalise over the
    # flattened tail from ``axis`` on
    axes = tuple(range(axis, len(x.shape))) if attrs.get("_coerce_2d") else (axis,)
    n, count, base, loop = walk(x.shape, axes)
    if count == 0:
        return None
    dt = x.dtype
    # 32-bit floats take exp in float (within an ulp; the vector expf does twice
    # the lanes of exp) and once per element: the exponentials are kept in the
    # result and scaled by the sum (BERT's attention rows: 2.6x faster).  The sum
    # stays double, as every accumulator here.  64-bit floats stay double.
    single = dt.name == "FLOAT" and out.dtype.name == "FLOAT" and op.name == "Softmax"
    ct = "float" if dt.name == "FLOAT" else "double"
    v = f"const {ct} v = {_elem(dt, 'a0[j]', wide=ct == 'double')};"
    # the row's max, least and whether it holds a NaN, in one vectorised pass
    body = base + [f"{ct} m = " + _elem(dt, "a0[b]", wide=ct == "double") + ", mn = m;",
                   "int nan_ = 0;"]
    body += loop([v, "m = v > m ? v : m;", "mn = v < mn ? v : mn;", "nan_ |= v != v;"],
                 reducing="reduction(max:m) reduction(min:mn) reduction(|:nan_)")
    body += [f"if (nan_ || !isfinite(m)) m = 0;", "double s = 0.0;"]
    # Rows holding a value further below their maximum than exp's normal range
    # (masked attention scores, about -3.4e38: half of GPT-2's) take exp(v - m)
    # as 0 there: under 1e-38 (float; 1e-304 double) of the sum, whose largest
    # term is 1.  The vector exp takes a slow scalar path for arguments past its
    # range (GPT-2's rows 4x faster).  The bound ``lo`` is not a constant: with
    # one, the compiler proves the clamp redundant and drops it.  NaN still
    # reaches exp.
    far = f"(exp(v - m < lo ? lo : v - m) * ({ct})(v - m >= lo))"

    def either(line):  # the row's loop over its values, in both forms
        return (["if (mn - m < lo) {"] + ["  " + ln for ln in line(far)] + ["} else {"]
                + ["  " + ln for ln in line("exp(v - m)")] + ["}"])

    bound = "-87.0f" if ct == "float" else "-700.0"
    body += [f"const {ct} lo = {bound} + 0 * m;"]
    if single:
        body += either(lambda e: loop([v, f"const float e = {e};", "y[j] = e;", "s += e;"],
                                      simd_sum="s"))
        body.append("const float inv = (float)(1.0 / s);")
        body += loop(["y[j] = y[j] * inv;"], simd=True)
    else:
        body += either(lambda e: loop([v, f"s += {e};"], simd_sum="s"))
        if op.name == "Softmax":
            body += either(lambda e: loop(
                [v, f"y[j] = {dialect.store(out.dtype, f'(double){e} / s')};"], simd=True))
        else:
            body.append("const double ls = log(s);")
            body += loop([v, f"y[j] = {dialect.store(out.dtype, '(double)v - m - ls')};"],
                         simd=True)
    return _kernel(op, snake(op.name), {0: x}, out, n, body,
                   f"rows over axes {list(axes)}: {count} elements", n * count, count)


def _layer_norm(op, attrs, types, out):
    from ..ops.base import norm_axis

    x = types[0]
    axis = norm_axis(int(attrs["axis"]), len(x.shape), op.name)
    n, count, base, loop = walk(x.shape, tuple(range(axis, len(x.shape))))
    ins = {p: t for p, t in enumerate(types[:3]) if t is not None}
    # scale and bias are indexed by the rank ``k`` in the row: only when they
    # span the row exactly (other broadcasts stay NumPy steps)
    if count == 0 or 1 not in ins or any(
            not dialect.supported(t.dtype) or not t.dtype.is_float
            or _strip(t.shape) != _strip(x.shape[axis:]) for p, t in ins.items() if p):
        return None
    v = f"const double v = {_elem(x.dtype, 'a0[j]')};"
    y = f"(v - mean) * inv * {_elem(ins[1].dtype, 'a1[k]')}"
    if 2 in ins:
        y += f" + {_elem(ins[2].dtype, 'a2[k]')}"
    # two passes for the variance, as the NumPy step: mean((x - mean)^2)
    body = base + ["double mean = 0.0, var = 0.0;"]
    body += loop([v, "mean += v;"], simd_sum="mean") + [f"mean /= {count}.0;"]
    body += loop([v, "var += (v - mean) * (v - mean);"], simd_sum="var")
    body += [f"var /= {count}.0;"]
    body.append(f"const double inv = 1.0 / sqrt(var + {c_literal(float(attrs['epsilon']))});")
    body += loop([v, f"y[j] = {dialect.store(out.dtype, y)};"], simd=True)
    return _kernel(op, snake(op.name), ins, out, n, body, f"rows of {count} elements",
                   n * count, count)


def templated_kernel(op, attrs, types, out, const_value):
    """A Kernel for reduction / ArgMax / ArgMin / Softmax / LogSoftmax /
    LayerNormalization op ``op`` on static ``types`` (result type ``out``), or
    None for other ops and for the cases left to the NumPy step."""
    if not types or types[0] is None or out is None or not out.is_static:
        return None
    x = types[0]
    if not dialect.supported(x.dtype) or not dialect.supported(out.dtype):
        return None
    if op.name in _REDUCE:
        return _reduce(op, attrs, x, out, const_value)
    if op.name in _GLOBAL_POOLS and len(x.shape) >= 3 and x.dtype.is_float:
        return _reduce(op, attrs, x, out, const_value,
                       (_GLOBAL_POOLS[op.name], tuple(range(2, len(x.shape)))))
    if op.name in ("ArgMax", "ArgMin"):
        return _arg(op, attrs, x, out)
    if op.name in ("Softmax", "LogSoftmax") and x.dtype.is_float:
        return _softmax(op, attrs, x, out)
    if op.name == "LayerNormalization" and x.dtype.is_float and len(op.results) == 1:
        return _layer_norm(op, attrs, types, out)
    return None
