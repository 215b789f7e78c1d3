"""Cases of binary/variadic arithmetic, Clip and casts (singa/ops/arith.py)."""

import numpy as np
from onnx import TensorProto

from tests.ops.case import Case, rand

A = rand(2, 3, 4)
B = rand(2, 3, 4, seed=7)
ROW = rand(4, seed=3)
COL = rand(3, 1, seed=4)
POS = rand(2, 3, 4, low=0.5, high=2.0, seed=5)
I64 = np.array([[7, -7, 9], [-9, 13, 0]], np.int64)
I64B = np.array([[2, 2, -4], [4, -5, 3]], np.int64)

CASES = []
for op in ("Add", "Sub", "Mul"):
    CASES += [
        Case(op, [A, B], id="same"),
        Case(op, [A, ROW], id="bcast_row"),
        Case(op, [COL, A[0]], id="bcast_both"),
        Case(op, [A, np.array(0.5, np.float32)], id="scalar"),
        Case(op, [I64, I64B], id="int64"),
        Case(op, [A.astype(np.float64), ROW.astype(np.float64)], id="f64"),
        Case(op, [A.astype(np.float16), B.astype(np.float16)], id="f16", rtol=1e-3, atol=1e-3),
        Case(op, [np.zeros((0, 4), np.float32), ROW], id="empty"),
    ]
CASES += [
    Case("Div", [A, POS], id="same"),
    Case("Div", [A, POS[0, 0]], id="bcast"),
    Case("Div", [I64, I64B], id="int64_trunc"),
    Case("Div", [np.array([7, 250], np.uint8), np.array([2, 7], np.uint8)], id="uint8"),
    Case("Pow", [POS, B], id="same"),
    Case("Pow", [POS, np.array(3.0, np.float32)], id="scalar_exp"),
    Case("Pow", [A, np.array(2, np.int64)], id="int_exp"),
    Case("Pow", [np.array([2, 3, -2], np.int64), np.array([3, 2, 3], np.int64)], id="int64"),
    Case("Pow", [np.array([2, 3, 4], np.int32), np.array([0.5], np.float32)], id="int_float"),
    Case("Mod", [I64, I64B], id="int_mod"),
    Case("Mod", [I64, I64B], {"fmod": 1}, id="int_fmod"),
    Case("Mod", [A * 5, POS], {"fmod": 1}, id="float_fmod"),
    Case("Mod", [A * 5, -POS[0]], {"fmod": 1}, id="float_fmod_bcast"),
    Case("BitShift", [np.array([16, 4, 1], np.uint32), np.array([1, 2, 3], np.uint32)],
         {"direction": "RIGHT"}, id="right"),
    Case("BitShift", [np.array([16, 4, 1], np.uint8), np.array([1, 2, 3], np.uint8)],
         {"direction": "LEFT"}, id="left"),
    Case("Max", [A, B], id="two"),
    Case("Max", [A, ROW, COL], id="three_bcast"),
    Case("Max", [A], id="one"),
    Case("Max", [I64, I64B], id="int64"),
    Case("Min", [A, B], id="two"),
    Case("Min", [A, ROW, COL], id="three_bcast"),
    Case("Min", [I64, I64B], id="int64"),
    Case("Sum", [A, B, ROW], id="three_bcast"),
    Case("Sum", [A], id="one"),
    Case("Mean", [A, B, ROW], id="three_bcast"),
    Case("Mean", [A], id="one"),
    Case("Clip", [A, np.array(-0.5, np.float32), np.array(0.3, np.float32)], id="both"),
    Case("Clip", [A, None, np.array(0.3, np.float32)], id="max_only"),
    Case("Clip", [A, np.array(-0.2, np.float32)], id="min_only"),
    Case("Clip", [A], id="none"),
    Case("Clip", [A, np.array(0.5, np.float32), np.array(-0.5, np.float32)], id="min_gt_max"),
    Case("Clip", [I64, np.array(-3, np.int64), np.array(8, np.int64)], id="int64"),
    Case("Clip", [A], {"min": -0.4, "max": 0.2}, opset=6, id="opset6"),
    Case("Clip", [A], {"max": 0.2}, opset=6, id="opset6_max"),
]
for to, x, extra in [
    (TensorProto.DOUBLE, A, {}),
    # narrowing float casts round at the output precision: no finite differences
    (TensorProto.FLOAT, A.astype(np.float64), {"grad": False}),
    (TensorProto.FLOAT16, A, {"rtol": 1e-3, "atol": 1e-3, "grad": False}),
    (TensorProto.INT64, A * 10, {}),
    (TensorProto.INT32, np.array([-2.7, 2.7, 0.2, -0.9], np.float32), {}),
    (TensorProto.BOOL, np.array([-2.7, 0.0, 0.2], np.float32), {}),
    (TensorProto.FLOAT, I64, {}),
    (TensorProto.FLOAT, np.array([True, False]), {}),
    (TensorProto.INT8, np.array([3, -4, 100], np.int64), {}),
    (TensorProto.UINT8, np.array([3, 4, 200], np.int32), {}),
    (TensorProto.BOOL, I64, {}),
]:
    name = TensorProto.DataType.Name(to)
    CASES.append(Case("Cast", [x], {"to": to}, id=f"{x.dtype}_to_{name}", **extra))
CASES += [
    # onnxruntime loads no opset-1 model: NumPy stands in for Cast-1's string `to`
    Case("Cast", [A.astype(np.float64)], {"to": "FLOAT"}, opset=1, id="opset1_str", grad=False,
         reference=lambda x, to: [x.astype(np.float32)]),
    Case("CastLike", [A, np.zeros(1, np.float64)], id="f32_f64"),
    Case("CastLike", [A * 10, np.zeros(1, np.int32)], id="f32_i32"),
    Case("CastLike", [I64, np.zeros(1, np.float32)], id="i64_f32"),
]
