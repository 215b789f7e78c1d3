"""Imported ONNX models: the text form round-trips; passes keep them equal to onnxruntime."""

import importlib.util
import os
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from singa.frontends.onnx_import import import_model
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.ir.printer import graph_data, print_graph
from singa.ir.verifier import verify
from singa.passes import InferShapes, default_pipeline

RNG = np.random.default_rng(3)
MODELS = os.path.join(os.path.dirname(__file__), "..", "e2e", "models")


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _small_model():
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Conv", ["x", "conv.W"], ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "bn.s", "bn.b", "bn.m", "bn.v"], ["b"],
                         name="/bn/BatchNormalization", epsilon=1e-3),
        helper.make_node("Relu", ["b"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("Split", ["/relu/Relu_output_0", "split"], ["s0", "s1"], name="split",
                         axis=1),
        helper.make_node("Max", ["s0", "s1"], ["m"], name="max"),
        helper.make_node("Constant", [], ["minus1"], name="const",
                         value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Shape", ["m"], ["shp"], name="shape"),
        helper.make_node("Gather", ["shp", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["newshape"], name="concat", axis=0),
        helper.make_node("Reshape", ["m", "newshape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.W", "fc.b"], ["logits:0"], name="fc", transB=1),
        helper.make_node("Greater", ["logits:0", "thr"], ["pos"], name="greater"),
        helper.make_node("Not", ["pos"], ["neg mask"], name="not"),
    ]
    inits = [_init("conv.W", RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)),
             _init("bn.s", RNG.uniform(0.5, 1.5, 4).astype(np.float32)),
             _init("bn.b", RNG.standard_normal(4).astype(np.float32)),
             _init("bn.m", RNG.standard_normal(4).astype(np.float32)),
             _init("bn.v", RNG.uniform(0.5, 1.5, 4).astype(np.float32)),
             _init("split", np.array([2, 2], np.int64)),
             _init("zero", np.array([0], np.int64)),
             _init("fc.W", RNG.standard_normal((5, 50)).astype(np.float32)),
             _init("fc.b", RNG.standard_normal(5).astype(np.float32)),
             _init("thr", np.array(0.0, np.float32))]
    g = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", f, ["N", 2, 5, 5])],
                          [helper.make_tensor_value_info("logits:0", f, ["N", 5]),
                           helper.make_tensor_value_info("neg mask", TensorProto.BOOL, ["N", 5])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return m


def test_imported_model_roundtrips_and_the_pipeline_matches_onnxruntime():
    model = _small_model()
    g = import_model(model)
    InferShapes().run(g)
    verify(g)
    text = print_graph(g)
    # intermediates with ONNX-style names print as numbers, outputs keep their names
    assert '%"logits:0" = Gemm(' in text and '%"neg mask" = Not(' in text
    relu = next(line for line in text.splitlines() if "= Relu(" in line)
    assert re.match(r"  %\d+ = Relu\(%b\) : f32\[N,4,5,5\]  # /relu/Relu$", relu), relu
    g2 = parse_graph(text, data=graph_data(g))
    assert print_graph(g2) == text
    assert [v.name for v in g2.outputs] == ["logits:0", "neg mask"]

    x = RNG.standard_normal((3, 2, 5, 5)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for got, w in zip(interpret(g2, [x]), want):
        assert got.dtype == w.dtype
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)

    for kw in ({}, {"bool_to_int32": True, "plan_memory": True}, {"bind": {"x": (3, 2, 5, 5)}}):
        g3 = g2.clone()
        default_pipeline(**kw).run(g3)
        names = [op.name for op in g3.ops]
        assert "BatchNormalization" not in names and "Shape" not in names[:1]
        if "bind" in kw:
            assert "Shape" not in names and str(g3.outputs[0].type) == "f32[3,5]"
        for got, w in zip(interpret(g3, [x]), want):
            assert got.dtype == w.dtype
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
        assert print_graph(parse_graph(print_graph(g3), data=graph_data(g3))) == print_graph(g3)


@pytest.mark.parametrize("name", ["squeezenet1_0", "shufflenet_v2_x1_0"])
def test_torchvision_graphs_roundtrip(name):
    if not os.path.exists(os.path.join(MODELS, f"{name}.onnx")):
        pytest.skip("model not present")
    spec = importlib.util.spec_from_file_location("singa_ir_test_torchvision_weights",
                                                  os.path.join(MODELS, "weights.py"))
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    g = import_model(weights.load(name))
    default_pipeline(bind={"input": (1, 3, 224, 224)}, bool_to_int32=True).run(g)
    text = print_graph(g)
    g2 = parse_graph(text, data=graph_data(g))
    assert print_graph(g2) == text
    verify(g2)
    for a, b in zip(g.params + g.consts, g2.params + g2.consts):
        assert a.name == b.name and np.array_equal(a.data, b.data)
    assert str(g2.outputs[0].type) == "f32[1,1000]"
