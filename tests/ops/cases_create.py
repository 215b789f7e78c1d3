"""Cases of the tensor-making ops (singa/ops/create.py)."""

import numpy as np
from onnx import TensorProto, numpy_helper

from tests.ops.case import Case, rand

X = rand(2, 3, 4)
I = lambda *a: np.array(a, np.int64)  # noqa: E731

CASES = [
    Case("Shape", [X]),
    Case("Shape", [X], {"start": 1}, id="start"),
    Case("Shape", [X], {"start": -2, "end": -1}, id="neg"),
    Case("Shape", [X], {"start": 5, "end": 10}, id="clamped"),
    Case("Shape", [np.array(1.0, np.float32)], id="scalar"),
    Case("Size", [X]),
    Case("Size", [np.zeros((0, 3), np.int64)], id="empty"),
    Case("Constant", [], {"value": np.arange(6, dtype=np.float32).reshape(2, 3)}, id="tensor"),
    Case("Constant", [], {"value": numpy_helper.from_array(np.array([1, 2], np.int64))},
         id="tensorproto"),
    Case("Constant", [], {"value_float": 2.5}, id="float"),
    Case("Constant", [], {"value_floats": [1.0, 2.0]}, id="floats"),
    Case("Constant", [], {"value_int": 3}, id="int"),
    Case("Constant", [], {"value_ints": [3, 4, 5]}, id="ints"),
    Case("ConstantOfShape", [I(2, 3)], id="default"),
    Case("ConstantOfShape", [I(2, 3)], {"value": np.array([7], np.int64)}, id="int64"),
    Case("ConstantOfShape", [I(0, 3)], {"value": np.array([1.5], np.float64)}, id="empty"),
    Case("ConstantOfShape", [np.zeros(0, np.int64)], {"value": np.array([4.0], np.float32)},
         id="scalar"),
    Case("Range", [np.array(1.0, np.float32), np.array(5.0, np.float32),
                   np.array(0.7, np.float32)], id="float", grad_inputs=(0, 2)),
    Case("Range", [np.array(10, np.int64), np.array(2, np.int64), np.array(-3, np.int64)],
         id="int64_down"),
    Case("Range", [np.array(3, np.int32), np.array(1, np.int32), np.array(1, np.int32)],
         id="empty"),
    Case("Range", [np.array(0.5), np.array(-2.2), np.array(-0.5)], id="f64_down",
         grad_inputs=(0, 2)),
    Case("EyeLike", [rand(3, 4)], id="default"),
    Case("EyeLike", [rand(4, 3)], {"k": -1, "dtype": TensorProto.INT64}, id="k_dtype"),
    Case("EyeLike", [np.zeros((3, 3), np.int32)], {"k": 2}, id="int"),
    Case("OneHot", [I(0, 2, -1, 5), np.array(4, np.int64), np.array([0.0, 1.0], np.float32)],
         id="default"),
    Case("OneHot", [np.array([[1, 0], [2, 3]], np.int64), np.array(3.0, np.float32),
                    np.array([-2.0, 5.0], np.float32)], {"axis": 0}, id="axis0",
         grad_inputs=(2,)),
    Case("OneHot", [np.array([1, 0], np.int64), np.array([2], np.int64),
                    np.array([3, 7], np.int64)], {"axis": -2}, id="int_values"),
]
