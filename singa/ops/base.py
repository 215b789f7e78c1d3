"""The operator table: every op is one :class:`OpDef`, keyed by its ONNX name.

Eager autograd, the IR interpreter, shape inference, constant folding, the CPU
plan and the CUDA emitter all read this table; nothing else defines op semantics.

Signatures an OpDef carries (``xp`` is ``numpy`` or ``cupy``):

- ``compute(xp, inputs, attrs) -> list[array]``; an absent optional input is None.
- ``infer(types, attrs, values) -> list[TensorType]``; ``types[i]`` is the input's
  TensorType (None when the input is absent), ``values[i]`` its constant value when
  known at compile time, else None.  Shapes may hold symbols ("N") or None.
- ``grad(xp, inputs, outputs, douts, attrs) -> list[array | None]``, one entry per
  input; ``douts[i]`` is never None (zeros stand in for outputs nobody used).
  ``attrs["_need_grads"]``, when present, holds one bool per input: a rule may
  return None for inputs marked False instead of computing their gradient.
- ``adapt(attrs, opset) -> (attrs, {input_index: constant})`` turns an old op form
  (attributes that later became inputs, changed defaults) into the newest form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType


class Pattern(enum.IntEnum):
    """How an op fuses; ordered so fusion rules read as comparisons."""

    ELEMWISE = 0
    BROADCAST = 1
    INJECTIVE = 2
    REDUCE = 3
    OUT_FUSABLE = 4
    OPAQUE = 5


@dataclass
class OpDef:
    """One operator: semantics, typing, gradient, fusion class and opset range."""

    name: str
    pattern: Pattern
    compute: Callable
    infer: Callable
    grad: Callable | None = None
    cuda: str | None = None
    since: int = 1
    adapt: Callable | None = None
    defaults: dict = field(default_factory=dict)
    random: bool = False  # never constant-folded
    num_outputs: int | None = 1  # None: depends on attributes / the node
    # into(xp, inputs, attrs, out) -> [out]: compute writing a preallocated result
    # (the kernel targets place it in their arena); None: compute allocates
    into: Callable | None = None
    # the ONNX domain the op belongs to ("" is the default one, "ai.onnx.ml", ...);
    # ``since`` counts in that domain's opsets
    domain: str = ""
    # the names of the op's regions (nested graphs, see singa.ir.regions), in order;
    # an op may leave optional ones out (FlexAttention's score_mod)
    regions: tuple = ()

    def attrs(self, given: dict | None) -> dict:
        """``given`` completed with this op's defaults."""
        out = dict(self.defaults)
        if given:
            out.update(given)
        return out

    def run(self, xp, inputs, attrs):
        """compute() with defaults filled in."""
        return self.compute(xp, list(inputs), self.attrs(attrs))


OPS: dict[str, OpDef] = {}


def defop(name, *, pattern=Pattern.OPAQUE, infer, grad=None, cuda=None, since=1,
          adapt=None, defaults=None, random=False, num_outputs=1, into=None, domain="",
          regions=()):
    """Decorator registering ``compute`` as op ``name``; returns compute unchanged."""

    def register(compute):
        if name in OPS:
            raise RuntimeError(f"op {name} defined twice")
        OPS[name] = OpDef(name, pattern, compute, infer, grad, cuda, since, adapt,
                          dict(defaults or {}), random, num_outputs, into, domain,
                          tuple(regions))
        return compute

    return register


def get(name: str) -> OpDef:
    """The OpDef of ONNX op ``name``; KeyError when the table lacks it."""
    return OPS[name]


# ---------------------------------------------------------------- shape helpers

def broadcast_shapes(op: str, *shapes):
    """Multidirectional (NumPy) broadcast of shapes that may hold symbols/None."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if isinstance(d, int) and d != 1}
        syms = [d for d in dims if not isinstance(d, int)]
        if len(known) > 1:
            raise ShapeError(f"{op}: shapes {', '.join(map(str, shapes))} do not broadcast")
        if known:
            out.append(known.pop())
        elif syms:
            named = [d for d in syms if d is not None]
            out.append(named[0] if named and all(d == named[0] for d in syms) else None)
        else:
            out.append(1)
    return tuple(out)


def same_as(i=0, dtype=None):
    """infer(): output i has the type of input i (optionally another dtype)."""

    def infer(types, attrs, values):
        t = types[i]
        if not isinstance(t, TensorType):  # a sequence or optional (Identity passes one)
            return [t]
        return [TensorType(dtype or t.dtype, t.shape)]

    return infer


def broadcast_infer(dtype=None):
    """infer(): broadcast of all present inputs, dtype of the first (or ``dtype``)."""

    def infer(types, attrs, values):
        present = [t for t in types if t is not None]
        shape = broadcast_shapes("broadcast", *[t.shape for t in present])
        return [TensorType(dtype or present[0].dtype, shape)]

    return infer


def unbroadcast(xp, g, shape):
    """Sum gradient ``g`` down to ``shape`` (undoing NumPy broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, d in enumerate(shape) if d == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def norm_axis(axis: int, rank: int, op: str = "op") -> int:
    """A possibly negative axis as a non-negative one; ShapeError when out of range."""
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{op}: axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def check_int_operand(op: str, what: str, t, allowed=("INT32", "INT64")) -> None:
    """DTypeError unless operand type ``t`` (None: absent or unknown) has one of
    the integer dtypes ``allowed`` (names of DType members)."""
    if t is not None and t.dtype is not None and t.dtype.name not in allowed:
        kinds = " or ".join(DType[a].short for a in allowed)
        raise DTypeError(f"{op}: {what} must be {kinds}, got {t.dtype.short}")


def check_alloc(op: str, shape, dtype) -> None:
    """ResourceError before ``op`` allocates a result of ``shape`` over the memory
    budget: for results whose size comes from run-time values (a shape, a count, a
    depth), which plans cannot size in advance."""
    from ..runtime import budget

    budget.check_array(shape, dtype,
                       f"{op} result {np.dtype(dtype).name}{list(int(d) for d in shape)}")


def as_int_list(value) -> list[int]:
    """A 1-D constant (array, list, None) as a list of Python ints."""
    if value is None:
        return []
    return [int(v) for v in np.asarray(value).reshape(-1)]


def np_dtype(dt) -> np.dtype:
    """An ONNX dtype code, DType or NumPy dtype as a NumPy dtype."""
    if isinstance(dt, DType):
        return dt.np
    if isinstance(dt, (int, np.integer)):
        return DType(int(dt)).np
    return np.dtype(dt)


def retain_freed_memory(trim_bytes: int = 1 << 30, mmap_bytes: int = 1 << 25) -> bool:
    """Let glibc keep freed memory for reuse instead of returning it to the OS.

    Op computes allocate large temporaries (im2col buffers, grads) every call;
    by default glibc gives such blocks back to the kernel and the next call pays
    a page fault per 4 KiB touched, which costs as much as the arithmetic on a
    small CNN.  Blocks below ``mmap_bytes`` then come from the heap, and up to
    ``trim_bytes`` of free heap is kept.  No-op (False) off glibc or when the
    environment variable ``SINGA_RETAIN_FREED_MEMORY`` is ``0``.
    """
    import ctypes
    import ctypes.util
    import os

    if os.environ.get("SINGA_RETAIN_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, int(mmap_bytes))
                and mallopt(m_trim_threshold, int(trim_bytes)))
