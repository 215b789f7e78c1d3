"""SequenceMap: a body applied to each element of a sequence (a region op, see
:mod:`singa.ir.regions`); the other inputs are sequences walked alongside or
tensors passed whole, then the captured values."""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from ..ir.types import SequenceType, TensorType
from ._regions import split_captures
from .base import defop

def _map_infer(types, attrs, values):
    own, caps = split_captures(types, attrs)
    if not own or not isinstance(own[0], SequenceType):
        raise DTypeError(f"SequenceMap: input 0 must be a sequence, got {own[0] if own else None}")
    inner = [t.elem if isinstance(t, SequenceType) else t for t in own]
    outs = attrs["_regions"]["body"]([*inner, *caps])
    # element shapes may differ from one element to the next: only the dtype and
    # rank are certain (and the dims every element shares, which are not known here)
    return [SequenceType(None if t is None else
                         TensorType(t.dtype, None if t.shape is None else (None,) * len(t.shape))
                         if isinstance(t, TensorType) else t) for t in outs]


@defop("SequenceMap", infer=_map_infer, since=17, regions=("body",), num_outputs=None)
def sequence_map(xp, inputs, attrs):
    own, caps = split_captures(inputs, attrs)
    seqs = [k for k, x in enumerate(own) if isinstance(x, list)]
    if not own or 0 not in seqs:
        raise DTypeError("SequenceMap: input 0 must be a sequence")
    n = len(own[0])
    for k in seqs:
        if len(own[k]) != n:
            raise ShapeError(f"SequenceMap: input {k} has {len(own[k])} elements, input 0 "
                             f"has {n}")
    body = attrs["_regions"]["body"]
    results = [[] for _ in body.out_types]
    for i in range(n):
        outs = body([x[i] if k in seqs else x for k, x in enumerate(own)] + caps)
        for acc, y in zip(results, outs):
            acc.append(y)
    return results
