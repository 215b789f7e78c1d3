"""Cases of the shape ops (singa/ops/shape.py)."""

import numpy as np

from tests.ops.case import Case, rand

X = rand(2, 3, 4)
I = lambda *a: np.array(a, np.int64)  # noqa: E731

CASES = [
    Case("Reshape", [X, I(4, 6)], id="plain"),
    Case("Reshape", [X, I(0, -1)], id="zero_minus1"),
    Case("Reshape", [X, I(-1)], id="flat"),
    Case("Reshape", [X, I(2, 0, 2, 2)], id="zero_mid"),
    Case("Reshape", [np.zeros((0, 3), np.float32), I(3, 0)], {"allowzero": 1}, id="allowzero"),
    Case("Reshape", [np.arange(6, dtype=np.int64), I(3, 2)], id="int64"),
    Case("Reshape", [X], {"shape": [6, 4]}, opset=1, id="opset1",
         reference=lambda x, shape: [x.reshape(shape)]),
    Case("Flatten", [X], id="default"),
    Case("Flatten", [X], {"axis": 0}, id="axis0"),
    Case("Flatten", [X], {"axis": 3}, id="axis3"),
    Case("Flatten", [X], {"axis": -1}, id="neg"),
    Case("Flatten", [np.array([True, False])], {"axis": 1}, id="bool"),
    Case("Transpose", [X], id="default"),
    Case("Transpose", [X], {"perm": [1, 0, 2]}, id="perm"),
    Case("Transpose", [rand(2, 3, 4, 5)], {"perm": [0, 2, 3, 1]}, id="nchw_nhwc"),
    Case("Transpose", [np.arange(6, dtype=np.int64).reshape(2, 3)], id="int64"),
    Case("Squeeze", [rand(1, 3, 1, 4)], id="all"),
    Case("Squeeze", [rand(1, 3, 1, 4), I(-2)], id="neg_axis"),
    Case("Squeeze", [rand(1, 3, 1, 4)], {"axes": [0]}, opset=11, id="attr"),
    Case("Unsqueeze", [X, I(0, 4)], id="two"),
    Case("Unsqueeze", [X, I(-1)], id="neg"),
    Case("Unsqueeze", [np.array(3.0, np.float32), I(0)], id="scalar"),
    Case("Unsqueeze", [X], {"axes": [1]}, opset=11, id="attr"),
    Case("Expand", [rand(3, 1), I(2, 3, 4)], id="grow"),
    Case("Expand", [rand(3, 4), I(3, 1)], id="bidirectional"),
    Case("Expand", [np.array([1, 2], np.int64), I(3, 2)], id="int64"),
    Case("Tile", [X, I(1, 2, 3)], id="plain"),
    Case("Tile", [np.array([True, False]), I(3)], id="bool"),
    Case("Concat", [X, rand(2, 1, 4, seed=2), rand(2, 2, 4, seed=3)], {"axis": 1}, id="three"),
    Case("Concat", [X, X * 2], {"axis": -1}, id="neg_axis"),
    Case("Concat", [I(1, 2), I(3)], {"axis": 0}, id="int64"),
    Case("Concat", [np.zeros((0, 4), np.float32), rand(2, 4)], {"axis": 0}, id="empty"),
    Case("Split", [rand(6, 4), I(2, 4)], {"axis": 0, "_num_outputs": 2}, outputs=2, id="sizes"),
    # equal parts by output count: opset 13 (from 18 one of split / num_outputs is needed)
    Case("Split", [rand(6, 4)], {"axis": 0}, outputs=3, opset=13, id="equal"),
    Case("Split", [rand(4, 7)], {"axis": -1, "num_outputs": 3}, outputs=3, id="num_outputs"),
    Case("Split", [rand(4, 6)], {"axis": 1, "split": [1, 5]}, opset=11, outputs=2, id="attr"),
    Case("Split", [np.arange(6, dtype=np.int64)], {}, outputs=2, opset=13, id="int64"),
    Case("DepthToSpace", [rand(1, 8, 2, 3)], {"blocksize": 2}, id="dcr"),
    Case("DepthToSpace", [rand(2, 8, 2, 3)], {"blocksize": 2, "mode": "CRD"}, id="crd"),
    Case("SpaceToDepth", [rand(2, 2, 4, 6)], {"blocksize": 2}, id="plain"),
    Case("SpaceToDepth", [rand(1, 3, 4, 2)], {"blocksize": 2, "mode": "CRD"}, id="crd"),
    Case("Reshape", [np.array([True, False, True, True]), I(2, 2)], id="bool"),
    Case("Transpose", [X.astype(np.float16)], {"perm": [2, 0, 1]}, id="f16"),
    Case("Transpose", [np.array([[True, False, True]])], id="bool"),
    Case("Concat", [X.astype(np.float16), X.astype(np.float16)], {"axis": 0}, id="f16"),
    Case("Concat", [np.array([True]), np.array([False, True])], {"axis": 0}, id="bool"),
    Case("Expand", [np.array([[True], [False]]), I(2, 3)], id="bool"),
    Case("Squeeze", [np.ones((1, 2), np.int64), I(0)], id="int64"),
    Case("Unsqueeze", [np.ones((2,), bool), I(1)], id="bool"),
]
