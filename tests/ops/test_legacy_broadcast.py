"""Opset 1-6 binary arithmetic: explicit ``broadcast``/``axis`` instead of NumPy's rules."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper

from singa import sonnx, tensor
from singa.errors import ShapeError


def _model(op, a_shape, b_shape, **attrs):
    node = helper.make_node(op, ["a", "b"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TP.FLOAT, a_shape),
                                        helper.make_tensor_value_info("b", TP.FLOAT, b_shape)],
                          [helper.make_tensor_value_info("y", TP.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])


NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


@pytest.mark.parametrize("op", sorted(NUMPY))
def test_broadcast_one_over_trailing_dims_is_numpys(op):
    # onnxruntime has no opset-6 kernels: NumPy in float64 is the reference
    m = _model(op, [2, 3, 4], [4], broadcast=1)
    rng = np.random.default_rng(0)
    a = rng.uniform(1, 2, (2, 3, 4)).astype(np.float32)
    b = rng.uniform(1, 2, (4,)).astype(np.float32)
    want = NUMPY[op](a.astype(np.float64), b.astype(np.float64))
    got = tensor.to_numpy(sonnx.prepare(m).run([a, b])[0])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_without_broadcast_the_shapes_must_agree():
    m = _model("Add", [2, 3], [3])
    with pytest.raises(ShapeError, match=r"broadcast=0.*\(2, 3\) and \(3,\) differ"):
        sonnx.prepare(m).run([np.ones((2, 3), np.float32), np.ones(3, np.float32)])


def test_an_axis_that_is_not_the_trailing_dims_is_refused_not_misread():
    m = _model("Mul", [2, 3, 4], [3], broadcast=1, axis=1)  # B along A's dim 1
    with pytest.raises(ShapeError, match=r"from axis 1 .* not supported"):
        sonnx.prepare(m).run([np.ones((2, 3, 4), np.float32), np.ones(3, np.float32)])
