"""The ops of bitwise.py, misc.py, misc_math.py and misc_random.py beyond the
table-wide cases (``cases_misc.py``): bad operands, narrow BitCast types,
strings, and the unseeded behaviour of the random ops."""

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from singa.errors import DTypeError, ShapeError
from singa.ir.types import DType, TensorType
from singa.ops import OPS
from singa.sonnx import SingaBackend

F = np.zeros((2, 3), np.float32)
I32 = np.zeros((2, 3), np.int32)
I = lambda *a: np.array(a, np.int64)  # noqa: E731

BAD = [
    ("BitwiseAnd", [F, F], {}, DTypeError),
    ("BitwiseOr", [I32, I32.astype(np.int64)], {}, DTypeError),
    ("BitwiseXor", [I32, np.zeros(4, np.int32)], {}, ShapeError),
    ("BitwiseNot", [np.zeros(3, bool)], {}, DTypeError),
    ("BitCast", [F], {"to": TensorProto.INT64}, ShapeError),
    ("BitCast", [np.array(["a"], object)], {"to": TensorProto.INT64}, DTypeError),
    ("CumProd", [F, I(2)], {}, ShapeError),
    ("CumProd", [F, I(0, 1)], {}, ShapeError),
    ("Unique", [F], {"axis": 2}, ShapeError),
    ("Compress", [F, np.ones((2, 1), bool)], {"axis": 0}, ShapeError),
    ("Compress", [F, np.array([False, False, True])], {"axis": 0}, ShapeError),
    ("Compress", [F, np.array([1, 0], np.int64)], {"axis": 0}, DTypeError),
    ("Compress", [F, np.array([True])], {"axis": 2}, ShapeError),
    ("ReverseSequence", [F, I(1, 1, 1)], {"batch_axis": 0, "time_axis": 0}, ShapeError),
    ("ReverseSequence", [F, I(1, 1)], {}, ShapeError),
    ("ReverseSequence", [F, I(1, 1, 3)], {}, ShapeError),
    ("ReverseSequence", [np.zeros(3, np.float32), I(1)], {}, ShapeError),
    ("TensorScatter", [np.zeros((2, 4, 3)), np.zeros((2, 2, 2))], {"axis": 1}, ShapeError),
    ("TensorScatter", [np.zeros((2, 4, 3)), np.zeros((2, 2, 3)), I(1, 3)], {"axis": 1},
     ShapeError),
    ("TensorScatter", [np.zeros((2, 4, 3)), np.zeros((2, 4, 3))], {"axis": 0}, ShapeError),
    ("TensorScatter", [np.zeros((2, 4, 3)), np.zeros((2, 1, 3), np.float32)], {"axis": 1},
     DTypeError),
    ("TensorScatter", [np.zeros((2, 4, 3)), np.zeros((2, 1, 3)), I(1)], {"axis": 1},
     ShapeError),
    ("Det", [F], {}, ShapeError),
    ("Det", [np.zeros((2, 2), np.int32)], {}, DTypeError),
    ("Shrink", [np.zeros(3, bool)], {}, DTypeError),
    ("LpNormalization", [F], {"p": 3}, ShapeError),
    ("LpNormalization", [I32], {}, DTypeError),
    ("LpNormalization", [np.zeros((), np.float32)], {}, ShapeError),
    ("MeanVarianceNormalization", [np.zeros((2, 3, 4), np.float32)], {}, ShapeError),
    ("MeanVarianceNormalization", [F], {"axes": [1, -1]}, ShapeError),
    ("Scatter", [F, np.array([[3]], np.int64), np.zeros((1, 1), np.float32)], {}, ShapeError),
    ("Bernoulli", [np.array([0.5, 1.5], np.float32)], {}, ShapeError),
    ("Bernoulli", [I32], {}, DTypeError),
    ("RandomUniformLike", [I32], {}, DTypeError),
    ("RandomUniformLike", [F], {"dtype": TensorProto.INT32}, DTypeError),
]


@pytest.mark.parametrize("op,inputs,attrs,err", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_operands(op, inputs, attrs, err):
    """Bad input raises singa's error naming the op, never NumPy's own."""
    with pytest.raises(err, match=op):
        OPS[op].run(np, inputs, attrs)


INFER_BAD = [
    ("BitwiseAnd", [TensorType(DType.FLOAT, (2,))] * 2, {}, DTypeError),
    ("BitCast", [TensorType(DType.INT8, (2,))], {"to": TensorProto.FLOAT16}, ShapeError),
    ("CumProd", [TensorType(DType.FLOAT, (2,)), TensorType(DType.FLOAT, ())], {}, DTypeError),
    ("Compress", [TensorType(DType.FLOAT, (2,)), TensorType(DType.INT32, (2,))], {},
     DTypeError),
    ("ReverseSequence", [TensorType(DType.FLOAT, (2, 2)), TensorType(DType.INT32, (2,))],
     {"batch_axis": 1, "time_axis": 0}, DTypeError),
    ("Det", [TensorType(DType.FLOAT, (2, 3))], {}, ShapeError),
    ("LpNormalization", [TensorType(DType.INT64, (2, 3))], {"axis": -1, "p": 2}, DTypeError),
    ("MeanVarianceNormalization", [TensorType(DType.FLOAT, (2, 3))], {"axes": [0, 2, 3]},
     ShapeError),
    ("Bernoulli", [TensorType(DType.INT32, (2,))], {}, DTypeError),
]


@pytest.mark.parametrize("op,types,attrs,err", INFER_BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(INFER_BAD)])
def test_bad_types_at_infer(op, types, attrs, err):
    with pytest.raises(err, match=op):
        OPS[op].infer(types, attrs, [None] * len(types))


# ------------------------------------------------------------------ BitCast, Unique

@pytest.mark.parametrize("src,to,want", [
    (np.array([-1, 3, -8], ml_dtypes.int4), TensorProto.UINT4,
     np.array([15, 3, 8], ml_dtypes.uint4)),
    # 0b0011 and 0b1100 as e2m1 (sign, 2 exponent bits, 1 mantissa bit): 1.5 and -2
    (np.array([3, 12], ml_dtypes.uint4), TensorProto.FLOAT4E2M1,
     np.array([1.5, -2.0], ml_dtypes.float4_e2m1fn)),
    (np.array([1 + 2j], np.complex64), TensorProto.INT64,
     np.array([0x400000003F800000], np.int64)),  # imaginary 2.0 high, real 1.0 low
])
def test_bitcast_keeps_the_bits_of_narrow_and_complex_types(src, to, want):
    got = OPS["BitCast"].run(np, [src], {"to": to})[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint8) if got.itemsize == 1 else got,
                                  want.view(np.uint8) if want.itemsize == 1 else want)


def test_bitcast_between_widths_4_and_8_is_refused():
    with pytest.raises(ShapeError, match="width"):
        OPS["BitCast"].run(np, [np.zeros(2, ml_dtypes.int4)], {"to": TensorProto.UINT8})


def test_unique_of_strings():
    x = np.array(["b", "a", "b", "c"], dtype=object)
    y, first, inverse, counts = OPS["Unique"].run(np, [x], {"sorted": 0})
    assert list(y) == ["b", "a", "c"]
    np.testing.assert_array_equal(first, [0, 1, 3])
    np.testing.assert_array_equal(inverse, [0, 1, 0, 2])
    np.testing.assert_array_equal(counts, [2, 1, 1])


def test_unique_infer_with_a_known_value_is_exact():
    x = np.array([3, 1, 3], np.int64)
    got = OPS["Unique"].infer([TensorType.of(x)], OPS["Unique"].attrs({}), [x])
    assert [t.shape for t in got] == [(2,), (2,), (3,), (2,)]


# ------------------------------------------------------------------ random ops

def test_bernoulli_unseeded_draws_with_probability_p():
    p = np.full((200, 100), 0.3, np.float32)
    np.random.seed(0)
    a = OPS["Bernoulli"].run(np, [p], {})[0]
    b = OPS["Bernoulli"].run(np, [p], {})[0]
    assert a.dtype == np.float32 and a.shape == p.shape
    assert set(np.unique(a)) <= {0.0, 1.0}
    # 20000 draws: the mean is within 5 standard deviations (0.0032 each) of p
    assert abs(a.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / a.size)
    assert (a != b).any()  # the global stream moves on between calls
    certain = OPS["Bernoulli"].run(np, [np.array([0.0, 1.0] * 50)], {"dtype": 6})[0]
    assert certain.dtype == np.int32
    np.testing.assert_array_equal(certain, [0, 1] * 50)


def test_seeded_random_ops_repeat_themselves():
    p = np.full(50, 0.5, np.float32)
    for op in ("Bernoulli", "RandomUniformLike"):
        a = OPS[op].run(np, [p], {"seed": 4.0})[0]
        b = OPS[op].run(np, [p], {"seed": 4.0})[0]
        c = OPS[op].run(np, [p], {"seed": 5.0})[0]
        np.testing.assert_array_equal(a, b)
        assert (a != c).any()


def test_random_uniform_like_unseeded_range_and_dtype():
    x = np.zeros((100, 100), np.int32)
    np.random.seed(1)
    y = OPS["RandomUniformLike"].run(
        np, [x], {"dtype": TensorProto.FLOAT16, "low": -2.0, "high": 6.0})[0]
    assert y.dtype == np.float16 and y.shape == x.shape
    assert y.min() >= -2.0 and y.max() <= 6.0
    # uniform on [-2, 6): mean 2, standard deviation 8 / sqrt(12) per draw
    assert abs(y.astype(np.float64).mean() - 2.0) < 5 * 8 / np.sqrt(12 * y.size)


def _random_model(seed=None):
    """Constant -> RandomUniformLike -> y: a graph constant folding could collapse."""
    attrs = {} if seed is None else {"seed": seed}
    const = helper.make_node("Constant", [], ["c"], value=helper.make_tensor(
        "c", TensorProto.FLOAT, [4], [0.0] * 4))
    node = helper.make_node("RandomUniformLike", ["c"], ["y"], **attrs)
    graph = helper.make_graph([const, node], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_random_ops_are_not_constant_folded(target):
    rep = SingaBackend.prepare(_random_model(), "CPU", target=target)
    a = np.asarray(rep.run([])[0].data).copy()
    b = np.asarray(rep.run([])[0].data)
    assert (a != b).any()
    seeded = SingaBackend.prepare(_random_model(seed=2.0), "CPU", target=target)
    np.testing.assert_array_equal(np.asarray(seeded.run([])[0].data),
                                  np.random.RandomState(2).uniform(0, 1, 4).astype(np.float32))


def test_scatter_is_scatter_elements_from_opset_9():
    """The deprecated name runs the same op: an opset-9 model imports and runs."""
    node = helper.make_node("Scatter", ["d", "i", "u"], ["y"], axis=1)
    graph = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("d", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("i", TensorProto.INT64, [2, 1]),
        helper.make_tensor_value_info("u", TensorProto.FLOAT, [2, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 4
    onnx.checker.check_model(model)
    d = np.zeros((2, 3), np.float32)
    y = SingaBackend.prepare(model, "CPU").run(
        [d, np.array([[2], [0]], np.int64), np.array([[5.0], [7.0]], np.float32)])[0]
    np.testing.assert_array_equal(np.asarray(y.data), [[0, 0, 5], [7, 0, 0]])
