"""The host Pad kernel (codegen/injective.py pad_kernel) against NumPy's np.pad."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from singa import sonnx
from singa.codegen import host

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no usable C compiler")


def _run(x, pads, value=None, axes=None, mode="constant", opset=18):
    inits = [numpy_helper.from_array(np.array(pads, np.int64), "p")]
    names = ["x", "p"]
    if value is not None:
        inits.append(numpy_helper.from_array(np.array(value, x.dtype), "v"))
    names.append("v" if value is not None else "")
    if axes is not None:
        inits.append(numpy_helper.from_array(np.array(axes, np.int64), "a"))
        names.append("a")
    while names[-1] == "":
        names.pop()
    dt = TensorProto.FLOAT if x.dtype == np.float32 else TensorProto.DOUBLE
    g = helper.make_graph([helper.make_node("Pad", names, ["y"], mode=mode)], "g",
                          [helper.make_tensor_value_info("x", dt, x.shape)],
                          [helper.make_tensor_value_info("y", dt, None)], inits)
    rep = sonnx.prepare(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]),
                        target="c")
    y = rep.run([x])[0].numpy()
    plan = next(iter(rep.executor._cache.values())).plan
    return y, [s.kernel.base if s.kernel is not None else s.op for s in plan.steps]


def _reference(x, pads, value, axes):
    rank = x.ndim
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[i + len(axes)])
    crop = tuple(slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
                 for d, (lo, hi) in enumerate(widths))
    return np.pad(x[crop], [(max(lo, 0), max(hi, 0)) for lo, hi in widths],
                  constant_values=0 if value is None else value)


RNG = np.random.default_rng(0)
CASES = [
    ((1, 512, 13, 13), np.float32, [0, 0, 0, 0, 0, 0, 1, 1], 0.0, None),  # YOLO's
    ((2, 3, 5, 6), np.float32, [0, 1, 2, 3, 1, 0, 1, 2], -1.5, None),  # every side, a value
    ((2, 3, 5, 6), np.float64, [1, 0, -1, 2, 0, 1, -2, 0], None, None),  # crops, no value
    ((2, 3, 5, 6), np.float32, [1, 2, 3, 4], 7.0, [2, -1]),  # axes
    ((2, 3, 5, 6), np.float32, [-1, 1], None, [3]),  # a crop and a pad on the rows
    ((9,), np.float64, [3, 0], 2.5, None),  # one dimension
    ((4, 1, 7), np.float32, [0, 2, 0, 0, 3, 0], np.inf, None),  # a size-1 dim padded
]


@pytest.mark.parametrize("shape,dtype,pads,value,axes", CASES)
def test_pad_kernel_matches_numpy(shape, dtype, pads, value, axes):
    x = RNG.standard_normal(shape).astype(dtype)
    y, steps = _run(x, pads, value, axes)
    assert steps == ["pad"]
    ref = _reference(x, pads, value, axes)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_other_modes_stay_numpy(mode):
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    y, steps = _run(x, [0, 0, 1, 1, 0, 0, 1, 1], mode=mode)
    assert steps == ["Pad"]
    np.testing.assert_array_equal(y, np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode=mode))
