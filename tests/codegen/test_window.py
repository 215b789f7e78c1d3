"""codegen.window: depthwise convolution, MaxPool, AveragePool, Im2Col and Col2Im kernels.

One-node models on target "c" against the op table's compute in float64 (see
test_templated); each case says whether the plan must launch the window
kernel, so a case cannot pass on the NumPy fallback.  The kernels are also
rendered in the CUDA dialect and compiled with NVRTC.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa.codegen import nvrtc

from .test_templated import F16, F32, F64, data, reference, run, tolerance


def case(op, x, attrs, inits=None, kernel=True, opset=19, id=None):
    return pytest.param(op, x, attrs, inits or {}, kernel, opset, id=id)


def dw(c, k, mult=1, dtype=F32, bias=True):
    inits = {"w": data((c * mult, 1) + k, dtype)}
    if bias:
        inits["b"] = data((c * mult,), dtype)
    return inits


NAN = data((1, 2, 5, 6), F32)
NAN[0, 0, 1, 2] = np.nan
NAN[0, 1, 4, 5] = np.nan


def own(shape, dtype, seed):
    """Data from a generator of its own: drawing from the shared one would change
    every later case's data."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


WIDE_NAN = own((1, 2, 9, 80), F32, 7)
WIDE_NAN[0, 0, 3, 17] = np.nan  # one window column of rows 1-2 (stride 2) is NaN
WIDE_NAN[0, 1, 0, 0] = -np.inf
CASES = [
    case("Conv", data((2, 6, 9, 11), F32), {"group": 6, "pads": [1, 1, 1, 1]},
         dw(6, (3, 3)), id="dw-3x3-same"),
    case("Conv", data((1, 5, 12, 13), F32), {"group": 5, "strides": [2, 2],
                                             "pads": [0, 2, 1, 0]},
         dw(5, (3, 3)), id="dw-stride2-asym-pads"),
    case("Conv", data((2, 4, 10, 9), F32), {"group": 4, "dilations": [2, 3],
                                            "pads": [2, 3, 2, 3]},
         dw(4, (3, 3), bias=False), id="dw-dilated-no-bias"),
    case("Conv", data((2, 3, 8, 8), F32), {"group": 3, "strides": [1, 2]},
         dw(3, (5, 3), mult=2), id="dw-multiplier-2"),
    case("Conv", data((2, 4, 17), F64), {"group": 4, "pads": [2, 2]},
         dw(4, (5,), dtype=F64), id="dw-1d-f64"),
    case("Conv", data((1, 6, 7, 7), F32), {"group": 6, "auto_pad": "SAME_UPPER",
                                           "strides": [3, 3]},
         dw(6, (2, 2)), id="dw-same-upper-stride3"),
    case("Conv", data((1, 3, 4, 4), F32), {"group": 3, "pads": [4, 4, 4, 4]},
         dw(3, (3, 3)), id="dw-pads-wider-than-input"),
    # rows of 48 or more made one by one from the padded copy
    case("Conv", data((1, 3, 9, 60), F32), {"group": 3, "pads": [1, 2, 0, 1]},
         dw(3, (3, 3)), id="dw-wide-rows-asym-pads"),
    case("Conv", data((2, 2, 7, 70), F32), {"group": 2, "dilations": [2, 2],
                                            "pads": [2, 2, 2, 2]},
         dw(2, (3, 3), bias=False), id="dw-wide-rows-dilated"),
    case("Conv", data((1, 2, 8, 100), F32), {"group": 2, "strides": [2, 2],
                                             "pads": [1, 1, 1, 1]},
         dw(2, (3, 3)), id="dw-wide-rows-stride2"),
    # planes too big for a padded copy on the stack: row by row
    case("Conv", data((1, 2, 130, 131), F32), {"group": 2, "pads": [1, 1, 1, 1]},
         dw(2, (3, 3)), id="dw-big-plane-rows"),
    case("Conv", data((1, 2, 190, 200), F32), {"group": 2, "strides": [2, 2],
                                               "pads": [2, 1, 0, 2]},
         dw(2, (5, 3)), id="dw-big-plane-stride2-rows"),
    # small planes of 16k channels: blocks of 16 channels as the vector lanes
    case("Conv", own((2, 32, 7, 7), F32, 10), {"group": 32, "pads": [2, 2, 2, 2]},
         {"w": own((32, 1, 5, 5), F32, 11), "b": own((32,), F32, 12)},
         id="dw-channel-blocks-5x5"),
    case("Conv", own((1, 16, 13, 11), F32, 13), {"group": 16, "strides": [2, 2],
                                                 "pads": [2, 1, 1, 2]},
         {"w": own((16, 1, 5, 5), F32, 14), "b": own((16,), F32, 15)},
         id="dw-channel-blocks-stride2-asym-pads"),
    case("Conv", own((1, 16, 8, 8), F32, 16), {"group": 16, "dilations": [2, 2],
                                               "pads": [2, 2, 2, 2]},
         {"w": own((16, 1, 3, 3), F32, 17)}, id="dw-channel-blocks-dilated-no-bias"),
    case("Conv", own((1, 16, 14, 14), F32, 18), {"group": 16, "pads": [2, 2, 2, 2]},
         {"w": own((16, 1, 5, 5), F32, 19), "b": own((16,), F32, 20)},
         id="dw-channel-blocks-5x5-14x14"),
    case("Conv", data((1, 4, 6, 6), F32), {"group": 2}, {"w": data((4, 2, 3, 3), F32)},
         kernel=False, id="grouped-not-depthwise"),
    case("Conv", data((1, 4, 6, 6), F16), {"group": 4}, dw(4, (3, 3), dtype=F16),
         kernel=False, id="dw-f16-stays-numpy"),
    case("MaxPool", data((2, 3, 9, 10), F32), {"kernel_shape": [3, 3], "strides": [2, 2],
                                               "pads": [1, 1, 1, 1]}, id="max-3x3-s2"),
    case("MaxPool", data((1, 2, 8, 9), F32), {"kernel_shape": [3, 2], "strides": [2, 2],
                                              "ceil_mode": 1}, id="max-ceil"),
    case("MaxPool", data((1, 2, 9, 9), F64), {"kernel_shape": [2, 2], "dilations": [2, 2],
                                              "pads": [0, 1, 1, 0]}, id="max-dilated-f64"),
    case("MaxPool", data((2, 3, 15), F32), {"kernel_shape": [4], "strides": [3],
                                            "pads": [2, 1]}, id="max-1d"),
    case("MaxPool", NAN, {"kernel_shape": [2, 2]}, id="max-nan-propagates"),
    case("MaxPool", NAN, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
         id="max-nan-interior-and-border"),
    case("MaxPool", data((1, 2, 12, 11), F32), {"kernel_shape": [9, 8], "pads": [2, 1, 2, 1]},
         id="max-big-window"),
    # rows of 32 or more as maxima over the window's rows, then over its columns
    case("MaxPool", WIDE_NAN, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
         id="max-separable-nan-in-a-row"),
    case("MaxPool", own((1, 2, 11, 80), F32, 8), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                "pads": [0, 2, 1, 1], "ceil_mode": 1},
         id="max-separable-pads-ceil"),
    case("MaxPool", own((2, 2, 13, 80), F64, 9), {"kernel_shape": [3, 3], "dilations": [2, 3],
                                                "strides": [1, 2]}, id="max-separable-dilated"),
    case("AveragePool", data((1, 2, 12, 11), F32), {"kernel_shape": [9, 8], "pads": [2, 1, 2, 1],
                                                    "count_include_pad": 1},
         id="avg-big-window"),
    case("Conv", data((1, 3, 12, 12), F32), {"group": 3, "pads": [4, 4, 4, 4]},
         dw(3, (9, 9)), id="dw-big-window"),
    case("MaxPool", data((1, 2, 6, 6), F16), {"kernel_shape": [2, 2]}, kernel=False,
         id="max-f16-stays-numpy"),
    case("AveragePool", data((2, 3, 9, 10), F32), {"kernel_shape": [3, 3],
                                                   "pads": [1, 1, 1, 1]}, id="avg-exclude-pad"),
    case("AveragePool", data((2, 3, 9, 10), F32), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                   "pads": [1, 2, 1, 0],
                                                   "count_include_pad": 1},
         id="avg-include-pad"),
    case("AveragePool", data((1, 2, 8, 9), F32), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                  "pads": [1, 1, 1, 1], "ceil_mode": 1,
                                                  "count_include_pad": 1},
         id="avg-ceil-include-pad"),
    case("AveragePool", data((1, 2, 10, 10), F64), {"kernel_shape": [2, 3],
                                                    "dilations": [2, 2]}, id="avg-dilated-f64"),
    case("AveragePool", data((2, 3, 11), F32), {"kernel_shape": [3], "strides": [2],
                                                "pads": [1, 1]}, id="avg-1d"),
    # Im2Col (lower_conv's columns; not ONNX, but the importer takes any op of the table)
    case("Im2Col", data((2, 3, 9, 10), F32), {"kernel_shape": [3, 3], "strides": [2, 2],
                                              "pads": [1, 3, 2, 1]}, id="im2col-pads"),
    case("Im2Col", data((1, 2, 11, 9), F64), {"kernel_shape": [2, 3], "dilations": [3, 2],
                                              "strides": [1, 3]}, id="im2col-dilated-f64"),
    case("Im2Col", data((2, 4, 13), F16), {"kernel_shape": [5], "pads": [6, 6]},
         id="im2col-1d-f16-pads-wider-than-kernel"),
    case("Im2Col", data((1, 2, 3, 3), np.int32), {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]},
         id="im2col-int32"),
    # Col2Im (ONNX; Im2Col's adjoint, compiled training's convolution input gradient)
    case("Col2Im", data((2, 27, 16), F32), {"strides": [2, 2], "pads": [1, 1, 1, 1]},
         {"image": np.array([7, 7]), "block": np.array([3, 3])}, id="col2im-strides-pads"),
    case("Col2Im", data((1, 8, 32), F64), {"strides": [1, 2], "pads": [0, 1, 1, 0],
                                           "dilations": [2, 1]},
         {"image": np.array([9, 8]), "block": np.array([2, 2])}, id="col2im-dilated-f64"),
    case("Col2Im", data((2, 20, 13), F32), {"pads": [2, 2]},
         {"image": np.array([13]), "block": np.array([5])}, id="col2im-1d"),
]


@pytest.mark.parametrize("op,x,attrs,inits,kernel,opset", CASES)
def test_matches_compute(op, x, attrs, inits, kernel, opset):
    y, plan = run(op, x, attrs, None, opset, inits)
    launched = any(k.group == op for k in plan.kernels)
    assert launched == kernel, str(plan)
    ref = reference(op, x, attrs, None, opset, inits)
    assert y.shape == ref.shape and y.dtype == x.dtype
    if op == "Im2Col":  # a copy: exact
        np.testing.assert_array_equal(y, ref.astype(x.dtype))
        return
    rtol, atol = tolerance(x.dtype)
    np.testing.assert_allclose(y.astype(F64), ref.astype(F64), rtol=rtol, atol=atol)


def test_results_are_written_everywhere():
    """Every output element is written on every run (a poisoned arena shows gaps)."""
    x = data((1, 4, 7, 7), F32)
    inits = dw(4, (3, 3))
    y1, plan = run("Conv", x, {"group": 4, "strides": [2, 2]}, None, 19, inits)
    assert np.isfinite(y1).all() and any(k.group == "Conv" for k in plan.kernels)


@pytest.mark.skipif(not nvrtc.available(), reason="NVRTC is not available")
def test_cuda_dialect_compiles():
    kernels = {}
    for p in CASES:
        op, x, attrs, inits, _, opset = p.values
        for k in run(op, x, attrs, None, opset, inits)[1].kernels:
            if not k.host_only:  # a cuda plan has cuBLAS where these c plans have a GEMM
                kernels[k.name] = k
    assert {k.base for k in kernels.values()} >= {"depthwise_conv", "maxpool", "avgpool",
                                                   "im2col", "col2im"}
    ptx = nvrtc.compile_ptx(list(kernels.values()))
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert all(f".entry {name}" in ptx for name in kernels)


def test_f16_fixture_is_half():
    assert data((2,), F16).dtype == np.float16
