"""Cases of the neural-network ops: conv.py, pool.py, norm.py and nn.py."""

import numpy as np

from tests.ops.case import Case, rand


def pos(*shape, seed=None):
    """Positive samples (variances, scales that must not vanish)."""
    return rand(*shape, low=0.5, high=1.5, seed=seed)


def f64(a):
    return a.astype(np.float64)


F = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
I64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731

X4 = rand(2, 3, 7, 8, seed=1)

CONV = [
    Case("Conv", [rand(2, 3, 7, 7), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)], id="2d_bias"),
    Case("Conv", [rand(2, 3, 7, 7), rand(4, 3, 3, 3, seed=2)],
         {"pads": [1, 0, 2, 1], "strides": [2, 1]}, id="2d_pads_strides"),
    Case("Conv", [rand(2, 4, 9), rand(6, 2, 3, seed=2), rand(6, seed=3)],
         {"group": 2, "dilations": [2]}, id="1d_group_dilation"),
    Case("Conv", [rand(2, 4, 11), rand(3, 4, 4, seed=2)],
         {"strides": [3], "pads": [2, 1]}, id="1d_strides"),
    Case("Conv", [rand(2, 4, 8, 8), rand(4, 1, 3, 3, seed=2)],
         {"group": 4, "strides": [2, 2], "auto_pad": "SAME_UPPER"}, id="depthwise_same_upper"),
    Case("Conv", [rand(2, 4, 8, 8), rand(8, 1, 2, 2, seed=2)],
         {"group": 4, "strides": [3, 2], "auto_pad": "SAME_LOWER"},
         id="depthwise_mult_same_lower"),
    Case("Conv", [rand(2, 4, 8, 7), rand(4, 4, 2, 3, seed=2)],
         {"strides": [3, 2], "auto_pad": "VALID", "dilations": [2, 1]}, id="valid_dilation"),
    Case("Conv", [rand(2, 4, 8, 7), rand(4, 4, 2, 3, seed=2)],
         {"auto_pad": "NOTSET", "kernel_shape": [2, 3]}, id="notset_kernel_shape"),
    Case("Conv", [rand(1, 2, 5, 5, 4), rand(3, 2, 2, 2, 2, seed=2), rand(3, seed=3)],
         {"pads": [1, 0, 1, 0, 1, 0]}, id="3d"),
    Case("Conv", [rand(2, 4, 5, 5), rand(3, 4, 1, 1, seed=2), rand(3, seed=3)], id="1x1"),
    Case("Conv", [f64(rand(2, 3, 6, 6)), f64(rand(2, 3, 3, 3, seed=2))],
         {"pads": [1, 1, 1, 1]}, id="f64"),
    # batches of >= 8 small maps take the batch-last column layout
    Case("Conv", [rand(8, 3, 6, 6), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)],
         {"pads": [1, 0, 2, 1], "strides": [2, 1]}, id="batch_last_2d"),
    Case("Conv", [rand(9, 4, 7, 6), rand(6, 2, 2, 3, seed=2), rand(6, seed=3)],
         {"group": 2, "dilations": [2, 1], "pads": [2, 1, 1, 1]}, id="batch_last_group"),
    Case("Conv", [rand(8, 2, 9), rand(3, 2, 3, seed=2)], {"strides": [2], "pads": [1, 1]},
         id="batch_last_1d"),
    Case("Conv", [rand(8, 2, 4, 3, 4), rand(3, 2, 2, 2, 3, seed=2), rand(3, seed=3)],
         {"pads": [1, 0, 1, 0, 1, 0]}, id="batch_last_3d"),
    # stride-1 depthwise convs take the tap-sum path (conv._depthwise), any pads,
    # dilations, rank and batch; strided ones and channel multipliers do not
    Case("Conv", [rand(1, 5, 7, 6), rand(5, 1, 3, 3, seed=2), rand(5, seed=3)],
         {"group": 5, "pads": [1, 1, 1, 1]}, id="depthwise_s1_b1"),
    Case("Conv", [rand(9, 3, 6, 7), rand(3, 1, 3, 2, seed=2)],
         {"group": 3, "pads": [2, 0, 1, 3], "dilations": [2, 1]}, id="depthwise_dilation_b9"),
    Case("Conv", [rand(2, 4, 9), rand(4, 1, 3, seed=2), rand(4, seed=3)],
         {"group": 4, "pads": [3, 2], "dilations": [3]}, id="depthwise_1d"),
    Case("Conv", [rand(2, 3, 4, 3, 5), rand(3, 1, 2, 2, 3, seed=2), rand(3, seed=3)],
         {"group": 3, "pads": [1, 0, 1, 0, 1, 1]}, id="depthwise_3d"),
    Case("Conv", [rand(9, 6, 5, 5), rand(6, 1, 3, 3, seed=2), rand(6, seed=3)],
         {"group": 6, "strides": [2, 1], "pads": [1, 1, 1, 1]}, id="depthwise_strided_b9"),
    Case("Conv", [rand(1, 4, 7, 7), rand(3, 4, 1, 1, seed=2), rand(3, seed=3)],
         {"strides": [2, 2]}, id="1x1_stride_b1"),
    # weights larger than the output: the bias is added after the GEMM, not in it
    Case("Conv", [rand(2, 8, 4, 4), rand(5, 8, 3, 3, seed=2), rand(5, seed=3)],
         {"pads": [1, 0, 0, 1]}, id="bias_after_gemm"),
    Case("Conv", [rand(9, 4, 5, 6), rand(6, 2, 1, 1, seed=2)],
         {"group": 2, "pads": [1, 0, 0, 1]}, id="1x1_group_pads_b9"),
    Case("ConvTranspose", [rand(2, 3, 4, 5), rand(3, 2, 3, 3, seed=2), rand(2, seed=3)],
         id="2d_bias"),
    Case("ConvTranspose", [rand(2, 4, 4, 5), rand(4, 2, 3, 3, seed=2), rand(4, seed=3)],
         {"group": 2, "strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 1],
          "dilations": [1, 2]}, id="group_strides_outpad"),
    Case("ConvTranspose", [rand(2, 3, 4), rand(3, 2, 3, seed=2)],
         {"strides": [2], "output_shape": [10]}, id="1d_output_shape"),
    Case("ConvTranspose", [rand(2, 3, 4), rand(3, 2, 4, seed=2)],
         {"strides": [2], "auto_pad": "SAME_UPPER"}, id="same_upper"),
    Case("ConvTranspose", [rand(2, 3, 4), rand(3, 2, 4, seed=2)],
         {"strides": [3], "auto_pad": "SAME_LOWER"}, id="same_lower"),
]

POOL = []
_GEOMS = [
    ("k2s2", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("pads", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 0]}),
    ("ceil", {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    ("ceil_pads", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1,
                   "pads": [1, 1, 1, 1]}),
    ("same_upper", {"kernel_shape": [3, 2], "strides": [2, 1], "auto_pad": "SAME_UPPER"}),
    ("same_lower", {"kernel_shape": [3, 2], "strides": [2, 1], "auto_pad": "SAME_LOWER"}),
    ("valid", {"kernel_shape": [3, 3], "strides": [2, 1], "auto_pad": "VALID"}),
    ("dilation", {"kernel_shape": [2, 2], "dilations": [2, 2]}),
    ("dilation_ceil", {"kernel_shape": [3, 2], "dilations": [2, 1], "strides": [2, 1],
                       "pads": [1, 0, 1, 1], "ceil_mode": 1}),
]
for _name, _a in _GEOMS:
    POOL.append(Case("MaxPool", [X4], _a, id=_name))
    POOL.append(Case("AveragePool", [X4], _a, id=_name))
    if "pads" in _a or "ceil_mode" in _a or "auto_pad" in _a:
        POOL.append(Case("AveragePool", [X4], dict(_a, count_include_pad=1),
                         id=_name + "_include_pad"))
    POOL.append(Case("LpPool", [X4], dict(_a, p=3), id=_name))
POOL += [
    Case("MaxPool", [X4], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                           "_num_outputs": 2}, outputs=2, id="indices"),
    Case("MaxPool", [X4], {"kernel_shape": [3, 2], "strides": [2, 1], "storage_order": 1,
                           "_num_outputs": 2}, outputs=2, id="indices_col_major"),
    Case("MaxPool", [X4], {"kernel_shape": [2, 2], "strides": [2, 2], "_num_outputs": 2},
         outputs=2, id="indices_disjoint"),
    Case("MaxPool", [rand(2, 3, 9)], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]},
         id="1d"),
    Case("MaxPool", [X4], {"kernel_shape": [2, 2], "strides": [3, 3]}, id="gaps"),
    Case("MaxPool", [rand(2, 3, 9, 6)], {"kernel_shape": [2, 3], "strides": [3, 3]},
         id="gaps_tiling_w"),
    Case("AveragePool", [X4], {"kernel_shape": [2, 2], "strides": [3, 3]}, id="gaps"),
    Case("MaxPool", [rand(1, 2, 5, 4, 5)], {"kernel_shape": [2, 2, 3], "strides": [1, 2, 2]},
         id="3d"),
    Case("MaxPool", [(rand(2, 2, 6, 6) * 100).astype(np.int8)],
         {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0]}, id="int8"),
    Case("MaxPool", [X4], {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=8, id="opset8"),
    Case("AveragePool", [rand(2, 3, 9)], {"kernel_shape": [4], "strides": [3], "pads": [2, 1],
                                          "count_include_pad": 1}, id="1d_include_pad"),
    Case("AveragePool", [X4], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
         opset=11, id="opset11"),
    Case("AveragePool", [rand(1, 2, 5, 4, 5)], {"kernel_shape": [2, 2, 3]}, id="3d"),
    Case("LpPool", [X4], {"kernel_shape": [2, 2]}, id="p2_default"),
    Case("LpPool", [X4], {"kernel_shape": [2, 2], "p": 1, "strides": [2, 2]}, id="p1"),
    Case("GlobalAveragePool", [X4], id="2d"),
    Case("GlobalAveragePool", [rand(2, 3, 5)], id="1d"),
    Case("GlobalMaxPool", [X4], id="2d"),
    Case("GlobalMaxPool", [rand(2, 3, 4, 3, 2)], id="3d"),
    Case("GlobalLpPool", [X4], {"p": 3}, id="p3"),
    Case("GlobalLpPool", [rand(2, 3, 5)], id="p2"),
]

_BN = [rand(4, 3, 5, 5), rand(3, seed=2), rand(3, seed=3), rand(3, seed=4), pos(3, seed=5)]
NORM = [
    Case("BatchNormalization", _BN, {"epsilon": 1e-3}, id="eps1e-3"),
    Case("BatchNormalization", _BN, id="default"),
    Case("BatchNormalization", [rand(4, 3, 5), *_BN[1:]], {"epsilon": 0.5}, id="1d_eps0.5"),
    Case("BatchNormalization", [rand(6, 3), *_BN[1:]], id="2d_input"),
    Case("BatchNormalization", _BN, {"training_mode": 1, "momentum": 0.8, "epsilon": 1e-2,
                                     "_num_outputs": 3}, outputs=3, rtol=1e-4, id="training"),
    Case("BatchNormalization", _BN, {"epsilon": 1e-3}, opset=9, id="opset9"),
    Case("BatchNormalization", _BN, {"epsilon": 1e-3, "spatial": 1}, opset=7, id="opset7"),
    Case("BatchNormalization", [f64(x) for x in _BN], id="f64"),
    Case("InstanceNormalization", [rand(2, 3, 5, 4), rand(3, seed=2), rand(3, seed=3)],
         {"epsilon": 1e-2}, id="2d"),
    Case("InstanceNormalization", [rand(2, 3, 5), rand(3, seed=2), rand(3, seed=3)], id="1d"),
    Case("LayerNormalization", [rand(2, 3, 5, 4), rand(5, 4, seed=2), rand(5, 4, seed=3)],
         {"axis": -2, "_num_outputs": 3}, outputs=3, id="axis-2_all_outputs"),
    Case("LayerNormalization", [rand(2, 3, 5, 4), rand(4, seed=2)],
         {"epsilon": 1e-2}, id="no_bias"),
    Case("LayerNormalization", [rand(2, 3, 5, 4), rand(3, 5, 4, seed=2), rand(3, 5, 4, seed=3)],
         {"axis": 1}, id="axis1"),
    Case("LayerNormalization", [rand(4, 6).astype(np.float16), rand(6, seed=2).astype(np.float16),
                                rand(6, seed=3).astype(np.float16)],
         {"_num_outputs": 3}, outputs=3, rtol=2e-3, atol=2e-3, grad=False, id="f16_stash"),
    Case("GroupNormalization", [rand(2, 6, 5, 4), rand(6, seed=2), rand(6, seed=3)],
         {"num_groups": 3, "epsilon": 1e-3}, id="3groups"),
    Case("GroupNormalization", [rand(2, 6, 5), rand(6, seed=2), rand(6, seed=3)],
         {"num_groups": 6}, id="per_channel"),
    Case("LRN", [rand(2, 7, 4, 4)], {"size": 3}, id="size3"),
    Case("LRN", [rand(2, 7, 4, 4)], {"size": 5, "alpha": 0.01, "beta": 0.5, "bias": 2.0},
         id="size5"),
]

NN = [
    Case("Dropout", [X4], id="default_inference"),
    Case("Dropout", [X4, np.array(0.3, np.float32)], {"_num_outputs": 2}, outputs=2,
         id="ratio_mask"),
    Case("Dropout", [X4, np.array(0.3, np.float32), np.array(False)], {"_num_outputs": 2},
         outputs=2, id="training_false"),
    Case("Dropout", [X4, np.array(0.0, np.float32), np.array(True)], {"_num_outputs": 2},
         outputs=2, grad_inputs=(0,), id="training_ratio0"),
    Case("Dropout", [X4], {"ratio": 0.2}, opset=10, id="opset10"),
    Case("Resize", [X4, None, F(1, 1, 2, 1.5)], {"mode": "nearest"}, id="nearest_up"),
    Case("Resize", [X4, None, F(1, 1, 2, 3)],
         {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
          "nearest_mode": "floor"}, id="nearest_asym_floor"),
    Case("Resize", [X4, None, None, I64(2, 3, 5, 13)],
         {"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, id="nearest_sizes"),
    Case("Resize", [X4, None, F(1, 1, 0.5, 0.5)],
         {"mode": "nearest", "nearest_mode": "ceil"}, id="nearest_down_ceil"),
    Case("Resize", [X4, None, F(1, 1, 1.7, 2.3)], {"mode": "linear"}, id="linear_half_pixel"),
    # align_corners with fractional scales: onnxruntime divides by the rounded output
    # length, the ONNX spec and reference by the unrounded one (the conformance cases
    # check that); with `sizes` both agree.
    Case("Resize", [X4, None, None, I64(2, 3, 11, 18)],
         {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
         id="linear_align_corners"),
    Case("Resize", [X4, None, F(1, 1, 0.6, 0.5)],
         {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
         id="linear_pytorch_down"),
    Case("Resize", [X4, None, None, I64(5, 11)],
         {"mode": "cubic", "axes": [2, 3], "exclude_outside": 1}, id="cubic_axes_exclude"),
    Case("Resize", [X4, None, F(1, 1, 2, 1.5)],
         {"mode": "cubic", "cubic_coeff_a": -0.5, "coordinate_transformation_mode": "asymmetric"},
         id="cubic_asym"),
    Case("Resize", [X4, F(0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9), None, I64(2, 3, 6, 5)],
         {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
          "extrapolation_value": 0.5}, id="tf_crop_and_resize"),
    Case("Resize", [X4, None, F(0.5, 0.34)], {"mode": "linear", "antialias": 1, "axes": [2, 3]},
         id="linear_antialias"),
    Case("Resize", [X4, None, None, I64(9, 9)],
         {"mode": "linear", "axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"},
         id="keep_aspect"),
    Case("Resize", [X4, F(1, 1, 2, 3)], {"mode": "nearest"}, opset=10, id="opset10"),
    Case("Upsample", [X4, F(1, 1, 2, 3)], {"mode": "nearest"}, opset=9, id="nearest"),
    Case("Upsample", [X4, F(1, 1, 2, 2.5)], {"mode": "linear"}, opset=9, id="linear"),
]

CASES = CONV + POOL + NORM + NN


def ref_im2col(x, kernel_shape, strides=None, dilations=None, pads=None):
    """Im2Col by its definition: out[n, c*K + tap, p] = x at window p's tap, 0 in padding."""
    nd = len(kernel_shape)
    strides = strides or [1] * nd
    dilations = dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    sp = x.shape[2:]
    out = [(s + pads[i] + pads[nd + i] - (k - 1) * d - 1) // st + 1
           for i, (s, k, d, st) in enumerate(zip(sp, kernel_shape, dilations, strides))]
    taps = list(np.ndindex(*kernel_shape))
    pos = list(np.ndindex(*out))
    col = np.zeros((x.shape[0], x.shape[1] * len(taps), len(pos)))
    for t, tap in enumerate(taps):
        for p, o in enumerate(pos):
            at = [o[i] * strides[i] - pads[i] + tap[i] * dilations[i] for i in range(nd)]
            if all(0 <= a < s for a, s in zip(at, sp)):
                col[:, t::len(taps), p] = x[(slice(None), slice(None)) + tuple(at)]
    return [col]


CASES += [
    Case("Im2Col", [rand(2, 3, 6, 7)], {"kernel_shape": [3, 2], "strides": [2, 1],
                                        "pads": [1, 0, 1, 1]},
         reference=ref_im2col, id="2d_pads_strides"),
    Case("Im2Col", [rand(1, 2, 7, 7)], {"kernel_shape": [2, 2], "dilations": [3, 2]},
         reference=ref_im2col, id="2d_dilated"),
    Case("Im2Col", [rand(2, 3, 9)], {"kernel_shape": [4], "strides": [3], "pads": [2, 2]},
         reference=ref_im2col, id="1d"),
    # ConvGemm = MatMul(w, Im2Col(x)), the implicit-columns product of lower_conv
    Case("ConvGemm", [rand(4, 3 * 6), rand(2, 3, 6, 7)],
         {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 1, 1]},
         reference=lambda w, x, **a: [w.astype(np.float64) @ ref_im2col(x, **a)[0]],
         id="2d_pads_strides"),
    Case("ConvGemm", [rand(5, 2 * 4), rand(1, 2, 7, 7)], {"kernel_shape": [2, 2],
                                                          "dilations": [3, 2]},
         reference=lambda w, x, **a: [w.astype(np.float64) @ ref_im2col(x, **a)[0]],
         id="2d_dilated"),
    # ONNX Col2Im (opset 18), Im2Col's adjoint, against onnxruntime
    Case("Col2Im", [rand(2, 2 * 6, 16), np.array([5, 6]), np.array([2, 3])], {},
         grad_inputs=(0,), id="plain"),
    Case("Col2Im", [rand(1, 3 * 9, 16), np.array([7, 7]), np.array([3, 3])],
         {"strides": [2, 2], "pads": [1, 1, 1, 1]}, grad_inputs=(0,), id="strides_pads"),
    Case("Col2Im", [rand(2, 4, 32), np.array([9, 8]), np.array([2, 2])],
         {"strides": [1, 2], "pads": [0, 1, 1, 0], "dilations": [2, 1]}, grad_inputs=(0,),
         id="dilated_uneven_pads"),
]
