"""Cases of Softmax, LogSoftmax and Hardmax (singa/ops/activation.py)."""

import numpy as np

from tests.ops.case import Case, rand

X = rand(2, 3, 4) * 3

CASES = []
for op in ("Softmax", "LogSoftmax", "Hardmax"):
    CASES += [
        Case(op, [X], id="default"),
        Case(op, [X], {"axis": 1}, id="axis1"),
        Case(op, [X], {"axis": -3}, id="neg_axis"),
        Case(op, [X.astype(np.float64)], id="f64"),
        Case(op, [rand(3, 5) * 200], id="large"),
        Case(op, [X], opset=11, id="opset11_default"),
        Case(op, [X], {"axis": 2}, opset=11, id="opset11_axis2"),
        Case(op, [X], {"axis": 0}, opset=12, id="opset12_axis0"),
    ]
CASES += [
    Case("Softmax", [X.astype(np.float16)], id="f16", rtol=1e-3, atol=1e-3),
    Case("Hardmax", [np.array([[1, 3, 3], [2, 0, 2]], np.float32)], id="ties", grad=False),
]
