"""Cases of comparisons, logic, Where, IsNaN and IsInf (singa/ops/logic.py)."""

import numpy as np

from tests.ops.case import Case, rand

A = np.round(rand(2, 3, 4) * 3)
B = np.round(rand(3, 4, seed=2) * 3)
I64 = np.array([[1, 5, -2], [3, 3, 0]], np.int64)
I64B = np.array([3, 5, -7], np.int64)
P = np.array([[True, False, True], [False, False, True]])
Q = np.array([True, False, False])
NANS = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, -3.5], np.float32)

CASES = []
for op in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"):
    CASES += [
        Case(op, [A, B], id="f32_bcast"),
        Case(op, [I64, I64B], id="int64"),
        Case(op, [A.astype(np.float64), np.array(0.0)], id="f64_scalar"),
    ]
CASES.append(Case("Equal", [P, Q], id="bool"))
for op in ("And", "Or", "Xor"):
    CASES += [
        Case(op, [P, Q], id="bcast"),
        Case(op, [P, P[::-1]], id="same"),
        Case(op, [np.array(True), Q], id="scalar"),
    ]
CASES += [
    Case("Not", [P]),
    Case("Where", [P, rand(2, 3), rand(2, 3, seed=3)], id="same"),
    Case("Where", [Q, rand(2, 1, seed=4), rand(3, seed=5)], id="bcast"),
    Case("Where", [P, I64, np.array(-1, np.int64)], id="int64"),
    Case("Where", [P[:, :, None], rand(2, 3, 4), np.float32(0.5)], id="bcast3"),
    Case("IsNaN", [NANS]),
    Case("IsNaN", [NANS.astype(np.float64)], id="f64"),
    Case("IsInf", [NANS]),
    Case("IsInf", [NANS], {"detect_negative": 0}, id="pos_only"),
    Case("IsInf", [NANS.astype(np.float64)], {"detect_positive": 0}, id="neg_only"),
    Case("Where", [P, rand(2, 3).astype(np.float16), rand(2, 3, seed=9).astype(np.float16)],
         id="f16"),
    Case("Where", [Q, P, ~P], id="bool"),
]
