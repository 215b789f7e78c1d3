"""SINGA 3.1's sonnx.run_node / run_model / OnnxNode, against NumPy."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx, tensor
from singa.errors import InputError, UnsupportedOpError
from singa.tensor import Tensor

RNG = np.random.default_rng(3)


def test_run_node_returns_tensors_by_output_name():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, transB=1)
    a = RNG.normal(size=(2, 3)).astype(np.float32)
    b = RNG.normal(size=(4, 3)).astype(np.float32)
    c = RNG.normal(size=4).astype(np.float32)
    out = sonnx.run_node(node, [a, b, c])
    assert isinstance(out, OrderedDict) and list(out) == ["y"]
    assert isinstance(out["y"], Tensor)
    want = 0.5 * a.astype(np.float64) @ b.T.astype(np.float64) + c
    np.testing.assert_allclose(tensor.to_numpy(out["y"]), want, rtol=1e-5, atol=1e-6)


def test_run_node_with_several_outputs_and_tensor_inputs():
    node = helper.make_node("Split", ["x"], ["p", "q"], axis=1)  # opset 11: equal halves
    x = RNG.normal(size=(2, 6))
    out = sonnx.run_node(node, [tensor.from_numpy(x)])
    assert list(out) == ["p", "q"]
    np.testing.assert_array_equal(tensor.to_numpy(out["p"]), x[:, :3])
    np.testing.assert_array_equal(tensor.to_numpy(out["q"]), x[:, 3:])


def test_run_node_reads_singa_default_opset_11():
    # Clip's bounds are attributes before opset 11 and inputs from 11: SINGA's default
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    x = np.linspace(-3, 3, 7).astype(np.float32)
    out = sonnx.run_node(node, [x, np.float32(-1), np.float32(2)])
    np.testing.assert_array_equal(tensor.to_numpy(out["y"]), np.clip(x, -1, 2))
    # Squeeze's axes: an attribute at 11, an input from 13
    sq = helper.make_node("Squeeze", ["x"], ["y"], axes=[0])
    z = RNG.normal(size=(1, 3))
    np.testing.assert_array_equal(tensor.to_numpy(sonnx.run_node(sq, [z])["y"]), z[0])
    sq13 = helper.make_node("Squeeze", ["x", "axes"], ["y"])
    got = sonnx.run_node(sq13, [z, np.array([0], np.int64)], opset_version=13)["y"]
    np.testing.assert_array_equal(tensor.to_numpy(got), z[0])


def test_run_node_accepts_an_onnx_node_and_its_edits():
    proto = helper.make_node("LeakyRelu", ["x"], ["y"], name="block.act", alpha=0.2)
    node = sonnx.OnnxNode(proto)
    assert node.name == "block_act" and node.op_type == "LeakyRelu"
    assert node.getattr("alpha") == pytest.approx(0.2) and node.getattr("beta", 7) == 7
    assert node.inputs == ["x"] and node.outputs == ["y"]
    x = RNG.normal(size=(3, 4))
    alpha = float(np.float32(0.2))  # ONNX float attributes are 32-bit
    np.testing.assert_allclose(tensor.to_numpy(sonnx.run_node(node, [x])["y"]),
                               np.where(x >= 0, x, alpha * x), rtol=1e-12)
    node.attrs["alpha"] = 0.5
    np.testing.assert_allclose(tensor.to_numpy(sonnx.run_node(node, {"x": x})["y"]),
                               np.where(x >= 0, x, 0.5 * x), rtol=1e-12)
    node.set_weight_inputs("x", "W")
    assert node.weight_inputs == {"x": "W"}
    node.del_weight_inputs("x")
    node.set_attr_inputs("x", "shape")
    node.del_attr_inputs("x")
    assert node.attr_inputs == {} and node.weight_inputs == {}


def test_run_node_errors():
    node = helper.make_node("Add", ["a", "b"], ["c"])
    with pytest.raises(InputError, match="2 inputs, got 1"):
        sonnx.run_node(node, [np.ones(2)])
    with pytest.raises(InputError, match="missing"):
        sonnx.run_node(node, {"a": np.ones(2)})
    with pytest.raises(UnsupportedOpError, match="NoSuchOp"):
        sonnx.run_node(helper.make_node("NoSuchOp", ["a"], ["b"]), [np.ones(2)])


def test_run_model_returns_output_tensors():
    w = RNG.normal(size=(3, 2)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"]),
         helper.make_node("Neg", ["h"], ["z"])],
        "mm", [helper.make_tensor_value_info("x", TP.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TP.FLOAT, ["N", 2]),
         helper.make_tensor_value_info("z", TP.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    y, z = sonnx.run_model(model, [x])
    h = x.astype(np.float64) @ w.astype(np.float64)
    assert isinstance(y, Tensor) and isinstance(z, Tensor)
    np.testing.assert_allclose(tensor.to_numpy(y), np.maximum(h, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tensor.to_numpy(z), -h, rtol=1e-5, atol=1e-6)
