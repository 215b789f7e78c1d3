"""Eager autograd on the CPU through the compiled host kernels.

``autograd.apply`` runs a table op's NumPy ``compute``; for the big ops of a
training step (convolutions, matrix products, pools, large elementwise ops) the
code generator has faster kernels: its own packed GEMM, window kernels, fused
OpenMP loops.  This module gives eager ops those kernels without a second
implementation: an op (or the gradient of one) becomes a one-op IR graph with
the operands' static types, goes through the compiled-training pipeline
(``lower_conv``, ``lower_vjp``, ``fuse``, memory planning) and is lowered for the
``c`` target into an execution plan that is run on the operands' arrays.

Plans are cached per (op, attributes, operand types[, gradients needed]).  A
signature is compiled only when it is seen again (``HOT`` calls: a one-off op
is not worth a compiler run) and only when its work is large enough to pay for
a plan's overhead (``MIN_WORK``); a signature the pipeline cannot turn into
kernels, or whose gradient would still run the table's NumPy rule, is
remembered as None and keeps the NumPy path.  Results agree with the NumPy
compute within the op table's tolerances (the kernels pass the same
onnxruntime-checked cases).

Which ops: every kind offered is used whenever it is hot and big enough, not
chosen op by op by timing it against NumPy.  Timing single ops was tried: it
mixes the two thread pools in one step (OpenBLAS's threads spin after a NumPy
product while the kernels' OpenMP threads want the same cores), which made a
mixed step up to 3x slower than either pure one, and the measurements
themselves were at the mercy of that fight.  With the products, convolutions
and their gradients all in kernels, a step of the guide's CNN never calls BLAS
(``bench/train_cnn.py``, ``bench/train_bert.py`` measure the whole step).

Off switches: ``SINGA_EAGER_KERNELS=0`` in the environment (read at each call),
or ``device.eager_kernels = False`` on a device.  Without a C compiler that can
build the kernels (``codegen.host.usable()``) the NumPy path is used.  The cache
is shared by threads: lookups and inserts hold a lock, plans are built outside
it, and a plan's run takes an arena of its own (``codegen.arena.Pool``).
"""

from __future__ import annotations

import functools
import math
import os
import threading

import numpy as np

from ..errors import SingaError

ENV = "SINGA_EAGER_KERNELS"
#: calls with one signature before it is compiled
HOT = 2
#: least work (multiply-adds for products, result elements otherwise) worth a plan
MIN_WORK = 1 << 15
#: signatures remembered (plans and refusals) before the oldest are dropped
MAX_ENTRIES = 512

#: ops whose work is a product (multiply-adds), not their result size
_PRODUCTS = {"MatMul", "Gemm", "Conv"}
#: ops this module offers besides the elementwise ones with a C template
_OPS = _PRODUCTS | {"MaxPool", "AveragePool", "Softmax", "LogSoftmax"}

_lock = threading.Lock()
_seen: dict = {}  # signature -> calls so far, until compiled
_plans: dict = {}  # signature -> runner of its plan, or None (stay in NumPy)
_UNSET = object()
_kinds: dict = {}  # op name -> whether its kind of op is offered at all


@functools.lru_cache(maxsize=None)
def _host_usable() -> bool:
    from ..codegen import host

    return host.usable() is None


def enabled(dev) -> bool:
    """Whether eager ops on ``dev`` may run through compiled kernels (the
    switches; whether a compiler can build them is asked only when a signature
    is first compiled, so programs without hot ops never probe for one)."""
    if dev.kind != "cpu" or not getattr(dev, "eager_kernels", True):
        return False
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def clear() -> None:
    """Forget every cached plan and call count (tests; a changed switch)."""
    with _lock:
        _seen.clear()
        _plans.clear()


# ------------------------------------------------------------------ signatures

def _attrs_key(attrs):
    """The attributes as a hashable key (lists as tuples), or _UNSET where a value
    has none (arrays, graphs, nested lists: such ops are not worth keying)."""
    try:
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                           for k, v in attrs.items() if not k.startswith("_")))
        hash(key)
    except TypeError:
        return _UNSET
    return key


def _types_key(arrays):
    return tuple(None if a is None else (a.dtype.str, a.shape) for a in arrays)


def _eligible(opdef, attrs) -> bool:
    ok = _kinds.get(opdef.name)
    if ok is None:
        ok = _kinds[opdef.name] = (
            not opdef.regions and (opdef.num_outputs == 1 or opdef.name == "MaxPool")
            and (opdef.name in _OPS or (opdef.cuda is not None
                                        and opdef.pattern.name in ("ELEMWISE", "BROADCAST"))))
    # MaxPool: Values only (its Indices have no kernel)
    return ok and (opdef.name != "MaxPool" or int(attrs.get("_num_outputs", 1)) == 1)


def _work(name, arrays, out_size) -> int:
    if name in _PRODUCTS and len(arrays) > 1 and arrays[1] is not None:
        w = arrays[1].shape
        if name == "Conv":  # C/G * taps per result
            inner = math.prod(w[1:])
        elif name == "Gemm":  # A's columns (its rows when transposed: same magnitude)
            inner = arrays[0].shape[-1]
        else:
            inner = w[-2] if len(w) >= 2 else w[0]
        return out_size * int(inner)
    return out_size


def _result_size(name, arrays) -> int:
    """The result's size, roughly (exact for elementwise ops and MatMul)."""
    a = arrays[0]
    b = arrays[1] if len(arrays) > 1 else None
    if name in _PRODUCTS and a is not None and b is not None and a.ndim >= 2 and b.ndim >= 2:
        if name == "Conv":  # same spatial size: a bound for unit strides
            return a.size // max(1, a.shape[1]) * b.shape[0]
        return a.size // max(1, a.shape[-1]) * b.shape[-1 if name == "MatMul" else 0]
    return max(x.size for x in arrays if x is not None)


def _lookup(key, build):
    """The cached runner (see :func:`_runner`) for ``key``, its plan built by
    ``build()`` on the HOT-th call; None while NumPy should run it."""
    with _lock:
        plan = _plans.get(key, _UNSET)
        if plan is not _UNSET:
            return plan
        n = _seen.get(key, 0) + 1
        if n == 1 and len(_seen) >= 4 * MAX_ENTRIES:
            _seen.clear()  # shapes that never repeat: forget their counts
        _seen[key] = n
        if n < HOT:
            return None
    if not _host_usable():
        return None
    try:
        plan = build()
        plan = None if plan is None else _runner(plan)
    except (SingaError, ValueError, IndexError, TypeError):
        # operands the op rejects (the NumPy compute then reports them, as
        # apply maps these), or a form the pipeline cannot plan: NumPy runs it
        plan = None
    with _lock:
        if len(_plans) >= MAX_ENTRIES:
            _plans.pop(next(iter(_plans)))
        plan = _plans.setdefault(key, plan)  # a racing thread's plan is as good
        _seen.pop(key, None)
    return plan


def _run(runner, inputs):
    """Outputs of a plan's ``runner`` on ``inputs``, made contiguous once here
    rather than by each kernel launcher reading them."""
    from ..codegen.kernels import contiguous

    return runner([None if a is None else contiguous(np, a) for a in inputs])


def _runner(plan):
    """run(inputs) -> outputs of ``plan``.  A plan of one kernel that
    reads only inputs and constants calls its launcher directly (a new result
    array each call), which saves ``run_plan``'s per-run bookkeeping (tens of
    microseconds, as much as a small op)."""
    from .executor import run_plan

    steps = plan.steps
    if (len(steps) != 1 or steps[0].kernel is None or steps[0].kernel.inplace is not None
            or plan.live_params or list(steps[0].outputs) != list(plan.outputs)):
        return lambda inputs: run_plan(plan, inputs, {})
    step = steps[0]
    where = {bid: k for k, bid in enumerate(plan.inputs)}
    # per operand: (input position, None) or (None, the constant's array)
    sources = [(None, None) if i is None else (where.get(i), plan.buffers[i].data)
               for i in step.inputs]

    def run(inputs):
        args = [const if k is None else inputs[k] for k, const in sources]
        return step.compute(np, args, step.attrs)

    return run


# ------------------------------------------------------------------ forward

def forward(opdef, attrs, arrays):
    """``compute(xp, arrays, attrs)`` running op ``opdef`` through a compiled plan,
    or None when the NumPy compute should run (not eligible, small, not hot yet,
    or nothing the code generator speeds up)."""
    if not _eligible(opdef, attrs) or any(a is not None and not isinstance(a, np.ndarray)
                                   for a in arrays):
        return None
    if all(a is None for a in arrays):
        return None
    if _work(opdef.name, arrays, _result_size(opdef.name, arrays)) < MIN_WORK:
        return None
    akey = _attrs_key(attrs)
    if akey is _UNSET:
        return None
    key = ("fwd", opdef.name, akey, _types_key(arrays))
    plan = _lookup(key, lambda: _build_forward(opdef, attrs, arrays))
    if plan is None:
        return None
    return lambda xp, ins, _attrs: _run(plan, ins)


def _ir_attrs(attrs) -> dict:
    return {k: v for k, v in attrs.items() if not k.startswith("_")}


def _plan(g):
    """``g`` optimised and lowered for the host kernels; None unless every op
    that does real work became a kernel (a plan of NumPy steps gains nothing)."""
    from ..codegen.cpu import VIEW_OPS, lower
    from ..device import get_default_device
    from ..passes import PassManager
    from .train_step import training_passes

    PassManager(training_passes("c"), verify=False).run(g)
    if any(op.name == "VJP" for op in g.ops):
        return None  # a gradient rule lower_vjp does not know: the table's rule is as fast
    plan = lower(g, get_default_device(), target="c")
    if not plan.kernels or any(s.kernel is None and not s.into and s.op not in VIEW_OPS
                               for s in plan.steps):
        return None
    return plan


def _build_forward(opdef, attrs, arrays):
    from ..ir.graph import Graph
    from ..ir.types import TensorType

    g = Graph(f"eager_{opdef.name}")
    vals = [None if a is None else g.add_input(f"in{i}", TensorType.of(a))
            for i, a in enumerate(arrays)]
    op = g.add_op(opdef.name, vals, [None], _ir_attrs(attrs), loc=f"eager {opdef.name}")
    g.set_outputs(op.results)
    return _plan(g)


# ------------------------------------------------------------------ gradients

def gradient(node, douts):
    """The input gradients of tape ``node`` (one per input, None where not
    needed) through a compiled plan, or None when the table's ``grad`` should run."""
    opdef, ins = node.opdef, node.in_arrays
    if (len(douts) != 1 or not isinstance(douts[0], np.ndarray)
            or not isinstance(node.out_arrays[0], np.ndarray)
            or douts[0].dtype != node.out_arrays[0].dtype
            or douts[0].shape != node.out_arrays[0].shape
            or not _eligible(opdef, node.attrs) or opdef.grad is None):
        return None
    if any(a is not None and not isinstance(a, np.ndarray) for a in ins):
        return None
    if _work(opdef.name, ins, douts[0].size) < MIN_WORK:
        return None
    akey = _attrs_key(node.attrs)
    if akey is _UNSET:
        return None
    needs = tuple(bool(n) and a is not None and a.dtype.kind == "f"
                  for n, a in zip(node.needs, ins))
    if not any(needs):
        return None
    key = ("grad", opdef.name, akey, _types_key(ins), _types_key(node.out_arrays), needs)
    plan = _lookup(key, lambda: _build_gradient(opdef, node.attrs, ins, node.out_arrays[0],
                                                needs))
    if plan is None:
        return None
    # the graph's inputs: operands taking no gradient, y, dy, operands taking one
    inputs = [a for a, need in zip(ins, needs) if not need and a is not None]
    inputs += [node.out_arrays[0], douts[0]]
    inputs += [a for a, need in zip(ins, needs) if need]
    grads = iter(_run(plan, inputs))
    return [next(grads) if need else None for need in needs]


def _build_gradient(opdef, attrs, ins, out, needs):
    """The graph: the operands, the op, its gradients by ``append_gradients``
    (which differentiates with respect to params) seeded with an input ``dy``
    instead of ones, and the recorded result ``y`` read instead of recomputed."""
    from ..ir.graph import Graph
    from ..ir.types import TensorType
    from ..passes import InferShapes, LowerConv
    from ..passes.append_gradients import AppendGradients

    g = Graph(f"eager_{opdef.name}_grad")
    vals = []
    for i, (a, need) in enumerate(zip(ins, needs)):
        if a is None:
            vals.append(None)
        elif need:
            vals.append(g.add_param(f"p{i}", a))
        else:
            vals.append(g.add_input(f"in{i}", TensorType.of(a)))
    y_in = g.add_input("y", TensorType.of(out))
    dy = g.add_input("dy", TensorType.of(out))
    op = g.add_op(opdef.name, vals, [None], _ir_attrs(attrs), loc=f"eager {opdef.name}")
    g.set_outputs(op.results)
    InferShapes().run(g)
    LowerConv().run(g)  # differentiate the lowered form: its VJPs lower to kernels
    y = g.outputs[0]
    consts = set(g.consts)
    grads = AppendGradients(wrt=[v.name for v, need in zip(vals, needs) if need])
    grads.run(g)
    seed = [c for c in g.consts if c not in consts]
    if len(seed) != 1:
        return None
    seed[0].replace_all_uses_with(dy)
    y.replace_all_uses_with(y_in)
    g.set_outputs([grads.grads[v.name] for v, need in zip(vals, needs) if need])
    # The differentiated operands were params only for append_gradients: as
    # inputs (after y and dy) no kernel call reading them is recorded for
    # replay, where a later run's new arrays would not be seen (codegen.arena
    # binds a replay to the params a segment reads directly, not through views)
    for v in [v for v, need in zip(vals, needs) if need]:
        v.replace_all_uses_with(g.add_input(v.name, v.type))
    g.drop_unused_values()
    return _plan(g)
