"""Element types and tensor types of the IR.

``DType`` covers every ONNX tensor element type; each knows its NumPy dtype, its
short IR spelling (``f32``) and, where CUDA has one, its C type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

import numpy as np
import onnx
from onnx import helper

Dim = Union[int, str, None]  # a size, a symbol ("N"), or unknown


_SHORT = {
    "FLOAT": "f32", "DOUBLE": "f64", "FLOAT16": "f16", "BFLOAT16": "bf16",
    "INT8": "i8", "INT16": "i16", "INT32": "i32", "INT64": "i64",
    "UINT8": "u8", "UINT16": "u16", "UINT32": "u32", "UINT64": "u64",
    "BOOL": "bool", "STRING": "str", "COMPLEX64": "c64", "COMPLEX128": "c128",
}
_CTYPE = {
    "FLOAT": "float", "DOUBLE": "double", "FLOAT16": "half",
    "INT8": "signed char", "INT16": "short", "INT32": "int", "INT64": "long long",
    "UINT8": "unsigned char", "UINT16": "unsigned short", "UINT32": "unsigned int",
    "UINT64": "unsigned long long", "BOOL": "bool",
}


class DType(enum.Enum):
    """An ONNX element type; the value is the ``onnx.TensorProto`` code."""

    # Members are created from onnx's own table so that new types appear by themselves.
    locals().update({k: v for k, v in onnx.TensorProto.DataType.items() if k != "UNDEFINED"})

    @property
    def short(self) -> str:
        """IR spelling, e.g. ``f32``; unusual types use their lower-case ONNX name."""
        return _SHORT.get(self.name, self.name.lower())

    @property
    def np(self) -> np.dtype:
        """The NumPy dtype that stores this type (``object`` for strings)."""
        if self is DType.STRING:
            return np.dtype(object)
        return np.dtype(helper.tensor_dtype_to_np_dtype(self.value))

    @property
    def ctype(self) -> str | None:
        """C type for CUDA kernels, or None where no kernel handles it."""
        return _CTYPE.get(self.name)

    @property
    def is_float(self) -> bool:
        return self.name in ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16") or self.name.startswith("FLOAT")

    @property
    def is_int(self) -> bool:
        return self.name.startswith(("INT", "UINT"))

    @classmethod
    def from_np(cls, dt) -> "DType":
        """The DType of a NumPy dtype (or anything ``np.dtype`` accepts)."""
        dt = np.dtype(dt)
        if dt == np.dtype(object) or dt.kind in "US":
            return cls.STRING
        return cls(helper.np_dtype_to_tensor_dtype(dt))

    @classmethod
    def from_short(cls, s: str) -> "DType":
        for m in cls:
            if m.short == s:
                return m
        raise KeyError(s)


@dataclass(frozen=True)
class TensorType:
    """dtype and shape; a shape entry is an int, a symbol name, or None (unknown).

    ``shape`` None means even the rank is unknown.
    """

    dtype: DType
    shape: tuple | None

    def __post_init__(self):
        if self.shape is not None and not isinstance(self.shape, tuple):
            object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def __str__(self) -> str:
        if self.shape is None:
            return f"{self.dtype.short}[*]"
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype.short}[{dims}]"

    @classmethod
    def of(cls, array) -> "TensorType":
        """The static type of a concrete array."""
        return cls(DType.from_np(array.dtype), tuple(int(d) for d in array.shape))


@dataclass(frozen=True)
class SequenceType:
    """An ONNX sequence: any number of values of one element type.

    ``elem`` is a TensorType (whose shape may be partly or wholly unknown, as
    the elements' shapes may differ), a SequenceType, an OptionalType, or None
    when nothing is known of the elements.  At run time a sequence is a Python
    list of arrays (or of lists, for nested sequences).
    """

    elem: "TensorType | SequenceType | OptionalType | None"

    # A container's size is a run-time fact: the plan sizes no buffer for it and
    # no kernel reads it.
    is_static = False

    def __str__(self) -> str:
        return f"seq<{'?' if self.elem is None else self.elem}>"


@dataclass(frozen=True)
class OptionalType:
    """An ONNX optional: a value of type ``elem`` (a TensorType or SequenceType;
    None when unknown) or nothing.  At run time it is that value, or None."""

    elem: "TensorType | SequenceType | None"

    is_static = False

    def __str__(self) -> str:
        return f"opt<{'?' if self.elem is None else self.elem}>"


def is_tensor_type(t) -> bool:
    """Whether ``t`` types a tensor (not a sequence, an optional, or unknown)."""
    return isinstance(t, TensorType)
