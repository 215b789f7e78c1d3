"""Sequence and optional ops export: an imported model using every one of them
goes back to ONNX with its container types, and onnxruntime computes the same
from both.  (Eager Tensors cannot be sequences, so the table's export round
trip in test_onnx_export cannot reach these ops.)"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper

from singa.exporters.onnx_export import export_graph
from singa.frontends.onnx_import import import_model

CONTAINER_OPS = ("SequenceConstruct", "SequenceEmpty", "SequenceAt", "SequenceInsert",
                 "SequenceErase", "SequenceLength", "SplitToSequence", "ConcatFromSequence",
                 "Optional", "OptionalHasElement", "OptionalGetElement")


def _model():
    n = helper.make_node
    nodes = [
        n("SplitToSequence", ["x"], ["rows"], axis=0),
        n("SequenceEmpty", [], ["empty"], dtype=TP.FLOAT),
        n("SequenceConstruct", ["x", "x"], ["pair"]),
        n("SequenceInsert", ["rows", "x"], ["more"]),
        n("SequenceErase", ["more", "idx"], ["fewer"]),
        n("SequenceAt", ["fewer", "idx"], ["row"]),
        n("SequenceLength", ["fewer"], ["count"]),
        n("ConcatFromSequence", ["pair"], ["stacked"], axis=0),
        n("Optional", ["row"], ["maybe"]),
        n("OptionalHasElement", ["maybe"], ["has"]),
        n("OptionalGetElement", ["maybe"], ["got"]),
        n("SequenceInsert", ["empty", "got"], ["one"]),
        n("SequenceLength", ["one"], ["one_count"]),
    ]
    vi = helper.make_tensor_value_info
    g = helper.make_graph(nodes, "containers", [vi("x", TP.FLOAT, [3, 4]), vi("idx", TP.INT64, [])],
                          [vi("row", TP.FLOAT, None), vi("count", TP.INT64, []),
                           vi("stacked", TP.FLOAT, [6, 4]), vi("has", TP.BOOL, []),
                           vi("one_count", TP.INT64, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    return m


def _ort(m, feeds):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), so,
                                providers=["CPUExecutionProvider"]).run(None, feeds)


def test_every_container_op_exports_and_computes_the_same():
    m = _model()
    assert {nd.op_type for nd in m.graph.node} == set(CONTAINER_OPS)
    back = export_graph(import_model(m), opset=18)
    assert {nd.op_type for nd in back.graph.node} >= set(CONTAINER_OPS)
    feeds = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "idx": np.array(-2, np.int64)}
    for want, got in zip(_ort(m, feeds), _ort(back, feeds)):
        np.testing.assert_array_equal(got, want)


def test_container_value_types_are_written():
    back = export_graph(import_model(_model()), opset=18)
    kinds = {v.name: v.type.WhichOneof("value") for v in back.graph.value_info}
    assert kinds["rows"] == "sequence_type" and kinds["maybe"] == "optional_type"
    onnx.checker.check_model(back, full_check=True)
