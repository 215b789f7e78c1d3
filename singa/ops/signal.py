"""Fourier transforms: DFT and STFT.

Both carry complex numbers as a trailing dim of 2 (real, imaginary); a real signal
has a trailing dim of 1.  Arithmetic runs in complex64 (complex128 for float64
inputs) through ``xp.fft``, so NumPy and CuPy share the code, and results are cast
back to the input's dtype.  Each op is real-linear in its signal, so its gradient
is the adjoint transform (the unnormalised DFT's adjoint is ``n * ifft``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import check_int_operand, defop
from .index import scatter_add

_FLOATS = ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16")


# ------------------------------------------------------------------ shared helpers

def _require_float(op, what, x):
    """DTypeError unless array ``x`` holds floats (bfloat16 included)."""
    if DType.from_np(x.dtype).name not in _FLOATS:
        raise DTypeError(f"{op}: {what} must be a float tensor, got {x.dtype}")


def _check_float(op, what, t):
    if t is not None and t.dtype is not None and t.dtype.name not in _FLOATS:
        raise DTypeError(f"{op}: {what} must be a float tensor, got {t.dtype.short}")


def _check_pairs(op, shape):
    """ShapeError unless ``shape`` (may hold symbols) ends in a complex dim of 1 or 2."""
    if shape is None:
        return
    if len(shape) < 2:
        raise ShapeError(f"{op}: input of shape {tuple(shape)} needs rank >= 2 "
                         "(signal dims, then 1 for real or 2 for complex)")
    if isinstance(shape[-1], int) and shape[-1] not in (1, 2):
        raise ShapeError(f"{op}: last dim must be 1 (real) or 2 (complex), got shape "
                         f"{tuple(shape)}")


def _work_types(dtype):
    """(float, complex) NumPy types the transform runs in for input ``dtype``."""
    if np.dtype(dtype) == np.float64:
        return np.float64, np.complex128
    return np.float32, np.complex64


def to_complex(xp, x):
    """``[..., 1|2]`` real pairs as a complex array of shape ``[...]``."""
    ft, ct = _work_types(x.dtype)
    x = x.astype(ft)
    if x.shape[-1] == 1:
        return x[..., 0].astype(ct)
    return (x[..., 0] + 1j * x[..., 1]).astype(ct)


def from_complex(xp, z, dtype):
    """A complex array as real pairs ``[..., 2]`` of ``dtype``."""
    return xp.stack([z.real, z.imag], axis=-1).astype(dtype)


def complex_adjoint(xp, dz, x):
    """Adjoint of :func:`to_complex`: the gradient w.r.t. the pairs ``x`` of ``dz``."""
    if x.shape[-1] == 1:
        return dz.real[..., None].astype(x.dtype)
    return from_complex(xp, dz, x.dtype)


def fit_length(xp, z, n, axis):
    """``z`` cropped or zero-padded to length ``n`` along ``axis``."""
    m = z.shape[axis]
    if m >= n:
        index = [slice(None)] * z.ndim
        index[axis] = slice(0, n)
        return z[tuple(index)]
    pad = [(0, 0)] * z.ndim
    pad[axis] = (0, n - m)
    return xp.pad(z, pad)


def host_array(v) -> np.ndarray:
    """An operand (NumPy or CuPy) as a NumPy array."""
    return np.asarray(v.get() if hasattr(v, "get") else v)


def scalar_operand(op, what, v, minimum):
    """A scalar integer operand as int; ShapeError below ``minimum`` or not a scalar."""
    a = host_array(v)
    if a.size != 1:
        raise ShapeError(f"{op}: {what} must be a scalar, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {what} must be int32 or int64, got {a.dtype}")
    out = int(a.reshape(()))
    if out < minimum:
        raise ShapeError(f"{op}: {what} must be >= {minimum}, got {out}")
    return out


# ------------------------------------------------------------------ DFT

def _dft_axis(rank, axis):
    """The signal axis in [0, rank - 2]; the trailing complex dim is not an axis."""
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise ShapeError(f"DFT: axis {axis} out of range [{-rank}, -2] U [0, {rank - 2}] "
                         f"for rank {rank}")
    return axis % rank


def _dft_length(m, dft_length, attrs):
    """The transform length n for an axis of length ``m``."""
    if dft_length is not None:
        return scalar_operand("DFT", "dft_length", dft_length, 1)
    if attrs["inverse"] and attrs["onesided"]:
        if m < 2:
            raise ShapeError(f"DFT: a one-sided inverse of axis length {m} needs dft_length")
        return 2 * (m - 1)
    return m


def _dft_plan(x, inputs, attrs):
    """(axis, n) of a DFT call, validated."""
    if attrs["onesided"] not in (0, 1) or attrs["inverse"] not in (0, 1):
        raise ShapeError(f"DFT: onesided and inverse must be 0 or 1, got {attrs['onesided']}, "
                         f"{attrs['inverse']}")
    _check_pairs("DFT", x.shape)
    axis_in = inputs[2] if len(inputs) > 2 else None
    axis = -2 if axis_in is None else scalar_operand("DFT", "axis", axis_in, -x.ndim)
    axis = _dft_axis(x.ndim, axis)
    dft_length = inputs[1] if len(inputs) > 1 else None
    return axis, _dft_length(x.shape[axis], dft_length, attrs)


def _dft_infer(types, attrs, values):
    x = types[0]
    _check_float("DFT", "input", x)
    for i, what in ((1, "dft_length"), (2, "axis")):
        if len(types) > i:
            check_int_operand("DFT", what, types[i])
    irfft = bool(attrs["inverse"] and attrs["onesided"])
    last = 1 if irfft else 2
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    _check_pairs("DFT", x.shape)
    rank = len(x.shape)
    has_axis = len(types) > 2 and types[2] is not None
    if has_axis and (len(values) < 3 or values[2] is None):
        return [TensorType(x.dtype, (None,) * (rank - 1) + (last,))]
    axis = _dft_axis(rank, scalar_operand("DFT", "axis", values[2], -rank) if has_axis else -2)
    m = x.shape[axis]
    has_len = len(types) > 1 and types[1] is not None
    if has_len:
        n = scalar_operand("DFT", "dft_length", values[1], 1) if values[1] is not None else None
    elif isinstance(m, int):
        n = _dft_length(m, None, attrs)
    else:
        n = None if irfft else m
    if attrs["onesided"] and not attrs["inverse"] and n is not None:
        n = n // 2 + 1 if isinstance(n, int) else None
    shape = list(x.shape)
    shape[axis], shape[-1] = n, last
    return [TensorType(x.dtype, tuple(shape))]


def _dft_adapt(attrs, opset):
    # opsets 17-19 name the axis by an attribute whose default (1) differs from
    # the later input's (-2)
    attrs = dict(attrs)
    if opset is not None and opset < 20:
        return attrs, {2: np.array(attrs.pop("axis", 1), np.int64)}
    return attrs, {}


def _dft_grad(xp, inputs, outputs, douts, attrs):
    x = inputs[0]
    axis, n = _dft_plan(x, inputs, attrs)
    m = x.shape[axis]
    dy = douts[0]
    if attrs["inverse"] and attrs["onesided"]:
        # irfft(Z)[t] = (Re Z0 + 2 sum_k Re(Z_k w^kt) + Re Z_{n/2} (-1)^t) / n: the
        # adjoint is rfft scaled by each bin's multiplicity over n
        dz = xp.fft.rfft(dy[..., 0].astype(_work_types(x.dtype)[0]), n=n, axis=axis)
        mult = xp.full(n // 2 + 1, 2.0)
        mult[0] = 1.0
        if n % 2 == 0:
            mult[-1] = 1.0
        shape = [1] * dz.ndim
        shape[axis] = n // 2 + 1
        dz = dz * (mult.reshape(shape) / n).astype(dz.real.dtype)
    else:
        dz = to_complex(xp, dy)
        if attrs["onesided"]:
            dz = fit_length(xp, dz, n, axis)
        # adjoint of the unnormalised DFT is n * ifft; of ifft, fft / n
        dz = xp.fft.fft(dz, axis=axis) / n if attrs["inverse"] else \
            xp.fft.ifft(dz, axis=axis) * n
    dz = fit_length(xp, dz, m, axis)
    return [complex_adjoint(xp, dz, x)] + [None] * (len(inputs) - 1)


@defop("DFT", infer=_dft_infer, grad=_dft_grad, since=17, adapt=_dft_adapt,
       defaults={"inverse": 0, "onesided": 0})
def _dft(xp, inputs, attrs):
    """DFT (or inverse, one-sided: rfft / irfft) along input 2's axis (default -2).

    Input 1 (dft_length) crops or zero-pads the signal along the axis.
    """
    x = inputs[0]
    _require_float("DFT", "input", x)
    axis, n = _dft_plan(x, inputs, attrs)
    z = to_complex(xp, x)
    if attrs["inverse"] and attrs["onesided"]:
        return [xp.fft.irfft(z, n=n, axis=axis)[..., None].astype(x.dtype)]
    if attrs["inverse"]:
        return [from_complex(xp, xp.fft.ifft(z, n=n, axis=axis), x.dtype)]
    y = xp.fft.fft(z, n=n, axis=axis)
    if attrs["onesided"]:
        y = fit_length(xp, y, n // 2 + 1, axis)
    return [from_complex(xp, y, x.dtype)]


# ------------------------------------------------------------------ STFT

def _stft_plan(signal, inputs, attrs):
    """(frame_step, frame_length, frames, bins) of an STFT call, validated."""
    if signal.ndim != 3 or signal.shape[-1] not in (1, 2):
        raise ShapeError(f"STFT: signal must be [batch, length, 1 or 2], got shape "
                         f"{signal.shape}")
    if attrs["onesided"] not in (0, 1):
        raise ShapeError(f"STFT: onesided must be 0 or 1, got {attrs['onesided']}")
    window = inputs[2] if len(inputs) > 2 else None
    length_in = inputs[3] if len(inputs) > 3 else None
    step = scalar_operand("STFT", "frame_step", inputs[1], 1)
    length = signal.shape[1]
    if length_in is not None:
        length = scalar_operand("STFT", "frame_length", length_in, 1)
    elif window is not None:
        length = window.shape[0] if window.ndim == 1 else -1
    if window is not None and window.shape != (length,):
        raise ShapeError(f"STFT: window of shape {window.shape} for frame_length {length}")
    if window is not None and window.dtype != signal.dtype:
        raise DTypeError(f"STFT: window dtype {window.dtype} differs from the signal's "
                         f"{signal.dtype}")
    if not 1 <= length <= signal.shape[1]:
        raise ShapeError(f"STFT: frame_length {length} out of range for a signal of length "
                         f"{signal.shape[1]}")
    frames = (signal.shape[1] - length) // step + 1
    bins = length // 2 + 1 if attrs["onesided"] else length
    return step, length, frames, bins


def _frame_index(xp, step, length, frames):
    return xp.arange(frames)[:, None] * step + xp.arange(length)[None, :]


def _stft_infer(types, attrs, values):
    sig = types[0]
    _check_float("STFT", "signal", sig)
    check_int_operand("STFT", "frame_step", types[1])
    window = types[2] if len(types) > 2 else None
    length_t = types[3] if len(types) > 3 else None
    _check_float("STFT", "window", window)
    check_int_operand("STFT", "frame_length", length_t)
    if sig.shape is not None and len(sig.shape) != 3:
        raise ShapeError(f"STFT: signal must be [batch, length, 1 or 2], got {sig.shape}")
    batch, n = (sig.shape[0], sig.shape[1]) if sig.shape is not None else (None, None)
    if length_t is not None:
        length = scalar_operand("STFT", "frame_length", values[3], 1) \
            if values[3] is not None else None
    elif window is not None:
        length = window.shape[0] if window.shape is not None else None
    else:
        length = n
    step = scalar_operand("STFT", "frame_step", values[1], 1) if values[1] is not None else None
    ints = all(isinstance(d, int) for d in (n, length, step))
    frames = (n - length) // step + 1 if ints else None
    if isinstance(length, int):
        bins = length // 2 + 1 if attrs["onesided"] else length
    else:
        bins = None
    return [TensorType(sig.dtype, (batch, frames, bins, 2))]


def _stft_grad(xp, inputs, outputs, douts, attrs):
    signal = inputs[0]
    window = inputs[2] if len(inputs) > 2 else None
    step, length, frames, bins = _stft_plan(signal, inputs, attrs)
    idx = _frame_index(xp, step, length, frames)
    # adjoint of the DFT of each frame (bins past the one-sided half got nothing)
    g = xp.fft.ifft(fit_length(xp, to_complex(xp, douts[0]), length, 2), axis=2) * length
    grads = [None] * len(inputs)
    if window is not None:
        z = to_complex(xp, signal)[:, idx]
        dw = (g.real * z.real + g.imag * z.imag).sum(axis=(0, 1))
        grads[2] = dw.astype(window.dtype)
        g = g * window.astype(g.real.dtype)
    batch, n = signal.shape[:2]
    flat = (xp.arange(batch)[:, None, None] * n + idx[None]).reshape(-1)
    dz = scatter_add(xp, flat, g.real, batch * n).reshape(batch, n)
    if signal.shape[-1] == 2:
        dz = dz + 1j * scatter_add(xp, flat, g.imag, batch * n).reshape(batch, n)
    grads[0] = complex_adjoint(xp, dz, signal)
    return grads


@defop("STFT", infer=_stft_infer, grad=_stft_grad, since=17, defaults={"onesided": 1})
def _stft(xp, inputs, attrs):
    """DFTs of frames ``frame_length`` long, ``frame_step`` apart, each times the window.

    Output ``[batch, frames, bins, 2]``; bins is ``frame_length // 2 + 1`` when
    ``onesided`` (the default), else ``frame_length``.
    """
    signal = inputs[0]
    _require_float("STFT", "signal", signal)
    window = inputs[2] if len(inputs) > 2 else None
    step, length, frames, bins = _stft_plan(signal, inputs, attrs)
    z = to_complex(xp, signal)[:, _frame_index(xp, step, length, frames)]
    if window is not None:
        z = z * window.astype(z.real.dtype)
    y = xp.fft.fft(z, axis=2)[:, :, :bins]
    return [from_complex(xp, y, signal.dtype)]
