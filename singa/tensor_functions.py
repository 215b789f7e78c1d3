"""SINGA 3.1's ``singa.tensor`` module functions: math, comparisons, reductions, products.

Each is a thin layer over the op table (through ``singa.autograd``), so the
results are recorded on the tape like any other op.  ``singa.tensor``
re-exports every name of ``__all__``; import them from there.

The ``ret=`` / ``out=`` arguments write the result into an existing tensor in
place (not recorded), as SINGA's do.
"""

from __future__ import annotations

import string

import numpy as np

from .errors import DTypeError, ShapeError
from ._tensor_operands import _assign, _binary, _coerce, _int64_tensor
from .tensor import Tensor, _ops

__all__ = [
    "abs", "exp", "log", "sqrt", "square", "sign", "ceil", "floor", "sigmoid", "tanh", "relu",
    "pow", "softmax", "lt", "le", "gt", "ge", "eq",
    "add", "sub", "eltwise_mult", "div", "axpy", "mult", "einsum", "tensordot", "repeat",
    "sum", "average", "sum_columns", "sum_rows", "add_column", "add_row",
    "concatenate", "reshape", "transpose", "contiguous", "bernoulli", "gaussian", "uniform",
]


def _one(op, inputs, attrs=None) -> Tensor:
    return _ops().apply(op, inputs, attrs)[0]


def _into(out, result: Tensor, what: str) -> Tensor:
    """``result``, or ``out`` overwritten with it when given."""
    if out is None:
        return result
    _assign(out, result, what)
    return out


# ----------------------------------------------------------------- elementwise

def abs(t: Tensor) -> Tensor:  # noqa: A001 - SINGA's name
    """|t| elementwise."""
    return _ops().abs(t)


def exp(t: Tensor) -> Tensor:
    """e ** t elementwise."""
    return _ops().exp(t)


def log(t: Tensor) -> Tensor:
    """Natural logarithm elementwise."""
    return _ops().log(t)


def sqrt(t: Tensor) -> Tensor:
    """Square root elementwise."""
    return _ops().sqrt(t)


def square(t: Tensor) -> Tensor:
    """t * t elementwise."""
    return _ops().mul(t, t)


def sign(t: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element."""
    return _one("Sign", [t])


def ceil(t: Tensor) -> Tensor:
    """Round each element towards +inf."""
    return _one("Ceil", [t])


def floor(t: Tensor) -> Tensor:
    """Round each element towards -inf (not in SINGA 3.1; the partner of ``ceil``)."""
    return _one("Floor", [t])


def sigmoid(t: Tensor) -> Tensor:
    """1 / (1 + exp(-t)) elementwise."""
    return _ops().sigmoid(t)


def tanh(t: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return _ops().tanh(t)


def relu(t: Tensor) -> Tensor:
    """max(t, 0) elementwise (not in SINGA 3.1's tensor module; ``autograd.relu`` there)."""
    return _ops().relu(t)


def pow(t: Tensor, x, out=None) -> Tensor:  # noqa: A001 - SINGA's name
    """t ** x elementwise; ``x`` a number or a tensor (broadcast)."""
    return _into(out, _binary(_ops().pow, t, x), "tensor.pow")


def softmax(t: Tensor, out=None) -> Tensor:
    """Softmax over all of a 1-d tensor, or over each row of a 2-d tensor."""
    if t.ndim not in (1, 2):
        raise ShapeError(f"tensor.softmax: takes a 1-d or 2-d tensor, got shape {t.shape}; "
                         "use autograd.softmax(x, axis) for other ranks")
    return _into(out, _ops().softmax(t, t.ndim - 1), "tensor.softmax")


# ----------------------------------------------------------------- comparisons (0/1 tensors)

def lt(t: Tensor, x) -> Tensor:
    """1 where t < x, else 0 (in the operands' dtype)."""
    return t < x


def le(t: Tensor, x) -> Tensor:
    """1 where t <= x, else 0."""
    return t <= x


def gt(t: Tensor, x) -> Tensor:
    """1 where t > x, else 0."""
    return t > x


def ge(t: Tensor, x) -> Tensor:
    """1 where t >= x, else 0."""
    return t >= x


def eq(t: Tensor, x) -> Tensor:
    """1 where t == x, else 0."""
    return t == x


# ----------------------------------------------------------------- binary arithmetic

def add(lhs, rhs, ret=None) -> Tensor:
    """lhs + rhs (broadcast); into ``ret`` when given."""
    return _into(ret, lhs + rhs, "tensor.add")


def sub(lhs, rhs, ret=None) -> Tensor:
    """lhs - rhs (broadcast); into ``ret`` when given."""
    return _into(ret, lhs - rhs, "tensor.sub")


def eltwise_mult(lhs, rhs, ret=None) -> Tensor:
    """lhs * rhs elementwise (broadcast); into ``ret`` when given."""
    return _into(ret, lhs * rhs, "tensor.eltwise_mult")


def div(lhs, rhs, ret=None) -> Tensor:
    """lhs / rhs (broadcast); into ``ret`` when given."""
    return _into(ret, lhs / rhs, "tensor.div")


def axpy(alpha, x: Tensor, y: Tensor) -> Tensor:
    """y += alpha * x, in place; returns y."""
    y += x * alpha
    return y


# ----------------------------------------------------------------- products

def mult(A: Tensor, B: Tensor, C=None, alpha=1.0, beta=0.0) -> Tensor:
    """alpha * A @ B (+ beta * C, written into C when C is given).

    A matrix times a matrix or a vector, or batches of matrices (leading dims
    broadcast as in ``matmul``).
    """
    r = _binary(_ops().matmul, A, B)
    if alpha != 1:
        r = r * alpha
    if C is None:
        return r
    if beta != 0:
        r = r + C * beta
    _assign(C, r, "tensor.mult")
    return C


def einsum(ops: str, *args: Tensor) -> Tensor:
    """Einstein summation of the operands as the subscripts ``ops`` say ('ij,jk->ik')."""
    if not ops or not args:
        raise ShapeError("tensor.einsum: needs a subscript string and at least one operand")
    if len(args) == 2:
        args = _coerce(*args)
    return _one("Einsum", list(args), {"equation": ops})


def tensordot(A: Tensor, B: Tensor, axes=2) -> Tensor:
    """The sum of products of A's and B's elements over the paired ``axes``.

    ``axes``: an int n pairs A's last n axes with B's first n; a pair of
    sequences pairs them one by one.  The result holds A's remaining axes, then
    B's; when none remain it has shape (1, 1), as in SINGA.
    """
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(A.ndim - axes, A.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    axes_a = [a + A.ndim if a < 0 else a for a in axes_a]
    axes_b = [b + B.ndim if b < 0 else b for b in axes_b]
    bad = (len(axes_a) != len(axes_b) or A.ndim + B.ndim > len(string.ascii_letters)
           or not all(0 <= a < A.ndim and 0 <= b < B.ndim and A.shape[a] == B.shape[b]
                      for a, b in zip(axes_a, axes_b)))
    if bad:
        raise ShapeError(f"tensordot: axes {axes} do not pair shapes {A.shape} and {B.shape}")
    a_sub = string.ascii_letters[:A.ndim]
    b_sub = list(string.ascii_letters[A.ndim:A.ndim + B.ndim])
    for a, b in zip(axes_a, axes_b):
        b_sub[b] = a_sub[a]
    kept = ([a_sub[k] for k in range(A.ndim) if k not in axes_a]
            + [b_sub[k] for k in range(B.ndim) if k not in axes_b])
    r = einsum(f"{a_sub},{''.join(b_sub)}->{''.join(kept)}", A, B)
    return r if kept else r.reshape(1, 1)


def repeat(t: Tensor, repeats, axis=None) -> Tensor:
    """Each element repeated ``repeats`` times along ``axis`` (None: of the flattened tensor).

    ``repeats`` is an int, or (with an axis) one count per element along it.
    """
    if isinstance(repeats, (list, tuple)):
        if axis is None:
            raise ShapeError(f"tensor.repeat: a sequence of repeats {repeats} needs an axis")
        counts = list(repeats)
    elif isinstance(repeats, (int, np.integer)):
        counts = int(repeats)
    else:
        raise DTypeError(f"tensor.repeat: repeats must be an int or a sequence, got {repeats!r}")
    if np.any(np.asarray(counts) < 0):
        raise ShapeError(f"tensor.repeat: negative repeats {repeats}")
    src = _ops().reshape(t, (-1,)) if axis is None else t
    ax = 0 if axis is None else axis + src.ndim if axis < 0 else axis
    if not 0 <= ax < src.ndim:
        raise ShapeError(f"tensor.repeat: axis {axis} out of range for shape {t.shape}")
    n = src.shape[ax]
    if isinstance(counts, list) and len(counts) != n:
        raise ShapeError(f"tensor.repeat: {len(counts)} repeats for axis {ax} of length {n} "
                         f"(shape {t.shape})")
    # There is no Repeat op: gather each source index as often as it repeats.
    index = np.repeat(np.arange(n), counts)
    return _one("Gather", [src, _int64_tensor(index, t)], {"axis": ax})


# ----------------------------------------------------------------- reductions

def sum(t: Tensor, axis=None, out=None) -> Tensor:  # noqa: A001 - SINGA's name
    """The sum over ``axis`` (an int or a tuple; the summed axes are dropped).

    ``axis=None`` sums everything into a (1, 1) tensor, as SINGA does.
    """
    if axis is None:
        r = _ops().reduce_sum(t, None, keepdims=0).reshape(1, 1)
    else:
        axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
        r = _ops().reduce_sum(t, axes, keepdims=0)
    return _into(out, r, "tensor.sum")


def average(t: Tensor, axis=None):
    """The mean: a Python float over all elements when ``axis`` is None or ``t`` is 1-d;
    else a tensor, the mean over ``axis`` (0: of each column, 1: of each row)."""
    if axis is None or t.ndim <= 1:
        return float(_ops().reduce_mean(t, None, keepdims=0).item())
    return _ops().reduce_mean(t, [axis], keepdims=0)


def _matrix(M: Tensor, what: str) -> None:
    if M.ndim != 2:
        raise ShapeError(f"tensor.{what}: needs a 2-d tensor, got shape {M.shape}")


def sum_columns(M: Tensor) -> Tensor:
    """The sum of M's columns: a (rows, 1) tensor."""
    _matrix(M, "sum_columns")
    return _ops().reduce_sum(M, [1], keepdims=1)


def sum_rows(M: Tensor) -> Tensor:
    """The sum of M's rows: a (1, columns) tensor."""
    _matrix(M, "sum_rows")
    return _ops().reduce_sum(M, [0], keepdims=1)


def add_column(alpha, v: Tensor, beta, M: Tensor) -> Tensor:
    """Each column m of M becomes alpha * v + beta * m, in place; returns M."""
    _matrix(M, "add_column")
    _assign(M, _ops().reshape(v, (-1, 1)) * alpha + M * beta, "tensor.add_column")
    return M


def add_row(alpha, v: Tensor, beta, M: Tensor) -> Tensor:
    """Each row m of M becomes alpha * v + beta * m, in place; returns M."""
    _matrix(M, "add_row")
    _assign(M, _ops().reshape(v, (1, -1)) * alpha + M * beta, "tensor.add_row")
    return M


# ----------------------------------------------------------------- shape

def concatenate(tensors, axis: int) -> Tensor:
    """The tensors joined along ``axis`` (other dims equal)."""
    return _ops().cat(list(tensors), axis)


def reshape(t: Tensor, shape) -> Tensor:
    """``t``'s values in ``shape`` (same number of elements)."""
    return t.reshape(shape)


def transpose(t: Tensor, axes=None) -> Tensor:
    """``t`` with its axes permuted by ``axes`` (default: reversed)."""
    return t.transpose(axes)


def contiguous(t: Tensor) -> Tensor:
    """A row-major copy of ``t``."""
    return t.contiguous()


# ----------------------------------------------------------------- random fills (in place)

def bernoulli(p, t: Tensor) -> Tensor:
    """Fill ``t`` with 1 (probability p) or 0; returns t."""
    return t.bernoulli(p)


def gaussian(mean, std, t: Tensor) -> Tensor:
    """Fill ``t`` with samples of N(mean, std^2); returns t."""
    return t.gaussian(mean, std)


def uniform(low, high, t: Tensor) -> Tensor:
    """Fill ``t`` with samples of U[low, high); returns t."""
    return t.uniform(low, high)
