"""Cases of the quantization ops (singa/ops/quantize.py, singa/ops/qlinear.py).

onnxruntime is the reference wherever it runs the node from Python.  It cannot
take or return the 4- and 2-bit, float8 and float4 types, nor zero points per
row of MatMulInteger or per channel of ConvInteger: those cases use onnx's
reference evaluator (``_onnx``), or NumPy where that lacks the form too
(``_mmi_per_row``; float8 QLinearMatMul, whose onnx reference truncates float8
to int32, is the spec's formula in float64, ``_qmm_float8``).
"""

import ml_dtypes
import numpy as np
from onnx import TensorProto as TP
from onnx import ValueInfoProto
from onnx import helper
from onnx.reference import ReferenceEvaluator

from tests.ops.case import Case, rand

U8, I8 = np.uint8, np.int8
F16 = np.float16
BF16 = ml_dtypes.bfloat16


def _onnx(op, opset=25):
    """A Case.reference running ``op`` in onnx's reference evaluator."""

    def run(*inputs, **attrs):
        names = ["" if x is None else f"i{k}" for k, x in enumerate(inputs)]
        infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype),
                                               list(x.shape))
                 for n, x in zip(names, inputs) if x is not None]
        node = helper.make_node(op, names, ["y"], **attrs)
        graph = helper.make_graph([node], "ref", infos, [ValueInfoProto(name="y")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        feeds = {n: x for n, x in zip(names, inputs) if x is not None}
        return ReferenceEvaluator(model).run(None, feeds)

    return run


def _qmm_float8(a, a_s, azp, b, b_s, bzp, y_s, yzp):
    """QLinearMatMul on float8 operands: the spec's formula in float64, then a
    saturating cast to the output type."""
    f = np.float64
    acc = (a.astype(f) - azp.astype(f)) @ (b.astype(f) - bzp.astype(f))
    v = acc * (a_s * b_s / y_s) + yzp.astype(f)
    big = float(ml_dtypes.finfo(yzp.dtype).max)
    return [np.clip(v, -big, big).astype(yzp.dtype)]


def _mmi_per_row(a, b, azp):
    """MatMulInteger with one zero point per row of A (in int64: no overflow)."""
    i = np.int64
    return [((a.astype(i) - azp.astype(i)[:, None]) @ b.astype(i)).astype(np.int32)]


def _u8(*shape, seed=0, low=0, high=256):
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(U8)


def _i8(*shape, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, size=shape).astype(I8)


def _s(*v, dtype=np.float32):
    return np.array(v[0] if len(v) == 1 else v, dtype)


# values on rounding ties (x / scale = k + 0.5) and beyond every range
TIES = np.array([-300, -2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.49, 126.5, 127.5, 300],
                np.float32)
X34 = rand(3, 4, low=-8, high=8)

_QUANTIZE = [
    Case("QuantizeLinear", [TIES, _s(1.0), np.array(10, U8)], id="u8_ties"),
    Case("QuantizeLinear", [TIES, _s(0.5), np.array(-3, I8)], id="i8"),
    Case("QuantizeLinear", [TIES, _s(2.0)], id="no_zero_point_u8"),
    Case("QuantizeLinear", [TIES, _s(0.01)], {"output_dtype": TP.INT8}, id="output_dtype"),
    Case("QuantizeLinear", [TIES * 200, _s(1.0), np.array(-7, np.int16)], id="i16"),
    Case("QuantizeLinear", [TIES * 300, _s(1.5), np.array(1000, np.uint16)], id="u16"),
    Case("QuantizeLinear", [rand(2, 3, 4, low=-5, high=5), _s(0.1, 0.2, 0.05),
                            np.array([0, 128, 255], U8)], id="per_axis"),
    Case("QuantizeLinear", [rand(2, 3, 4, low=-5, high=5), _s(0.1, 0.2, 0.05, 0.3),
                            np.array([1, -2, 3, 0], I8)], {"axis": -1}, id="per_axis_neg"),
    Case("QuantizeLinear", [rand(3, 5, low=-4, high=4), rand(3, 3, low=0.05, high=0.2),
                            _u8(3, 3, seed=1)], {"axis": 1, "block_size": 2},
         id="blocked_ragged"),
    Case("QuantizeLinear", [rand(4, 3, low=-4, high=4), rand(2, 3, low=0.05, high=0.2),
                            _i8(2, 3, seed=2)], {"axis": 0, "block_size": 2}, id="blocked"),
    Case("QuantizeLinear", [TIES.astype(F16), _s(0.5, dtype=F16), np.array(4, U8)],
         id="f16"),
    Case("QuantizeLinear", [TIES, _s(1.0), np.array(1, U8)], opset=10, id="opset10"),
    Case("QuantizeLinear", [rand(2, 3), _s(0.01, 0.02, 0.03), np.array([1, 2, 3], I8)],
         opset=13, id="opset13_axis"),
    Case("QuantizeLinear", [np.arange(-10, 10, 3, dtype=np.int32), _s(2.0), np.array(3, U8)],
         reference=_onnx("QuantizeLinear"), id="int32_x"),
    Case("QuantizeLinear", [rand(0, 3), _s(1.0), np.array(0, U8)], id="empty"),
    # x / scale in float16 rounds 1000.7 to 1000.5, which rounds (to even) to 1000
    Case("QuantizeLinear", [_s(1000.7, 3.3, -7.6), _s(1.0), np.array(0, np.int16)],
         {"precision": TP.FLOAT16}, reference=_onnx("QuantizeLinear"), id="precision_f16"),
    Case("QuantizeLinear", [TIES, _s(0.5, dtype=BF16), np.array(3, U8)],
         reference=_onnx("QuantizeLinear"), id="bf16_scale"),
    Case("QuantizeLinear", [TIES, _s(0.25, dtype=ml_dtypes.float8_e8m0fnu), np.array(3, I8)],
         reference=_onnx("QuantizeLinear"), id="e8m0_scale"),
]
for _name, _dt in [("int4", ml_dtypes.int4), ("uint4", ml_dtypes.uint4),
                   ("int2", ml_dtypes.int2), ("uint2", ml_dtypes.uint2)]:
    _QUANTIZE.append(Case("QuantizeLinear", [X34, _s(1.0, 0.5, 2.0), np.zeros(3, _dt) + _dt(1)],
                          {"axis": 0}, reference=_onnx("QuantizeLinear"), id=f"{_name}_axis"))
for _name, _code in [("int4", TP.INT4), ("e4m3fn", TP.FLOAT8E4M3FN), ("e5m2", TP.FLOAT8E5M2),
                     ("e4m3fnuz", TP.FLOAT8E4M3FNUZ), ("e5m2fnuz", TP.FLOAT8E5M2FNUZ),
                     ("float4e2m1", TP.FLOAT4E2M1), ("float6e2m3", TP.FLOAT6E2M3),
                     ("float6e3m2", TP.FLOAT6E3M2)]:
    _QUANTIZE.append(Case("QuantizeLinear", [TIES, _s(0.25)], {"output_dtype": _code},
                          reference=_onnx("QuantizeLinear"), id=f"{_name}_saturate"))
_QUANTIZE.append(Case("QuantizeLinear", [TIES * 300, _s(0.25)],
                      {"output_dtype": TP.FLOAT8E5M2, "saturate": 0},
                      reference=_onnx("QuantizeLinear"), id="e5m2_no_saturate"))

_DEQUANTIZE = [
    Case("DequantizeLinear", [_u8(6), _s(0.5), np.array(128, U8)], id="u8"),
    Case("DequantizeLinear", [_i8(6), _s(0.25), np.array(-5, I8)], id="i8"),
    Case("DequantizeLinear", [_u8(6), _s(0.5)], id="no_zero_point"),
    Case("DequantizeLinear", [np.array([-2 ** 31, -7, 0, 5, 2 ** 31 - 1], np.int32), _s(0.5)],
         id="int32"),
    Case("DequantizeLinear", [np.arange(-20000, 20000, 7000, dtype=np.int16), _s(0.01),
                              np.array(-300, np.int16)], id="i16"),
    Case("DequantizeLinear", [np.arange(0, 65535, 9000, dtype=np.uint16), _s(0.01),
                              np.array(300, np.uint16)], id="u16"),
    Case("DequantizeLinear", [_u8(2, 3, 4), _s(0.1, 0.2, 0.05), _u8(3, seed=3)], id="per_axis"),
    Case("DequantizeLinear", [_i8(2, 3, 4), _s(0.1, 0.2, 0.05, 0.3), _i8(4, seed=4)],
         {"axis": -1}, id="per_axis_neg"),
    Case("DequantizeLinear", [_u8(3, 5), rand(3, 3, low=0.05, high=0.2), _u8(3, 3, seed=5)],
         {"axis": 1, "block_size": 2}, id="blocked_ragged"),
    Case("DequantizeLinear", [_i8(4, 3), rand(2, 3, low=0.05, high=0.2), _i8(2, 3, seed=6)],
         {"axis": 0, "block_size": 2}, id="blocked"),
    Case("DequantizeLinear", [_u8(6), _s(0.5, dtype=F16), np.array(3, U8)], id="f16_scale"),
    # grad=False: a float16 output hides the finite differences of a float64 scale
    Case("DequantizeLinear", [_u8(6), _s(0.5), np.array(3, U8)], {"output_dtype": TP.FLOAT16},
         id="output_dtype_f16", grad=False),
    Case("DequantizeLinear", [_u8(6), _s(0.5), np.array(3, U8)], opset=10, id="opset10"),
    Case("DequantizeLinear", [_u8(6), _s(0.3, dtype=BF16), np.array(3, U8)],
         reference=_onnx("DequantizeLinear"), id="bf16_scale"),
    Case("DequantizeLinear", [_i8(6), _s(0.25, dtype=ml_dtypes.float8_e8m0fnu), np.array(3, I8)],
         {"output_dtype": TP.FLOAT}, reference=_onnx("DequantizeLinear"), id="e8m0_scale"),
    Case("DequantizeLinear", [_i8(2, 3), _s(0.5, 0.25, 2.0), _i8(3, seed=7)], opset=13,
         id="opset13_axis"),
]
for _name, _dt in [("int4", ml_dtypes.int4), ("uint4", ml_dtypes.uint4),
                   ("int2", ml_dtypes.int2), ("uint2", ml_dtypes.uint2)]:
    _lo, _hi = int(ml_dtypes.iinfo(_dt).min), int(ml_dtypes.iinfo(_dt).max)
    _x = np.arange(12).reshape(3, 4) % (_hi - _lo + 1) + _lo
    _DEQUANTIZE.append(Case("DequantizeLinear", [_x.astype(_dt), _s(1.0, 0.5, 2.0),
                                                 np.array([_lo, 0, _hi]).astype(_dt)],
                            {"axis": 0}, reference=_onnx("DequantizeLinear"), id=f"{_name}_axis"))
for _name, _dt in [("e4m3fn", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2),
                   ("e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
                   ("e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
                   ("float4e2m1", ml_dtypes.float4_e2m1fn),
                   ("float6e2m3", ml_dtypes.float6_e2m3fn),
                   ("float6e3m2", ml_dtypes.float6_e3m2fn)]:
    _DEQUANTIZE.append(Case("DequantizeLinear", [TIES.clip(-6, 6).astype(_dt), _s(0.5)],
                            reference=_onnx("DequantizeLinear"), id=_name,
                            grad=False))  # the grad test would cast these float x to float64

_DYNAMIC = [
    Case("DynamicQuantizeLinear", [rand(3, 4, low=-2, high=5)], id="mixed", outputs=3),
    Case("DynamicQuantizeLinear", [rand(7, low=0.5, high=3)], id="positive", outputs=3),
    Case("DynamicQuantizeLinear", [rand(7, low=-3, high=-0.5)], id="negative", outputs=3),
    Case("DynamicQuantizeLinear", [np.zeros((2, 2), np.float32)], id="zeros", outputs=3),
]

_MATMUL = [
    Case("MatMulInteger", [_u8(4, 3), _u8(3, 2, seed=1), np.array(12, U8),
                           np.array(0, U8)], id="u8"),
    Case("MatMulInteger", [_i8(2, 4, 3), _i8(2, 3, 5, seed=1)], id="i8_batched_no_zp"),
    Case("MatMulInteger", [_u8(4, 3), _i8(3, 2, seed=1), np.array([7], U8),
                           np.array([-3], I8)], id="u8_i8"),
    Case("MatMulInteger", [_u8(4, 3), _u8(3, 5, seed=1), None, _u8(5, seed=2)],
         id="per_column"),
    Case("MatMulInteger", [_u8(4, 3), _u8(3, 2, seed=1), _u8(4, seed=2)],
         reference=_mmi_per_row, id="per_row"),
    Case("QLinearMatMul", [_u8(2, 4), _s(0.02), np.array(100, U8), _u8(4, 3, seed=1),
                           _s(0.03), np.array(120, U8), _s(0.1), np.array(128, U8)],
         id="u8"),
    Case("QLinearMatMul", [_i8(2, 3, 4), _s(0.05), np.array(-3, I8), _i8(2, 4, 5, seed=1),
                           _s(0.02), np.array(4, I8), _s(0.2), np.array(-1, I8)],
         id="i8_batched"),
    Case("QLinearMatMul", [_u8(2, 4), _s(0.02, dtype=F16), np.array(100, U8), _u8(4, 3, seed=1),
                           _s(0.03, dtype=F16), np.array(120, U8), _s(0.1, dtype=F16),
                           np.array(128, U8)], id="f16_scales"),
    Case("QLinearMatMul", [_u8(2, 4), _s(0.02), np.array(100, U8), _u8(4, 3, seed=1),
                           _s(0.03), np.array(120, U8), _s(0.1), np.array(128, U8)],
         opset=10, id="opset10"),
    Case("QLinearMatMul", [_u8(2, 4), _s(0.02), np.array(100, U8), _u8(4, 3, seed=1),
                           _s(0.01, 0.02, 0.03), _u8(3, seed=2), _s(0.1), np.array(128, U8)],
         reference=_onnx("QLinearMatMul", 21), id="per_column"),
    Case("QLinearMatMul", [TIES[:8].reshape(2, 4).astype(ml_dtypes.float8_e4m3fn), _s(0.5),
                           np.array(0, ml_dtypes.float8_e4m3fn),
                           TIES.reshape(4, 3).clip(-4, 4).astype(ml_dtypes.float8_e4m3fn),
                           _s(0.25), np.array(0, ml_dtypes.float8_e4m3fn), _s(0.5),
                           np.array(0, ml_dtypes.float8_e4m3fn)],
         reference=_qmm_float8, id="float8"),
]

_CONV = [
    Case("ConvInteger", [_u8(1, 2, 5, 5), _u8(3, 2, 3, 3, seed=1), np.array(100, U8),
                         np.array(120, U8)], {"pads": [1, 1, 1, 1]}, id="u8_pads"),
    Case("ConvInteger", [_i8(2, 4, 6, 6), _i8(4, 2, 2, 2, seed=1)],
         {"group": 2, "strides": [2, 2]}, id="i8_group_stride"),
    Case("ConvInteger", [_u8(1, 2, 5, 4), _u8(3, 2, 3, 2, seed=1), None, _u8(3, seed=2)],
         {"dilations": [2, 1]}, reference=_onnx("ConvInteger"), id="per_channel_zp"),
    Case("ConvInteger", [_u8(1, 2, 7), _u8(3, 2, 3, seed=1), np.array(5, U8)],
         {"dilations": [2]}, id="1d_dilated"),
    Case("QLinearConv", [_u8(1, 2, 5, 5), _s(0.02), np.array(100, U8), _u8(3, 2, 3, 3, seed=1),
                         _s(0.01), np.array(120, U8), _s(0.5), np.array(128, U8)],
         {"pads": [1, 1, 1, 1]}, id="u8"),
    Case("QLinearConv", [_i8(2, 4, 6, 6), _s(0.05), np.array(3, I8), _i8(4, 2, 3, 3, seed=1),
                         _s(0.01, 0.02, 0.03, 0.04), np.zeros(4, I8), _s(0.3), np.array(-2, I8),
                         np.array([100, -200, 300, 0], np.int32)],
         {"group": 2, "strides": [2, 1], "auto_pad": "SAME_UPPER"}, id="i8_per_channel_bias"),
]

CASES = _QUANTIZE + _DEQUANTIZE + _DYNAMIC + _MATMUL + _CONV
