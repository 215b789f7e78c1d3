"""Creating tensors and moving their data: SINGA 3.1's ``tensor.from_numpy``,
``to_numpy``, ``zeros``, ``copy_data_to_from`` ...  Re-exported by ``singa.tensor``.
"""

from __future__ import annotations

import functools

import numpy as np

from . import device as _device
from ._tensor_operands import _blank_like, _resolve_dtype, _write_flat
from .errors import DTypeError, ShapeError
from .tensor import Tensor, float32

__all__ = ["to_numpy", "from_numpy", "from_raw_tensor", "from_raw_tensors", "to_host", "zeros",
           "ones", "zeros_like", "ones_like", "random", "product", "sizeof", "copy_from_numpy",
           "copy_data_to_from"]


def to_numpy(t) -> np.ndarray:
    """A NumPy copy (host) of a Tensor's data."""
    if not isinstance(t, Tensor):
        raise DTypeError(f"to_numpy expects a Tensor, got {type(t).__name__}")
    return _device.get_default_device().put(t.data)


def from_numpy(array, dev=None, requires_grad=True, stores_grad=False) -> Tensor:
    """A Tensor holding a copy of ``array`` (its dtype kept) on ``dev`` (default: CPU).

    SINGA 3.1 narrowed float64 to float32 and int64 to int32; every dtype is kept here.
    """
    source = np.asarray(array)
    t = Tensor(device=dev, data=source, requires_grad=requires_grad, stores_grad=stores_grad)
    if t.data is source or t.data is array:
        t.data = t.data.copy()  # SINGA copies: later writes to either side stay apart
    return t


def from_raw_tensor(array, dev=None) -> Tensor:
    """A Tensor from a raw array (SINGA's raw tensors are the arrays here)."""
    return from_numpy(array, dev)


def from_raw_tensors(arrays, dev=None) -> list:
    """:func:`from_raw_tensor` of each array."""
    return [from_raw_tensor(a, dev) for a in arrays]


def to_host(t: Tensor) -> Tensor:
    """A copy of ``t`` on the host CPU (``t`` stays where it is)."""
    return t.clone().to_host()


def zeros(shape, device=None, dtype=float32) -> Tensor:
    """A tensor of zeros."""
    return Tensor(shape, device, dtype)


def ones(shape, device=None, dtype=float32) -> Tensor:
    """A tensor of ones."""
    return Tensor(shape, device, dtype).set_value(1)


def zeros_like(t: Tensor) -> Tensor:
    """Zeros of ``t``'s shape, dtype and device."""
    return _blank_like(t)


def ones_like(t: Tensor) -> Tensor:
    """Ones of ``t``'s shape, dtype and device."""
    return _blank_like(t).set_value(1)


def random(shape, device=None) -> Tensor:
    """A float32 tensor of samples of U[0, 1)."""
    return Tensor(shape, device).uniform(0.0, 1.0)


def product(shape) -> int:
    """The number of elements of ``shape`` (1 for ``()``)."""
    return functools.reduce(lambda x, y: x * y, shape, 1)


def sizeof(dtype) -> int:
    """Bytes of one element of ``dtype``."""
    return _resolve_dtype(dtype).itemsize


def copy_from_numpy(t: Tensor, array) -> None:
    """Overwrite ``t``'s values with ``array`` (same size), in place."""
    t.copy_from_numpy(array)


def copy_data_to_from(dst: Tensor, src: Tensor, size=None, dst_offset=0, src_offset=0):
    """Copy ``size`` elements of ``src`` from ``src_offset`` into ``dst`` from ``dst_offset``.

    Offsets count elements in row-major order; the tensors may have any shapes and
    lie on different devices.  ``size=None`` copies the rest of ``src``.
    """
    if size is None:
        size = src.size - src_offset
    if src_offset < 0 or size < 0 or src_offset + size > src.size:
        raise ShapeError(f"copy_data_to_from: {size} elements from offset {src_offset} of a "
                         f"source of {src.size} elements (shape {src.shape})")
    values = src.data.reshape(-1)[src_offset:src_offset + size]
    _write_flat(dst, dst_offset, dst.device.put(values), "copy_data_to_from")
