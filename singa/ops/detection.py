"""Object detection: NonMaxSuppression and RoiAlign.

NonMaxSuppression computes every pair's IoU of a batch at once and then walks
the candidates of each (batch, class) greedily in score order: a Python loop
per *selected* box, each step dropping at once every remaining box it
suppresses.  Scores tie-break to the lower box index, as ONNX's reference does.

RoiAlign follows ONNX's reference (Caffe2/onnxruntime's kernel): per output
bin a grid of sample points (``sampling_ratio`` per axis, or adaptive, then
per-RoI, so grids are padded to the largest and masked), each bilinearly
interpolated with the sample clamped into the map and zeroed when it lies more
than one element outside; ``max`` takes the largest of the four weighted
corner values of each sample, which is what onnxruntime computes.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import DType, TensorType
from .base import check_int_operand, defop
from .spatial import check_float_operand, work_dtype


def to_host(a):
    """A NumPy copy of a NumPy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


# ------------------------------------------------------------------ NonMaxSuppression

def _nms_infer(types, attrs, values):
    boxes, scores = types[0], types[1]
    for what, t in (("boxes", boxes), ("scores", scores)):
        if t.dtype is not None and t.dtype != DType.FLOAT:
            raise DTypeError(f"NonMaxSuppression: {what} must be f32, got {t.dtype.short}")
    _nms_shapes(boxes.shape, scores.shape)
    if len(types) > 2:
        check_int_operand("NonMaxSuppression", "max_output_boxes_per_class", types[2],
                          ("INT64",))
    count = None
    if values[0] is not None and values[1] is not None and \
            all(v is not None for v, t in zip(values[2:], types[2:]) if t is not None):
        count = _nms(np, list(values), {"center_point_box": 0, **attrs})[0].shape[0]
    return [TensorType(DType.INT64, (count, 3))]


def _nms_shapes(bs, ss):
    if bs is not None and (len(bs) != 3 or bs[2] not in (4, None) and isinstance(bs[2], int)):
        raise ShapeError(f"NonMaxSuppression: boxes of shape {tuple(bs)} must be "
                         "(batches, boxes, 4)")
    if ss is not None and len(ss) != 3:
        raise ShapeError(f"NonMaxSuppression: scores of shape {tuple(ss)} must be "
                         "(batches, classes, boxes)")
    if bs is not None and ss is not None:
        for i, j in ((0, 0), (1, 2)):
            if isinstance(bs[i], int) and isinstance(ss[j], int) and bs[i] != ss[j]:
                raise ShapeError(f"NonMaxSuppression: boxes {tuple(bs)} and scores "
                                 f"{tuple(ss)} disagree")


def _corners(boxes, center_point_box):
    """(y_min, x_min, y_max, x_max) of (B, S, 4) boxes, each (B, S)."""
    if center_point_box:
        xc, yc, w, h = (boxes[..., k] for k in range(4))
        return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
    y1, x1, y2, x2 = (boxes[..., k] for k in range(4))
    return np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)


def _iou_over(boxes, center_point_box, threshold):
    """(B, S, S): does box i suppress box j (IoU strictly above ``threshold``)?
    Boxes without area or overlap never suppress."""
    y0, x0, y1, x1 = (c[:, :, None] for c in _corners(boxes, center_point_box))
    Y0, X0, Y1, X1 = (c[:, None, :] for c in _corners(boxes, center_point_box))
    iw = np.minimum(x1, X1) - np.maximum(x0, X0)
    ih = np.minimum(y1, Y1) - np.maximum(y0, Y0)
    inter = iw * ih
    area, AREA = (x1 - x0) * (y1 - y0), (X1 - X0) * (Y1 - Y0)
    union = area + AREA - inter
    ok = (iw > 0) & (ih > 0) & (inter > 0) & (area > 0) & (AREA > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ok & (inter / np.where(ok, union, 1) > threshold)


def _scalar(inputs, i, default, cast):
    v = inputs[i] if len(inputs) > i else None
    if v is None or v.size == 0:
        return default
    return cast(to_host(v).reshape(-1)[0])


@defop("NonMaxSuppression", infer=_nms_infer, since=10, defaults={"center_point_box": 0})
def _nms(xp, inputs, attrs):
    boxes, scores = to_host(inputs[0]), to_host(inputs[1])
    _nms_shapes(boxes.shape, scores.shape)
    limit = max(_scalar(inputs, 2, 0, int), 0)
    iou_threshold = _scalar(inputs, 3, 0.0, boxes.dtype.type)
    score_threshold = _scalar(inputs, 4, None, scores.dtype.type)
    if attrs["center_point_box"] not in (0, 1):
        raise ShapeError(f"NonMaxSuppression: center_point_box must be 0 or 1, "
                         f"got {attrs['center_point_box']}")
    selected = []
    if limit and boxes.shape[1]:
        over = _iou_over(boxes, attrs["center_point_box"], iou_threshold)
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                s = scores[b, c]
                order = np.argsort(-s, kind="stable")
                if score_threshold is not None:
                    order = order[s[order] > score_threshold]
                kept = 0
                while order.size and kept < limit:
                    i = order[0]
                    selected.append((b, c, i))
                    kept += 1
                    order = order[1:][~over[b, i, order[1:]]]
    out = np.array(selected, dtype=np.int64).reshape(-1, 3)
    return [xp.asarray(out)]


# ------------------------------------------------------------------ RoiAlign

_RA_MODES = ("avg", "max")
_RA_TRANSFORMS = ("half_pixel", "output_half_pixel")


def _ra_adapt(attrs, opset):
    attrs = dict(attrs)
    if opset < 16:
        # RoiAlign-10 had no half-pixel offset
        attrs.setdefault("coordinate_transformation_mode", "output_half_pixel")
    return attrs, {}


def _ra_check(attrs):
    if attrs["mode"] not in _RA_MODES:
        raise ShapeError(f"RoiAlign: unknown mode {attrs['mode']!r}")
    if attrs["coordinate_transformation_mode"] not in _RA_TRANSFORMS:
        raise ShapeError(f"RoiAlign: unknown coordinate_transformation_mode "
                         f"{attrs['coordinate_transformation_mode']!r}")
    if attrs["output_height"] < 1 or attrs["output_width"] < 1:
        raise ShapeError(f"RoiAlign: output size {attrs['output_height']}x"
                         f"{attrs['output_width']} must be positive")
    if attrs["sampling_ratio"] < 0:
        raise ShapeError(f"RoiAlign: sampling_ratio {attrs['sampling_ratio']} must be >= 0")


def _ra_shapes(xs, rs, bs):
    if xs is not None and len(xs) != 4:
        raise ShapeError(f"RoiAlign: X of shape {tuple(xs)} must be (N, C, H, W)")
    if rs is not None and (len(rs) != 2 or isinstance(rs[1], int) and rs[1] != 4):
        raise ShapeError(f"RoiAlign: rois of shape {tuple(rs)} must be (num_rois, 4)")
    if bs is not None and len(bs) != 1:
        raise ShapeError(f"RoiAlign: batch_indices of shape {tuple(bs)} must be (num_rois,)")
    if rs is not None and bs is not None and isinstance(rs[0], int) and \
            isinstance(bs[0], int) and rs[0] != bs[0]:
        raise ShapeError(f"RoiAlign: {rs[0]} rois but {bs[0]} batch indices")


def _ra_infer(types, attrs, values):
    x, rois, idx = types[:3]
    check_float_operand("RoiAlign", "X", x)
    check_float_operand("RoiAlign", "rois", rois)
    check_int_operand("RoiAlign", "batch_indices", idx, ("INT64",))
    _ra_check(attrs)
    _ra_shapes(x.shape, rois.shape, idx.shape)
    r = rois.shape[0] if rois.shape is not None else (idx.shape[0] if idx.shape else None)
    c = x.shape[1] if x.shape is not None else None
    return [TensorType(x.dtype, (r, c, attrs["output_height"], attrs["output_width"]))]


def _ra_axis(xp, start, length, bins, grid, gmax, size):
    """Per RoI, bin and sample along one axis: the two corner indices, their
    weights (zero for samples beyond the map) and which samples exist."""
    r = start.shape[0]
    b = xp.arange(bins, dtype=start.dtype)[None, :, None]
    i = xp.arange(gmax, dtype=start.dtype)[None, None, :]
    g = grid[:, None, None]
    step = length[:, None, None] / bins
    with np.errstate(divide="ignore", invalid="ignore"):
        p = start[:, None, None] + b * step + (i + 0.5) * step / xp.maximum(g, 1)
    exists = xp.broadcast_to(i < g, (r, bins, gmax))
    inside = (p >= -1.0) & (p <= size)
    p = xp.clip(p, 0, size - 1)
    lo = xp.floor(p).astype(np.int64)
    hi = xp.minimum(lo + 1, size - 1)
    frac = p - lo
    w = [xp.where(inside, 1 - frac, 0), xp.where(inside, frac, 0)]
    return [lo, hi], w, exists


@defop("RoiAlign", infer=_ra_infer, since=10, adapt=_ra_adapt,
       defaults={"coordinate_transformation_mode": "half_pixel", "mode": "avg",
                 "output_height": 1, "output_width": 1, "sampling_ratio": 0,
                 "spatial_scale": 1.0})
def _roi_align(xp, inputs, attrs):
    x, rois, idx = inputs[:3]
    _ra_check(attrs)
    _ra_shapes(x.shape, rois.shape, idx.shape)
    n, c, h, w = x.shape
    if rois.shape[0] and not h * w:
        raise ShapeError(f"RoiAlign: X of shape {x.shape} has no element to sample")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ShapeError(f"RoiAlign: batch_indices must lie in [0, {n}), got "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    dt = work_dtype(x.dtype, rois.dtype)
    ph, pw, ratio = attrs["output_height"], attrs["output_width"], attrs["sampling_ratio"]
    half = attrs["coordinate_transformation_mode"] == "half_pixel"
    box = rois.astype(dt) * dt.type(attrs["spatial_scale"]) - (0.5 if half else 0.0)
    starts = box[:, 1], box[:, 0]
    lengths = box[:, 3] - box[:, 1], box[:, 2] - box[:, 0]
    if not half:
        lengths = tuple(xp.maximum(v, 1.0) for v in lengths)
    grids = [xp.full(v.shape, ratio, np.int64) if ratio > 0 else
             xp.maximum(xp.ceil(v / bins), 0).astype(np.int64)
             for v, bins in zip(lengths, (ph, pw))]
    gmax = [int(g.max()) if g.size else 0 for g in grids]
    if not gmax[0] or not gmax[1]:  # no bin has a sample: all 0
        return [xp.zeros((rois.shape[0], c, ph, pw), dtype=x.dtype)]
    ys, wy, ey = _ra_axis(xp, starts[0], lengths[0], ph, grids[0], gmax[0], h)
    xs, wx, ex = _ra_axis(xp, starts[1], lengths[1], pw, grids[1], gmax[1], w)
    # samples (R, ph, gy, pw, gx) of X laid out (N, H, W, C): one gather per corner
    xl = xp.moveaxis(x, 1, -1).astype(dt)
    b = idx.astype(np.int64)[:, None, None, None, None]
    exists = (ey[:, :, :, None, None] & ex[:, None, None, :, :])[..., None]
    corners = [xl[b, yy[:, :, :, None, None], xx[:, None, None, :, :]] *
               (vy[:, :, :, None, None] * vx[:, None, None, :, :])[..., None]
               for yy, vy in zip(ys, wy) for xx, vx in zip(xs, wx)]
    if attrs["mode"] == "avg":
        total = xp.where(exists, sum(corners[1:], corners[0]), 0).sum(axis=(2, 4))
        count = xp.maximum(grids[0] * grids[1], 1).astype(dt)[:, None, None, None]
        y = total / count
    else:
        best = corners[0]
        for v in corners[1:]:
            best = xp.maximum(best, v)
        best = xp.where(exists, best, -np.inf).max(axis=(2, 4))
        y = xp.where(best == -np.inf, 0, best)  # a bin without samples is 0
    return [xp.moveaxis(y, -1, 1).astype(x.dtype)]
