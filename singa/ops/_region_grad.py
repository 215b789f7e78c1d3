"""Reverse mode through a region: the vector-Jacobian product of a body.

The control-flow ops' gradient rules (If, Loop, Scan) and the Gradient op
differentiate their bodies with the compiler's own reverse mode: the body is
cloned with the differentiated inputs turned into params, its outputs folded
into one scalar ``sum_k sum(out_k * dout_k)``, ``append_gradients`` adds one VJP
per op (each the op table's ``grad``), and the reference interpreter evaluates
it.  So whatever the table can differentiate, a body can hold.
"""

from __future__ import annotations

import numpy as np

from ..ir.types import DType, TensorType

ONES = "ones"  # a dout meaning "seed with ones" (the Gradient op's dy)


def _host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def body_vjp(body, args, douts, wrt) -> list:
    """Gradients of ``sum_k <out_k, dout_k>`` w.r.t. ``body``'s inputs ``wrt``
    (indices) at inputs ``args``: one array per index (zeros where the outputs do
    not depend on it).  ``douts[k]`` None (or an integer output) contributes
    nothing; :data:`ONES` seeds output k with ones."""
    from ..ir.interpret import interpret
    from ..passes.append_gradients import AppendGradients
    from ..passes.infer_shapes import InferShapes

    g = body.clone()
    arrays = [_host(a) for a in args]
    for v, a in zip(g.inputs, arrays):
        v.type = TensorType.of(a)
    wrt = list(wrt)
    names = []
    for k in wrt:
        v = g.inputs[k]
        p = g.add_param(f"{v.name or 'in'}.wrt{k}", arrays[k])
        v.replace_all_uses_with(p)
        names.append(p.name)
    keep = [k for k in range(len(g.inputs)) if k not in wrt]
    g.inputs = [g.inputs[k] for k in keep]
    InferShapes().run(g)
    total = None
    for out, d in zip(list(g.outputs), douts):
        if d is None or out.type is None or not isinstance(out.type, TensorType) \
                or not out.type.dtype.is_float:
            continue
        t = out.type
        term = out
        if not (isinstance(d, str) and d == ONES):
            c = g.add_const(_host(d).astype(t.dtype.np, copy=False))
            term = g.add_op("Mul", [out, c], [t]).results[0]
        axes = g.add_const(np.arange(len(t.shape), dtype=np.int64))
        term = g.add_op("ReduceSum", [term, axes], [TensorType(t.dtype, ())],
                        {"keepdims": 0}).results[0]
        if total is not None and total.type.dtype != t.dtype:
            term = g.add_op("Cast", [term], [total.type], {"to": total.type.dtype.value}
                            ).results[0]
        total = term if total is None else g.add_op("Add", [total, term],
                                                    [total.type]).results[0]
    if total is None:  # nothing flows back
        return [np.zeros_like(arrays[k]) for k in wrt]
    g.set_outputs([total])
    AppendGradients(wrt=names, loss=0).run(g)
    outs = interpret(g, [arrays[k] for k in keep])
    return list(outs[1:1 + len(wrt)])


def float_inputs(args) -> list[int]:
    """Indices of the float arrays among ``args`` (the differentiable ones)."""
    out = []
    for k, a in enumerate(args):
        try:
            if a is not None and DType.from_np(a.dtype).is_float:
                out.append(k)
        except (AttributeError, TypeError):
            pass  # sequences and optionals carry no gradient
    return out
