"""PRelu's opset 1-6 form through whole models (slope per channel, also where
fusion and the kernel targets would read it by NumPy's rules), and its bad operands."""

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx, tensor
from singa.errors import DTypeError, ShapeError
from singa.ir.types import TensorType
from singa.ops import OPS

OP = OPS["PRelu"]


def _model(opset, x_shape, slope):
    """y = (PRelu(x, slope) + x) * x: a chain the fuse pass groups."""
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["p"]),
             helper.make_node("Add", ["p", "x"], ["s"]),
             helper.make_node("Mul", ["s", "x"], ["y"])]
    g = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("x", TP.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TP.FLOAT, None)],
                          initializer=[numpy_helper.from_array(slope, "slope")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("target", ["numpy", "c"])
@pytest.mark.parametrize("opset", [6, 13])
def test_slope_per_channel_before_opset_7_and_trailing_after(target, opset):
    # three channels and a last dim of three: the two readings differ
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2, 3, 4, 3)).astype(np.float32)
    slope = np.array([0.1, -0.5, 2.0], np.float32)
    rep = sonnx.prepare(_model(opset, list(x.shape), slope), target=target)
    got = tensor.to_numpy(rep.run([x])[0])
    x64, s64 = x.astype(np.float64), slope.astype(np.float64)
    s = s64.reshape(3, 1, 1) if opset < 7 else s64
    p = np.where(x64 >= 0, x64, s * x64)
    np.testing.assert_allclose(got, (p + x64) * x64, rtol=1e-6, atol=1e-7)


BAD = [
    # before opset 7 a slope is shared or per channel: 4 values for 3 channels
    ([np.zeros((2, 3, 4), np.float32), np.zeros(4, np.float32)], {"_channel_slope": 1},
     ShapeError),
    ([np.zeros((2, 3), np.float32), np.zeros(3, np.float64)], {}, DTypeError),
    ([np.zeros((2, 3), np.float32), np.zeros(4, np.float32)], {}, ShapeError),
]


@pytest.mark.parametrize("inputs,attrs,err", BAD, ids=["channels", "dtypes", "broadcast"])
def test_bad_operands(inputs, attrs, err):
    with pytest.raises(err, match="PRelu"):
        OP.run(np, inputs, attrs)
    with pytest.raises(err, match="PRelu"):
        OP.infer([TensorType.of(x) for x in inputs], OP.attrs(attrs), [None, None])


def test_opset6_model_with_wrong_slope_names_the_op():
    m = _model(6, [2, 3, 4], np.zeros(4, np.float32))
    with pytest.raises(ShapeError, match="PRelu.*per channel"):
        sonnx.prepare(m, target="numpy").run([np.zeros((2, 3, 4), np.float32)])


def test_opset6_per_channel_prelu_exports_in_the_current_form():
    """An imported opset-6 PRelu (slope [C] along axis 1) re-exports as a PRelu of
    a slope reshaped to [C, 1, 1], which onnxruntime computes the same."""
    import onnxruntime as ort

    from singa.exporters.onnx_export import export_graph
    from singa.frontends.onnx_import import import_model

    g = helper.make_graph([helper.make_node("PRelu", ["x", "s"], ["y"])], "p",
                          [helper.make_tensor_value_info("x", TP.FLOAT, [2, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [2, 3, 4, 4])],
                          initializer=[numpy_helper.from_array(
                              np.array([0.1, -0.5, 2.0], np.float32), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
    back = export_graph(import_model(m), opset=13)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    got = ort.InferenceSession(back.SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    slope = np.array([0.1, -0.5, 2.0], np.float32)[None, :, None, None]
    np.testing.assert_allclose(got, np.where(x > 0, x, x * slope), rtol=1e-6)
