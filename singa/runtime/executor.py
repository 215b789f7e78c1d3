"""Run a graph through specialised, cached execution plans.

:class:`Executor` owns a graph (with symbolic dims, as imported).  For each
new combination of input shapes and dtypes, ``last_layers`` and
``all_outputs`` it clones the graph, binds the inputs' shapes, truncates, runs
the pass pipeline and lowers the result into an :class:`ExecutionPlan`; later
runs with the same key reuse it.

Weights: the caller passes the current weight arrays on every run (SINGA
trains ``tensor_map`` in place).  Weights the optimised plan still reads are
read live; weights a pass consumed at compile time (integer shape tensors
folded into constants, BatchNorm statistics folded into a Conv) are compared
with the copy taken when the plan was built, and a change rebuilds the plan.
So a plan never runs with stale weights.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict

import numpy as np

from .. import device as _device
from ..errors import (DTypeError, InputError, IRError, OpError, ResourceError, ShapeError,
                      SingaError)
from ..ir.graph import Graph
from ..ir.printer import format_type
from ..ir.types import DType, OptionalType, SequenceType, TensorType
from . import checks

# float weights up to this many elements fold on the kernel targets (see pipeline)
SMALL_PARAMS = 1 << 14


# bytes a weight's data is aligned to: a cache line, so the GEMM's vector loads
# of a weight read in place never straddle two (BERT's projections 1.1x faster)
ALIGN = 64


def _read_in_place(graph: Graph) -> list:
    """The weights a GEMM may read in place, by rows of vectors: the B of a
    MatMul, or of a Gemm that does not transpose it.  Only these are moved by
    :func:`aligned` (moving all cost VGG-19's prepare 1 s of page faults)."""
    found = {}
    for op in graph.ops:
        if (op.name == "MatMul" or (op.name == "Gemm" and not op.attrs.get("transB"))) \
                and len(op.operands) > 1 and op.operands[1] is not None \
                and op.operands[1].kind == "param":
            found[id(op.operands[1])] = op.operands[1]
    return list(found.values())


def aligned(a):
    """``a`` (a host weight array) with its data at an ALIGN-byte boundary: itself,
    or a copy in a fresh buffer where it is not (NumPy aligns to 16)."""
    if not isinstance(a, np.ndarray) or a.dtype == object or a.ctypes.data % ALIGN == 0:
        return a
    buf = np.empty(a.nbytes + ALIGN, np.uint8)
    start = -buf.ctypes.data % ALIGN
    out = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def check_inputs(graph: Graph, arrays, relax_batch: bool = True) -> list:
    """Validate ``arrays`` against the graph's inputs; their shapes as tuples.

    Count, rank, dtype and every static dim must match, except the leading
    (batch) dim when ``relax_batch``: any batch size runs, so a model exported
    with batch 1 (or pinned by SINGA's ``update_batch_size``) takes batch 5.
    A symbol must have one size across all inputs.  A sequence input is a list
    whose every element is checked against the element type (its symbols bind
    per element: the elements' shapes may differ), an optional input its value
    or None; their "shape" is None (the plan keeps the declared type).  Errors
    name the input.
    """
    ins = graph.inputs
    if len(arrays) != len(ins):
        names = ", ".join(v.name for v in ins)
        raise InputError(f"model takes {len(ins)} input(s) ({names}), got {len(arrays)}")
    shapes = []
    symbols: dict[str, tuple[int, str]] = {}
    for v, a in zip(ins, arrays):
        if isinstance(a, (list, tuple)) or a is None or v.type is None \
                or not isinstance(v.type, TensorType):
            _check_container(v.name, v.type, a, relax_batch)
            shapes.append(None if v.type is not None or a is None
                          or isinstance(a, (list, tuple)) else tuple(int(d) for d in a.shape))
            continue
        shapes.append(_check_tensor(v.name, v.type, a, symbols, relax_batch))
    return shapes


def _check_container(name: str, t, a, relax_batch: bool, where: str = "") -> None:
    """InputError unless run-time value ``a`` fits ``t`` (a SequenceType,
    OptionalType, TensorType or None) at ``name`` + ``where`` (``[k]`` of an element)."""
    what = f"input {name!r}{where}"
    if t is None:
        return
    if isinstance(t, OptionalType):
        if a is not None:
            _check_container(name, t.elem, a, relax_batch, where)
        return
    if a is None:
        raise InputError(f"{what} is None; expected {format_type(t)}")
    if isinstance(t, SequenceType):
        if not isinstance(a, (list, tuple)):
            raise InputError(f"{what}: expected {format_type(t)} (a list), given a "
                             f"{type(a).__name__}")
        for k, e in enumerate(a):
            _check_container(name, t.elem, e, relax_batch, f"{where}[{k}]")
        return
    if isinstance(a, (list, tuple)):
        raise InputError(f"{what}: expected {format_type(t)}, given a list")
    _check_tensor(f"{name}{where}", t, a, {}, relax_batch and not where)


def _check_tensor(name: str, t: TensorType, a, symbols: dict, relax_batch: bool) -> tuple:
    """InputError unless array ``a`` fits ``t``; its shape."""
    shape = tuple(int(d) for d in a.shape)
    want = format_type(t)
    try:
        have_dt = DType.from_np(a.dtype)
    except Exception:
        raise InputError(f"input {name!r}: dtype {a.dtype} is not an ONNX type; "
                         f"expected {want}") from None
    if have_dt != t.dtype:
        raise InputError(f"input {name!r}: expected {want}, given {a.dtype} "
                         f"{list(shape)} (dtype {have_dt.short} != {t.dtype.short})")
    if t.shape is None:
        return shape
    if len(shape) != len(t.shape):
        raise InputError(f"input {name!r}: expected {want} (rank {len(t.shape)}), "
                         f"given shape {list(shape)} (rank {len(shape)})")
    for i, (d, n) in enumerate(zip(t.shape, shape)):
        if isinstance(d, int):
            if d != n and not (relax_batch and i == 0):
                raise InputError(f"input {name!r}: expected {want}, given shape "
                                 f"{list(shape)} (dim {i} is {n}, not {d})")
        elif isinstance(d, str) and not (relax_batch and i == 0):
            prev = symbols.setdefault(d, (n, name))
            if prev[0] != n:
                raise InputError(f"input {name!r}: dim {i} ({d}) is {n}, but {d} is "
                                 f"{prev[0]} in input {prev[1]!r}")
    return shape


def _put(dev, a):
    """Run-time value ``a`` on ``dev``: an array, a list of them (a sequence), None."""
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        return [_put(dev, e) for e in a]
    return dev.put(a)


def _leaves(values):
    """The arrays in ``values``, inside sequences too."""
    for a in values:
        if isinstance(a, (list, tuple)):
            yield from _leaves(a)
        elif a is not None:
            yield a


def _signature(a) -> tuple:
    """What of run-time value ``a`` a plan is specialised on: an array's shape and
    dtype; nothing of a sequence or an empty optional (their declared types stay)."""
    if a is None:
        return ("none",)
    if isinstance(a, (list, tuple)):
        return ("seq",)
    return (tuple(a.shape), a.dtype)


def input_shapes(graph: Graph, arrays) -> list:
    """The shapes the plan binds: a tensor input's, None for sequences and
    optionals (and for untyped inputs given no array)."""
    return [tuple(a.shape) if (v.type is None or isinstance(v.type, TensorType))
            and hasattr(a, "shape") else None for v, a in zip(graph.inputs, arrays)]


def _equal(xp, a, b) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if xp is np and a.size <= SMALL_PARAMS and a.tobytes() == b.tobytes():
        return True  # the usual answer for small weights, without a temporary
    if a.dtype.kind in "fc":
        return bool(xp.array_equal(a, b, equal_nan=True))
    return bool(xp.array_equal(a, b))


class _Compiled:
    """One cached plan and what it was built from."""

    __slots__ = ("plan", "graph", "frozen", "small", "live_types", "timings", "seen",
                 "seen_names", "small_flat", "small_bytes")

    def __init__(self, plan, graph, frozen, live_types, timings):
        self.plan = plan
        self.graph = graph  # the optimised graph (for dumps and tests)
        self.frozen = frozen  # weight name -> copy of the data folded into the plan
        # the small NumPy ones as (shape, dtype, bytes): checked on every run, and a
        # model can have hundreds (the light ShuffleNet's Reshape shapes: 0.6 ms a
        # run through _equal, a third of that so)
        self.small = {n: (a.shape, a.dtype, a.tobytes()) for n, a in frozen.items()
                      if isinstance(a, np.ndarray) and a.size <= SMALL_PARAMS}
        self.live_types = live_types  # weight name -> (shape, dtype) the plan assumes
        self.timings = timings
        # the weight arrays last found valid (see Executor._still_valid), and the
        # small ones' bytes as flat views of them, in c.small's order
        self.seen = None
        self.seen_names = tuple(live_types) + tuple(self.small)
        self.small_flat = None
        self.small_bytes = b"".join(data for _, _, data in self.small.values())


class Executor:
    """Runs ``graph`` on ``device`` (a Device or 'CPU'/'cuda'), one plan per key.

    Options: ``fold_params`` lets passes fold float weights (BatchNorm into
    Conv, constant subgraphs over weights); ``fuse`` runs the fuse pass
    (elementwise chains become FusedElementwise steps); ``passes`` replaces the default
    pipeline (a list of Pass objects, or a callable returning one);
    ``verify`` checks the IR after every pass; ``check`` compares every step's
    results with the inferred types (for debugging the op table);
    ``dump_dir`` writes the IR after each pass and the plan for each new key;
    ``target`` is the code-generation target (see :mod:`singa.codegen.target`):
    on 'c' and 'cuda' bool intermediates become int32 and elementwise chains
    fuse into generated kernels.
    """

    def __init__(self, graph: Graph, device=None, *, fold_params: bool = False,
                 fuse: bool = False, passes=None, verify: bool = False, check: bool = False,
                 dump_dir=None, relax_batch: bool = True, max_plans: int = 32,
                 target: str | None = None, max_bytes=None):
        from ..codegen.target import resolve as resolve_target

        self.graph = graph
        self.device = _device.resolve(device)
        self.target = resolve_target(target, self.device)
        self.fold_params = fold_params
        self.fuse = fuse
        self.passes = passes
        self.verify = verify
        self.check = check
        self.dump_dir = dump_dir
        self.relax_batch = relax_batch
        self.max_plans = max_plans
        self._cache: OrderedDict = OrderedDict()
        # runs share one rep across threads: the cache's reads, reorders and
        # evictions must not interleave (plans are built outside the lock)
        self._lock = threading.Lock()
        self._declared = None  # output types at the declared input shapes (lazy)
        self.max_bytes = max_bytes  # the memory budget (None: runtime.budget's default)
        for v in _read_in_place(graph):
            v.data = aligned(v.data)
        self._host_params = {v.name: v.data for v in graph.params}
        self._device_params = None

    # ------------------------------------------------------------ building
    def pipeline(self) -> list:
        """The passes run on each specialised clone (after binding and truncation)."""
        if self.passes is not None:
            return list(self.passes() if callable(self.passes) else self.passes)
        from ..passes import (DropIdentities, EliminateDeadCode, FoldBatchNorm, FoldConstants,
                              InferShapes, PlanMemory, StrengthReduce)

        ps = [InferShapes(), FoldConstants(fold_params=self.fold_params), StrengthReduce(),
              DropIdentities(), EliminateDeadCode()]
        if self.fold_params:
            ps += [FoldBatchNorm(), EliminateDeadCode()]
        if self.target != "numpy":
            from ..passes import BoolToInt32, LowerBatchNorm, LowerConv

            # BatchNormalization's per-channel arithmetic folds over its (small,
            # snapshot-checked) weights; the per-element part fuses
            ps += [LowerConv(implicit=self.target == "c"), LowerBatchNorm(),
                   FoldConstants(fold_params=self.fold_params, small_params=SMALL_PARAMS),
                   EliminateDeadCode(), BoolToInt32()]
        if self.fuse or self.target != "numpy":
            from ..passes.fuse import Fuse

            ps.append(Fuse())
        return ps + [InferShapes(), PlanMemory()]

    def specialise(self, shapes, dtypes=None, last_layers=None, all_outputs=False,
                   params=None, dump_dir=None):
        """The optimised graph for these input shapes, its weights' snapshots and timings."""
        from ..passes import InferShapes, PassManager, Truncate

        g = self.graph.clone()
        params = self._host_params if params is None else params
        given = {}
        for v in g.params:
            if v.name in params:
                data = self._to_host(params[v.name])
                given[v.name] = data
                v.data = data
                v.type = TensorType.of(data)
        for k, (v, shape) in enumerate(zip(g.inputs, shapes)):
            if shape is None:  # keep the declared (symbolic) type
                continue
            if v.type is not None:
                v.type = TensorType(v.type.dtype, tuple(shape))
            elif dtypes is not None:
                v.type = TensorType(DType.from_np(dtypes[k]), tuple(shape))
        if last_layers is not None:
            Truncate(last_layers).run(g)
        used = {v.name for v in g.params if v.uses and v.name in given}
        # Integer/bool weights (shape tensors) steer inference and folding wherever
        # they are used, so they are always checked; they are small.
        steering = {n for n in used if given[n].dtype.kind not in "fc"}
        ps = [InferShapes()] if all_outputs else self.pipeline()
        pm = PassManager(ps, verify=self.verify, dump_dir=dump_dir)
        pm.run(g)
        live = {v.name for v in g.params if v.name in given and v.data is given[v.name]}
        frozen = {n: given[n].copy() for n in (used - live) | steering}
        return g, live, frozen, pm.timings

    def _to_host(self, arr):
        return arr if isinstance(arr, np.ndarray) else _device.get_default_device().put(arr)

    def plan_for(self, arrays, last_layers=None, all_outputs=False, params=None) -> _Compiled:
        """The cached (or newly built) plan for these input arrays."""
        key = (tuple(map(_signature, arrays)), last_layers, bool(all_outputs))
        with self._lock:
            c = self._cache.get(key)
            if c is not None and self._still_valid(c, params):
                self._cache.move_to_end(key)
                return c
        shapes = input_shapes(self.graph, arrays)
        dump = None
        if self.dump_dir is not None:
            import os

            tag = "_".join("any" if s is None else "x".join(map(str, s)) or "scalar"
                           for s in shapes)
            tag += "" if last_layers is None else f"_last{last_layers}"
            tag += "_all" if all_outputs else ""
            dump = os.path.join(self.dump_dir, f"plan-{tag}")
        relaxed = checks.relaxed_batch(self.graph, shapes)
        try:
            g, live, frozen, timings = self.specialise(shapes, [getattr(a, "dtype", None)
                                                                for a in arrays],
                                                       last_layers, all_outputs, params, dump)
        except (ShapeError, DTypeError, IRError) as e:
            if not relaxed:
                raise
            raise InputError(f"{checks.describe_relaxed(relaxed)}: the model does not run at this "
                             f"batch size ({e})") from e
        if relaxed and last_layers is None and not all_outputs:
            if self._declared is None:
                self._declared = checks.declared_outputs(self.graph)
            checks.outputs_hold(g, relaxed, self._declared)
        checks.within_budget(g, self.max_bytes)
        from ..codegen.cpu import lower

        plan = lower(g, self.device, live, collect_all=all_outputs,
                     target="numpy" if all_outputs else self.target)
        live_types = {}
        for n in live:
            p = (params or self._host_params)[n]
            live_types[n] = (tuple(p.shape), p.dtype)
        c = _Compiled(plan, g, {n: self.device.put(a) for n, a in frozen.items()},
                      live_types, timings)
        if dump is not None:
            with open(f"{dump}/plan.txt", "w", encoding="utf-8") as f:
                f.write(str(plan))
        with self._lock:
            self._cache[key] = c
            while len(self._cache) > self.max_plans:
                self._cache.popitem(last=False)
        return c

    def _still_valid(self, c: _Compiled, params) -> bool:
        """Whether plan ``c`` may run with ``params``: the live weights have the
        shapes and dtypes it assumes, the folded ones the values it folded.

        After one full check, a run passing the very same arrays is checked by
        identity and one comparison of the small weights' bytes, gathered by one
        concatenation: the full check walks every weight, hundreds of them
        (ResNet-50: 0.4 ms a run, 1% of it, its arrays cold after the run)."""
        params = self._host_params if params is None else params
        seen = c.seen
        if seen is not None and all(map(operator.is_, map(params.get, c.seen_names), seen)) \
                and (c.small_flat is None
                     or np.concatenate(c.small_flat).tobytes() == c.small_bytes):
            return True
        if not self._fully_valid(c, params):
            return False
        if len(c.frozen) != len(c.small):
            return True  # big folded weights are compared in full on every run
        arrays = tuple(params.get(n) for n in c.seen_names)
        small = arrays[len(c.live_types):]
        if all(isinstance(p, np.ndarray) and p.flags.c_contiguous for p in small):
            # views: they follow changes made in place
            c.small_flat = [p.reshape(-1).view(np.uint8) for p in small] or None
            c.seen = arrays
        return True

    def _fully_valid(self, c: _Compiled, params) -> bool:
        for n, (shape, dt) in c.live_types.items():
            p = params.get(n)
            if p is None or tuple(p.shape) != shape or p.dtype != dt:
                return False
        for n, (shape, dt, data) in c.small.items():
            p = params.get(n)
            if not isinstance(p, np.ndarray) or p.shape != shape or p.dtype != dt \
                    or p.tobytes() != data:
                if p is None or not _equal(np, np.asarray(self.device.put(p)), c.frozen[n]):
                    return False
        xp = self.device.xp
        for n, snap in c.frozen.items():
            if n in c.small:
                continue
            p = params.get(n)
            if p is None or not _equal(xp, self.device.put(p), snap):
                return False
        return True

    # ------------------------------------------------------------ running
    def run(self, inputs, last_layers=None, all_outputs=False, params=None):
        """Outputs (a list of device arrays) for ``inputs`` (arrays, graph-input order).

        ``params``: weight name -> current array (default: the graph's own data).
        With ``all_outputs`` returns an OrderedDict name -> array of every op
        result in order instead.
        """
        from . import budget

        dev = self.device
        arrays = [_put(dev, a) for a in inputs]
        check_inputs(self.graph, arrays, self.relax_batch)
        if params is None:
            params = self._params_on_device()
        # this model's budget for what folding and the ops allocate while it runs
        with budget.limited(self.max_bytes):
            c = self.plan_for(arrays, last_layers, all_outputs, params)
            return run_plan(c.plan, arrays, params, collect=all_outputs, check=self.check)

    def _params_on_device(self):
        if self.device.kind == "cpu":
            return self._host_params
        if self._device_params is None:
            self._device_params = {n: self.device.put(a) for n, a in self._host_params.items()}
        return self._device_params


def run_plan(plan, inputs, params, collect: bool = False, check: bool = False):
    """Execute ``plan``: fill inputs, live weights and constants, run the steps.

    Returns the outputs (copied where they alias an input, weight, constant or
    the arena, so callers may keep and modify them), or with ``collect`` an
    OrderedDict of every op result by name.  A failing step raises
    :class:`OpError` naming the op and its source node.
    """
    xp = plan.device.xp
    env = [b.data for b in plan.buffers]
    for bid, a in zip(plan.inputs, inputs):
        env[bid] = a
    for bid, name in plan.live_params.items():
        env[bid] = params[name]
    arena = None if plan.pool is None else plan.pool.take(plan, xp)
    try:
        if arena is None:
            for s in plan.steps:
                _step(plan, s, env, xp, None, check)
        elif plan.target == "cuda":
            _on_own_stream(plan, env, xp, arena, check)
        else:
            _run_segments(plan, env, xp, arena, check)
        persistent = {id(_root(a)) for a in _leaves(inputs)}
        persistent.update(id(_root(params[n])) for n in plan.live_params.values())
        consts = getattr(plan, "_const_roots", None)
        if consts is None:
            consts = plan._const_roots = {id(_root(b.data)) for b in plan.buffers
                                          if b.data is not None}
        persistent |= consts
        if arena is not None:
            persistent.add(id(_root(arena.memory)))
        if collect:
            return OrderedDict((name, _own(env[bid], persistent, name))
                               for name, bid in plan.collect)
        return [_own(env[bid], persistent, plan.buffers[bid].name) for bid in plan.outputs]
    finally:
        if arena is not None:
            plan.pool.give(arena)


def _step(plan, s, env, xp, out, check) -> None:
    args = [None if i is None else env[i] for i in s.inputs]
    try:
        outs = s.compute(xp, args, s.attrs) if out is None else s.compute(xp, args, s.attrs, out)
    except SingaError as e:  # already says what went wrong: keep its class, add where
        msg = str(e)
        if msg.startswith(f"{s.op}:"):
            msg = msg[len(s.op) + 1:].lstrip()
        raise type(e)(f"{s.where()}: {msg}") from e
    except MemoryError as e:
        raise ResourceError(f"{s.where()}: out of memory computing its results "
                            f"(input shapes {[getattr(a, 'shape', None) for a in args]})") from e
    except Exception as e:
        raise _op_error(s, args, e) from e
    if len(outs) < len(s.outputs):
        raise OpError(f"{s.where()}: compute gave {len(outs)} results, the op has "
                      f"{len(s.outputs)}")
    for bid, o in zip(s.outputs, outs):
        if bid is not None:
            if check:
                _check_result(plan, s, bid, o)
            env[bid] = o
    for bid in s.frees:
        env[bid] = None


def _run_segments(plan, env, xp, arena, check) -> None:
    """The steps, kernel results in ``arena``; each segment (codegen.arena) is
    recorded on its first run over this arena and replayed after that."""
    views, steps = arena.views, plan.steps
    stops = dict(plan.segments)
    i = 0
    while i < len(steps):
        stop = stops.get(i)
        if stop is None:
            _step(plan, steps[i], env, xp, views[i], check)
            i += 1
            continue
        segment = steps[i:stop]
        replay = arena.replays.get(i)
        if replay is not None and any(env[b] is not a for b, a in arena.bound[i]):
            replay = None  # the caller passes other weight arrays: record again
        if replay is None:
            bound = tuple((b, env[b]) for b in plan.segment_params.get(i, ()))
            if not all(a.flags.c_contiguous for _, a in bound):
                # a strided weight is copied by the launcher on every call: a
                # recording would keep the pointer of a copy that is freed
                for s in segment:
                    _step(plan, s, env, xp, views[s.index], check)
                i = stop
                continue
            arena.bound[i] = bound

            def run(segment=segment):
                for s in segment:
                    _step(plan, s, env, xp, views[s.index], check)
                    if s.kernel is None:  # a view of fixed memory: the same every run
                        arena.fixed_views[s.index] = env[s.outputs[0]]
            arena.replays[i] = _recorder(plan.target)(run, arena.stream)
        else:
            replay()
            settle = arena.settle.get(i)
            if settle is None:
                settle = arena.settle[i] = _settling(segment)
            # the results outliving the segment are where the recorded calls wrote
            # them (read before any is set: an in-place result names its input)
            found = [(bid, views[at] if kind == 0 else arena.fixed_views[at] if kind == 1
                      else env[at] if kind == 2 else None) for bid, kind, at in settle]
            for bid, value in found:
                env[bid] = value
        i = stop


def _settling(segment) -> list:
    """What running ``segment`` leaves in the run's buffers, as (buffer, kind,
    index): kind 0 the arena view of step ``index``, 1 its fixed view, 2 buffer
    ``index``'s value before the segment (an in-place result of an input), 3 freed.
    Only buffers written or freed by the segment and not made and freed within it:
    walking every step after each replay cost a microsecond a step (a quarter
    millisecond a run of EfficientNet-B0)."""
    state, made = {}, set()
    for s in segment:
        k, out = s.kernel, s.outputs[0]
        if k is None:
            state[out] = (1, s.index)
        elif k.inplace is None:
            state[out] = (0, s.index)
        else:
            src = s.inputs[k.inputs[k.inplace]]
            state[out] = state[src] if src in state else (2, src)
        made.add(out)
        for bid in s.frees:
            state[bid] = (3, None)
    return [(bid, kind, at) for bid, (kind, at) in state.items()
            if not (kind == 3 and bid in made)]


def _recorder(target):
    if target == "cuda":
        from ..codegen.cuda import record
        return record
    from ..codegen.host import record
    return lambda run, _stream: record(run)


def _on_own_stream(plan, env, xp, arena, check) -> None:
    """Run on the arena's own stream (CUDA graph capture needs a non-blocking
    one), ordered after the caller's work on the current stream and before
    whatever the caller does next with the outputs."""
    from ..codegen import cuda

    if arena.stream is None:
        arena.stream = cuda.stream()
    caller = xp.cuda.get_current_stream()
    arena.stream.wait_event(caller.record())
    with arena.stream:
        _run_segments(plan, env, xp, arena, check)
    caller.wait_event(arena.stream.record())


def _root(a):
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _own(a, persistent: set, name: str = ""):
    """``a``, or a copy when it is (a view of) an array that outlives this run:
    an input, a weight or a constant (ops such as Identity or Reshape return
    their operand or a view of it)."""
    if a is None:
        return None
    if isinstance(a, (list, tuple)):  # a sequence: a new list, its elements owned
        return [_own(e, persistent, name) for e in a]
    if id(_root(a)) in persistent:
        try:
            return a.copy()
        except MemoryError as e:
            raise ResourceError(f"output {name!r} ({a.dtype}{list(a.shape)}, {a.nbytes:,} "
                                f"bytes): cannot allocate its copy") from e
    return a


def _op_error(step, args, e) -> OpError:
    shapes = ", ".join("_" if a is None else
                       f"{getattr(a, 'dtype', '?')}{list(getattr(a, 'shape', ()))}"
                       for a in args)
    return OpError(f"{step.where()} on ({shapes}) failed: {type(e).__name__}: {e}")


def _check_result(plan, step, bid, a) -> None:
    t = plan.buffers[bid].type
    if not isinstance(t, TensorType):  # unknown, or a sequence/optional: opaque here
        return
    have = DType.from_np(a.dtype)
    ok = have == t.dtype and (t.shape is None or (
        len(t.shape) == a.ndim and all(not isinstance(d, int) or d == n
                                       for d, n in zip(t.shape, a.shape))))
    if not ok:
        raise OpError(f"{step.where()}: result %{plan.buffers[bid].name} is {have.short}"
                      f"{list(a.shape)}, inferred {format_type(t)}")
