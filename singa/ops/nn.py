"""Dropout, and the resampling ops Upsample and Resize.

Conv, pooling and normalisation live in conv.py, pool.py and norm.py.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ..ir.types import DType, TensorType
from .base import as_int_list, defop

# ------------------------------------------------------------------ Dropout

def _uniform(xp, shape, seed):
    """Uniform [0, 1) samples.  With a seed, NumPy reproduces the ONNX reference
    (``RandomState(seed).uniform``); without one, the array module's global
    generator, so ``numpy.random.seed`` (or cupy's) makes a run repeatable."""
    if seed is not None:
        if xp is np:
            return np.random.RandomState(int(seed) & 0xFFFFFFFF).uniform(0.0, 1.0, shape)
        return xp.random.RandomState(int(seed) & 0xFFFFFFFF).uniform(0.0, 1.0, shape)
    return xp.random.random_sample(shape)


def _dropout_ratio(inputs):
    r = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    ratio = 0.5 if r is None else float(np.asarray(r.get() if hasattr(r, "get") else r))
    if not 0.0 <= ratio < 1.0:
        raise ShapeError(f"Dropout: ratio {ratio} must be in [0, 1)")
    return ratio


def _dropout_training(inputs):
    t = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    return False if t is None else bool(np.asarray(t.get() if hasattr(t, "get") else t))


def _dropout_adapt(attrs, opset):
    attrs = dict(attrs)
    attrs.pop("is_test", None)
    attrs.pop("consumed_inputs", None)
    consts = {}
    if opset < 12:
        consts[1] = np.array(attrs.pop("ratio", 0.5), dtype=np.float32)
    return attrs, consts


def _dropout_infer(types, attrs, values):
    t = types[0]
    return [TensorType(t.dtype, t.shape), TensorType(DType.BOOL, t.shape)]


def _dropout_grad(xp, inputs, outputs, douts, attrs):
    ratio = _dropout_ratio(inputs)
    dy = douts[0]
    if not _dropout_training(inputs) or ratio == 0.0:
        dx = dy
    else:
        dx = dy * outputs[1] * (1.0 / (1.0 - ratio))
    return [dx.astype(inputs[0].dtype, copy=False)] + [None] * (len(inputs) - 1)


@defop("Dropout", infer=_dropout_infer, grad=_dropout_grad, since=1, adapt=_dropout_adapt,
       random=True, num_outputs=None)
def dropout(xp, inputs, attrs):
    """ONNX Dropout (opset 12+ form: data, ratio, training_mode inputs; seed attr).

    Always returns ``[output, mask]``; the bool mask is what the grad scales by.
    Outside training mode (or with ratio 0) the output is the input and the mask
    all True.
    """
    x = inputs[0]
    ratio = _dropout_ratio(inputs)
    if not _dropout_training(inputs) or ratio == 0.0:
        return [x, xp.ones(x.shape, dtype=bool)]
    mask = _uniform(xp, x.shape, attrs.get("seed")) >= ratio
    y = x * mask
    y *= 1.0 / (1.0 - ratio)
    return [y.astype(x.dtype, copy=False), mask]


# ------------------------------------------------------------------ Resize / Upsample

def _source_coords(mode, out_len, in_len, scale, roi_lo=0.0, roi_hi=1.0):
    """Input coordinate of every output index along one axis.

    Computed in float32 step by step as onnxruntime does, so that nearest-mode
    ties round the same way; returned as float64.
    """
    f = np.float32
    o = np.arange(out_len, dtype=f)
    s, half, length = f(scale), f(0.5), f(in_len)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        x = (o + half) / s - half
        if mode == "pytorch_half_pixel" and out_len <= 1:
            x = np.zeros(out_len, dtype=f)
    elif mode == "asymmetric":
        x = o / s
    elif mode == "align_corners":
        # The ONNX spec divides by the unrounded resized length (in * scale) - 1;
        # with `sizes` that is the output length itself.
        span = length * s - f(1)
        x = o * (length - 1) / span if out_len > 1 and span != 0 else np.zeros(out_len, dtype=f)
    elif mode == "half_pixel_symmetric":
        adjustment = f(out_len) / (s * length)
        offset = length / f(2) * (f(1) - adjustment)
        x = offset + (o + half) / s - half
    elif mode == "tf_crop_and_resize":
        lo, hi = f(roi_lo), f(roi_hi)
        if out_len > 1:
            x = lo * (length - 1) + o * (hi - lo) * (length - 1) / f(out_len - 1)
        else:
            x = np.full(out_len, half * (lo + hi) * (length - 1), dtype=f)
    else:
        raise ShapeError(f"Resize: unknown coordinate_transformation_mode {mode!r}")
    return x.astype(np.float64)


def _nearest(x, rule):
    if rule == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if rule == "round_prefer_ceil":
        return np.floor(x + 0.5)
    if rule == "floor":
        return np.floor(x)
    if rule == "ceil":
        return np.ceil(x)
    raise ShapeError(f"Resize: unknown nearest_mode {rule!r}")


def _taps(attrs, coords, in_len, scale):
    """(indices, weights), each (out_len, taps), of one axis's interpolation."""
    mode = attrs.get("mode", "nearest")
    if mode == "nearest":
        idx = _nearest(coords, attrs.get("nearest_mode", "round_prefer_floor"))
        return idx[:, None].astype(np.int64), np.ones((len(coords), 1))
    x0 = np.floor(coords)
    ratio = coords - x0
    s = min(scale, 1.0) if attrs.get("antialias", 0) else 1.0
    if mode == "linear":
        support = 1.0
    elif mode == "cubic":
        support = 2.0
    else:
        raise ShapeError(f"Resize: unknown mode {mode!r}")
    start = math.floor(-support / s) + 1
    offs = np.arange(start, 1 - start + 1)  # 2 - 2*start taps
    dist = np.abs((offs[None, :] - ratio[:, None]) * s)
    if mode == "linear":
        w = np.clip(1.0 - dist, 0.0, None)
    else:
        a = float(attrs.get("cubic_coeff_a", -0.75))
        w = np.where(dist <= 1, ((a + 2) * dist - (a + 3)) * dist * dist + 1,
                     np.where(dist < 2, ((a * dist - 5 * a) * dist + 8 * a) * dist - 4 * a, 0.0))
    if s != 1.0:
        w = w / w.sum(axis=1, keepdims=True)
    idx = x0[:, None].astype(np.int64) + offs[None, :]
    if attrs.get("exclude_outside", 0):
        w = np.where((idx < 0) | (idx >= in_len), 0.0, w)
        w = w / w.sum(axis=1, keepdims=True)
    return idx, w


def _resize_axis(xp, x, axis, out_len, scale, attrs, roi):
    in_len = x.shape[axis]
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    coords = _source_coords(ctm, out_len, in_len, scale, *roi)
    idx, w = _taps(attrs, coords, in_len, scale)
    idx = np.clip(idx, 0, max(in_len - 1, 0))
    bshape = [1] * x.ndim
    bshape[axis] = out_len
    work = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    if w.shape[1] == 1:
        y = xp.take(x, xp.asarray(idx[:, 0]), axis=axis)
    else:
        y = None
        for t in range(w.shape[1]):
            part = xp.take(x, xp.asarray(idx[:, t]), axis=axis).astype(work, copy=False)
            part = part * xp.asarray(w[:, t].astype(work)).reshape(bshape)
            y = part if y is None else y + part
    if ctm == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > in_len - 1)
        if outside.any():
            fill = np.asarray(attrs.get("extrapolation_value", 0.0), dtype=y.dtype)
            y = xp.where(xp.asarray(outside).reshape(bshape), xp.asarray(fill), y)
    return y


def _host(v):
    if v is None:
        return None
    v = v.get() if hasattr(v, "get") else v
    v = np.asarray(v)
    return v if v.size else None


def _resize_plan(shape, inputs, attrs):
    """Per axis (out_len, scale, roi) of a Resize/Upsample call; values on the host."""
    rank = len(shape)
    if len(inputs) == 2:  # Resize-10 / Upsample-9: (X, scales)
        roi, scales, sizes = None, _host(inputs[1]), None
    else:
        roi = _host(inputs[1]) if len(inputs) > 1 else None
        scales = _host(inputs[2]) if len(inputs) > 2 else None
        sizes = _host(inputs[3]) if len(inputs) > 3 else None
    axes = attrs.get("axes")
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    n = len(axes)
    if (scales is None) == (sizes is None):
        raise ShapeError("Resize: exactly one of scales and sizes must be given")
    given = scales if scales is not None else sizes
    if given.size != n:
        raise ShapeError(f"Resize: {given.size} scales/sizes for input of shape {tuple(shape)} "
                         f"and axes {axes}")
    full_scale = [1.0] * rank
    out = list(shape)
    if scales is not None:
        for a, s in zip(axes, scales.astype(np.float64)):
            if s <= 0:
                raise ShapeError(f"Resize: scale {s} must be > 0")
            full_scale[a] = float(s)
    else:
        sizes = [int(v) for v in sizes]
        ratios = [float(np.float32(sz) / np.float32(shape[a])) if shape[a] else 1.0
                  for a, sz in zip(axes, sizes)]
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy in ("not_larger", "not_smaller"):
            r = min(ratios) if policy == "not_larger" else max(ratios)
            ratios = [r] * n
            sizes = [int(math.floor(r * shape[a] + 0.5)) for a in axes]
        for a, r, sz in zip(axes, ratios, sizes):
            full_scale[a], out[a] = r, sz
    rois = [(0.0, 1.0)] * rank
    if roi is not None and attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        r = roi.astype(np.float64).reshape(-1)
        for i, a in enumerate(axes if r.size == 2 * n else range(rank)):
            k = r.size // 2
            rois[a] = (float(r[i]), float(r[k + i]))
    if scales is not None:
        for a in axes:
            # float32 arithmetic, as onnxruntime sizes its output; like
            # onnxruntime and the ONNX reference, the roi does not scale it
            out[a] = int(np.floor(np.float32(shape[a]) * np.float32(full_scale[a])))
    return out, full_scale, rois


def _resize(xp, x, inputs, attrs):
    out, scales, rois = _resize_plan(x.shape, inputs, attrs)
    y = x
    for a in range(x.ndim):
        if out[a] == x.shape[a] and scales[a] == 1.0 and rois[a] == (0.0, 1.0):
            continue
        y = _resize_axis(xp, y, a, out[a], scales[a], attrs, rois[a])
    if y.dtype != x.dtype:
        y = xp.clip(xp.rint(y), *_int_range(x.dtype)).astype(x.dtype)
    return [y]


def _int_range(dtype):
    info = np.iinfo(dtype)
    return info.min, info.max


def _resize_infer(types, attrs, values):
    t = types[0]
    if t.shape is None:
        return [TensorType(t.dtype, None)]
    try:
        if all(isinstance(d, int) for d in t.shape):
            out = _resize_plan(t.shape, values[:len(types)], attrs)[0]
            return [TensorType(t.dtype, tuple(out))]
    except (ShapeError, TypeError, AttributeError):
        pass
    sizes = values[3] if len(values) > 3 else None
    if sizes is not None and np.asarray(sizes).size == len(t.shape) and not attrs.get("axes"):
        return [TensorType(t.dtype, tuple(as_int_list(sizes)))]
    return [TensorType(t.dtype, (None,) * len(t.shape))]


def _resize_adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 11:  # Resize-10 behaved like Upsample
        attrs.setdefault("coordinate_transformation_mode", "asymmetric")
        attrs.setdefault("nearest_mode", "floor")
    return attrs, {}


@defop("Resize", infer=_resize_infer, since=10, adapt=_resize_adapt,
       defaults={"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                 "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75,
                 "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0,
                 "keep_aspect_ratio_policy": "stretch"})
def resize(xp, inputs, attrs):
    """ONNX Resize (nearest/linear/cubic, every coordinate transformation mode,
    scales or sizes, axes, antialias); two inputs mean the Resize-10 (X, scales) form."""
    return _resize(xp, inputs[0], inputs, attrs)


def _upsample_adapt(attrs, opset):
    attrs = dict(attrs)
    consts = {}
    if "scales" in attrs:  # Upsample-7 held the scales as an attribute
        consts[1] = np.array(attrs.pop("scales"), dtype=np.float32)
    if "height_scale" in attrs:  # Upsample-1
        consts[1] = np.array([1.0, 1.0, attrs.pop("height_scale"), attrs.pop("width_scale")],
                             dtype=np.float32)
    if attrs.get("mode") == "bilinear":
        attrs["mode"] = "linear"
    return attrs, consts


@defop("Upsample", infer=_resize_infer, since=1, adapt=_upsample_adapt,
       defaults={"mode": "nearest"})
def upsample(xp, inputs, attrs):
    """ONNX Upsample (deprecated at opset 10): asymmetric coordinates, floor for
    nearest, out = floor(in * scale)."""
    attrs = dict(attrs, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _resize(xp, inputs[0], inputs[:2], attrs)
