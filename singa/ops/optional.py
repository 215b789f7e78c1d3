"""Optional ops: a value that may be absent.

At run time an optional is its element (an array, or a list for a sequence)
or None when empty.  ``infer`` gives :class:`OptionalType` results.  Since
opset 18 OptionalHasElement and OptionalGetElement also take a plain tensor or
sequence (always present); the table accepts that form from opset 15 on.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, OpError
from ..ir.printer import format_type
from ..ir.types import DType, OptionalType, TensorType
from .base import defop

_BOOL = DType.BOOL


def _elem_of_attr(attrs):
    """Optional's ``type`` attribute (IR text after ``adapt``) as an IR type."""
    from ..ir.parser import parse_type

    text = attrs.get("type")
    if text is None:
        return None
    try:
        return parse_type(text)
    except Exception as e:  # noqa: BLE001 - any unreadable text: say which attribute
        raise DTypeError(f"Optional: cannot read its type attribute {text!r}: {e}") from None


def _optional_adapt(attrs, opset):
    """An ONNX ``type`` attribute (a TypeProto) becomes its IR text, which prints
    and parses with the graph."""
    import onnx

    t = attrs.get("type")
    if isinstance(t, onnx.TypeProto):
        from ..frontends.onnx_import import type_from_proto

        attrs = dict(attrs, type=format_type(type_from_proto(t, None, "Optional's type")))
    return attrs, {}


def _compatible(a, b) -> bool:
    """Types ``a`` and ``b`` of one kind with the same dtypes (shapes may differ)."""
    if a is None or b is None:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, TensorType):
        return a.dtype == b.dtype
    return _compatible(a.elem, b.elem)


def _optional_infer(types, attrs, values):
    t = types[0] if types else None
    declared = _elem_of_attr(attrs)
    if isinstance(t, OptionalType) or isinstance(declared, OptionalType):
        raise DTypeError("Optional: an optional cannot hold an optional")
    if t is not None:
        if declared is not None and not _compatible(declared, t):
            raise DTypeError(f"Optional: input {format_type(t)} is not of its declared type "
                             f"{format_type(declared)}")
        return [OptionalType(t)]
    if declared is None and not types:
        raise DTypeError("Optional: without an input it needs the type attribute")
    return [OptionalType(declared)]


@defop("Optional", infer=_optional_infer, since=15, adapt=_optional_adapt)
def optional(xp, inputs, attrs):
    """The input as an optional; without one, an empty optional (None)."""
    if not inputs or inputs[0] is None:
        if not inputs and attrs.get("type") is None:
            raise DTypeError("Optional: without an input it needs the type attribute")
        return [None]
    return [inputs[0]]


def _has_infer(types, attrs, values):
    return [TensorType(_BOOL, ())]


@defop("OptionalHasElement", infer=_has_infer, since=15)
def optional_has_element(xp, inputs, attrs):
    """Whether the input holds a value (a tensor or sequence always does; an absent
    input or an empty optional does not), as a bool scalar."""
    present = bool(inputs) and inputs[0] is not None
    return [xp.asarray(present, dtype=np.bool_)]


def _get_infer(types, attrs, values):
    t = types[0] if types else None
    return [t.elem if isinstance(t, OptionalType) else t]


@defop("OptionalGetElement", infer=_get_infer, since=15)
def optional_get_element(xp, inputs, attrs):
    """The optional's value (a tensor or sequence input is returned as is); an
    empty optional is an error."""
    if not inputs or inputs[0] is None:
        raise OpError("OptionalGetElement: the optional is empty")
    return [inputs[0]]
