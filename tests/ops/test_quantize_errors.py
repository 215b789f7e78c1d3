"""Bad operands of the quantization ops give ShapeError / DTypeError naming the op,
from ``compute`` and from ``infer`` alike, never a raw NumPy error."""

import numpy as np
import pytest

from singa.errors import DTypeError, ShapeError
from singa.ir.types import TensorType
from singa.ops import OPS

F = np.zeros((2, 3), np.float32)
U = np.zeros((2, 3), np.uint8)
S = np.float32(0.5) * np.ones((), np.float32)
Z = np.zeros((), np.uint8)


def f32(*v):
    return np.array(v, np.float32)


def u8(*shape):
    return np.zeros(shape, np.uint8)


BAD = [
    # zero point and scale of different shapes
    ("QuantizeLinear", [F, f32(1, 2, 3), u8(2)], {}, ShapeError),
    ("DequantizeLinear", [U, f32(1, 2, 3), u8(2)], {}, ShapeError),
    # per-axis scale of the wrong length, axis out of range
    ("QuantizeLinear", [F, f32(1, 2)], {}, ShapeError),
    ("DequantizeLinear", [U, f32(1, 2, 3)], {"axis": 0}, ShapeError),
    ("QuantizeLinear", [F, f32(1, 2, 3)], {"axis": 2}, ShapeError),
    # blocked: rank, block count, missing block_size, negative block_size
    ("QuantizeLinear", [F, np.ones((2, 1), np.float32)], {"block_size": 2}, ShapeError),
    ("DequantizeLinear", [U, np.ones((2, 1), np.float32)], {"block_size": 3, "axis": 0},
     ShapeError),
    ("QuantizeLinear", [F, np.ones((2, 2), np.float32)], {}, ShapeError),
    ("QuantizeLinear", [F, np.ones(3, np.float32)], {"block_size": -1}, ShapeError),
    ("QuantizeLinear", [F, f32(1, 2, 3), np.ones((1, 3), np.uint8)], {"block_size": 0},
     ShapeError),
    # types
    ("QuantizeLinear", [U, S], {}, DTypeError),
    ("QuantizeLinear", [F, S, np.zeros((), np.int32)], {}, DTypeError),
    ("QuantizeLinear", [F, S, Z], {"output_dtype": 3}, DTypeError),  # int8 vs a uint8 zp
    ("QuantizeLinear", [F, S], {"output_dtype": 999}, DTypeError),
    ("DequantizeLinear", [U, S], {"output_dtype": 999}, DTypeError),
    ("DequantizeLinear", [U, S], {"output_dtype": 7}, DTypeError),  # int64 output
    ("DequantizeLinear", [F, S], {}, DTypeError),
    ("DequantizeLinear", [U, S, np.zeros((), np.int8)], {}, DTypeError),
    ("DequantizeLinear", [U, np.ones((), np.int32)], {}, DTypeError),
    ("DynamicQuantizeLinear", [F.astype(np.float64)], {}, DTypeError),
    # MatMulInteger / QLinearMatMul
    ("MatMulInteger", [u8(2, 3), u8(2, 3)], {}, ShapeError),
    ("MatMulInteger", [u8(2, 3), u8(3, 4), u8(3)], {}, ShapeError),  # per row needs 2
    ("MatMulInteger", [u8(2, 3), u8(3, 4), None, u8(3)], {}, ShapeError),  # per column: 4
    ("MatMulInteger", [F, u8(3, 4)], {}, DTypeError),
    ("MatMulInteger", [u8(2, 3), u8(3, 4), np.zeros((), np.int8)], {}, DTypeError),
    ("QLinearMatMul", [u8(2, 3), S, Z, u8(3, 4), f32(1, 2), u8(4), S, Z], {}, ShapeError),
    ("QLinearMatMul", [u8(2, 3), S, Z, u8(3, 4), f32(1, 2, 3, 4), u8(3), S, Z], {}, ShapeError),
    ("QLinearMatMul", [u8(2, 3), S, Z, u8(3, 4), S, Z, S.astype(np.float16), Z], {},
     DTypeError),
    # ConvInteger / QLinearConv
    ("ConvInteger", [u8(1, 2, 4, 4), u8(3, 2, 2, 2), None, u8(2)], {}, ShapeError),
    ("ConvInteger", [u8(1, 2, 4, 4), u8(3, 2, 2, 2), u8(2)], {}, ShapeError),
    ("ConvInteger", [u8(1, 2, 4, 4), u8(3, 3, 2, 2)], {}, ShapeError),
    ("ConvInteger", [u8(1, 2, 4, 4), np.zeros((3, 2, 2, 2), np.int32)], {}, DTypeError),
    ("QLinearConv", [u8(1, 2, 4, 4), S, Z, u8(3, 2, 2, 2), f32(1, 2), u8(2), S, Z], {},
     ShapeError),
    ("QLinearConv", [u8(1, 2, 4, 4), S, Z, u8(3, 2, 2, 2), f32(1, 2, 3), u8(2), S, Z], {},
     ShapeError),
    ("QLinearConv", [u8(1, 2, 4, 4), f32(1, 2), Z, u8(3, 2, 2, 2), S, Z, S, Z], {}, ShapeError),
    ("QLinearConv", [u8(1, 2, 4, 4), S, Z, u8(3, 2, 2, 2), S, Z, S, Z, f32(1, 2, 3)], {},
     DTypeError),
    ("QLinearConv", [u8(1, 2, 4, 4), S, Z, u8(3, 2, 2, 2), S, Z, S, Z, np.zeros(2, np.int32)],
     {}, ShapeError),
]


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD)])
def test_compute_raises_singa_error(case):
    op, inputs, attrs, err = case
    with pytest.raises(err, match=op):
        OPS[op].run(np, inputs, attrs)


@pytest.mark.parametrize("case", BAD, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD)])
def test_infer_raises_singa_error(case):
    op, inputs, attrs, err = case
    types = [None if x is None else TensorType.of(x) for x in inputs]
    with pytest.raises(err, match=op):
        OPS[op].infer(types, OPS[op].attrs(attrs), [None] * len(inputs))


@pytest.mark.parametrize("target", ["numpy", "c"])
@pytest.mark.parametrize("op,inputs", [
    # a per-axis scale whose length is not the axis's
    ("DequantizeLinear", [("x", U), ("s", f32(1, 2))]),
    # QLinearMatMul: a's scale and zero point of different shapes
    ("QLinearMatMul", [("a", U), ("sa", f32(1, 2)), ("za", u8(3)), ("b", u8(3, 2)),
                       ("sb", S), ("zb", Z), ("sy", S), ("zy", Z)]),
])
def test_mismatched_scales_in_a_model_name_the_node(op, inputs, target):
    """Through a whole model, the error is a singa error naming the node."""
    from onnx import TensorProto, helper, numpy_helper

    from singa import sonnx

    weights = [numpy_helper.from_array(np.asarray(a), n) for n, a in inputs[1:]]
    node = helper.make_node(op, [n for n, _ in inputs], ["y"], name="quant_7")
    x = helper.make_tensor_value_info(inputs[0][0], TensorProto.UINT8, [2, 3])
    g = helper.make_graph([node], "q", [x], [helper.make_tensor_value_info("y", 0, None)],
                          initializer=weights)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    with pytest.raises((ShapeError, DTypeError), match=rf"{op} \(quant_7\)"):
        sonnx.prepare(m, "CPU", target=target).run([U])
