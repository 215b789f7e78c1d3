"""Cases of bitwise.py, misc.py, misc_math.py and misc_random.py.

Random ops are compared with a seed only, against onnx's reference evaluator
(onnxruntime draws from its own generator); their unseeded behaviour is checked
statistically in ``test_misc_ops.py``.
"""

import numpy as np
from onnx import helper
from onnx.reference import ReferenceEvaluator

from tests.ops.case import Case, rand

I64 = lambda *v: np.array(v, np.int64)  # noqa: E731
I32 = lambda *v: np.array(v, np.int32)  # noqa: E731


def ints(*shape, dtype, seed=0):
    """Integers over the dtype's whole range (bit patterns in every position)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def onnx_reference(op, out_dtype=None):
    """A ``Case.reference`` running onnx's reference evaluator on a one-node model;
    ``out_dtype(input dtype, attrs)`` is the output's NumPy dtype (default: the input's)."""

    def run(*inputs, **attrs):
        x = inputs[0]
        ins = [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype),
                                             list(x.shape))]
        dt = out_dtype(x.dtype, attrs) if out_dtype else x.dtype
        outs = [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(dt),
                                              list(x.shape))]
        graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], **attrs)], op, ins, outs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
        return ReferenceEvaluator(model).run(None, {"x": x})

    return run


def _attr_dtype(x_dtype, attrs):
    return helper.tensor_dtype_to_np_dtype(attrs["dtype"]) if "dtype" in attrs else x_dtype


BITWISE = []
for _op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    BITWISE += [
        Case(_op, [ints(3, 4, dtype=np.int32), ints(3, 4, dtype=np.int32, seed=1)], id="i32"),
        Case(_op, [ints(2, 3, 5, dtype=np.uint8), ints(3, 5, dtype=np.uint8, seed=1)],
             id="u8_bcast"),
        Case(_op, [ints(3, 5, dtype=np.uint64), ints(5, dtype=np.uint64, seed=1)],
             id="u64_bcast"),
        Case(_op, [ints(4, 1, dtype=np.int64), ints(1, 3, dtype=np.int64, seed=1)],
             id="i64_outer"),
    ]
BITWISE += [
    Case("BitwiseAnd", [ints(6, dtype=np.int8), ints(6, dtype=np.int8, seed=1)], id="i8"),
    Case("BitwiseOr", [ints(2, 3, dtype=np.int16), ints(2, 3, dtype=np.int16, seed=1)],
         id="i16"),
    Case("BitwiseXor", [ints(5, dtype=np.uint16), ints(5, dtype=np.uint16, seed=1)], id="u16"),
    Case("BitwiseAnd", [ints(5, dtype=np.uint32), ints(5, dtype=np.uint32, seed=1)], id="u32"),
    Case("BitwiseNot", [ints(3, 4, dtype=np.int32)], id="i32"),
    Case("BitwiseNot", [ints(2, 3, 4, dtype=np.uint8)], id="u8"),
    Case("BitwiseNot", [ints(7, dtype=np.int8)], id="i8"),
    Case("BitwiseNot", [ints(7, dtype=np.uint16)], id="u16"),
    Case("BitwiseNot", [ints(2, 2, dtype=np.int64)], id="i64"),
    Case("BitwiseNot", [ints(2, 2, dtype=np.uint64)], id="u64"),
    Case("BitwiseNot", [np.array(5, np.int16)], id="scalar_i16"),
]

BITCAST = [
    Case("BitCast", [rand(2, 3)], {"to": 6}, id="f32_i32"),
    Case("BitCast", [ints(4, dtype=np.int32)], {"to": 12}, id="i32_u32"),
    Case("BitCast", [np.array([1.0, -2.5, 3e300], np.float64)], {"to": 7}, id="f64_i64"),
    Case("BitCast", [np.array([1, -1, 2 ** 62], np.int64)], {"to": 11}, id="i64_f64"),
    Case("BitCast", [rand(5, dtype=np.float16)], {"to": 4}, id="f16_u16"),
    Case("BitCast", [np.array([True, False, True])], {"to": 2}, id="bool_u8"),
    Case("BitCast", [ints(4, dtype=np.int8)], {"to": 2}, id="i8_u8"),
    Case("BitCast", [np.array(1.5, np.float32)], {"to": 6}, id="scalar"),
    Case("BitCast", [rand(3, 2)[:, 1]], {"to": 12}, id="strided"),
]

X = rand(3, 4)
Z = np.array([[0.5, 0.0, 2.0, -1.5], [1.5, 0.7, 0.0, 0.0], [0.0, 1.2, -0.8, 2.0]], np.float32)

CUMPROD = [
    Case("CumProd", [X, I64(1)], id="axis1"),
    Case("CumProd", [X, np.array(0, np.int32)], id="axis0_i32"),
    Case("CumProd", [X, I64(-1)], {"exclusive": 1}, id="exclusive"),
    Case("CumProd", [X, I64(0)], {"reverse": 1}, id="reverse"),
    Case("CumProd", [rand(2, 3, 4), I64(1)], {"reverse": 1, "exclusive": 1}, id="both_3d"),
    # zeros: the grad must not divide by them (one and two zeros in a lane)
    Case("CumProd", [Z, I64(1)], id="zeros"),
    Case("CumProd", [Z, I64(1)], {"exclusive": 1}, id="zeros_exclusive"),
    Case("CumProd", [Z, I64(1)], {"reverse": 1}, id="zeros_reverse"),
    Case("CumProd", [Z, I64(0)], {"reverse": 1, "exclusive": 1}, id="zeros_both"),
    Case("CumProd", [rand(5, dtype=np.float64), I64(0)], id="f64"),
    Case("CumProd", [np.array([[1, 2, 3], [-4, 5, 6]], np.int32), I64(1)], id="i32"),
    Case("CumProd", [np.array([2, 3, -1, 7], np.int64), I64(0)], {"exclusive": 1}, id="i64"),
    Case("CumProd", [np.zeros((2, 0), np.float32), I64(1)], id="empty_axis"),
]

U = np.array([2.0, 1.0, 1.0, 3.0, 4.0, 3.0], np.float32)
UA = np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.float32)
U3 = np.array([[[1, 1], [0, 1], [2, 1], [0, 1]], [[1, 1], [0, 1], [2, 1], [0, 1]]], np.float32)

UNIQUE = [
    Case("Unique", [U], outputs=4, id="sorted"),
    Case("Unique", [U], {"sorted": 0}, outputs=4, id="unsorted"),
    Case("Unique", [UA], {"axis": 0}, outputs=4, id="axis0"),
    Case("Unique", [UA], {"axis": -1, "sorted": 0}, outputs=4, id="axis_neg_unsorted"),
    Case("Unique", [U3], {"axis": 1}, outputs=4, id="axis1_3d"),
    Case("Unique", [np.array([[5, 3], [3, 9]], np.int64)], outputs=4, id="i64_2d_flat"),
    Case("Unique", [np.array([4, 4, 4], np.int8)], {"sorted": 0}, outputs=4, id="i8_one"),
    Case("Unique", [np.array([1.5, -2.0, 1.5], np.float64)], outputs=2, id="f64_two_outputs"),
    Case("Unique", [U], outputs=1, id="y_only"),
]

C = rand(3, 4)
COMPRESS = [
    Case("Compress", [C, np.array([False, True, True])], {"axis": 0}, id="axis0"),
    Case("Compress", [C, np.array([True, False, False, True])], {"axis": 1}, id="axis1"),
    Case("Compress", [C, np.array([True, False, True])], {"axis": -1}, id="short_cond"),
    Case("Compress", [C, np.array([False, True, False, False, True])], id="flat"),
    Case("Compress", [C, np.zeros(3, bool)], {"axis": 0}, id="none"),
    Case("Compress", [np.arange(6, dtype=np.int64).reshape(2, 3), np.array([True, False, True])],
         {"axis": 1}, id="i64"),
    Case("Compress", [np.array([[True, False], [False, True]]), np.array([False, True])],
         {"axis": 0}, id="bool"),
    Case("Compress", [rand(2, 3, dtype=np.float64), np.array([True, True, False, True])],
         id="f64_flat"),
]

R = rand(4, 3)
REVERSE_SEQUENCE = [
    Case("ReverseSequence", [R, I64(4, 2, 1)], id="time0"),
    Case("ReverseSequence", [R, I64(3, 1, 2, 3)], {"batch_axis": 0, "time_axis": 1},
         id="batch0"),
    Case("ReverseSequence", [rand(5, 2, 3), I64(5, 3)], id="trailing_dim"),
    Case("ReverseSequence", [rand(2, 4, 3), I64(2, 4)], {"batch_axis": 0, "time_axis": 1},
         id="batch0_trailing"),
    Case("ReverseSequence", [np.arange(12, dtype=np.int32).reshape(3, 4), I64(1, 3, 2)],
         {"batch_axis": 0, "time_axis": 1}, id="i32"),
]

TENSOR_SCATTER = [
    Case("TensorScatter", [rand(2, 3, 6, 4), rand(2, 3, 2, 4, seed=2), I64(1, 4)], id="linear"),
    Case("TensorScatter", [rand(2, 5, 3), rand(2, 3, 3, seed=2)], id="no_indices"),
    Case("TensorScatter", [rand(2, 1, 4, 5), rand(2, 1, 3, 5, seed=2), I64(3, 1)],
         {"mode": "circular"}, id="circular"),
    Case("TensorScatter", [rand(3, 6, 2), rand(3, 2, 2, seed=2), I64(0, 4, 2)], {"axis": 1},
         id="axis1"),
    Case("TensorScatter", [rand(2, 3, 4), rand(2, 3, 1, seed=2), I64(3, 0)], {"axis": -1},
         id="last_axis"),
    Case("TensorScatter", [np.zeros((2, 4, 2), np.int64), np.ones((2, 1, 2), np.int64),
                           I64(2, 3)], {"axis": 1}, id="i64"),
]

A = rand(3, 3) + 2 * np.eye(3, dtype=np.float32)
SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.5, -1.0]], np.float32)
DET = [
    Case("Det", [A], id="3x3"),
    Case("Det", [rand(4, 2, 2)], id="batch"),
    Case("Det", [rand(2, 3, 4, 4, dtype=np.float64)], id="f64_batch2"),
    Case("Det", [SINGULAR], id="singular"),  # the grad is the adjugate, not 0
    Case("Det", [np.array([[2.5]], np.float32)], id="1x1"),
]

SHRINK = [
    Case("Shrink", [rand(3, 4, low=-2, high=2)], id="default"),
    Case("Shrink", [rand(3, 4, low=-2, high=2)], {"lambd": 1.5, "bias": 1.5}, id="soft"),
    Case("Shrink", [rand(3, 4, low=-2, high=2)], {"lambd": 0.8}, id="hard"),
    Case("Shrink", [rand(7, low=-3, high=3, dtype=np.float64)], {"lambd": 1.0, "bias": 0.25},
         id="f64"),
    Case("Shrink", [np.array([-5, -2, -1, 0, 1, 2, 5], np.int32)], {"lambd": 1.5, "bias": 1.0},
         id="i32"),
    Case("Shrink", [np.array([-100, -3, 0, 3, 100], np.int8)], {"lambd": 2.0, "bias": 0.5},
         id="i8_truncates"),
    Case("Shrink", [np.array([0, 1, 2, 7, 250], np.uint8)], {"lambd": 1.0, "bias": 1.0},
         id="u8"),
    Case("Shrink", [rand(9, low=-2, high=2, dtype=np.float16)], {"lambd": 0.75, "bias": 0.5},
         id="f16"),
]

ZROW = rand(3, 4)
ZROW[1] = 0
LP = [
    Case("LpNormalization", [rand(3, 4)], id="l2_last"),
    Case("LpNormalization", [rand(3, 4, 2)], {"axis": 1, "p": 1}, id="l1_axis1"),
    Case("LpNormalization", [rand(3, 4)], {"axis": 0, "p": 1}, id="l1_axis0"),
    Case("LpNormalization", [rand(2, 5, dtype=np.float64)], {"axis": -2}, id="f64"),
    # a zero row gives zeros (x / |x| has no limit there: no finite difference)
    Case("LpNormalization", [ZROW], id="zero_row", grad=False),
]

def mvn_reference(x, axes=(0, 2, 3)):
    """The ONNX function body of MeanVarianceNormalization in float64 (onnxruntime has
    no float64 kernel, and the body's float32 epsilon makes onnx's evaluator refuse)."""
    axes = tuple(axes)
    mean = x.mean(axis=axes, keepdims=True)
    var = (x ** 2).mean(axis=axes, keepdims=True) - mean ** 2
    return [(x - mean) / (np.sqrt(var) + 1e-9)]


MVN = [
    Case("MeanVarianceNormalization", [rand(2, 3, 4, 5)], id="default_axes"),
    Case("MeanVarianceNormalization", [rand(3, 4, 5)], {"axes": [1]}, id="axis1"),
    Case("MeanVarianceNormalization", [rand(3, 4, 5, dtype=np.float64)], {"axes": [0, -1]},
         reference=mvn_reference, id="f64_two_axes"),
    Case("MeanVarianceNormalization", [rand(2, 3, 2, 2)], {"axes": [0, 1, 2, 3]},
         id="all_axes"),
]

SCATTER = [
    Case("Scatter", [rand(3, 4), np.array([[1, 0, 2, 1]], np.int64), rand(1, 4, seed=2)],
         opset=10, id="axis0"),
    Case("Scatter", [rand(3, 4), np.array([[3, 0], [1, 2]], np.int64), rand(2, 2, seed=3)],
         {"axis": 1}, opset=10, id="axis1"),
    Case("Scatter", [np.zeros((2, 3), np.int32), np.array([[2, 0]], np.int32),
                     np.array([[5, 6]], np.int32)], {"axis": 1}, opset=9, id="i32"),
]

P = rand(4, 5, low=0.0, high=1.0)
RANDOM = [
    Case("Bernoulli", [P], {"seed": 3.0}, reference=onnx_reference("Bernoulli"), id="seed"),
    Case("Bernoulli", [P.astype(np.float64)], {"seed": 0.0, "dtype": 6},
         reference=onnx_reference("Bernoulli", _attr_dtype), id="f64_to_i32"),
    Case("Bernoulli", [P], {"seed": 1.0, "dtype": 9},
         reference=onnx_reference("Bernoulli", _attr_dtype), id="to_bool"),
    Case("Bernoulli", [np.array([0.0, 1.0, 0.0, 1.0], np.float32)], {"seed": 5.0},
         reference=onnx_reference("Bernoulli"), id="certain"),
    Case("RandomUniformLike", [rand(3, 4)], {"seed": 2.0},
         reference=onnx_reference("RandomUniformLike"), id="seed"),
    Case("RandomUniformLike", [np.zeros((2, 3), np.int64)],
         {"seed": 7.0, "dtype": 11, "low": -3.0, "high": 5.0},
         reference=onnx_reference("RandomUniformLike", _attr_dtype), id="int_like_f64"),
    Case("RandomUniformLike", [rand(6, dtype=np.float64)], {"seed": 1.0, "high": 10.0},
         reference=onnx_reference("RandomUniformLike"), id="f64_high"),
]

CASES = (BITWISE + BITCAST + CUMPROD + UNIQUE + COMPRESS + REVERSE_SEQUENCE + TENSOR_SCATTER
         + DET + SHRINK + LP + MVN + SCATTER + RANDOM)
