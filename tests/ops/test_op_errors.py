"""Bad operands and attributes give singa's ShapeError / DTypeError naming the op,
never a raw NumPy error (ops of the non-NN families)."""

import numpy as np
import pytest

from singa.errors import DTypeError, ShapeError
from singa.ops import OPS

F = np.zeros((2, 3), np.float32)
I = lambda *a: np.array(a, np.int64)  # noqa: E731

BAD = [
    ("Add", [F, np.zeros((4,), np.float32)], {}, ShapeError),
    ("Add", [F, F.astype(np.float64)], {}, DTypeError),
    ("Max", [F, np.zeros((3, 2), np.float32)], {}, ShapeError),
    ("Equal", [F, np.zeros((4,), np.float32)], {}, ShapeError),
    ("And", [np.zeros(2, bool), np.zeros(3, bool)], {}, ShapeError),
    ("Where", [np.zeros(2, bool), F, F], {}, ShapeError),
    ("PRelu", [F, np.zeros(4, np.float32)], {}, ShapeError),
    ("MatMul", [F, F], {}, ShapeError),
    ("MatMul", [F, F.T.astype(np.float64)], {}, DTypeError),
    ("Gemm", [F, F], {}, ShapeError),
    ("Gemm", [F, F.T, np.zeros(3, np.float32)], {}, ShapeError),
    ("Reshape", [F, I(4, 2)], {}, ShapeError),
    ("Reshape", [F, I(-1, -1)], {}, ShapeError),
    ("Transpose", [F], {"perm": [0, 0]}, ShapeError),
    ("Concat", [F, np.zeros((3, 3), np.float32)], {"axis": 1}, ShapeError),
    ("Concat", [F, F], {"axis": 2}, ShapeError),
    ("Split", [F, I(1, 1)], {"axis": 1, "_num_outputs": 2}, ShapeError),
    ("Split", [F], {"axis": 1, "_num_outputs": 2}, ShapeError),
    ("Squeeze", [F, I(0)], {}, ShapeError),
    ("Unsqueeze", [F, I(0, 0)], {}, ShapeError),
    ("Expand", [F, I(4, 3)], {}, ShapeError),
    ("Tile", [F, I(2)], {}, ShapeError),
    ("Slice", [F, I(0), I(1), I(5)], {}, ShapeError),
    ("Slice", [F, I(0), I(1), I(0), I(0)], {}, ShapeError),
    ("Gather", [F, I(2)], {}, ShapeError),
    ("Gather", [F, I(0)], {"axis": 2}, ShapeError),
    ("GatherElements", [F, np.array([[3]], np.int64)], {"axis": 1}, ShapeError),
    ("GatherND", [F, np.array([[0, 1, 2]], np.int64)], {}, ShapeError),
    ("ScatterElements", [F, np.array([[0]], np.int64), np.zeros((1, 2), np.float32)], {},
     ShapeError),
    ("ScatterND", [F, np.array([[0]], np.int64), np.zeros((1, 2), np.float32)], {}, ShapeError),
    ("ReduceSum", [F, I(2)], {}, ShapeError),
    ("ArgMax", [F], {"axis": -3}, ShapeError),
    ("TopK", [F, I(4)], {}, ShapeError),
    ("Pad", [F, I(1, 1)], {}, ShapeError),
    ("Pad", [np.zeros((0, 2), np.float32), I(1, 0, 0, 0)], {"mode": "reflect"}, ShapeError),
    ("OneHot", [I(1), np.array(0, np.int64), np.array([0.0, 1.0], np.float32)], {}, ShapeError),
    ("Range", [np.array(0.0), np.array(1.0), np.array(0.0)], {}, ShapeError),
    ("Softmax", [F], {"axis": 2}, ShapeError),
    ("DepthToSpace", [np.zeros((1, 3, 2, 2), np.float32)], {"blocksize": 2}, ShapeError),
    ("Trilu", [np.zeros(3, np.float32)], {}, ShapeError),
    ("Einsum", [F, F], {"equation": "ij,jk->ik"}, ShapeError),
    ("SoftmaxCrossEntropy", [F, np.zeros((2, 4), np.float32)], {}, ShapeError),
    ("SoftmaxCrossEntropyLoss", [F, np.array([0, 3], np.int64)], {}, ShapeError),
    ("NegativeLogLikelihoodLoss", [F, np.array([0], np.int64)], {}, ShapeError),
    ("Clip", [F, np.zeros(2, np.float32)], {}, ShapeError),
]


@pytest.mark.parametrize("op,inputs,attrs,err", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_operands(op, inputs, attrs, err):
    with pytest.raises(err, match=op):
        OPS[op].run(np, inputs, attrs)
