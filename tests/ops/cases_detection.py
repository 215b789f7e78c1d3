"""Cases of the detection and image-geometry ops: spatial.py (GridSample,
AffineGrid), deform.py (DeformConv), detection.py (NonMaxSuppression, RoiAlign)
and geometry.py (CenterCropPad, MaxUnpool).

onnxruntime is the reference where it has a kernel for the form tested; where it
has none at all (float64 GridSample, integer X) the table test falls back to
onnx's reference evaluator; forms onnxruntime rejects at run time (1-D
GridSample, cubic 3-D, 1-D/3-D DeformConv) name their reference explicitly.
"""

import itertools

import ml_dtypes
import numpy as np

from tests.ops._detection_reference import deform_conv, onnx_ref
from tests.ops.case import Case, rand

I64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731

# ------------------------------------------------------------------ GridSample

X4 = rand(2, 3, 4, 5, seed=1)
G4 = rand(2, 3, 6, 2, low=-1.3, high=1.3, seed=2)  # reaches past the edges
X5 = rand(1, 2, 3, 4, 3, seed=3)
G5 = rand(1, 2, 3, 2, 3, low=-1.3, high=1.3, seed=4)
X3 = rand(2, 3, 7, seed=5)
G3 = rand(2, 5, 1, low=-1.3, high=1.3, seed=6)

GRID_SAMPLE = [
    Case("GridSample", [X4, G4], {"mode": m, "padding_mode": p, "align_corners": a},
         id=f"2d_{m}_{p}_{a}")
    for m, p, a in itertools.product(("linear", "nearest", "cubic"),
                                     ("zeros", "border", "reflection"), (0, 1))
] + [
    Case("GridSample", [X5, G5], {"mode": m, "padding_mode": p, "align_corners": a},
         id=f"3d_{m}_{p}_{a}")
    for m, p, a in [("linear", "zeros", 0), ("linear", "border", 1), ("linear", "reflection", 0),
                    ("linear", "reflection", 1), ("nearest", "zeros", 1),
                    ("nearest", "reflection", 0)]
] + [
    # onnxruntime runs cubic in 4-D only and no 1-D GridSample at all
    Case("GridSample", [X5, G5], {"mode": "cubic", "padding_mode": p, "align_corners": a},
         reference=onnx_ref("GridSample"), id=f"3d_cubic_{p}_{a}")
    for p, a in [("zeros", 0), ("reflection", 1)]
] + [
    Case("GridSample", [X3, G3], {"mode": m, "padding_mode": p},
         reference=onnx_ref("GridSample"), id=f"1d_{m}_{p}")
    for m, p in [("linear", "zeros"), ("nearest", "border"), ("cubic", "reflection")]
] + [
    # GridSample-16 spells the modes bilinear (the default) and bicubic
    Case("GridSample", [X4, G4], {}, opset=16, id="opset16_default"),
    Case("GridSample", [X4, G4], {"mode": "bilinear", "padding_mode": "border"}, opset=16,
         id="opset16_bilinear"),
    Case("GridSample", [X4, G4], {"mode": "bicubic", "align_corners": 1}, opset=16,
         id="opset16_bicubic"),
    Case("GridSample", [X4.astype(np.float64), G4.astype(np.float64)],
         {"padding_mode": "reflection"}, id="f64"),
    Case("GridSample", [X4, G4.astype(np.float64)], {"mode": "cubic"}, id="f64_grid"),
    Case("GridSample", [X4.astype(np.float16), G4.astype(np.float16)], {"mode": "cubic"},
         rtol=2e-3, atol=2e-3, id="f16"),
    Case("GridSample", [X4.astype(ml_dtypes.bfloat16), G4.astype(ml_dtypes.bfloat16)],
         reference=onnx_ref("GridSample", cast=np.float64), rtol=1e-2, atol=1e-2, id="bf16"),
    Case("GridSample", [(X4 * 50).astype(np.int32), G4], {"mode": "nearest"}, id="int32_nearest"),
    Case("GridSample", [(X4 * 50).astype(np.int32), G4],
         reference=lambda x, g: [np.trunc(onnx_ref("GridSample")(x.astype(np.float64), g)[0])
                                 .astype(np.int32)], id="int32_linear"),
    Case("GridSample", [X4 > 0, G4], {"mode": "nearest"}, id="bool_nearest"),
    # onnxruntime has no complex tensors at all
    Case("GridSample", [(X4 + 1j * X4[::-1]).astype(np.complex64), G4], {"mode": "cubic"},
         reference=onnx_ref("GridSample"), grad=False, id="complex64"),
    Case("GridSample", [np.array([[[["a", "b", "c"], ["d", "e", "f"]]]], dtype=object),
                        G4[:1, :, :, :]], {"mode": "nearest", "padding_mode": "border"},
         reference=onnx_ref("GridSample"), id="string_nearest"),
    # a flow field inside the input: the sampling grid of a spatial transformer
    Case("GridSample", [rand(1, 2, 6, 6, seed=7), rand(1, 4, 4, 2, low=-0.8, high=0.8, seed=8)],
         {"align_corners": 1}, id="inside"),
]

# ------------------------------------------------------------------ AffineGrid

AFFINE_GRID = [
    Case("AffineGrid", [rand(2, 2, 3, seed=10), I64(2, 3, 4, 5)], id="2d"),
    Case("AffineGrid", [rand(2, 2, 3, seed=10), I64(2, 3, 4, 5)], {"align_corners": 1},
         id="2d_align"),
    Case("AffineGrid", [rand(2, 3, 4, seed=11), I64(2, 1, 3, 4, 2)], id="3d"),
    Case("AffineGrid", [rand(1, 3, 4, seed=11), I64(1, 1, 2, 3, 4)], {"align_corners": 1},
         id="3d_align"),
    # one element with align_corners: -1 and 1 are both its centre; ONNX's reference
    # puts it at -1 (onnxruntime at +1, PyTorch at 0)
    Case("AffineGrid", [rand(2, 2, 3, seed=12), I64(2, 3, 1, 4)], {"align_corners": 1},
         reference=onnx_ref("AffineGrid"), id="size1_align"),
    Case("AffineGrid", [rand(2, 2, 3, seed=12).astype(np.float64), I64(2, 3, 3, 1)],
         id="f64"),
    Case("AffineGrid", [rand(2, 2, 3, seed=12).astype(np.float16), I64(2, 3, 3, 4)],
         rtol=2e-3, atol=2e-3, id="f16"),
]

# ------------------------------------------------------------------ NonMaxSuppression


def _boxes(b, n, seed, center=False):
    rng = np.random.default_rng(seed)
    lo = rng.uniform(0, 1, (b, n, 2))
    size = rng.uniform(0.1, 0.5, (b, n, 2))
    if center:
        return np.concatenate([lo[..., ::-1] + size[..., ::-1] / 2, size[..., ::-1]],
                              axis=-1).astype(np.float32)
    return np.concatenate([lo, lo + size], axis=-1).astype(np.float32)


def _scores(b, c, n, seed):
    return np.random.default_rng(seed).uniform(0, 1, (b, c, n)).astype(np.float32)


F = lambda v: np.array([v], np.float32)  # noqa: E731
B1, S1 = _boxes(1, 12, 20), _scores(1, 1, 12, 21)
FLIPPED = B1[..., [2, 3, 0, 1]].copy()  # (y2, x2, y1, x1): the same boxes

NMS = [
    Case("NonMaxSuppression", [B1, S1, I64(4), F(0.2)], id="basic"),
    Case("NonMaxSuppression", [B1, S1, I64(20), F(0.1), F(0.3)], id="score_threshold"),
    Case("NonMaxSuppression", [FLIPPED, S1, I64(20), F(0.1), F(0.3)], id="flipped"),
    Case("NonMaxSuppression", [_boxes(1, 12, 22, center=True), S1, I64(5), F(0.15)],
         {"center_point_box": 1}, id="center_point_box"),
    Case("NonMaxSuppression", [_boxes(2, 10, 23), _scores(2, 3, 10, 24), I64(3), F(0.3),
                               F(0.2)], id="batches_classes"),
    Case("NonMaxSuppression", [B1, S1], id="no_limit_selects_none"),
    Case("NonMaxSuppression", [B1, S1, I64(20)], id="iou_default_0"),
    Case("NonMaxSuppression", [np.tile(B1[:, :1], (1, 5, 1)), np.ones((1, 2, 5), np.float32),
                               I64(3), F(0.5)], id="identical_tied"),
    Case("NonMaxSuppression", [B1, S1, I64(3), F(0.2)], opset=10, id="opset10"),
]

# ------------------------------------------------------------------ RoiAlign

XR = rand(2, 3, 7, 6, seed=30)
ROIS = np.array([[0.5, 1.2, 4.1, 3.3], [2, 0, 5.5, 6.9], [-1.5, -1, 8, 9], [3, 3, 3.2, 3.1]],
                np.float32)
BATCH = I64(0, 1, 1, 0)
# x2 < x1: no samples at all under the adaptive ratio (onnxruntime overflows)
FLIPPED_ROIS = np.array([[4.5, 2, 1.5, 5], [1, 1, 4, 3]], np.float32)

ROI_ALIGN = [
    Case("RoiAlign", [XR, ROIS, BATCH],
         {"mode": m, "coordinate_transformation_mode": t, "sampling_ratio": r,
          "output_height": 3, "output_width": 2, "spatial_scale": 0.8},
         id=f"{m}_{t}_ratio{r}")
    for m, t, r in itertools.product(("avg", "max"), ("half_pixel", "output_half_pixel"), (0, 2))
] + [
    Case("RoiAlign", [XR, ROIS, BATCH], {"output_height": 2, "output_width": 3}, opset=10,
         id="opset10"),
    Case("RoiAlign", [XR, FLIPPED_ROIS, I64(1, 0)], {"output_height": 2, "output_width": 2},
         reference=onnx_ref("RoiAlign"), id="negative_width"),
    Case("RoiAlign", [XR, FLIPPED_ROIS, I64(1, 0)], {"mode": "max", "sampling_ratio": 2},
         reference=onnx_ref("RoiAlign"), id="negative_width_max_ratio2"),
    Case("RoiAlign", [XR.astype(np.float64), ROIS.astype(np.float64), BATCH],
         {"mode": "max", "sampling_ratio": 1}, id="f64"),
    Case("RoiAlign", [XR.astype(np.float16), ROIS.astype(np.float16), BATCH],
         {"output_height": 2, "output_width": 2}, rtol=2e-3, atol=2e-3, id="f16"),
]

# ------------------------------------------------------------------ DeformConv

XD = rand(2, 4, 7, 6, seed=40)
WD = rand(6, 2, 3, 2, seed=41)
GEO = {"group": 2, "offset_group": 2, "pads": [1, 0, 2, 1], "strides": [2, 1],
       "dilations": [1, 2]}
OFF = rand(2, 2 * 6 * 2, 4, 5, low=-2, high=2, seed=42)  # out (4, 5)

DEFORM_CONV = [
    Case("DeformConv", [XD[:, :2], WD[:4], rand(2, 12, 5, 5, low=-1.5, high=1.5, seed=43)],
         id="basic"),
    Case("DeformConv", [XD, WD, OFF, rand(6, seed=44), rand(2, 12, 4, 5, low=0, high=1, seed=45)],
         GEO, id="groups_mask_bias"),
    Case("DeformConv", [XD, WD, OFF], {**GEO, "kernel_shape": [3, 2]}, id="kernel_shape"),
    Case("DeformConv", [XD, WD[:, :1].repeat(2, axis=1), rand(2, 4 * 6 * 2, 4, 5, seed=46)],
         {**GEO, "group": 2, "offset_group": 4}, id="offset_groups4"),
    Case("DeformConv", [XD.astype(np.float64), WD.astype(np.float64), OFF.astype(np.float64)],
         GEO, id="f64"),
    # float16 offsets put taps on whole positions, the kinks of bilinear sampling:
    # the f64 case checks the grad
    Case("DeformConv", [XD.astype(np.float16), WD.astype(np.float16), OFF.astype(np.float16)],
         GEO, rtol=1e-2, atol=1e-2, grad=False, id="f16"),
    # onnxruntime has 2-D DeformConv only
    Case("DeformConv", [rand(2, 2, 9, seed=47), rand(3, 2, 3, seed=48),
                        rand(2, 3, 4, low=-1.5, high=1.5, seed=49), rand(3, seed=50)],
         {"strides": [2], "pads": [1, 0]}, reference=deform_conv, id="1d"),
    Case("DeformConv", [rand(1, 2, 4, 3, 4, seed=51), rand(2, 1, 2, 2, 2, seed=52),
                        rand(1, 48, 3, 2, 3, low=-1, high=1, seed=53), None,
                        rand(1, 16, 3, 2, 3, seed=54)],
         {"group": 2, "offset_group": 2}, reference=deform_conv, id="3d_mask"),
]

# ------------------------------------------------------------------ CenterCropPad

XC = rand(4, 5, 6, seed=60)

CENTER_CROP_PAD = [
    Case("CenterCropPad", [XC, I64(3, 8, 6)], id="crop_pad"),
    Case("CenterCropPad", [XC, I64(2, 9)], {"axes": [0, 2]}, id="axes"),
    Case("CenterCropPad", [XC, I64(7, 1)], {"axes": [-1, 1]}, id="negative_axes"),
    Case("CenterCropPad", [XC, I64(4, 5, 6)], id="same"),
    Case("CenterCropPad", [XC.astype(np.int32), I64(3, 8)], {"axes": [0, 2]}, id="int32"),
    Case("CenterCropPad", [XC > 0, I64(5, 3)], {"axes": [1, 2]}, id="bool"),
    # onnxruntime's function expansion fails on an int32 shape and lacks string Pad
    Case("CenterCropPad", [XC.astype(np.float64), np.array([3, 8], np.int32)],
         {"axes": [0, -1]}, reference=onnx_ref("CenterCropPad"), id="int32_shape"),
    # string tensors pad with "" (the reference evaluator leaves the integer 0 there)
    Case("CenterCropPad", [np.array(list("abcdef"), dtype=object).reshape(2, 3), I64(3, 2)],
         reference=lambda x, shape: [np.array([["a", "b"], ["d", "e"], ["", ""]], object)],
         id="string"),
]

# ------------------------------------------------------------------ MaxUnpool


def _pool_indices(shape, kernel, seed):
    """Flat argmax-like positions: one distinct element per window (N, C, out...)."""
    rng = np.random.default_rng(seed)
    n, c, *sp = shape
    out = [s // k for s, k in zip(sp, kernel)]
    pick = [rng.integers(0, k, (n, c, *out)) for k in kernel]
    flat = np.zeros((n, c, *out), np.int64)
    for a, (k, p) in enumerate(zip(kernel, pick)):
        o = np.arange(out[a]).reshape([-1 if i == a else 1 for i in range(len(out))])
        flat = flat * sp[a] + o * k + p
    plane = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * int(np.prod(sp))
    return flat + plane.reshape((n, c) + (1,) * len(out))


def _distinct_indices(inner, per_plane, seed):
    """``per_plane`` distinct flat positions in each (n, c) plane of ``inner``."""
    rng = np.random.default_rng(seed)
    n, c, *sp = inner
    size = int(np.prod(sp))
    side = round(per_plane ** (1 / len(sp)))
    idx = [rng.choice(size, per_plane, replace=False) + k * size for k in range(n * c)]
    return np.array(idx, np.int64).reshape((n, c) + (side,) * len(sp))


MAX_UNPOOL = [
    Case("MaxUnpool", [rand(2, 3, 2, 3, seed=70), _pool_indices((2, 3, 4, 6), (2, 2), 71)],
         {"kernel_shape": [2, 2], "strides": [2, 2]}, id="2d"),
    Case("MaxUnpool", [rand(2, 3, 2, 3, seed=70), _pool_indices((2, 3, 4, 6), (2, 2), 71),
                       I64(2, 3, 4, 6)], {"kernel_shape": [2, 2], "strides": [2, 2]},
         id="output_shape_same"),
    # a larger output_shape: X lands where the unpooled shape puts it, top-left (the
    # ONNX node cases); onnxruntime reads I as positions in output_shape instead
    Case("MaxUnpool", [rand(2, 3, 2, 3, seed=70), _pool_indices((2, 3, 4, 6), (2, 2), 71),
                       I64(2, 3, 5, 7)], {"kernel_shape": [2, 2], "strides": [2, 2]},
         reference=onnx_ref("MaxUnpool"), id="output_shape_larger"),
    Case("MaxUnpool", [rand(1, 2, 3, seed=72), _pool_indices((1, 2, 9), (3,), 73)],
         {"kernel_shape": [3], "strides": [3]}, id="1d"),
    Case("MaxUnpool", [rand(1, 2, 2, 2, 2, seed=74), _pool_indices((1, 2, 4, 4, 4), (2, 2, 2), 75)],
         {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}, id="3d"),
    Case("MaxUnpool", [rand(1, 2, 3, 3, seed=76), _distinct_indices((1, 2, 5, 5), 9, 77)],
         {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 0, 1]},
         reference=onnx_ref("MaxUnpool"), id="pads"),
    Case("MaxUnpool", [rand(2, 3, 2, 3, seed=70).astype(np.float16),
                       _pool_indices((2, 3, 4, 6), (2, 2), 71)],
         {"kernel_shape": [2, 2], "strides": [2, 2]}, id="f16"),
]

CASES = GRID_SAMPLE + AFFINE_GRID + NMS + ROI_ALIGN + DEFORM_CONV + CENTER_CROP_PAD + MAX_UNPOOL
