"""Bad operands and attributes of the detection and image-geometry ops give
singa's ShapeError / DTypeError naming the op, never a raw NumPy error; the
infer functions reject the same shapes before anything runs."""

import numpy as np
import pytest

from singa.errors import DTypeError, ShapeError
from singa.ir.types import TensorType
from singa.ops import OPS

F = lambda *s: np.zeros(s, np.float32)  # noqa: E731
I = lambda *a: np.array(a, np.int64)  # noqa: E731

BAD = [
    ("GridSample", [F(1, 2, 3, 4), F(1, 2, 2, 3)], {}, ShapeError),  # 3 coords for 2-D
    ("GridSample", [F(1, 2, 3, 4), F(1, 2, 2, 2, 2)], {}, ShapeError),  # rank
    ("GridSample", [F(2, 2, 3, 4), F(1, 2, 2, 2)], {}, ShapeError),  # batch
    ("GridSample", [F(1, 2), F(1, 2)], {}, ShapeError),
    ("GridSample", [F(1, 2, 3, 4), F(1, 2, 2, 2).astype(np.int32)], {}, DTypeError),
    ("GridSample", [F(1, 2, 3, 4) > 0, F(1, 2, 2, 2)], {}, DTypeError),  # linear of bool
    ("GridSample", [F(1, 2, 3, 4), F(1, 2, 2, 2)], {"mode": "bilinear"}, ShapeError),
    ("GridSample", [F(1, 2, 3, 4), F(1, 2, 2, 2)], {"padding_mode": "wrap"}, ShapeError),
    ("AffineGrid", [F(2, 2, 4), I(2, 1, 3, 3)], {}, ShapeError),
    ("AffineGrid", [F(2, 2, 3), I(2, 1, 3, 3, 3)], {}, ShapeError),
    ("AffineGrid", [F(2, 2, 3), I(3, 1, 3, 3)], {}, ShapeError),
    ("AffineGrid", [F(2, 2, 3).astype(np.int64), I(2, 1, 3, 3)], {}, DTypeError),
    ("NonMaxSuppression", [F(1, 4, 3), F(1, 1, 4), I(2)], {}, ShapeError),
    ("NonMaxSuppression", [F(1, 4, 4), F(1, 1, 5), I(2)], {}, ShapeError),
    ("NonMaxSuppression", [F(1, 4, 4), F(1, 1, 4), I(2)], {"center_point_box": 2}, ShapeError),
    ("RoiAlign", [F(1, 2, 5, 5), F(2, 4), I(0)], {}, ShapeError),  # 2 rois, 1 index
    ("RoiAlign", [F(1, 2, 5, 5), F(1, 4), I(1)], {}, ShapeError),  # batch index 1 of 1
    ("RoiAlign", [F(1, 2, 5), F(1, 4), I(0)], {}, ShapeError),
    ("RoiAlign", [F(1, 2, 5, 5), F(1, 4), I(0)], {"mode": "sum"}, ShapeError),
    ("RoiAlign", [F(1, 2, 5, 5), F(1, 4), I(0)],
     {"coordinate_transformation_mode": "align_corners"}, ShapeError),
    ("DeformConv", [F(1, 3, 5, 5), F(2, 2, 3, 3), F(1, 18, 3, 3)], {}, ShapeError),  # channels
    ("DeformConv", [F(1, 2, 5, 5), F(2, 2, 3, 3), F(1, 9, 3, 3)], {}, ShapeError),  # offset
    ("DeformConv", [F(1, 2, 5, 5), F(2, 2, 3, 3), F(1, 18, 4, 3)], {}, ShapeError),
    ("DeformConv", [F(1, 2, 5, 5), F(2, 2, 3, 3), F(1, 18, 3, 3), F(3)], {}, ShapeError),
    ("DeformConv", [F(1, 2, 5, 5), F(2, 2, 3, 3), F(1, 18, 3, 3), None, F(1, 8, 3, 3)], {},
     ShapeError),
    ("DeformConv", [F(1, 3, 5, 5), F(3, 3, 3, 3), F(1, 36, 3, 3)], {"offset_group": 2},
     ShapeError),
    ("DeformConv", [F(1, 2, 2, 2), F(2, 2, 3, 3), F(1, 18, 1, 1)], {}, ShapeError),  # too big
    ("DeformConv", [F(1, 2, 5, 5).astype(np.int32), F(2, 2, 3, 3), F(1, 18, 3, 3)], {},
     DTypeError),
    ("CenterCropPad", [F(2, 3), I(1)], {}, ShapeError),
    ("CenterCropPad", [F(2, 3), I(1, 2)], {"axes": [0, 0]}, ShapeError),
    ("CenterCropPad", [F(2, 3), I(1)], {"axes": [2]}, ShapeError),
    ("CenterCropPad", [F(2, 3), I(-1, 2)], {}, ShapeError),
    ("MaxUnpool", [F(1, 1, 2, 2), I(0, 1, 2, 3)], {"kernel_shape": [2, 2]}, ShapeError),
    ("MaxUnpool", [F(1, 1, 2, 2), I(0, 1, 2, 99).reshape(1, 1, 2, 2)],
     {"kernel_shape": [2, 2], "strides": [2, 2]}, ShapeError),
    ("MaxUnpool", [F(1, 1, 2, 2), I(0, 1, 2, 3).reshape(1, 1, 2, 2)], {}, ShapeError),
    ("MaxUnpool", [F(1, 1, 2, 2), I(0, 1, 2, 3).reshape(1, 1, 2, 2), I(1, 1, 3, 3)],
     {"kernel_shape": [2, 2], "strides": [2, 2]}, ShapeError),  # smaller than unpooled
]


@pytest.mark.parametrize("op,inputs,attrs,err", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_operands(op, inputs, attrs, err):
    with pytest.raises(err, match=op):
        OPS[op].run(np, inputs, attrs)


def _types(inputs):
    return [None if x is None else TensorType.of(x) for x in inputs]


# what the types alone show (values unknown): shapes, ranks, dtypes
INFER_BAD = [b for b in BAD if b[0] in ("GridSample", "DeformConv")
             and b[1][0].dtype != bool and not b[2]] + [
    ("AffineGrid", [F(2, 2, 4), I(2, 1, 3, 3)], {}, ShapeError),
    ("AffineGrid", [F(2, 2, 3).astype(np.int64), I(2, 1, 3, 3)], {}, DTypeError),
    ("RoiAlign", [F(1, 2, 5, 5), F(2, 4), I(0)], {}, ShapeError),
    ("RoiAlign", [F(1, 2, 5), F(1, 4), I(0)], {}, ShapeError),
    ("NonMaxSuppression", [F(1, 4, 3), F(1, 1, 4), I(2)], {}, ShapeError),
    ("NonMaxSuppression", [F(1, 4, 4).astype(np.float64), F(1, 1, 4), I(2)], {}, DTypeError),
    ("MaxUnpool", [F(1, 1), I(0)], {"kernel_shape": [2, 2]}, ShapeError),
    ("CenterCropPad", [F(2, 3), I(1, 2)], {"axes": [0, 0]}, ShapeError),
]


@pytest.mark.parametrize("op,inputs,attrs,err", INFER_BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(INFER_BAD)])
def test_infer_rejects(op, inputs, attrs, err):
    with pytest.raises(err, match=op):
        OPS[op].infer(_types(inputs), OPS[op].attrs(attrs), [None] * len(inputs))
