"""SINGA's Tensor: an array on a device plus the autograd bookkeeping.

Arithmetic on Tensors goes through the op table (``singa.autograd.apply``), so
it is recorded on the tape and differentiable like any layer.  The module
functions of SINGA 3.1 (``tensor.exp``, ``tensor.mult``, ``tensor.sum`` ...)
live in :mod:`singa.tensor_functions` and are re-exported here.

Where SINGA 3.1 and NumPy spell a thing differently both work: ``t.size`` and
``t.size()``, ``t.ndim`` and ``t.ndim()``, ``t.T`` and ``t.T()``.
"""

from __future__ import annotations

import warnings

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


class _Count(int):
    """An int that also answers a call, so SINGA's ``t.size()`` and NumPy's ``t.size`` agree."""

    __slots__ = ()

    def __call__(self) -> int:
        return int(self)


class Tensor:
    """An n-d array on a device.

    ``requires_grad``: gradients flow through this tensor.  ``stores_grad``:
    ``autograd.backward`` yields this tensor's gradient (weights).  ``creator``
    is the tape node that produced it (None for leaves).

    Binary operators follow SINGA's type rule: an integer tensor meeting a float
    (tensor or Python/NumPy float) is computed in float; comparisons give 0/1 in
    the operands' dtype, as SINGA's float tensors do.  In-place operators
    (``+=`` ...) overwrite the data and are not recorded on the tape.
    """

    # NumPy scalars on the left (``np.float32(2) * t``) defer to our reflected operators.
    __array_ufunc__ = None

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
        """Number of dimensions (also callable: SINGA's ``t.ndim()``)."""
        return _Count(self.data.ndim)

    @property
    def size(self) -> int:
        """Number of elements (also callable: SINGA's ``t.size()``)."""
        return _Count(self.data.size)

    def memsize(self) -> int:
        """Bytes held by the elements."""
        return self.size * self.dtype.itemsize

    def is_empty(self) -> bool:
        """True for a tensor without dimensions, as SINGA 3.1 defines it (``ndim() == 0``)."""
        return self.ndim == 0

    def is_transpose(self) -> bool:
        """True when the data is a strided view that is not row-major (a transpose)."""
        return self.data.ndim > 1 and not self.data.flags.c_contiguous

    def is_dummy(self) -> bool:
        """True for a tensor created without a name (SINGA names those 'Dummy#N')."""
        return self.name is None

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        """The value of a one-element tensor; for more elements it is ambiguous (an error)."""
        if self.size != 1:
            raise ShapeError(f"the truth value of a Tensor of shape {self.shape} is ambiguous; "
                             "reduce it first (tensor.sum, .item())")
        return bool(self.item())

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
        """Move this tensor's data onto the host CPU (in place); returns self."""
        return self.to_device(_device.get_default_device())

    def copy_from_numpy(self, array, offset=0):
        """Overwrite this tensor's values with ``array``, in place.

        ``offset`` (elements, row-major) is where the copy starts in this tensor;
        with the default 0 ``array`` must hold exactly ``size`` values.
        """
        array = np.asarray(array)
        if offset == 0 and array.size != self.size:
            raise ShapeError(f"copy_from_numpy: {array.shape} into tensor of shape {self.shape}")
        _write_flat(self, offset, self.device.put(array.reshape(-1)), "copy_from_numpy")

    def copy_data(self, other: "Tensor"):
        """Overwrite this tensor's values with ``other``'s (same size), in place."""
        if other.size != self.size:
            raise ShapeError(f"copy_data: tensor of shape {other.shape} into shape {self.shape}")
        # straight from the other tensor's device: no trip through the host
        _writable(self)[...] = self.device.put(other.data).reshape(self.shape).astype(
            self.dtype, copy=False)

    def copy_from(self, source, offset=0):
        """Overwrite this tensor's values from a Tensor or a NumPy array, in place."""
        if isinstance(source, Tensor):
            if offset:
                copy_data_to_from(self, source, source.size, offset, 0)
            else:
                self.copy_data(source)
        elif isinstance(source, np.ndarray):
            self.copy_from_numpy(source, offset)
        else:
            raise DTypeError(f"copy_from expects a Tensor or a NumPy array, "
                             f"got {type(source).__name__}")

    def reset_like(self, t: "Tensor"):
        """Take ``t``'s shape, dtype and device; the values become zeros."""
        self.device = t.device
        self.data = t.device.xp.zeros(t.shape, dtype=t.dtype)

    def contiguous(self) -> "Tensor":
        """A copy of this tensor whose data is row-major (C order)."""
        return Tensor(device=self.device, data=self.device.xp.ascontiguousarray(self.data),
                      requires_grad=self.requires_grad)

    # ------------------------------------------------------------- fills (in place)
    def set_value(self, x, inplace=True) -> "Tensor":
        """Set every element to ``x``; returns the tensor written (self unless ``inplace=False``)."""
        t = self if inplace else _blank_like(self)
        _writable(t)[...] = x
        return t

    def gaussian(self, mean=0.0, std=1.0, inplace=True) -> "Tensor":
        """Fill with samples of N(mean, std^2) from the seeded generator."""
        return self._fill(_rng.normal(mean, std, self.shape), inplace)

    def uniform(self, low=0.0, high=1.0, inplace=True) -> "Tensor":
        """Fill with samples of U[low, high) from the seeded generator."""
        return self._fill(_rng.uniform(low, high, self.shape), inplace)

    def bernoulli(self, p, inplace=True) -> "Tensor":
        """Fill with 1 (probability ``p``) or 0."""
        return self._fill(_rng.uniform(size=self.shape) < p, inplace)

    def _fill(self, host_values, inplace):
        t = self if inplace else _blank_like(self)
        _writable(t)[...] = t.device.put(np.asarray(host_values).astype(t.dtype))
        return t

    # ------------------------------------------------------------- copies
    def copy(self) -> "Tensor":
        """A new Tensor sharing this one's data (SINGA's shallow copy): writes show in both."""
        t = Tensor(device=self.device, requires_grad=self.requires_grad,
                   stores_grad=self.stores_grad, name=self.name)
        t.data = self.data
        return t

    def clone(self) -> "Tensor":
        """A new Tensor with its own copy of the data."""
        return Tensor(device=self.device, data=self.data.copy(), requires_grad=self.requires_grad,
                      stores_grad=self.stores_grad, name=self.name)

    def deepcopy(self) -> "Tensor":
        """Same as :meth:`clone`."""
        return self.clone()

    def numpy(self) -> np.ndarray:
        return to_numpy(self)

    def item(self):
        return to_numpy(self).item()

    def as_type(self, dtype) -> "Tensor":
        """This tensor converted to ``dtype``: a NumPy dtype, or SINGA's 'int' / 'float'.

        Floats convert to integers by truncation towards zero.
        """
        return _cast(self, _resolve_dtype(dtype))

    astype = as_type

    # ------------------------------------------------------------- shape
    def reshape(self, *shape) -> "Tensor":
        """This tensor's values in ``shape`` (a tuple, or the dims as arguments)."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops().reshape(self, shape)

    def transpose(self, axes=None) -> "Tensor":
        """Axes permuted by ``axes`` (default: reversed)."""
        return _ops().apply("Transpose", [self], {} if axes is None else {"perm": list(axes)})[0]

    @property
    def T(self) -> "Tensor":
        """The transpose (axes reversed); SINGA 3.1's ``t.T()`` works too."""
        out = self.transpose()
        out.__class__ = _Transposed
        return out

    def repeat(self, repeats, axis=None) -> "Tensor":
        """See :func:`singa.tensor.repeat`."""
        return repeat(self, repeats, axis)

    def __getitem__(self, key) -> "Tensor":
        """Integers and slices, one per leading axis, as SINGA 3.1 indexes.

        Slices (steps too) select as NumPy's do.  An integer keeps its axis with
        length 1, as SINGA's ``t[i]`` does (NumPy would drop the axis).  The
        result is recorded on the tape (a Slice op) and may share memory with
        this tensor, as NumPy views do.
        """
        bounds = _slice_bounds(self.shape, key)
        if not bounds[0]:
            return self.clone()
        consts = [_int64_tensor(v, self) for v in bounds]
        return _ops().apply("Slice", [self] + consts)[0]

    # ------------------------------------------------------------- norms
    def l1(self) -> float:
        """Mean absolute value (SINGA's l1: the L1 norm divided by the size)."""
        return self._norm("ReduceL1")

    def l2(self) -> float:
        """The L2 norm divided by the size, as SINGA's l2 defines it."""
        return self._norm("ReduceL2")

    def _norm(self, op):
        if self.size == 0:
            return float("nan")
        total = _ops().apply(op, [self, None], {"keepdims": 0})[0]
        return float(total.item()) / self.size

    # ------------------------------------------------------------- arithmetic (recorded)
    def __add__(self, o): return _binary(_ops().add, self, o)
    def __radd__(self, o): return _binary(_ops().add, o, self)
    def __sub__(self, o): return _binary(_ops().sub, self, o)
    def __rsub__(self, o): return _binary(_ops().sub, o, self)
    def __mul__(self, o): return _binary(_ops().mul, self, o)
    def __rmul__(self, o): return _binary(_ops().mul, o, self)
    def __truediv__(self, o): return _binary(_ops().div, self, o)
    def __rtruediv__(self, o): return _binary(_ops().div, o, self)
    __div__, __rdiv__ = __truediv__, __rtruediv__
    def __floordiv__(self, o): return _floor(_binary(_ops().div, self, o))
    def __rfloordiv__(self, o): return _floor(_binary(_ops().div, o, self))
    def __pow__(self, o): return _binary(_ops().pow, self, o)
    def __rpow__(self, o): return _binary(_ops().pow, o, self)
    def __matmul__(self, o): return _binary(_ops().matmul, self, o)
    def __rmatmul__(self, o): return _binary(_ops().matmul, o, self)
    def __neg__(self): return _ops().apply("Neg", [self])[0]
    def __abs__(self): return _ops().abs(self)

    # Comparisons give 0/1 in the operands' dtype, as SINGA's do (float32 for float32).
    def __lt__(self, o): return _compare("Less", self, o)
    def __gt__(self, o): return _compare("Greater", self, o)
    def __le__(self, o): return _compare("LessOrEqual", self, o)
    def __ge__(self, o): return _compare("GreaterOrEqual", self, o)

    def __eq__(self, o):
        """Elementwise ``==`` as 0/1; ``t == None`` is False, as in SINGA."""
        if o is None or not _is_operand(o):
            return NotImplemented if o is not None else False
        result = _compare("Equal", self, o)
        if o is self:
            result.__class__ = _SelfComparison
        return result

    def __ne__(self, o):
        """Elementwise ``!=`` as 0/1; ``t != None`` is True."""
        if o is None or not _is_operand(o):
            return NotImplemented if o is not None else True
        return _compare("Equal", self, o, negate=True)

    # __eq__ returns tensors: hashing (dict keys, sets) stays by identity.
    __hash__ = object.__hash__

    # ------------------------------------------------------------- in place (not recorded)
    def __iadd__(self, o): return self._update(self + o, "+=")
    def __isub__(self, o): return self._update(self - o, "-=")
    def __imul__(self, o): return self._update(self * o, "*=")
    def __itruediv__(self, o): return self._update(self / o, "/=")
    __idiv__ = __itruediv__

    def _update(self, result: "Tensor", what: str) -> "Tensor":
        _assign(self, result, what)
        return self

    # SINGA 3.1 keeps these, deprecated in favour of broadcasting.
    def add_column(self, v): return self._by_vector(v, "add_column", "+", column=True)
    def add_row(self, v): return self._by_vector(v, "add_row", "+", column=False)
    def div_column(self, v): return self._by_vector(v, "div_column", "/", column=True)
    def div_row(self, v): return self._by_vector(v, "div_row", "/", column=False)
    def mult_column(self, v): return self._by_vector(v, "mult_column", "*", column=True)
    def mult_row(self, v): return self._by_vector(v, "mult_row", "*", column=False)

    def _by_vector(self, v, name, symbol, column):
        """``self <symbol>= v`` with v as a column (or a row) of this matrix, in place."""
        shape = (-1, 1) if column else (1, -1)
        warnings.warn(f"Tensor.{name} is deprecated: use broadcasting, t {symbol}= "
                      f"v.reshape{shape}", DeprecationWarning, stacklevel=3)
        if self.ndim != 2:
            raise ShapeError(f"Tensor.{name}: needs a 2-d tensor, got shape {self.shape}")
        fn = {"+": _ops().add, "/": _ops().div, "*": _ops().mul}[symbol]
        return self._update(_binary(fn, self, _ops().reshape(v, shape)), f"Tensor.{name}")


class _Transposed(Tensor):
    """The result of ``t.T``: calling it returns itself, so SINGA's ``t.T()`` reads the same."""

    def __call__(self) -> Tensor:
        return self


class _SelfComparison(Tensor):
    """The result of ``t == t``: true as a condition.

    Dicts and weak dicts keyed by tensors (hashed by identity) test a key against
    itself with ``==``; that must hold whatever the values (NaN included).
    """

    def __bool__(self):
        return True


#: SINGA's name for a tensor standing for a model input.
PlaceHolder = Tensor


def _ops():
    from . import autograd
    return autograd


# ----------------------------------------------------------------- random generator

_rng = np.random.default_rng(0)


def seed(s: int) -> None:
    """Seed the generator behind gaussian()/uniform() and weight initialisation."""
    global _rng
    _rng = np.random.default_rng(s)


def rng() -> np.random.Generator:
    return _rng


# SINGA names tied to its C++ core: what to use instead.
_NOT_PROVIDED = {
    "CTensor": "there are no C++ tensor handles: Tensor.data is a NumPy (CPU) or CuPy (GPU) array",
    "singa": "tensor.singa is SINGA's C++ binding; singa.singa_wrap stands in for its handles, "
             "and the functions of singa.tensor and singa.autograd for the rest",
    "_call_singa_func": "there are no C++ functions to wrap: use singa.tensor's functions or "
                        "singa.autograd.apply(op, inputs, attrs)",
}


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"singa.tensor.{name} is not provided: {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'singa.tensor' has no attribute {name!r}")


# The helpers and SINGA's module functions need Tensor, so they come last.
from ._tensor_operands import (  # noqa: E402
    _assign, _binary, _blank_like, _cast, _compare, _floor, _int64_tensor, _is_operand,
    _resolve_dtype, _slice_bounds, _writable, _write_flat)
from .tensor_data import *  # noqa: E402,F401,F403
from .tensor_data import copy_data_to_from, to_numpy  # noqa: E402  (used by Tensor's methods)
from .tensor_functions import *  # noqa: E402,F401,F403
from .tensor_functions import repeat  # noqa: E402  (Tensor.repeat's body)
