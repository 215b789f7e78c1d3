"""SINGA's Tensor: an array on a device plus the autograd bookkeeping.

Arithmetic on Tensors goes through the op table (``singa.autograd.apply``), so
it is recorded on the tape and differentiable like any layer.
"""

from __future__ import annotations

import numpy as np

from . import device as _device
from .errors import DTypeError, ShapeError

# SINGA's dtype names.
float16 = np.float16
float32 = np.float32
float64 = np.float64
int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool_ = np.bool_


class Tensor:
    """An n-d array on a device.

    ``requires_grad``: gradients flow through this tensor.  ``stores_grad``:
    ``autograd.backward`` yields this tensor's gradient (weights).  ``creator``
    is the tape node that produced it (None for leaves).
    """

    def __init__(self, shape=(), device=None, dtype=None, data=None, requires_grad=True,
                 stores_grad=False, creator=None, name=None):
        self.device = _device.resolve(device)
        if data is not None:
            if isinstance(data, Tensor):
                data = data.data
            arr = self.device.put(data)
            if dtype is not None and arr.dtype != np.dtype(dtype):
                arr = arr.astype(dtype)
        else:
            shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
            arr = self.device.xp.zeros(shape, dtype=np.dtype(dtype or float32))
        self.data = arr
        self.requires_grad = requires_grad
        self.stores_grad = stores_grad
        self.creator = creator
        self.name = name
        self._out_index = 0  # which output of ``creator`` this is

    # ------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        a = to_numpy(self)
        return a if dtype is None else a.astype(dtype)

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device})\n{to_numpy(self)!r}"

    # ------------------------------------------------------------- data moves
    def to_device(self, dev) -> "Tensor":
        """Move this tensor's data onto ``dev`` (in place); returns self."""
        dev = _device.resolve(dev)
        if dev != self.device:
            self.data = dev.put(self.data)
            self.device = dev
        return self

    def to_host(self) -> "Tensor":
        return self.to_device(_device.get_default_device())

    def copy_from_numpy(self, array, offset=0):
        """Overwrite this tensor's values with ``array`` (same size), in place."""
        array = np.asarray(array)
        if array.size != self.size:
            raise ShapeError(f"copy_from_numpy: {array.shape} into tensor of shape {self.shape}")
        self.data[...] = self.device.put(array.reshape(self.shape).astype(self.dtype, copy=False))

    def copy_data(self, other: "Tensor"):
        """Overwrite this tensor's values with ``other``'s, in place."""
        if other.size != self.size:
            raise ShapeError(f"copy_data: tensor of shape {other.shape} into shape {self.shape}")
        # straight from the other tensor's device: no trip through the host
        self.data[...] = self.device.put(other.data).reshape(self.shape).astype(self.dtype, copy=False)

    def set_value(self, x):
        self.data[...] = x
        return self

    def gaussian(self, mean=0.0, std=1.0):
        self.data[...] = self.device.put(_rng.normal(mean, std, self.shape).astype(self.dtype))
        return self

    def uniform(self, low=0.0, high=1.0):
        self.data[...] = self.device.put(_rng.uniform(low, high, self.shape).astype(self.dtype))
        return self

    def bernoulli(self, p):
        self.data[...] = self.device.put((_rng.uniform(size=self.shape) < p).astype(self.dtype))
        return self

    def clone(self) -> "Tensor":
        return Tensor(device=self.device, data=self.data.copy(), requires_grad=self.requires_grad,
                      stores_grad=self.stores_grad, name=self.name)

    def numpy(self) -> np.ndarray:
        return to_numpy(self)

    def item(self):
        return to_numpy(self).item()

    def as_type(self, dtype) -> "Tensor":
        return _ops().cast(self, dtype)

    # ------------------------------------------------------------- arithmetic (recorded)
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().sub(self, o)
    def __rsub__(self, o): return _ops().sub(o, self)
    def __mul__(self, o): return _ops().mul(self, o)
    def __rmul__(self, o): return _ops().mul(o, self)
    def __truediv__(self, o): return _ops().div(self, o)
    def __rtruediv__(self, o): return _ops().div(o, self)
    def __pow__(self, o): return _ops().pow(self, o)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __neg__(self): return _ops().neg(self)
    def __lt__(self, o): return _ops().less(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    __hash__ = object.__hash__

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops().reshape(self, shape)

    def transpose(self, axes=None):
        return _ops().transpose(self, axes)

    @property
    def T(self):
        return self.transpose()


def _ops():
    from . import autograd
    return autograd


_rng = np.random.default_rng(0)


def seed(s: int) -> None:
    """Seed the generator behind gaussian()/uniform() and weight initialisation."""
    global _rng
    _rng = np.random.default_rng(s)


def rng() -> np.random.Generator:
    return _rng


def to_numpy(t) -> np.ndarray:
    """A NumPy copy (host) of a Tensor's data."""
    if not isinstance(t, Tensor):
        raise DTypeError(f"to_numpy expects a Tensor, got {type(t).__name__}")
    return _device.get_default_device().put(t.data)


def from_numpy(array, dev=None, requires_grad=True, stores_grad=False) -> Tensor:
    """A Tensor holding ``array`` (its dtype kept) on ``dev`` (default: CPU)."""
    return Tensor(device=dev, data=np.asarray(array), requires_grad=requires_grad,
                  stores_grad=stores_grad)


def from_raw_tensor(array, dev=None) -> Tensor:
    return from_numpy(array, dev)


def zeros(shape, dev=None, dtype=float32) -> Tensor:
    return Tensor(shape, dev, dtype)


def ones(shape, dev=None, dtype=float32) -> Tensor:
    return Tensor(shape, dev, dtype).set_value(1)


def random(shape, dev=None) -> Tensor:
    return Tensor(shape, dev).uniform(0.0, 1.0)


def copy_data_to_from(dst: Tensor, src: Tensor, size=None, dst_offset=0, src_offset=0):
    dst.copy_data(src)


def sum(t: Tensor, axis=None):  # noqa: A001 - SINGA's name
    return _ops().reduce_sum(t, axis)
