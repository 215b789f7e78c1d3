"""Eager autograd: ops from the table run at once and are recorded on a tape.

``apply`` is the single entry point: it runs ``OPS[name].compute`` on the
operands' arrays and links the outputs to a :class:`Node` holding what the
backward rule needs.  ``backward`` walks the tape from a scalar loss and yields
``(param, grad)`` for every tensor with ``stores_grad``.  The tape is recorded
in inference mode too, so ``sonnx.to_onnx`` can trace any computed tensor.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .errors import DeviceError, GradError, OpError, ShapeError, SingaError
from .ops import OPS
from .tensor import Tensor

#: True while training: Dropout drops, BatchNorm uses batch statistics.
training = False


class Node:
    """One recorded op: its definition, attrs, operand tensors and arrays, outputs."""

    __slots__ = ("opdef", "attrs", "inputs", "in_arrays", "out_arrays", "needs", "name",
                 "__weakref__")

    def __init__(self, opdef, attrs, inputs, in_arrays, out_arrays, needs, name):
        self.opdef = opdef
        self.attrs = attrs
        self.inputs = inputs
        self.in_arrays = in_arrays
        self.out_arrays = out_arrays
        self.needs = needs  # per input: does a gradient have to reach it
        self.name = name

    @property
    def op_name(self) -> str:
        return self.opdef.name

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
    try:
        outs = opdef.compute(dev.xp, arrays, full)
    except ShapeError as e:
        raise ShapeError(f"{_where(op_name, name)}: {e} (input shapes {_shapes(arrays)})") from e
    except SingaError:
        raise
    except (ValueError, IndexError, TypeError) as e:
        raise ShapeError(f"{_where(op_name, name)}: input shapes {_shapes(arrays)} do not fit: {e}") from e
    needs = [_needs_grad(t) for t in tensors]
    node = Node(opdef, full, tensors, arrays, outs, needs, name)
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


def _shapes(arrays):
    return ", ".join("None" if a is None else str(tuple(a.shape)) for a in arrays)


def backward(y: Tensor, dy=None):
    """Back-propagate from ``y``; yields ``(param, grad)`` for each ``stores_grad`` tensor.

    ``dy`` defaults to ones, allowed only when ``y`` holds a single value.
    A parameter is yielded as soon as its gradient is complete.
    """
    xp = y.device.xp
    if dy is None:
        if y.size != 1:
            raise GradError(f"backward: y has shape {y.shape}, not a scalar; pass dy")
        dy = xp.ones_like(y.data)
    else:
        dy = dy.data if isinstance(dy, Tensor) else y.device.put(np.asarray(dy, dtype=y.dtype))
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


def gradients(y: Tensor, dy=None) -> dict:
    """All ``(param -> grad)`` of ``backward`` as a dict."""
    return dict(backward(y, dy))


# Layers and functions live in their own modules but are SINGA's autograd names.
from .layers import *  # noqa: E402,F401,F403
from .functions import *  # noqa: E402,F401,F403
