"""lower_vjp: backward rules as forward ops, so the kernel targets run them as kernels.

A ``VJP`` op (see :mod:`singa.ops.vjp`) runs its op's NumPy gradient rule.  On
the ``c`` and ``cuda`` targets the heavy part of a backward pass, the matrix
products of linear layers and lowered convolutions, then goes through NumPy's
BLAS, whose threads fight the kernels' own pool, and the elementwise rules
make a pass over memory each.  This pass rewrites the VJPs it has a rule for
into ordinary table ops (MatMul, Gemm, Transpose, Reshape, ReduceSum, Where,
Col2Im...),
which the later passes fuse and the code generator turns into kernels.  The
rules are data: :data:`RULES` maps an op name to a function returning the
gradient values, or None to keep the VJP (a form the rule does not cover).
Each rule computes what the op's ``grad`` computes; the tests compare the two.
"""

from __future__ import annotations

import numpy as np

from ..errors import IRError
from ..ir.graph import Graph, Op, Value
from ..ops.vjp import forward_attrs, split
from ._util import new_op
from .manager import OpRewrite


class _Builder:
    """Adds ops before ``at``, with its loc; shapes come from the op table."""

    def __init__(self, graph: Graph, at: Op):
        self.graph, self.at = graph, at

    def op(self, name, operands, attrs=None) -> Value:
        return new_op(self.graph, name, operands, attrs, self.at.loc, before=self.at).results[0]

    def const(self, values, dtype=np.int64) -> Value:
        return self.graph.add_const(np.array(values, dtype))

    def reshape(self, v: Value, shape) -> Value:
        if tuple(v.type.shape) == tuple(shape):
            return v
        return self.op("Reshape", [v, self.const(list(shape))])

    def transpose(self, v: Value, perm) -> Value:
        return self.op("Transpose", [v], {"perm": list(perm)})

    def sum_to(self, g: Value, shape) -> Value:
        """``g`` summed over the axes NumPy broadcasting added or stretched."""
        shape = tuple(shape)
        gshape = tuple(g.type.shape)
        if gshape == shape:
            return g
        lead = len(gshape) - len(shape)
        axes = list(range(lead)) + [i + lead for i, d in enumerate(shape)
                                    if d == 1 and gshape[i + lead] != 1]
        if axes:
            g = self.op("ReduceSum", [g, self.const(axes)], {"keepdims": 1})
        return self.reshape(g, shape)


def _static(*vs) -> bool:
    return all(v is not None and v.type is not None and v.type.is_static for v in vs)


def _matmul(b: _Builder, ins, outs, douts, needs, attrs):
    x, w = ins
    dy = douts[0]
    if dy is None or not _static(x, w, dy):
        return None
    xs, ws = tuple(x.type.shape), tuple(w.type.shape)
    if len(ws) == 2 and len(xs) >= 2:  # (..., S, K) @ (K, M): one tall product
        k, m = ws
        rows = int(np.prod(xs[:-1]))
        dx = dw = None
        if needs[0]:
            dx = b.reshape(b.op("Gemm", [b.reshape(dy, (rows, m)), w], {"transB": 1}), xs)
        if needs[1]:
            dw = b.op("MatMul", [b.transpose(b.reshape(x, (rows, k)), (1, 0)),
                                 b.reshape(dy, (rows, m))])
        return [dx, dw]
    if len(xs) == 2 and len(ws) == 3:  # (M, K) @ (N, K, P): a lowered convolution
        m, k = xs
        n, _, p = ws
        dx = dw = None
        if needs[0]:  # dY as (M, N*P) times the columns as (K, N*P), transposed
            dy_m = b.reshape(b.transpose(dy, (1, 0, 2)), (m, n * p))
            col_k = b.reshape(b.transpose(w, (1, 0, 2)), (k, n * p))
            dx = b.op("Gemm", [dy_m, col_k], {"transB": 1})
        if needs[1]:
            dw = b.op("MatMul", [b.transpose(x, (1, 0)), dy])
        return [dx, dw]
    if len(xs) == len(ws) >= 3 and xs[:-2] == ws[:-2]:  # a batch of products (attention)
        swap = list(range(len(xs) - 2)) + [len(xs) - 1, len(xs) - 2]
        return [b.op("MatMul", [dy, b.transpose(w, swap)]) if needs[0] else None,
                b.op("MatMul", [b.transpose(x, swap), dy]) if needs[1] else None]
    return None


def _relu(b: _Builder, ins, outs, douts, needs, attrs):
    y, dy = outs[0], douts[0]
    if dy is None or y is None:
        return None
    zero = b.graph.add_const(np.zeros((), y.type.dtype.np))
    return [b.op("Where", [b.op("Greater", [y, zero]), dy, zero])]


def _reshape(b: _Builder, ins, outs, douts, needs, attrs):
    x, dy = ins[0], douts[0]
    if dy is None or not _static(x):
        return None
    return [b.reshape(dy, x.type.shape)] + [None] * (len(ins) - 1)


def _add(b: _Builder, ins, outs, douts, needs, attrs):
    dy = douts[0]
    if dy is None or not _static(dy, *ins):
        return None
    return [b.sum_to(dy, v.type.shape) if need else None for v, need in zip(ins, needs)]


def _im2col(b: _Builder, ins, outs, douts, needs, attrs):
    x, dy = ins[0], douts[0]
    if dy is None or not _static(x):
        return None
    window = {k: list(attrs[k]) for k in ("strides", "dilations", "pads") if attrs.get(k)}
    return [b.op("Col2Im", [dy, b.const(list(x.type.shape[2:])),
                            b.const(list(attrs["kernel_shape"]))], window)]


#: op name -> rule(builder, inputs, results, result grads, needs, attrs) -> grads or None
RULES = {
    "MatMul": _matmul,
    "Relu": _relu,
    "Reshape": _reshape,
    "Flatten": _reshape,
    "Add": _add,
    "Im2Col": _im2col,
}


class LowerVJP(OpRewrite):
    op_name = "VJP"
    name = "lower_vjp"

    def rewrite(self, graph: Graph, vjp: Op) -> bool:
        rule = RULES.get(vjp.attrs.get("grad_of"))
        if rule is None:
            return False
        ins, outs, douts = split(vjp.operands, vjp.attrs)
        needs = [bool(int(n)) for n in vjp.attrs["grad_needs"]]
        grads = rule(_Builder(graph, vjp), ins, outs, douts, needs, forward_attrs(vjp.attrs))
        if grads is None:
            return False
        wanted = [g for g, need in zip(grads, needs) if need]
        for r, g in zip(vjp.results, wanted):
            if g is None or g.type != r.type:
                raise IRError(f"lower_vjp: rule for {vjp.attrs['grad_of']} gave "
                                     f"{None if g is None else g.type}, not {r.type}")
            r.replace_all_uses_with(g)
        graph.erase_op(vjp)
        return True
