"""Control flow: If, Loop and Scan, ops whose bodies are regions.

Each op's bodies reach ``infer`` and ``compute`` as callables in
``attrs["_regions"]`` (see :mod:`singa.ir.regions`).  The outer values a body
reads are the op's last ``attrs["captures"]`` operands; they are passed on, in
order, as the body's last inputs.

A Loop runs at most :func:`max_loop_iterations` times (``SINGA_MAX_LOOP_ITERATIONS``,
default 2**20): a model whose loop never ends gets a :class:`ResourceError`
instead of hanging the caller.

Gradients: If differentiates the branch it took; Loop and Scan run forward again
recording each iteration's inputs, then each iteration's VJP in reverse (see
:mod:`singa.ops._region_grad`), with respect to the initial carried values or
states, the scanned inputs and the captured values.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DTypeError, GradError, ResourceError, ShapeError
from ..ir.regions import merge_types
from ..ir.types import DType, TensorType
from ._region_grad import body_vjp, float_inputs
from ._regions import split_captures
from .base import check_alloc, defop, norm_axis

DEFAULT_MAX_LOOP_ITERATIONS = 1 << 20


def max_loop_iterations() -> int:
    """The most iterations one Loop may run (``SINGA_MAX_LOOP_ITERATIONS``)."""
    env = os.environ.get("SINGA_MAX_LOOP_ITERATIONS", "").strip()
    try:
        return int(env) if env else DEFAULT_MAX_LOOP_ITERATIONS
    except ValueError:
        raise ResourceError(f"SINGA_MAX_LOOP_ITERATIONS={env!r} is not an integer") from None


def _scalar(xp, a, op: str, what: str, kind: str):
    """The one element of ``a`` as a Python bool/int; ShapeError otherwise."""
    if getattr(a, "size", None) != 1:
        raise ShapeError(f"{op}: {what} must hold one element, got shape "
                         f"{list(getattr(a, 'shape', ()))}")
    v = a.reshape(-1)[0]
    v = v.item() if hasattr(v, "item") else v
    return bool(v) if kind == "bool" else int(v)


def _check_scalar_type(op: str, what: str, t, dtypes) -> None:
    if t is None or not isinstance(t, TensorType):
        if t is not None:
            raise DTypeError(f"{op}: {what} must be a tensor, got {t}")
        return
    if t.dtype.name not in dtypes:
        raise DTypeError(f"{op}: {what} must be {' or '.join(DType[d].short for d in dtypes)}"
                         f", got {t}")
    if t.shape is not None and any(isinstance(d, int) and d != 1 for d in t.shape):
        raise ShapeError(f"{op}: {what} must hold one element, got {t}")


def _merge(op: str, what: str, a, b):
    try:
        return merge_types(a, b)
    except DTypeError as e:
        raise DTypeError(f"{op}: {what}: {e}") from None


def _stack(xp, items, axis, reverse, out_type, op, what):
    """``items`` stacked along a new ``axis`` (in reverse order when ``reverse``);
    with no items, an empty array of the body's inferred element type."""
    if not items:
        t = out_type
        if not isinstance(t, TensorType) or not t.is_static:
            raise ShapeError(f"{op}: {what} has no iterations and no static element type "
                             f"({t}) to make an empty result of")
        shape = list(t.shape)
        shape.insert(norm_axis(axis, len(shape) + 1, op), 0)
        return xp.zeros(shape, t.dtype.np)
    if reverse:
        items = items[::-1]
    first = items[0]
    check_alloc(op, (len(items),) + tuple(first.shape), first.dtype)
    try:
        return xp.stack(items, axis=norm_axis(axis, first.ndim + 1, op))
    except ValueError:
        raise ShapeError(f"{op}: {what} changes shape between iterations "
                         f"({sorted({tuple(a.shape) for a in items})})") from None


# ------------------------------------------------------------------ If

def _if_infer(types, attrs, values):
    (cond, *_), caps = split_captures(types, attrs)
    _check_scalar_type("If", "the condition", cond, ("BOOL",))
    bodies = attrs["_regions"]
    if values and values[0] is not None and np.asarray(values[0]).size == 1:
        taken = "then_branch" if bool(np.asarray(values[0]).reshape(-1)[0]) else "else_branch"
        return bodies[taken](caps)
    a, b = bodies["then_branch"](caps), bodies["else_branch"](caps)
    if len(a) != len(b):
        raise ShapeError(f"If: then_branch gives {len(a)} outputs, else_branch {len(b)}")
    return [_merge("If", f"output {k} of the branches", x, y)
            for k, (x, y) in enumerate(zip(a, b))]


def _branch(xp, inputs, attrs):
    (cond, *_), caps = split_captures(inputs, attrs)
    taken = _scalar(xp, cond, "If", "the condition", "bool")
    return attrs["_regions"]["then_branch" if taken else "else_branch"], caps


def _if_grad(xp, inputs, outputs, douts, attrs):
    """The taken branch's VJP with respect to the captured values."""
    body, caps = _branch(xp, inputs, attrs)
    wrt = float_inputs(caps)
    grads = [None] * len(inputs)
    first = len(inputs) - len(caps)
    for k, g in zip(wrt, body_vjp(body.graph, caps, douts, wrt)):
        grads[first + k] = xp.asarray(g)
    return grads


@defop("If", infer=_if_infer, grad=_if_grad, since=1, regions=("then_branch", "else_branch"),
       num_outputs=None)
def if_(xp, inputs, attrs):
    body, caps = _branch(xp, inputs, attrs)
    return body(caps)


# ------------------------------------------------------------------ Loop

_I64, _BOOL = TensorType(DType.INT64, ()), TensorType(DType.BOOL, ())


def _loop_infer(types, attrs, values):
    own, caps = split_captures(types, attrs)
    own += [None] * (2 - len(own))  # trailing empty inputs are dropped at import
    _check_scalar_type("Loop", "the trip count M", own[0], ("INT64",))
    _check_scalar_type("Loop", "the condition", own[1], ("BOOL",))
    carried = list(own[2:])
    body = attrs["_regions"]["body"]
    for _ in range(4):  # carries whose shape changes settle in one or two rounds
        outs = body([_I64, _BOOL, *carried, *caps])
        if len(outs) < 1 + len(carried):
            raise ShapeError(f"Loop: the body returns {len(outs)} values; it must return the "
                             f"condition and the {len(carried)} loop-carried values first")
        _check_scalar_type("Loop", "the body's condition output", outs[0], ("BOOL",))
        new = [_merge("Loop", f"loop-carried value {j} enters the body as {a} and leaves it "
                              f"as {b}", a, b)
               for j, (a, b) in enumerate(zip(carried, outs[1:1 + len(carried)]))]
        if new == carried:
            break
        carried = new
    else:
        raise ShapeError("Loop: the loop-carried types do not settle")
    trip = None
    if values and values[0] is not None and own[1] is None:
        trip = max(int(np.asarray(values[0]).reshape(-1)[0]), 0)
    scans = []
    for t in outs[1 + len(carried):]:
        if isinstance(t, TensorType):
            t = TensorType(t.dtype, None if t.shape is None else (trip,) + t.shape)
        scans.append(t)
    return carried + scans


def _loop_run(xp, inputs, attrs, record=None):
    """The loop's results; with ``record``, each iteration's body inputs appended."""
    own, caps = split_captures(inputs, attrs)
    own += [None] * (2 - len(own))
    m, cond, carried = own[0], own[1], list(own[2:])
    trips = None if m is None else _scalar(xp, m, "Loop", "the trip count M", "int")
    go = True if cond is None else _scalar(xp, cond, "Loop", "the condition", "bool")
    body = attrs["_regions"]["body"]
    n = len(carried)
    scans = [[] for _ in body.out_types[1 + n:]]
    limit = max_loop_iterations()
    i = 0
    while go and (trips is None or i < trips):
        if i >= limit:
            raise ResourceError(f"Loop: still running after {limit:,} iterations "
                                f"(SINGA_MAX_LOOP_ITERATIONS bounds a loop that never ends)")
        args = [xp.asarray(i, dtype=np.int64), xp.asarray(go, dtype=np.bool_), *carried, *caps]
        if record is not None:
            record.append(args)
        outs = body(args)
        go = _scalar(xp, outs[0], "Loop", "the body's condition output", "bool")
        carried = outs[1:1 + n]
        for acc, y in zip(scans, outs[1 + n:]):
            acc.append(y)
        i += 1
    return carried + [_stack(xp, acc, 0, False, t, "Loop", f"scan output {j}")
                      for j, (acc, t) in enumerate(zip(scans, body.out_types[1 + n:]))]


def _loop_grad(xp, inputs, outputs, douts, attrs):
    """Backpropagation through the iterations: the forward pass again, recording
    each iteration's inputs, then each iteration's VJP in reverse."""
    own, caps = split_captures(inputs, attrs)
    own += [None] * (2 - len(own))
    record = []
    _loop_run(xp, inputs, attrs, record)
    body = attrs["_regions"]["body"].graph
    n = len(own) - 2
    d_carried, d_scans = list(douts[:n]), list(douts[n:])
    d_caps = {k: None for k in float_inputs(caps)}
    for t in range(len(record) - 1, -1, -1):
        args = record[t]
        wrt = float_inputs(args[2:])
        grads = dict(zip(wrt, body_vjp(body, args, [None] + d_carried
                                       + [d[t] for d in d_scans], [2 + k for k in wrt])))
        d_carried = [xp.asarray(grads[j]) if j in grads else None for j in range(n)]
        for k in d_caps:
            g = xp.asarray(grads[n + k])
            d_caps[k] = g if d_caps[k] is None else d_caps[k] + g
    out = [None] * len(inputs)
    floats = float_inputs(own)
    for j, g in enumerate(d_carried):  # without iterations the carried values pass through
        out[2 + j] = g if 2 + j in floats else None
    first = len(inputs) - len(caps)
    for k, g in d_caps.items():
        out[first + k] = g if g is not None else xp.zeros_like(caps[k])
    return out


@defop("Loop", infer=_loop_infer, grad=_loop_grad, since=1, regions=("body",),
       num_outputs=None)
def loop(xp, inputs, attrs):
    return _loop_run(xp, inputs, attrs)


# ------------------------------------------------------------------ Scan

def _listed(attrs, name: str, count: int) -> list[int]:
    """Scan's per-tensor attribute ``name`` (axes, directions), 0 for each by default."""
    v = list(attrs.get(name) or [])
    if v and len(v) != count:
        raise ShapeError(f"Scan: {name} has {len(v)} entries for {count} tensors")
    return v or [0] * count


def _scan_infer(types, attrs, values):
    own, caps = split_captures(types, attrs)
    batched = attrs.get("_batched", False)
    if batched:
        own = own[1:]  # opset 8's sequence_lens
    m = int(attrs["num_scan_inputs"])
    n = len(own) - m
    if m < 1 or n < 0:
        raise ShapeError(f"Scan: num_scan_inputs={m} but the op has {len(own)} inputs")
    states, xs = own[:n], own[n:]
    lead = 1 if batched else 0
    in_axes = _listed(attrs, "scan_input_axes", m)
    elems, length = [], None
    for x, ax in zip(xs, in_axes):
        if x is None or x.shape is None:
            elems.append(None if x is None else TensorType(x.dtype, None))
            continue
        # opset 8: batch on axis 0 and time on axis 1; the body sees neither
        a = 1 if batched else norm_axis(ax, len(x.shape), "Scan")
        length = x.shape[a] if length is None else length
        elems.append(TensorType(x.dtype, x.shape[lead:a] + x.shape[a + 1:]))
    inner_states = [s if s is None or s.shape is None or not batched
                    else TensorType(s.dtype, s.shape[1:]) for s in states]
    outs = attrs["_regions"]["body"]([*inner_states, *elems, *caps])
    if len(outs) < n:
        raise ShapeError(f"Scan: the body returns {len(outs)} values for {n} states")
    results = []
    for j, (a, b) in enumerate(zip(states, outs[:n])):
        inner = inner_states[j]
        t = _merge("Scan", f"state {j} enters the body as {inner} and leaves it as {b}",
                   inner, b)
        results.append(a if batched else t)
    out_axes = _listed(attrs, "scan_output_axes", len(outs) - n)
    for t, ax in zip(outs[n:], out_axes):
        if t is None or t.shape is None:
            results.append(t if t is None else TensorType(t.dtype, None))
            continue
        shape = list(t.shape)
        if batched:
            batch = xs[0].shape[0] if xs[0] is not None and xs[0].shape else None
            shape[0:0] = [batch, length]
        else:
            shape.insert(norm_axis(ax, len(shape) + 1, "Scan"), length)
        results.append(TensorType(t.dtype, tuple(shape)))
    return results


def _scan_once(xp, body, states, xs, caps, attrs, record=None):
    """Scan-9 semantics over ``xs`` (no batch axis): final states, scan outputs;
    with ``record``, each step's body inputs appended."""
    n, m = len(states), len(xs)
    n_outs = len(body.out_types) - n
    in_axes, in_dirs = _listed(attrs, "scan_input_axes", m), _listed(
        attrs, "scan_input_directions", m)
    out_axes, out_dirs = _listed(attrs, "scan_output_axes", n_outs), _listed(
        attrs, "scan_output_directions", n_outs)
    axes = [norm_axis(a, x.ndim, "Scan") for a, x in zip(in_axes, xs)]
    lengths = {x.shape[a] for x, a in zip(xs, axes)}
    if len(lengths) > 1:
        raise ShapeError(f"Scan: the scan inputs have different lengths {sorted(lengths)}")
    steps = lengths.pop()
    ys = [[] for _ in range(n_outs)]
    for t in range(steps):
        elems = [xp.take(x, steps - 1 - t if d else t, axis=a)
                 for x, a, d in zip(xs, axes, in_dirs)]
        if record is not None:
            record.append([*states, *elems, *caps])
        outs = body([*states, *elems, *caps])
        states = outs[:n]
        for acc, y in zip(ys, outs[n:]):
            acc.append(y)
    return states, [_stack(xp, acc, ax, d, t, "Scan", f"scan output {j}")
                    for j, (acc, ax, d, t) in enumerate(zip(ys, out_axes, out_dirs,
                                                            body.out_types[n:]))]


def _scan_adapt(attrs, opset):
    if opset >= 9:
        return attrs, {}
    attrs = dict(attrs, _batched=True)
    if "directions" in attrs:
        attrs["scan_input_directions"] = attrs.pop("directions")
    return attrs, {}


def _scan_grad(xp, inputs, outputs, douts, attrs):
    """Backpropagation through the steps (opset 9+ form): each step's VJP in
    reverse; an element's gradient lands in its slice of its scan input."""
    if attrs.get("_batched", False):
        raise GradError("Scan: no gradient for the opset-8 (batched) form")
    own, caps = split_captures(inputs, attrs)
    m = int(attrs["num_scan_inputs"])
    n = len(own) - m
    xs = own[n:]
    record = []
    _scan_once(xp, attrs["_regions"]["body"], own[:n], xs, caps, attrs, record)
    body = attrs["_regions"]["body"].graph
    n_outs = len(douts) - n
    in_axes, in_dirs = _listed(attrs, "scan_input_axes", m), _listed(
        attrs, "scan_input_directions", m)
    out_axes, out_dirs = _listed(attrs, "scan_output_axes", n_outs), _listed(
        attrs, "scan_output_directions", n_outs)
    axes = [norm_axis(a, x.ndim, "Scan") for a, x in zip(in_axes, xs)]
    oaxes = [norm_axis(a, d.ndim, "Scan") for a, d in zip(out_axes, douts[n:])]
    steps = len(record)
    d_states = list(douts[:n])
    d_xs = {j: xp.zeros_like(x) for j, x in enumerate(xs) if j + n in float_inputs(own)}
    d_caps = {k: xp.zeros_like(caps[k]) for k in float_inputs(caps)}
    for t in range(steps - 1, -1, -1):
        args = record[t]
        d_ys = [xp.take(d, steps - 1 - t if r else t, axis=a)
                for d, a, r in zip(douts[n:], oaxes, out_dirs)]
        wrt = float_inputs(args)
        grads = dict(zip(wrt, body_vjp(body, args, d_states + d_ys, wrt)))
        d_states = [xp.asarray(grads[j]) if j in grads else None for j in range(n)]
        for j, acc in d_xs.items():
            idx = steps - 1 - t if in_dirs[j] else t
            xp.moveaxis(acc, axes[j], 0)[idx] += xp.asarray(grads[n + j])
        for k, acc in d_caps.items():
            acc += xp.asarray(grads[n + m + k])
    out = [None] * len(inputs)
    out[:n] = d_states if steps else list(douts[:n])
    for j, g in d_xs.items():
        out[n + j] = g
    for k, g in d_caps.items():
        out[len(own) + k] = g
    return out


@defop("Scan", infer=_scan_infer, grad=_scan_grad, since=8, regions=("body",),
       num_outputs=None, adapt=_scan_adapt)
def scan(xp, inputs, attrs):
    own, caps = split_captures(inputs, attrs)
    body = attrs["_regions"]["body"]
    m = int(attrs["num_scan_inputs"])
    if not attrs.get("_batched", False):
        n = len(own) - m
        states, ys = _scan_once(xp, body, own[:n], own[n:], caps, attrs)
        return states + ys
    # opset 8: a batch axis 0 on every input, time on axis 1, lengths per sample
    lens, own = own[0], own[1:]
    n = len(own) - m
    states, xs = own[:n], own[n:]
    batch, steps = xs[0].shape[0], xs[0].shape[1]
    lens = [steps] * batch if lens is None else [int(v) for v in np.asarray(
        lens.get() if hasattr(lens, "get") else lens).reshape(-1)]
    if len(lens) != batch or any(not 0 <= k <= steps for k in lens):
        raise ShapeError(f"Scan: sequence_lens {lens} for a batch of {batch} and {steps} steps")
    inner = dict(attrs, scan_input_axes=[0] * m)
    per = [_scan_once(xp, body, [s[b] for s in states], [x[b, :lens[b]] for x in xs], caps,
                      inner) for b in range(batch)]
    out_states = [xp.stack([p[0][j] for p in per]) for j in range(n)]
    outs = []
    for j in range(len(per[0][1]) if per else 0):
        items = [p[1][j] for p in per]
        width = max(a.shape[0] for a in items)
        pad = [xp.concatenate([a, xp.zeros((width - a.shape[0],) + a.shape[1:], a.dtype)])
               for a in items]
        outs.append(xp.stack(pad))
    return out_states + outs
