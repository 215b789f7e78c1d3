"""Eager autograd: ops from the table run at once and are recorded on a tape.

``apply`` is the single entry point: it runs ``OPS[name].compute`` on the
operands' arrays and links the outputs to a :class:`Node` holding what the
backward rule needs.  ``backward`` walks the tape from a scalar loss and yields
``(param, grad)`` for every tensor with ``stores_grad``.  The tape is recorded
in inference mode too, so ``sonnx.to_onnx`` can trace any computed tensor.

SINGA's autograd surface lives here too: the ``Operator`` classes
(:mod:`singa.operators`, :mod:`singa.operators_logic`,
:mod:`singa.operators_shape`, :mod:`singa.operators_nn`),
the losses (:mod:`singa.losses`) and the lower-case functions
(:mod:`singa.functions`).  A tensor's ``creator`` is its tape :class:`Node`;
``y.creator.backward(dy)`` returns the gradients of the inputs the operator
was called with, as raw arrays (what SINGA calls CTensors is ``Tensor.data``).
"""

from __future__ import annotations

import sys
import threading
import types
from collections import Counter, deque

import numpy as np

from .frontends import step_record as _step_record
from .errors import DeviceError, GradError, OpError, ShapeError, SingaError
from .ops import OPS
from .runtime import eager_kernels as _eager
from .tensor import Tensor

class _Mode(threading.local):
    """The training flag, one per thread; every thread starts in inference mode."""

    training = False


_mode = _Mode()


class _AutogradModule(types.ModuleType):
    """``autograd.training`` as SINGA users write it (read and assign the module
    attribute), but per thread: a thread training a model does not switch a
    ``SingaRep`` serving inference in another thread to the training path."""

    @property
    def training(self) -> bool:
        """True while training: Dropout drops, BatchNorm uses batch statistics."""
        return _mode.training

    @training.setter
    def training(self, value) -> None:
        _mode.training = bool(value)


sys.modules[__name__].__class__ = _AutogradModule


class Node:
    """One recorded op: its definition, attrs, operand tensors and arrays, outputs."""

    __slots__ = ("opdef", "attrs", "inputs", "in_arrays", "out_arrays", "needs", "name",
                 "operands", "__weakref__")

    def __init__(self, opdef, attrs, inputs, in_arrays, out_arrays, needs, name):
        self.opdef = opdef
        self.attrs = attrs
        self.inputs = inputs
        self.in_arrays = in_arrays
        self.out_arrays = out_arrays
        self.needs = needs  # per input: does a gradient have to reach it
        self.name = name
        # What a SINGA Operator was called with (None: the non-None inputs); an
        # operator built of several table ops marks its last node with them.
        self.operands = None

    @property
    def op_name(self) -> str:
        return self.opdef.name

    @property
    def requires_grad(self) -> bool:
        """Whether any input needs a gradient (SINGA's ``Operator.requires_grad``)."""
        return any(self.needs)

    def backward(self, *dys):
        """SINGA's ``creator.backward(dy, ...)``: the gradients of this op's operands.

        ``dys``: one gradient per output (raw arrays, Tensors or numbers; none
        given: ones, as for a loss).  Returns one raw array per operand the
        operator was called with (None for an operand that takes no gradient),
        a single array when there is one operand.  Nothing is accumulated into
        parameters; ``autograd.backward`` does that.
        """
        return _operator_backward(self, dys)

    def __repr__(self):
        return f"<Node {self.opdef.name} {self.name or ''}>"


def _needs_grad(t: Tensor | None) -> bool:
    return t is not None and t.requires_grad and (t.creator is not None or t.stores_grad)


def _lift(x, like: Tensor) -> Tensor:
    """Python scalars and arrays become constant tensors on ``like``'s device and dtype."""
    if x is None or isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if not isinstance(x, np.ndarray) and arr.ndim == 0 and like.dtype.kind != "b":
        arr = arr.astype(like.dtype)  # a Python number takes the tensor's dtype, as in NumPy
    return Tensor(device=like.device if like is not None else None, data=arr, requires_grad=False)


def apply(op_name: str, inputs, attrs: dict | None = None, name: str | None = None) -> list[Tensor]:
    """Run table op ``op_name`` on ``inputs`` (Tensors, scalars, or None) and record it."""
    try:
        opdef = OPS[op_name]
    except KeyError:
        raise OpError(f"op {op_name!r} is not in the operator table") from None
    like = next((t for t in inputs if isinstance(t, Tensor)), None)
    if like is None:
        raise SingaError(f"{op_name}: needs at least one Tensor operand")
    tensors = [_lift(t, like) for t in inputs]
    dev = like.device
    for t in tensors:
        if t is not None and t.device != dev:
            raise DeviceError(f"{op_name}: operands on {dev} and {t.device}; move them with to_device")
    arrays = [None if t is None else t.data for t in tensors]
    full = opdef.attrs(attrs)
    # compiled host kernels where they pay (singa.runtime.eager_kernels), else NumPy
    compute = (_eager.enabled(dev) and _eager.forward(opdef, full, arrays)) or opdef.compute
    # --- begin profiler hook (singa.profiling; SetVerbosity > 0 times compute) ---
    compute = dev.profiler.timed(op_name, compute)
    # --- end profiler hook ---
    try:
        outs = compute(dev.xp, arrays, full)
    except ShapeError as e:
        raise ShapeError(f"{_prefixed(_where(op_name, name), op_name, str(e))} "
                         f"(input shapes {_shapes(arrays)})") from e
    except SingaError:
        raise
    except (ValueError, IndexError, TypeError) as e:
        raise ShapeError(f"{_where(op_name, name)}: input shapes {_shapes(arrays)} do not fit: {e}") from e
    return _record(opdef, full, tensors, arrays, outs, dev, name)


def _record(opdef, attrs, tensors, arrays, outs, dev, name=None) -> list[Tensor]:
    """Put one computed op on the tape: a Node and its output Tensors on ``dev``."""
    needs = [_needs_grad(t) for t in tensors]
    node = Node(opdef, attrs, tensors, arrays, outs, needs, name)
    tracked = any(needs)
    results = []
    for i, o in enumerate(outs):
        t = Tensor(device=dev, data=o, creator=node,
                   requires_grad=tracked and o is not None and o.dtype.kind in "fc")
        t._out_index = i
        results.append(t)
    return results


def _where(op_name, name):
    return f"{op_name} ({name})" if name else op_name


def _prefixed(where: str, op_name: str, msg: str) -> str:
    """``msg`` led by ``where``, once: op computes often name their op already."""
    if msg.startswith(f"{op_name}:"):
        msg = msg[len(op_name) + 1:].lstrip()
    return f"{where}: {msg}"


def _shapes(arrays):
    return ", ".join("None" if a is None else str(tuple(a.shape)) for a in arrays)


def backward(y: Tensor, dy=None):
    """Back-propagate from ``y``; yields ``(param, grad)`` for each ``stores_grad`` tensor.

    ``dy`` defaults to ones, allowed only when ``y`` holds a single value.
    A parameter is yielded as soon as its gradient is complete.
    """
    xp = y.device.xp
    _step_record.note_backward(y, dy)  # Model.compile(use_graph=True) records the loss
    if dy is None:
        if y.size != 1:
            raise GradError(f"backward: y has shape {y.shape}, not a scalar; pass dy")
        dy = xp.ones_like(y.data)
    else:
        dy = dy.data if isinstance(dy, Tensor) else y.device.put(np.asarray(dy, dtype=y.dtype))
        if dy.ndim == 0 and y.size == 1:  # SINGA's dy: a number scaling the loss
            dy = dy.reshape(y.shape)
        if tuple(dy.shape) != y.shape:
            raise ShapeError(f"backward: dy shape {tuple(dy.shape)} != y shape {y.shape}")
    if y.creator is None:
        if y.stores_grad:
            yield y, Tensor(device=y.device, data=dy, requires_grad=False)
        return

    # Count, for every node and every leaf parameter, how many gradient
    # contributions it will receive, so each is finished exactly when complete.
    pending = Counter()
    stack, seen = [y.creator], {id(y.creator)}
    missing = []
    while stack:
        node = stack.pop()
        if node.opdef.grad is None and any(node.needs):
            missing.append(_where(node.opdef.name, node.name))
        for t, need in zip(node.inputs, node.needs):
            if not need:
                continue
            if t.creator is not None:
                pending[id(t.creator)] += 1
                if id(t.creator) not in seen:
                    seen.add(id(t.creator))
                    stack.append(t.creator)
            else:
                pending[id(t)] += 1
    if missing:
        raise GradError("no gradient defined for: " + ", ".join(sorted(set(missing))))

    fast = _eager.enabled(y.device)
    grads = {(id(y.creator), y._out_index): dy}
    leaf_grads = {}
    ready = [y.creator]
    while ready:
        node = ready.pop()
        douts = []
        for k, o in enumerate(node.out_arrays):
            g = grads.pop((id(node), k), None)
            douts.append(g if g is not None or o is None else xp.zeros_like(o))
        # ``_need_grads`` lets a rule skip work nobody wants (a first conv's dX).
        dxs = fast and _eager.gradient(node, douts)
        if not dxs:
            attrs = dict(node.attrs, _need_grads=tuple(node.needs))
            dxs = node.opdef.grad(xp, node.in_arrays, node.out_arrays, douts, attrs)
        for t, need, g in zip(node.inputs, node.needs, dxs):
            if not need:
                continue
            if t.creator is not None:
                key = (id(t.creator), t._out_index)
                if g is not None:
                    grads[key] = g if key not in grads else grads[key] + g
                pending[id(t.creator)] -= 1
                if pending[id(t.creator)] == 0:
                    ready.append(t.creator)
            else:
                if g is not None:
                    leaf_grads[id(t)] = g if id(t) not in leaf_grads else leaf_grads[id(t)] + g
                pending[id(t)] -= 1
                if pending[id(t)] == 0 and id(t) in leaf_grads and t.stores_grad:
                    g = leaf_grads.pop(id(t))
                    if g.dtype != t.dtype:
                        g = g.astype(t.dtype)
                    yield t, Tensor(device=t.device, data=g, requires_grad=False)


class _Gradients(dict):
    """``{param: grad}`` that also answers SINGA's ``grads[id(param)]``."""

    def __missing__(self, key):
        if isinstance(key, int):
            for p, g in self.items():
                if id(p) == key:
                    return g
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or (
            isinstance(key, int) and any(id(p) == key for p in self))


def gradients(y: Tensor, dy=None) -> dict:
    """All ``(param -> grad)`` of ``backward`` as a dict; SINGA's ``grads[id(param)]``
    lookups work on it too."""
    return _Gradients(backward(y, dy))


# ------------------------------------------------------------------ SINGA's helpers

def axis_helper(y_shape, x_shape) -> tuple:
    """The axes of ``y_shape`` along which ``x_shape`` was broadcast (NumPy rules)."""
    axes = []
    j = len(x_shape) - 1
    for i in range(len(y_shape) - 1, -1, -1):
        if j < 0 or x_shape[j] != y_shape[i]:
            axes.append(i)
        j -= 1
    return tuple(reversed(axes))


def back_broadcast(y_shape, x_shape, x):
    """Raw array ``x`` of shape ``y_shape`` summed back to ``x_shape`` (undoes broadcasting)."""
    from .ops.base import unbroadcast
    if tuple(y_shape) == tuple(x_shape):
        return x
    return unbroadcast(_xp_of(x), x, tuple(x_shape))


def _xp_of(array):
    if isinstance(array, np.ndarray):
        return np
    import cupy
    return cupy.get_array_module(array)


def infer_dependency(op):
    """SINGA's dependency count below ``op`` (a tape Node, e.g. ``loss.creator``).

    Returns ``(op_count, tensor_count)``: how many uses each producing Node's
    outputs have, and how many uses each input tensor (by ``id``) has, over the
    graph ``op`` depends on.  Leaves (no creator) only appear in ``tensor_count``.
    """
    op_count, tensor_count = Counter(), Counter()
    queue = deque([op])
    while queue:
        node = queue.pop()
        for t in node.inputs:
            if t is None:
                continue
            tensor_count[id(t)] += 1
            src = t.creator
            if src is None:
                continue
            if src not in op_count:
                queue.append(src)
            op_count[src] += 1
    return op_count, tensor_count


def _as_dout(dy, out, device):
    """One output gradient for ``Node.backward``: a raw array shaped like ``out``."""
    xp = device.xp
    if isinstance(dy, Tensor):
        dy = dy.data
    if isinstance(dy, (int, float, np.number)):
        return xp.full_like(out, dy)
    dy = device.put(dy)
    if tuple(dy.shape) != tuple(out.shape):
        raise ShapeError(f"backward: dy shape {tuple(dy.shape)} != output shape {tuple(out.shape)}")
    return dy


def _operator_backward(node: Node, dys):
    operands = node.operands if node.operands is not None else \
        [t for t in node.inputs if t is not None]
    device = next(t for t in node.inputs if t is not None).device
    outs = node.out_arrays
    if len(dys) > len(outs):
        raise GradError(f"{_where(node.op_name, node.name)}.backward: {len(dys)} gradients "
                        f"for {len(outs)} outputs")
    if not dys:  # a loss: d loss / d loss = 1
        douts = [None if o is None else device.xp.ones_like(o) for o in outs]
    else:  # outputs without a given gradient (BatchNorm's statistics) get zeros
        douts = [_as_dout(dys[k], o, device) if k < len(dys) else
                 (None if o is None else device.xp.zeros_like(o)) for k, o in enumerate(outs)]
    grads = _grads_to(node, douts, operands, device.xp)
    return grads[0] if len(grads) == 1 else tuple(grads)


def _grads_to(top: Node, douts, wrt, xp) -> list:
    """Gradients of ``top``'s outputs (``douts``) w.r.t. tensors ``wrt``, walking the
    tape down from ``top`` but never below a ``wrt`` tensor."""
    wanted = {id(t) for t in wrt if isinstance(t, Tensor)}

    def inner(t):  # an intermediate tensor a gradient can flow through
        return (t is not None and id(t) not in wanted and t.creator is not None
                and t.dtype.kind in "fc")

    # nodes from which some wanted tensor is reachable, found bottom-up
    reaches, stack = {}, [top]
    while stack:
        node = stack[-1]
        pending = [t.creator for t in node.inputs if inner(t) and id(t.creator) not in reaches]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        reaches[id(node)] = any(t is not None and (id(t) in wanted or (inner(t) and reaches[id(t.creator)]))
                                for t in node.inputs)

    def leads(t):
        return t is not None and (id(t) in wanted or (inner(t) and reaches[id(t.creator)]))

    uses, stack, seen = Counter(), [top], {id(top)}
    while stack:
        node = stack.pop()
        for t in node.inputs:
            if leads(t) and id(t) not in wanted:
                uses[id(t.creator)] += 1
                if id(t.creator) not in seen:
                    seen.add(id(t.creator))
                    stack.append(t.creator)

    out_grads = {(id(top), k): g for k, g in enumerate(douts)}
    found = {}
    ready = [top]
    while ready:
        node = ready.pop()
        if node.opdef.grad is None:
            raise GradError(f"{_where(node.op_name, node.name)}: no gradient defined")
        g_outs = [out_grads.pop((id(node), k), None) for k in range(len(node.out_arrays))]
        g_outs = [xp.zeros_like(o) if g is None and o is not None else g
                  for g, o in zip(g_outs, node.out_arrays)]
        need = tuple(leads(t) for t in node.inputs)
        dxs = node.opdef.grad(xp, node.in_arrays, node.out_arrays, g_outs,
                              dict(node.attrs, _need_grads=need))
        for t, needed, g in zip(node.inputs, need, dxs):
            if not needed:
                continue
            if id(t) in wanted:
                if g is not None:
                    found[id(t)] = g if id(t) not in found else found[id(t)] + g
                continue
            key = (id(t.creator), t._out_index)
            if g is not None:
                out_grads[key] = g if key not in out_grads else out_grads[key] + g
            uses[id(t.creator)] -= 1
            if uses[id(t.creator)] == 0:
                ready.append(t.creator)
    return [found.get(id(t)) if isinstance(t, Tensor) else None for t in wrt]


def __getattr__(name):
    # SINGA names that need its C++ core
    if name == "CTensor":
        raise AttributeError("singa.autograd.CTensor: there is no C++ tensor here; the raw "
                             "array of a Tensor is Tensor.data (NumPy or CuPy)")
    if name == "_RNN":
        raise AttributeError("singa.autograd._RNN (cuDNN RNN handle op) is not provided; "
                             "use the recurrent layers of singa.layer (RNN, LSTM, GRU)")
    raise AttributeError(f"module 'singa.autograd' has no attribute {name!r}")


# Layers, operators and functions live in their own modules but are SINGA's autograd names.
from .layers import *  # noqa: E402,F401,F403
from .operators import *  # noqa: E402,F401,F403
from .operators_logic import *  # noqa: E402,F401,F403
from .operators_shape import *  # noqa: E402,F401,F403
from .operators_nn import *  # noqa: E402,F401,F403
from .losses import *  # noqa: E402,F401,F403
from .functions import *  # noqa: E402,F401,F403

Operation = Operator  # noqa: F405 - SINGA's alias
