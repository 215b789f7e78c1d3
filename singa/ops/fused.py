"""FusedElementwise: a chain of ELEMWISE/BROADCAST ops run as one op (made by the fuse pass).

The body is three parallel attribute lists, so that the op prints and parses like
any other:

- ``body_ops``: the op names, in evaluation order;
- ``body_args``: for each, its operand references: ``0..k-1`` are the fused op's
  own inputs, ``k + j`` is the result of body op ``j``, ``-1`` an absent operand;
- ``body_attrs``: for each, its attributes as a flat ``[key, value, key, value...]``.

The result of the last body op is the fused op's result.  ``compute``, ``infer``
and ``grad`` evaluate the body through the table, so a fused op means exactly
what its ops mean; a backend that emits one kernel for it reads the body with
:func:`body` and :func:`body_types` (each body op's own CUDA template and type).
"""

from __future__ import annotations

from ..errors import GradError, ShapeError
from .base import OPS, Pattern, defop


def body(attrs) -> list[tuple[str, list[int], dict]]:
    """The body as ``[(op name, operand refs, attrs)]``."""
    ops, args, flat = attrs["body_ops"], attrs["body_args"], attrs["body_attrs"]
    if not (len(ops) == len(args) == len(flat)) or not ops:
        raise ShapeError(f"FusedElementwise: body lists of lengths {len(ops)}, {len(args)}, "
                         f"{len(flat)}")
    out = []
    for name, refs, kv in zip(ops, args, flat):
        if name not in OPS:
            raise ShapeError(f"FusedElementwise: body op {name!r} is not in the op table")
        out.append((name, [int(r) for r in refs], dict(zip(kv[::2], kv[1::2]))))
    return out


def _operands(env, refs, where):
    try:
        return [None if r < 0 else env[r] for r in refs]
    except IndexError:
        raise ShapeError(f"FusedElementwise: body op {where} refers to a value not yet "
                         f"computed ({refs})") from None


def body_types(types, attrs, values=None) -> list:
    """Types of the fused inputs followed by the type of every body op's result."""
    env = list(types)
    vals = list(values) if values is not None else [None] * len(types)
    for j, (name, refs, a) in enumerate(body(attrs)):
        opdef = OPS[name]
        t = opdef.infer(_operands(env, refs, f"{j} ({name})"), opdef.attrs(a),
                        _operands(vals, refs, f"{j} ({name})"))
        env.append(t[0])
        vals.append(None)
    return env


def _infer(types, attrs, values):
    return [body_types(types, attrs, values)[-1]]


def _forward(xp, inputs, attrs):
    env = list(inputs)
    steps = body(attrs)
    for j, (name, refs, a) in enumerate(steps):
        env.append(OPS[name].run(xp, _operands(env, refs, f"{j} ({name})"), a)[0])
    return env, steps


def _grad(xp, inputs, outputs, douts, attrs):
    env, steps = _forward(xp, inputs, attrs)
    k = len(inputs)
    grads: list = [None] * len(env)
    grads[-1] = douts[0]
    for j in range(len(steps) - 1, -1, -1):
        name, refs, a = steps[j]
        g = grads[k + j]
        if g is None:
            continue
        opdef = OPS[name]
        if opdef.grad is None:
            raise GradError(f"FusedElementwise: body op {name} has no gradient")
        sub = opdef.grad(xp, _operands(env, refs, name), [env[k + j]], [g], opdef.attrs(a))
        for r, gr in zip(refs, sub):
            if r >= 0 and gr is not None:
                grads[r] = gr if grads[r] is None else grads[r] + gr
    return grads[:k]


@defop("FusedElementwise", pattern=Pattern.BROADCAST, infer=_infer, grad=_grad)
def fused_elementwise(xp, inputs, attrs):
    """Evaluate the body ops in order; the last one's result."""
    return [_forward(xp, inputs, attrs)[0][-1]]
