"""Which ops become generated kernels, and the plan steps that launch them.

:func:`kernel_for` asks each builder in turn (elementwise groups and templated
ops, strided copies, then the templated non-elementwise kernels) for a
:class:`~.render.Kernel` of an IR op with static types; None leaves the op to
its NumPy step.  :func:`bind` compiles all kernels of a plan at once (one host
library, or one CUDA module) and gives each step its launcher.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import OpError


def kernel_for(op, const_value):
    """A Kernel for IR op ``op`` or None.  ``const_value(v)`` is the compile-time
    value of operand ``v`` (None when it is computed at run time)."""
    from . import elementwise, injective, templated

    if len(op.results) != 1:
        return None
    out = op.results[0].type
    types = [None if v is None else v.type for v in op.operands]
    if any(t is not None and not t.is_static for t in types):
        return None
    from ..ops import OPS

    attrs = OPS[op.name].attrs(op.attrs)
    if op.name == "FusedElementwise" or OPS[op.name].cuda is not None:
        return elementwise.elementwise_kernel(op.name, attrs, types, out, op.loc)
    if op.name in injective.COPY_OPS:
        return injective.copy_kernel(op, attrs, types, out, const_value)
    return templated.templated_kernel(op, attrs, types, out, const_value)


def in_place(kernel, op, fresh: set, outputs: set):
    """``kernel`` writing over one of its inputs where that is safe: an input of
    the result's type, read at ``i`` only, allocated by its own step (``fresh``),
    read by nobody else and not a graph output.  Saves an allocation and keeps
    the working set small (a Conv's epilogue runs in the Conv's buffer)."""
    from dataclasses import replace

    out = op.results[0].type
    for j, p in enumerate(kernel.inputs):
        v = op.operands[p]
        if (v is not None and v in fresh and v not in outputs and len(v.uses) == 1
                and v.type == out and f"a{p}[i]" in "\n".join(kernel.body)):
            return replace(kernel, inplace=j, name="")
    return kernel


def host_launcher(kernel, fn):
    """compute(xp, args, attrs) running ``fn`` (a host kernel) on NumPy arrays."""
    shape = _shape(kernel)
    odt = kernel.outputs[0].dtype.np
    want = [p.dtype.np for p in kernel.params if not p.output]
    positions = list(kernel.inputs)

    def compute(xp, args, attrs):
        ins = []
        for p, dt in zip(positions, want):
            a = _contiguous(np, args[p])
            if a.dtype != dt:
                raise OpError(f"kernel {kernel.name}: operand {p} is {a.dtype}, compiled "
                              f"for {dt}")
            ins.append(a)
        y = np.empty(shape, odt) if kernel.inplace is None else ins[kernel.inplace]
        if kernel.n:
            fn(*[a.ctypes.data for a in ins], y.ctypes.data)
        return [y]

    compute.kernel = kernel
    return compute


def cuda_launcher(kernel, fn, block: int = 256, max_blocks: int = 4096):
    """compute(xp, args, attrs) launching ``fn`` (a CuPy RawKernel) on CuPy arrays;
    grid and block sizes are fixed here, at plan time."""
    shape = _shape(kernel)
    odt = kernel.outputs[0].dtype.np
    positions = list(kernel.inputs)
    grid = max(1, min(max_blocks, math.ceil(kernel.n / block)))

    def compute(xp, args, attrs):
        ins = [_contiguous(xp, args[p]) for p in positions]
        y = xp.empty(shape, odt) if kernel.inplace is None else ins[kernel.inplace]
        if kernel.n:
            fn((grid,), (block,), (*ins, y))
        return [y]

    compute.kernel = kernel
    compute.launch = (grid, block)
    return compute


def _contiguous(xp, a):
    # not ascontiguousarray: it turns a 0-d array into shape (1,)
    a = xp.asarray(a)
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a).reshape(a.shape)


def _shape(kernel):
    return tuple(kernel.out_shape)


def bind(kernels, target: str) -> dict:
    """Compile ``kernels`` for ``target`` ('c' or 'cuda'); name -> compute function."""
    if not kernels:
        return {}
    if target == "c":
        from . import host

        fns = host.build(kernels)
        return {k.name: host_launcher(k, fns[k.name]) for k in kernels}
    from . import cuda

    fns = cuda.build(kernels)
    return {k.name: cuda_launcher(k, fns[k.name]) for k in kernels}
