"""Gradient (domain ``ai.onnx.preview.training``): dY/dX inside a model.

The node names tensors of its own graph: ``y``, the ``xs`` to differentiate
with respect to and the ``zs`` held constant; its inputs are the values of xs
then zs.  The importer gives it one region, ``body``: the part of the graph
that computes y from them (other outer values it reads are captured), see
:func:`singa.frontends.onnx_import`.  ``compute`` differentiates that body
with the compiler's own reverse mode (``append_gradients``: one VJP per op,
each the op table's ``grad``), y's gradient seeded with ones, and evaluates
it; so every op with a gradient rule can appear in the body.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from ._region_grad import ONES, body_vjp
from ._regions import split_captures
from .base import defop

DOMAIN = "ai.onnx.preview.training"


def _infer(types, attrs, values):
    own, caps = split_captures(types, attrs)
    xs = list(attrs.get("xs") or [])
    if len(own) != len(xs) + len(attrs.get("zs") or []):
        raise ShapeError(f"Gradient: {len(own)} inputs for xs {xs} and zs "
                         f"{list(attrs.get('zs') or [])}")
    out = attrs["_regions"]["body"]([*own, *caps])
    y = out[0]
    if y is not None and not y.dtype.is_float:
        raise DTypeError(f"Gradient: y ({attrs.get('y')}) must be a float tensor, is {y}")
    for name, t in zip(xs, own):
        if t is not None and not t.dtype.is_float:
            raise DTypeError(f"Gradient: x {name!r} must be a float tensor, is {t}")
    return [t if t is None else TensorType(t.dtype, t.shape) for t in own[:len(xs)]]


@defop("Gradient", infer=_infer, since=1, domain=DOMAIN, regions=("body",),
       num_outputs=None)
def gradient(xp, inputs, attrs):
    """``[dy/dx for x in xs]``, y's gradient seeded with ones."""
    own, caps = split_captures(inputs, attrs)
    n = len(attrs.get("xs") or [])
    grads = body_vjp(attrs["_regions"]["body"].graph, own + caps, [ONES], range(n))
    return [xp.asarray(g) for g in grads]
