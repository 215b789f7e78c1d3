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


def kernel_for(op, const_value, target: str | None = None):
    """A Kernel for IR op ``op`` or None.  ``const_value(v)`` is the compile-time
    value of operand ``v`` (None when it is computed at run time).  Kernels of
    one dialect only (the host GEMM) are offered when ``target`` is theirs."""
    from . import elementwise, gemm, injective, templated, window

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
    if op.name == "Concat":
        return injective.concat_kernel(op, attrs, types, out) if target == "c" else None
    if op.name == "Pad":
        return injective.pad_kernel(op, attrs, types, out, const_value) if target == "c" else None
    if op.name in ("MatMul", "Gemm", "ConvGemm"):
        if target != "c":
            return None
        if op.name == "ConvGemm":
            return gemm.conv_gemm_kernel(op, types, out, attrs)
        return (gemm.matmul_kernel(op, types, out) if op.name == "MatMul"
                else gemm.gemm_kernel(op, types, out, attrs))
    if op.name in ("Conv", "MaxPool", "AveragePool", "Im2Col"):
        return window.window_kernel(op, attrs, types, out, target)
    if op.name == "Col2Im":
        return window.col2im(op, attrs, types, out, const_value) if out.is_static else None
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


def launcher(kernel, call):
    """compute(xp, args, attrs, out=None) running ``kernel`` by ``call(ins, y)``:
    operands made contiguous and checked against the compiled dtypes; the result
    written over the in-place operand, into ``out`` (an arena view) or a new array."""
    shape = tuple(kernel.out_shape)
    odt = kernel.outputs[0].dtype.np
    want = [p.dtype.np for p in kernel.params if not p.output]
    positions = list(kernel.inputs)

    def compute(xp, args, attrs, out=None):
        ins = []
        for p, dt in zip(positions, want):
            a = contiguous(xp, args[p])
            if a.dtype != dt:
                raise OpError(f"kernel {kernel.name}: operand {p} is {a.dtype}, compiled "
                              f"for {dt}")
            ins.append(a)
        if kernel.inplace is not None:
            y = ins[kernel.inplace]
        else:
            y = xp.empty(shape, odt) if out is None else out
        if kernel.n:
            call(ins, y)
        return [y]

    compute.kernel = kernel
    return compute


def cuda_caller(fn, n: int, block: int = 256, max_blocks: int = 4096):
    """call(ins, y) launching CuPy RawKernel ``fn`` over ``n`` elements; grid and
    block sizes fixed here, at plan time (the kernels loop grid-stride)."""
    grid = max(1, min(max_blocks, math.ceil(n / block)))

    def call(ins, y):
        fn((grid,), (block,), (*ins, y))

    call.launch = (grid, block)
    return call


def contiguous(xp, a):
    """``a`` as a C-contiguous array of its own shape (a 0-d array stays 0-d)."""
    # not ascontiguousarray: it turns a 0-d array into shape (1,)
    a = xp.asarray(a)
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a).reshape(a.shape)


def bind(kernels, target: str) -> dict:
    """Compile ``kernels`` for ``target`` ('c' or 'cuda'); name -> compute function."""
    if not kernels:
        return {}
    if target == "c":
        from . import host

        fns = host.build(kernels)
        return {k.name: launcher(k, host.caller(fns[k.name])) for k in kernels}
    from . import cuda

    fns = cuda.build(kernels)
    return {k.name: launcher(k, cuda_caller(fns[k.name], k.n)) for k in kernels}
