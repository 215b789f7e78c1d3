"""VJP: one op's backward rule as an op of the graph (made by the ``append_gradients`` pass).

Compiled training puts forward, backward and optimizer update in one IR graph.
Rather than a second table of gradient ops, the backward of any table op ``F``
is ``VJP`` with attribute ``grad_of = "F"``: its operands are ``F``'s operands,
then ``F``'s results, then the incoming gradients of those results (absent where
nothing flowed back); its results are the gradients of the operands flagged in
``grad_needs``.  ``compute`` calls ``F``'s own ``grad``, so a VJP means exactly
what the eager tape would compute.  ``F``'s attributes ride along unchanged,
next to the three ``grad_*`` ones.
"""

from __future__ import annotations

from ..errors import GradError, ShapeError
from ..ir.types import TensorType
from .base import OPS, Pattern, defop

#: The VJP's own attributes; all others are the forward op's.
OWN_ATTRS = ("grad_of", "grad_needs", "grad_arity")


def split(operands, attrs):
    """(forward inputs, forward results, result gradients) of a VJP's operand list."""
    n_in, n_out = (int(k) for k in attrs["grad_arity"])
    if len(operands) != n_in + 2 * n_out:
        raise ShapeError(f"VJP of {attrs['grad_of']}: {len(operands)} operands for arity "
                         f"({n_in}, {n_out})")
    return (list(operands[:n_in]), list(operands[n_in:n_in + n_out]),
            list(operands[n_in + n_out:]))


def forward_attrs(attrs) -> dict:
    """The differentiated op's attributes (the VJP's own removed)."""
    return {k: v for k, v in attrs.items() if k not in OWN_ATTRS}


def _opdef(attrs):
    name = attrs.get("grad_of")
    opdef = OPS.get(name)
    if opdef is None:
        raise ShapeError(f"VJP: grad_of {name!r} is not in the op table")
    if opdef.grad is None:
        raise GradError(f"VJP: {name} has no gradient rule")
    return opdef


def _needs(attrs, n_in) -> list[bool]:
    needs = [bool(int(k)) for k in attrs["grad_needs"]]
    if len(needs) != n_in:
        raise ShapeError(f"VJP of {attrs['grad_of']}: grad_needs has {len(needs)} entries "
                         f"for {n_in} inputs")
    return needs


def _infer(types, attrs, values):
    _opdef(attrs)
    ins, _, _ = split(types, attrs)
    out = []
    for t, need in zip(ins, _needs(attrs, len(ins))):
        if need:
            if t is None:
                raise ShapeError(f"VJP of {attrs['grad_of']}: gradient asked of an absent input")
            out.append(TensorType(t.dtype, t.shape))
    return out


@defop("VJP", pattern=Pattern.OPAQUE, infer=_infer, num_outputs=None)
def _vjp(xp, inputs, attrs):
    opdef = _opdef(attrs)
    ins, outs, douts = split(inputs, attrs)
    needs = _needs(attrs, len(ins))
    # the table's rules take zeros for results nobody used
    douts = [xp.zeros_like(o) if d is None and o is not None else d
             for o, d in zip(outs, douts)]
    fwd = dict(opdef.attrs(forward_attrs(attrs)), _need_grads=tuple(needs))
    grads = opdef.grad(xp, ins, outs, douts, fwd)
    result = []
    for x, need, g in zip(ins, needs, grads):
        if not need:
            continue
        if g is None:  # no gradient reaches this operand (e.g. a zero-width path)
            g = xp.zeros_like(x)
        elif g.dtype != x.dtype:
            g = g.astype(x.dtype)
        result.append(g)
    return result
