"""Spatial transformers: GridSample (N-d; nearest, linear, cubic) and AffineGrid.

GridSample follows ONNX's reference (itself PyTorch's grid_sampler): a grid
value is denormalised to element units, moved inside the input by the padding
mode (border: clamped, reflection: mirrored), then each tap is read with the
padding mode again (zeros: out-of-range taps read 0).  ``nearest`` rounds half
to even before the padding, as PyTorch does since 2.0.  The sampling itself is
``_interp.Sampler``, shared with DeformConv.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType
from ._interp import MODES, PADDINGS, Sampler, fit
from .base import as_int_list, check_int_operand, defop

_FLOATS = ("FLOAT16", "BFLOAT16", "FLOAT", "DOUBLE")
_OLD_MODES = {"bilinear": "linear", "bicubic": "cubic"}


def check_float_operand(op: str, what: str, t) -> None:
    """DTypeError unless operand type ``t`` is one of ONNX's four float types."""
    if t is not None and t.dtype is not None and t.dtype.name not in _FLOATS:
        raise DTypeError(f"{op}: {what} must be a float tensor (f16, bf16, f32, f64), "
                         f"got {t.dtype.short}")


def is_float(dtype) -> bool:
    """A NumPy float dtype, bfloat16 (an extension type of kind 'V') included."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def check_float_array(op: str, what: str, a) -> None:
    """DTypeError unless array ``a`` holds one of ONNX's four float types."""
    if not is_float(a.dtype):
        raise DTypeError(f"{op}: {what} must be a float tensor, got {a.dtype}")


def work_dtype(*dtypes) -> np.dtype:
    """Float type arithmetic on these operands runs in: float64 when one of them
    is float64 or an integer, else float32 (16-bit floats are widened)."""
    wide = any(np.dtype(d) == np.float64 or np.dtype(d).kind in "iub" for d in dtypes)
    return np.dtype(np.float64 if wide else np.float32)


# ------------------------------------------------------------------ GridSample

def _gs_adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 20:
        # GridSample-16 spelled the modes bilinear (its default) and bicubic
        mode = attrs.get("mode", "bilinear")
        attrs["mode"] = _OLD_MODES.get(mode, mode)
    return attrs, {}


def _gs_options(attrs):
    mode, padding = attrs["mode"], attrs["padding_mode"]
    if mode not in MODES:
        raise ShapeError(f"GridSample: unknown mode {mode!r} (expected one of {MODES})")
    if padding not in PADDINGS:
        raise ShapeError(f"GridSample: unknown padding_mode {padding!r} "
                         f"(expected one of {PADDINGS})")
    return mode, padding, bool(attrs["align_corners"])


def _gs_shapes(xs, gs):
    """Checks X and grid shapes (which may hold symbols); returns the output's."""
    if xs is None or gs is None:
        return None
    r = len(xs) - 2
    if r < 1:
        raise ShapeError(f"GridSample: X of shape {tuple(xs)} needs rank >= 3 (N, C, spatial...)")
    if len(gs) != r + 2:
        raise ShapeError(f"GridSample: grid of shape {tuple(gs)} needs rank {r + 2} for X of "
                         f"shape {tuple(xs)}")
    if isinstance(gs[-1], int) and gs[-1] != r:
        raise ShapeError(f"GridSample: grid of shape {tuple(gs)} must end in {r} coordinates")
    if isinstance(xs[0], int) and isinstance(gs[0], int) and xs[0] != gs[0]:
        raise ShapeError(f"GridSample: batch of X {tuple(xs)} and grid {tuple(gs)} differ")
    return (xs[0] if xs[0] is not None else gs[0], xs[1]) + tuple(gs[1:-1])


def _gs_infer(types, attrs, values):
    x, grid = types[0], types[1]
    check_float_operand("GridSample", "grid", grid)
    _gs_options(attrs)
    return [TensorType(x.dtype, _gs_shapes(x.shape, grid.shape))]


class _GridCall:
    """Positions and sampler of one GridSample call."""

    def __init__(self, xp, x, grid, attrs):
        mode, padding, align = _gs_options(attrs)
        _gs_shapes(x.shape, grid.shape)
        check_float_array("GridSample", "grid", grid)
        if mode != "nearest" and x.dtype.kind not in "ciu" and not is_float(x.dtype):
            raise DTypeError(f"GridSample: {mode} interpolation of {x.dtype} is undefined; "
                             "use mode='nearest'")
        self.sizes = tuple(x.shape[2:])
        self.out = tuple(grid.shape[1:-1])
        n, r, npos = x.shape[0], len(self.sizes), math.prod(self.out)
        if padding != "zeros" and 0 in self.sizes:
            raise ShapeError(f"GridSample: cannot {padding}-pad X of shape {x.shape} "
                             "with an empty spatial axis")
        pdt = np.dtype(np.float64 if grid.dtype == np.float64 else np.float32)
        if x.dtype.kind == "c":
            self.dtype = np.result_type(x.dtype, pdt)
        else:
            self.dtype = work_dtype(x.dtype if x.dtype.kind != "O" else pdt, grid.dtype)
        pos, self.slopes, bounds = [], [], []
        for a, size in enumerate(self.sizes):
            # grid coordinates come innermost axis first: (x, y, z)
            g = grid[..., r - 1 - a].reshape(n, npos).astype(pdt)
            if align:
                p, scale, b = (g + 1) / 2 * (size - 1), (size - 1) / 2, (0.0, size - 1.0)
            else:
                p, scale, b = ((g + 1) * size - 1) / 2, size / 2, (-0.5, size - 0.5)
            if mode == "nearest":
                p = xp.rint(p)
            if mode != "cubic" or padding != "border":
                p, slope = fit(xp, p, size, padding, b)
            else:
                # cubic taps are clamped one by one, the position is not (PyTorch and
                # onnxruntime; ONNX's reference differs here, no node case covers it)
                slope = xp.ones_like(p)
            pos.append(p)
            self.slopes.append(slope * scale)
            bounds.append(b)
        self.sampler = Sampler(xp, self.sizes, pos, mode, padding, bounds)

    def shape(self, x):
        return tuple(x.shape[:2]) + self.out


def _grid_sample_grad(xp, inputs, outputs, douts, attrs):
    x, grid = inputs[0], inputs[1]
    call = _GridCall(xp, x, grid, attrs)
    dy = douts[0].reshape(x.shape[:2] + (math.prod(call.out),))
    dx = call.sampler.scatter(dy).astype(x.dtype) if is_float(x.dtype) else None
    dpos = call.sampler.grad_pos(x, dy, call.dtype)
    dgrid = xp.stack([d * s for d, s in zip(dpos, call.slopes)][::-1], axis=-1)
    if dgrid.dtype.kind == "c":  # the real objective Re<dy, y> of complex outputs
        dgrid = dgrid.real
    return [dx, dgrid.reshape(grid.shape).astype(grid.dtype)]


@defop("GridSample", infer=_gs_infer, grad=_grid_sample_grad, since=16, adapt=_gs_adapt,
       defaults={"mode": "linear", "padding_mode": "zeros", "align_corners": 0})
def _grid_sample(xp, inputs, attrs):
    x, grid = inputs[0], inputs[1]
    call = _GridCall(xp, x, grid, attrs)
    y = call.sampler.read(x, call.dtype, fill="" if x.dtype == object else 0)
    if x.dtype.kind in "iu" and call.sampler.mode != "nearest":
        # ONNX's reference stores float results into the integer tensor: truncation
        with np.errstate(invalid="ignore"):
            y = xp.trunc(y)
    return [y.astype(x.dtype, copy=False).reshape(call.shape(x))]


# ------------------------------------------------------------------ AffineGrid

def _ag_rank(theta_shape):
    """Spatial rank (2 or 3) a theta shape asks for; None when unknown."""
    if theta_shape is None:
        return None
    r = theta_shape[1] if len(theta_shape) == 3 else 0
    if len(theta_shape) != 3 or (isinstance(r, int) and r not in (2, 3)) or (
            isinstance(r, int) and isinstance(theta_shape[2], int) and theta_shape[2] != r + 1):
        raise ShapeError(f"AffineGrid: theta of shape {tuple(theta_shape)} must be (N, 2, 3) "
                         "or (N, 3, 4)")
    return r if isinstance(r, int) else None


def _ag_size(theta_shape, size, r):
    size = as_int_list(size)
    if r is not None and len(size) != r + 2:
        raise ShapeError(f"AffineGrid: size {size} needs {r + 2} values for theta of shape "
                         f"{tuple(theta_shape)}")
    if len(size) not in (4, 5) or min(size) < 0:
        raise ShapeError(f"AffineGrid: size {size} must be (N, C, H, W) or (N, C, D, H, W)")
    if theta_shape is not None and isinstance(theta_shape[0], int) and size[0] != theta_shape[0]:
        raise ShapeError(f"AffineGrid: size {size} and theta of shape {tuple(theta_shape)} "
                         "differ in batch")
    return size


def _ag_infer(types, attrs, values):
    theta, size = types[0], types[1]
    check_float_operand("AffineGrid", "theta", theta)
    check_int_operand("AffineGrid", "size", size, ("INT64",))
    r = _ag_rank(theta.shape)
    if values[1] is not None:
        s = _ag_size(theta.shape, values[1], r)
        return [TensorType(theta.dtype, (s[0],) + tuple(s[2:]) + (len(s) - 2,))]
    if r is None:
        return [TensorType(theta.dtype, None)]
    return [TensorType(theta.dtype, (theta.shape[0],) + (None,) * r + (r,))]


def _base_grid(xp, spatial, align, dtype):
    """Homogeneous positions (P, r + 1) of every output element: (x, y, [z,] 1),
    innermost axis first, in [-1, 1] (edge centres or edges per ``align``)."""
    axes = []
    for n in spatial:
        i = xp.arange(n, dtype=np.float64)
        if align:
            axes.append(i * (2.0 / (n - 1)) - 1 if n > 1 else i - 1)
        else:
            axes.append((2 * i + 1) / n - 1)
    mesh = xp.meshgrid(*axes, indexing="ij")
    cols = [m.reshape(-1) for m in mesh[::-1]]
    cols.append(xp.ones_like(cols[0]))
    return xp.stack(cols, axis=1).astype(dtype)


def _ag_setup(xp, inputs, attrs):
    theta = inputs[0]
    check_float_array("AffineGrid", "theta", theta)
    size = _ag_size(theta.shape, inputs[1], _ag_rank(theta.shape))
    dt = work_dtype(theta.dtype)
    return theta, size, dt, _base_grid(xp, size[2:], bool(attrs["align_corners"]), dt)


def _affine_grid_grad(xp, inputs, outputs, douts, attrs):
    theta, size, dt, base = _ag_setup(xp, inputs, attrs)
    r = len(size) - 2
    dgrid = douts[0].reshape(theta.shape[0], math.prod(size[2:]), r).astype(dt)
    return [xp.matmul(xp.swapaxes(dgrid, 1, 2), base).astype(theta.dtype), None]


@defop("AffineGrid", infer=_ag_infer, grad=_affine_grid_grad, since=20,
       defaults={"align_corners": 0})
def _affine_grid(xp, inputs, attrs):
    theta, size, dt, base = _ag_setup(xp, inputs, attrs)
    grid = xp.matmul(base, xp.swapaxes(theta.astype(dt), 1, 2))
    return [grid.reshape((size[0],) + tuple(size[2:]) + (len(size) - 2,)).astype(theta.dtype)]
