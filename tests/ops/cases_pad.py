"""Cases of Pad (singa/ops/pad.py)."""

import numpy as np

from tests.ops.case import Case, rand

X = rand(2, 3, 4)
I = lambda *a: np.array(a, np.int64)  # noqa: E731

CASES = [
    Case("Pad", [X, I(0, 1, 2, 0, 2, 1)], id="constant"),
    Case("Pad", [X, I(0, 1, 2, 0, 2, 1), np.array(1.5, np.float32)], id="constant_value"),
    Case("Pad", [X, I(0, 2, 3, 0, 1, 2)], {"mode": "reflect"}, id="reflect"),
    Case("Pad", [X, I(1, 2, 3, 1, 1, 2)], {"mode": "edge"}, id="edge"),
    Case("Pad", [X, I(0, 2, 3, 0, 1, 5)], {"mode": "wrap"}, id="wrap"),
    Case("Pad", [X, I(0, -1, 2, 0, 1, -2)], id="negative"),
    Case("Pad", [X, I(1, 2, 3, 4), None, I(1, -1)], id="axes"),
    Case("Pad", [X, I(2, 1), np.array(-1.0, np.float32), I(2)], {"mode": "edge"},
         id="axes_edge"),
    Case("Pad", [np.arange(6, dtype=np.int64).reshape(2, 3), I(1, 0, 0, 1),
                 np.array(9, np.int64)], id="int64"),
    # onnxruntime loads no opset-2 model: NumPy stands in for Pad-2's attributes
    Case("Pad", [X], {"pads": [0, 1, 0, 0, 0, 2], "value": 0.5}, opset=2, id="opset2",
         reference=lambda x, pads, value: [np.pad(x, [(0, 0), (1, 0), (0, 2)],
                                                  constant_values=value)]),
]
