"""Lower a specialised graph into an :class:`ExecutionPlan` of op-table steps.

Each op becomes one step calling ``OPS[op].compute`` with its attributes
completed once, here; constants (and weights the caller does not update) are
put on the device once; liveness says after which step each temporary can be
dropped.  The steps are written against ``device.xp``, so the same plan runs
with NumPy on the CPU and with CuPy on a GPU (op by op there; fused CUDA
kernels would replace groups of steps).

Epilogues: an op whose result is a new array nobody else holds (a Conv, a
Gemm, a BatchNormalization, a binary sum...) and a chain of elementwise ops
after it, each the only reader of the previous result (BatchNormalization in
inference mode, Relu, Clip, Add, Sum, Sub, Mul), become one step: the head
computes, and every epilogue overwrites the head's array in place, with the
same arithmetic as the op (so the same values) but without allocating and
filling a new array per op.  The fused step runs where the chain's last op
stood, when all its other operands exist.  Whenever an operand does not fit
in place (other dtype, broadcasting that grows the result), the epilogue falls
back to the op's own compute.
"""

from __future__ import annotations

import weakref

from ..errors import IRError
from ..ir.graph import Graph, Op, Value
from ..ir.regions import run_attrs
from .plan import Buffer, ExecutionPlan, Step

# Ops whose first result is always a freshly allocated array that no other
# value, weight or cache aliases, so the plan may overwrite it in place.
FRESH_HEADS = frozenset({"Conv", "ConvTranspose", "Gemm", "BatchNormalization", "Add", "Sub",
                         "Mul", "Sum"})
# Heads on the numpy target only: on the kernel targets these are kernels or
# write the arena, which a NumPy head with epilogues would replace.
NUMPY_HEADS = FRESH_HEADS | {"MatMul", "Div", "Sigmoid", "Erf"}


# ------------------------------------------------------------------ in-place epilogues
#
# Each takes the owned array ``y`` (the chain value), its operand position
# ``pos`` in the op and the op's other operands ``others`` (in order, without y),
# and returns the op's result: ``y`` overwritten, or a new array via ``compute``.

def _fallback(opdef):
    def run(xp, y, pos, others, attrs):
        args = list(others)
        args.insert(pos, y)
        return opdef.compute(xp, args, attrs)[0]
    return run


def _relu(xp, y, pos, others, attrs):
    return xp.maximum(y, 0, out=y)


def _clip(xp, y, pos, others, attrs):
    from ..ops.arith import _clip_bounds

    _, lo, hi = _clip_bounds(xp, [y] + list(others))
    # the op raises to min, then lowers to max: same order, same values
    if lo is not None:
        xp.maximum(y, lo, out=y)
    if hi is not None:
        xp.minimum(y, hi, out=y)
    return y


def _fits(y, others) -> bool:
    """All operands of y's dtype and none of a shape that would grow the result."""
    for o in others:
        if o is None or o.dtype != y.dtype or o.ndim > y.ndim:
            return False
        if any(d != 1 and d != n for d, n in zip(o.shape[::-1], y.shape[::-1])):
            return False
    return True


def _binary(ufunc_name):
    def run(xp, y, pos, others, attrs):
        if not _fits(y, others):
            return None
        a = [y] + list(others) if pos == 0 else list(others) + [y]
        getattr(xp, ufunc_name)(a[0], a[1], out=y)
        return y
    return run


def _sum(xp, y, pos, others, attrs):
    if not _fits(y, others):
        return None
    # Sum folds left to right: acc = x0; acc = acc + x_i.  The operands before y
    # are summed into a new array first (as the op does), then y takes over.
    acc = None
    for o in others[:pos]:
        acc = o if acc is None else acc + o
    if acc is not None:
        xp.add(acc, y, out=y)
    for o in others[pos:]:
        xp.add(y, o, out=y)
    return y


def _batchnorm(xp, y, pos, others, attrs):
    from ..ops.norm import _bn_layout

    scale, b, mean, var = others[:4]
    if (pos != 0 or attrs.get("training_mode", 0)
            or any(p is None or p.dtype != y.dtype or p.shape != scale.shape
                   for p in (scale, b, mean, var))):
        return None
    shape, _ = _bn_layout("BatchNormalization", y, scale)
    eps = float(attrs.get("epsilon", 1e-5))
    # exactly the op's expressions (norm.batch_normalization), evaluated in place
    a = scale.reshape(shape) / xp.sqrt(var.reshape(shape) + eps)
    c = b.reshape(shape) - mean.reshape(shape) * a
    if a.dtype != y.dtype or c.dtype != y.dtype:
        return None
    xp.multiply(y, a, out=y)
    xp.add(y, c, out=y)
    return y


_true_divide = _binary("divide")


def _div(xp, y, pos, others, attrs):
    # integer Div truncates (ops.arith), which NumPy's divide does not do in place
    return _true_divide(xp, y, pos, others, attrs) if y.dtype.kind == "f" else None


def _erf(xp, y, pos, others, attrs):
    from ..ops.elementwise import erf

    return erf(xp, y, out=y)


def _leaky_relu(xp, y, pos, others, attrs):
    # the op's x * alpha below zero (alpha rounded to y's type), in place
    xp.multiply(y, y.dtype.type(attrs["alpha"]), out=y, where=y < 0)
    return y


EPILOGUES = {
    "Relu": _relu,
    "LeakyRelu": _leaky_relu,
    "Clip": _clip,
    "Add": _binary("add"),
    "Sub": _binary("subtract"),
    "Mul": _binary("multiply"),
    "Div": _div,
    "Erf": _erf,
    "Sum": _sum,
    "BatchNormalization": _batchnorm,
}


def _epilogue_ok(op: Op, v: Value) -> bool:
    """Whether ``op`` can take ``v`` (its operand) as an in-place epilogue."""
    if op.name not in EPILOGUES or sum(1 for o in op.operands if o is v) != 1:
        return False
    if any(r.uses for r in op.results[1:]):
        return False
    if op.name == "BatchNormalization":
        return op.operands[0] is v and not op.attrs.get("training_mode", 0)
    return True


def _chains(graph: Graph, outputs: set, kernels: bool = False) -> dict:
    """head op -> the epilogue ops fused after it (only heads with at least one).
    With ``kernels`` (targets c, cuda) ops with a scalar template are left out:
    they become generated kernels running in place instead."""
    from ..ops import OPS

    chains = {}
    taken = set()
    heads = FRESH_HEADS if kernels else NUMPY_HEADS
    for op in graph.ops:
        if op.name not in heads or id(op) in taken or not op.results:
            continue
        if any(r.uses for r in op.results[1:]):
            continue
        chain = []
        v = op.results[0]
        while v not in outputs and len(v.uses) == 1:
            user = v.uses[0][0]
            if not isinstance(user, Op) or id(user) in taken or not _epilogue_ok(user, v):
                break
            if kernels and OPS[user.name].cuda is not None:
                break
            chain.append(user)
            taken.add(id(user))
            v = user.results[0]
        if chain:
            chains[id(op)] = chain
            taken.add(id(op))
    return chains


def _fused_compute(head_compute, n_head, parts):
    """compute() of a head followed by in-place epilogues.  ``parts``: one
    (in-place function, fallback, position of the chain value, operand count,
    attrs) per epilogue, whose other operands follow the head's in ``args``."""

    def compute(xp, args, attrs):
        y = head_compute(xp, args[:n_head], attrs)[0]
        k = n_head
        for fast, slow, pos, n, eattrs in parts:
            others = args[k:k + n]
            k += n
            # ops on 0-d operands may give NumPy scalars, which cannot be written
            r = fast(xp, y, pos, others, eattrs) if isinstance(y, xp.ndarray) else None
            y = slow(xp, y, pos, others, eattrs) if r is None else r
        return [y]

    return compute


# Ops whose result is their first operand's array or a view of it.
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


def _into(opdef):
    """compute(xp, args, attrs, out=None) of an op with ``into``: the arena's
    array when the runtime passes one."""
    def compute(xp, args, attrs, out=None):
        if out is None:
            return opdef.compute(xp, args, attrs)
        return opdef.into(xp, args, attrs, out)
    return compute


def _view(shape):
    """compute() of a view op whose result shape is known: the operand reshaped
    (the op's own compute re-reads and checks its shape operand on every run)."""
    def compute(xp, args, attrs):
        return [args[0].reshape(shape)]
    compute.static_view = True
    return compute


# ops whose kernels may take an elementwise epilogue (codegen.epilogue): the
# products, and depthwise convolutions by planes
PRODUCTS = frozenset({"MatMul", "ConvGemm", "Gemm", "Conv"})


def _product_epilogues(graph: Graph, outputs: set, taken: set, kernel_of) -> dict:
    """Elementwise kernels that run inside the matrix product before them
    (:mod:`.epilogue`, target c): id(elementwise op) -> (fused kernel, the
    product op, the elementwise operand positions of the kernel's extra inputs,
    the ops it absorbs).  The product's result reaches the elementwise op alone,
    directly or through static views (a convolution's Reshape), and is as big
    as the elementwise result (no broadcast of it).  ``kernel_of(op)`` is op's own
    kernel, made once: where a pair does not combine, the plan uses both."""
    from ..ops import OPS
    from .epilogue import fuse

    found = {}
    for op in graph.ops:
        if op.name not in PRODUCTS or id(op) in taken or len(op.results) != 1:
            continue
        v, views = op.results[0], []
        while v not in outputs and len(v.uses) == 1:
            user = v.uses[0][0]
            if not isinstance(user, Op) or user.name not in VIEW_OPS \
                    or user.operands[0] is not v or id(user) in taken \
                    or user.results[0].type is None or not user.results[0].type.is_static:
                break
            views.append(user)
            v = user.results[0]
        if v in outputs or len(v.uses) != 1:
            continue
        user, position = v.uses[0]
        if not isinstance(user, Op) or id(user) in taken or len(user.results) != 1 \
                or (user.name != "FusedElementwise" and OPS[user.name].cuda is None) \
                or sum(1 for o in user.operands if o is v) != 1 \
                or not all(t is not None and t.is_static for t in (v.type, user.results[0].type)) \
                or tuple(v.type.shape) != tuple(user.results[0].type.shape):
            continue
        gk, ek = kernel_of(op), kernel_of(user)
        made = None if gk is None or ek is None else fuse(gk, ek, position)
        if made is not None:
            found[id(user)] = (made[0], op, made[1], [op] + views)
    return found


def _plan_time_value(v: Value):
    """The value kernels may bake in: constants, and integer weights (shape and
    axes tensors), whose change the executor notices and rebuilds the plan for."""
    if v.kind == "const" or (v.kind == "param" and v.data is not None
                             and getattr(v.data, "dtype", None) is not None
                             and v.data.dtype.kind not in "fc"):
        return v.data
    return None


_EXECUTORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def region_runner(device, target):
    """Runs a region through an executor of its own: the body is specialised to the
    shapes it meets and planned once per shape, like a model.  One executor per
    body, device and target, kept as long as the body is."""
    def runner(body, what):
        from ..runtime.executor import Executor

        per_body = _EXECUTORS.setdefault(body, {})
        ex = per_body.get((device, target))
        if ex is None:
            ex = per_body[(device, target)] = Executor(body, device, fold_params=True,
                                                       relax_batch=False, target=target)
        return ex.run
    return runner


def lower(graph: Graph, device, live_params=(), collect_all: bool = False,
          fuse_epilogues: bool = True, target: str = "numpy") -> ExecutionPlan:
    """The plan of ``graph`` on ``device``.

    ``live_params``: names of params read from the caller on every run; other
    params are bound once like constants.  ``collect_all`` keeps every op
    result until the end and lists them in ``plan.collect`` (for
    ``run(..., all_outputs=True)``); it also turns epilogue fusion off, as does
    ``fuse_epilogues=False``.  ``target`` 'c' or 'cuda' runs every op the kernel
    renderer handles as a generated kernel (see :mod:`singa.codegen.kernels`),
    all compiled here.  View ops (Reshape, Flatten, ...) with a static result
    become a plain reshape.
    """
    from ..ops import OPS

    live_params = set(live_params)
    plan = ExecutionPlan(graph.name, device, target=target)
    kernel_steps = []
    ids: dict[Value, int] = {}
    memory = getattr(graph, "memory_plan", None)

    def add(v: Value, kind: str, data=None) -> int:
        b = Buffer(len(plan.buffers), v.name, kind, v.type, data=data)
        if memory is not None and v in memory:
            b.slot = memory[v]
        plan.buffers.append(b)
        ids[v] = b.id
        return b.id

    for v in graph.inputs:
        plan.inputs.append(add(v, "input"))
    for v in graph.params:
        if v.name in live_params:
            plan.live_params[add(v, "param")] = v.name
        else:
            add(v, "const", device.put(v.data))
    for v in graph.consts:
        add(v, "const", device.put(v.data))

    outputs = set(graph.outputs)
    chains = {} if collect_all or not fuse_epilogues else _chains(graph, outputs,
                                                                  target != "numpy")
    fresh: set = set()  # values in arrays their step allocated (kernel or FRESH_HEADS result)
    taken = {id(o) for c in chains.values() for o in c} | {id(h) for h in chains}
    made: dict = {}  # id(op) -> its kernel (or None), built once

    def kernel_of(op):
        from .kernels import kernel_for

        if id(op) not in made:
            made[id(op)] = kernel_for(op, _plan_time_value, target)
        return made[id(op)]

    fused_products = ({} if target != "c" or collect_all or not fuse_epilogues
                      else _product_epilogues(graph, outputs, taken, kernel_of))
    # A fused group runs at its last op: head -> tail, and tail -> its group.
    groups = {}
    absorbed = set()
    for op in graph.ops:
        chain = chains.get(id(op))
        if chain:
            groups[id(chain[-1])] = [op] + chain
            absorbed.update(id(o) for o in [op] + chain[:-1])
    for _, _, _, ops in fused_products.values():
        absorbed.update(id(o) for o in ops)

    last_use: dict[int, int] = {}

    def operand_ids(op: Op, skip: Value | None = None) -> list:
        """Buffer ids of op's operands (None for absent ones), without ``skip``."""
        ins = []
        for v in op.operands:
            if skip is not None and v is skip:
                continue
            if v is None:
                ins.append(None)
                continue
            if v not in ids:
                raise IRError(f"{op.name} ({op.loc}): operand %{v.name} is used before "
                              f"it is defined")
            ins.append(ids[v])
        return ins

    for op in graph.ops:
        opdef = OPS.get(op.name)
        if opdef is None:
            raise IRError(f"{op.name} ({op.loc}): not in the op table")
        if id(op) in absorbed:
            continue
        k = len(plan.steps)
        group = groups.get(id(op))
        if id(op) in fused_products:
            kernel, product, positions, _ = fused_products[id(op)]
            ins = operand_ids(product) + [ids[op.operands[p]] for p in positions]
            out = add(op.results[0], "temp")
            plan.steps.append(Step(k, f"{product.name}+{op.name}",
                                   ", ".join(o.loc for o in (product, op) if o.loc), None, {},
                                   tuple(ins), (out,), kernel=kernel))
            kernel_steps.append(plan.steps[-1])
            fresh.add(op.results[0])
        elif group is None:
            ins = operand_ids(op)
            attrs = run_attrs(op, opdef.attrs(op.attrs), region_runner(device, target))
            if opdef.num_outputs != 1 and "_num_outputs" not in attrs:
                attrs["_num_outputs"] = len(op.results)
            outs = []
            for r in op.results:
                keep = bool(r.uses) or collect_all or r in outputs
                outs.append(add(r, "temp") if keep else None)
                if keep and collect_all and r.name:
                    plan.collect.append((r.name, ids[r]))
            kernel = None
            if target != "numpy":
                from .kernels import in_place

                kernel = kernel_of(op)
                if kernel is not None and not collect_all:
                    kernel = in_place(kernel, op, fresh, outputs)
            into = (target != "numpy" and kernel is None and opdef.into is not None
                    and not collect_all and len(outs) == 1 and outs[0] is not None)
            compute = _into(opdef) if into else opdef.compute
            if op.name in VIEW_OPS and op.results[0].type is not None \
                    and op.results[0].type.is_static:
                compute = _view(tuple(op.results[0].type.shape))
            plan.steps.append(Step(k, op.name, op.loc, compute, attrs, tuple(ins), tuple(outs),
                                   kernel=kernel, into=into))
            if kernel is not None:
                kernel_steps.append(plan.steps[-1])
            if kernel is not None or into or op.name in FRESH_HEADS:
                fresh.add(op.results[0])
            elif (op.name in VIEW_OPS and op.operands and op.operands[0] in fresh
                  and len(op.operands[0].uses) == 1 and op.operands[0] not in outputs):
                # a view of a fresh array that nothing else reads may be written in place
                fresh.add(op.results[0])
        else:
            head = group[0]
            hdef = OPS[head.name]
            ins = operand_ids(head)
            attrs = hdef.attrs(head.attrs)
            if hdef.num_outputs != 1 and "_num_outputs" not in attrs:
                attrs["_num_outputs"] = len(head.results)
            parts, epilogue = [], []
            prev = head.results[0]
            for e in group[1:]:
                edef = OPS[e.name]
                eattrs = edef.attrs(e.attrs)
                if edef.num_outputs != 1 and "_num_outputs" not in eattrs:
                    eattrs["_num_outputs"] = len(e.results)
                pos = next(i for i, o in enumerate(e.operands) if o is prev)
                extra = operand_ids(e, skip=prev)
                ins += extra
                parts.append((EPILOGUES[e.name], _fallback(edef), pos, len(extra), eattrs))
                epilogue.append((e.name, e.loc, pos, tuple(extra)))
                prev = e.results[0]
            out = add(op.results[0], "temp")
            fresh.add(op.results[0])  # the head's own array, overwritten in place
            name = "+".join(o.name for o in group)
            loc = ", ".join(o.loc for o in group if o.loc)
            plan.steps.append(Step(k, name, loc, _fused_compute(hdef.compute, len(head.operands),
                                                                parts),
                                   attrs, tuple(ins), (out,), epilogue=tuple(epilogue)))
        for i in plan.steps[-1].inputs:
            if i is not None:
                last_use[i] = k
    if kernel_steps:
        from .kernels import bind

        launchers = bind([s.kernel for s in kernel_steps], target)
        for s in kernel_steps:
            s.compute = launchers[s.kernel.name]
        plan.kernels = list({s.kernel.name: s.kernel for s in kernel_steps}.values())
    for v in graph.outputs:
        if v not in ids:
            raise IRError(f"graph output %{v.name} is not defined")
        plan.outputs.append(ids[v])

    if not collect_all:
        # A temp dies after its last reader; one never read (an op's unused result
        # that is still kept) dies at its producer. Graph outputs live to the end.
        keep = set(plan.outputs)
        frees: dict[int, list[int]] = {}
        for s in plan.steps:
            for b in s.outputs:
                if b is not None and b not in keep:
                    frees.setdefault(last_use.get(b, s.index), []).append(b)
        for b, k in last_use.items():
            if plan.buffers[b].kind == "input" and b not in keep:
                frees.setdefault(k, []).append(b)
        for s in plan.steps:
            s.frees = tuple(sorted(set(frees.get(s.index, ()))))
    if kernel_steps and not collect_all:
        from .arena import Pool, layout

        layout(plan)
        plan.pool = Pool()
    if memory is not None:
        plan.peak_bytes = memory.peak_bytes
        plan.naive_bytes = memory.naive_bytes
    return plan
