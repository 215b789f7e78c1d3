"""Cases of the ReduceX ops and ArgMax / ArgMin (singa/ops/reduce.py)."""

import numpy as np

from tests.ops.case import Case, rand

X = rand(2, 3, 4)
POS = rand(2, 3, 4, low=0.5, high=1.5)
I64 = np.array([[3, -1, 7], [2, 9, -4]], np.int64)
AX = lambda *a: np.array(a, np.int64)  # noqa: E731

REDUCES = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]

CASES = []
for op in REDUCES:
    x = POS if op in ("ReduceLogSum", "ReduceProd") else X
    CASES += [
        Case(op, [x], id="all_keep"),
        Case(op, [x], {"keepdims": 0}, id="all_nokeep"),
        Case(op, [x, AX(1)], id="axis1"),
        Case(op, [x, AX(-1, 0)], {"keepdims": 0}, id="neg_axes_nokeep"),
        Case(op, [x, AX()], {"noop_with_empty_axes": 1}, id="noop_empty"),
        Case(op, [x], {"axes": [0, 2], "keepdims": 0}, opset=11, id="attr_axes"),
        Case(op, [x.astype(np.float64), AX(2)], id="f64"),
    ]
CASES += [
    Case("ReduceSum", [I64, AX(1)], id="int64"),
    Case("ReduceSum", [X.astype(np.float16), AX(1)], id="f16", rtol=1e-3, atol=1e-3),
    Case("ReduceSum", [np.zeros((2, 0, 3), np.float32), AX(1)], id="empty"),
    Case("ReduceMean", [I64, AX(1)], id="int64"),
    Case("ReduceMax", [I64, AX(0)], {"keepdims": 0}, id="int64"),
    Case("ReduceMin", [I64, AX(0)], {"keepdims": 0}, id="int64"),
    Case("ReduceMax", [np.array([[True, False], [False, False]]), AX(1)], id="bool"),
    Case("ReduceProd", [I64, AX(1)], id="int64"),
    Case("ReduceProd", [np.array([[0.5, 0.0, 2.0], [1.5, -1.0, 3.0]], np.float32), AX(1)],
         id="with_zero"),
    Case("ReduceL1", [I64, AX(1)], id="int64"),
    Case("ReduceSumSquare", [I64, AX(1)], id="int64"),
    Case("ReduceLogSumExp", [X * 100, AX(1)], id="large", grad=False),
    Case("ReduceSum", [X], {"axes": [1]}, opset=11, id="attr_axes_keep"),
    Case("ReduceMax", [X], {"axes": [-1]}, opset=13, id="attr_axes_13"),
]
for op in ("ArgMax", "ArgMin"):
    tied = np.array([[1, 3, 3, 0], [2, 2, 0, 2]], np.float32)
    CASES += [
        Case(op, [X], id="default"),
        Case(op, [X], {"axis": -1, "keepdims": 0}, id="neg_axis_nokeep"),
        Case(op, [tied], {"axis": 1}, id="ties_first"),
        Case(op, [tied], {"axis": 1, "select_last_index": 1}, id="ties_last"),
        Case(op, [I64], {"axis": 1}, id="int64"),
        Case(op, [X.astype(np.float64)], {"axis": 2}, id="f64"),
    ]
