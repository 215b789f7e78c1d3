"""Sequence and optional values through prepare/run: lists and None in and out,
on every CPU target, against onnx's reference evaluator."""

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from singa import sonnx
from singa.errors import DTypeError, InputError, OpError, ShapeError
from singa.tensor import Tensor, to_numpy

TARGETS = ["numpy", "c"]
F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, opset=18):
    g = helper.make_graph(nodes, "seq", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _seq_vi(name, elem=F, shape=None):
    return helper.make_tensor_sequence_value_info(name, elem, shape)


def _np(x):
    if x is None:
        return None
    if isinstance(x, list):
        return [_np(e) for e in x]
    assert isinstance(x, Tensor)
    return to_numpy(x)


def _same(got, want):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
    elif want is None:
        assert got is None
    else:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)


# A sequence input, edited and read; a split and a concat; a bool comparison
# inside a sequence (bool_to_int32 on the c target); elementwise ops after
# SequenceAt (fuse on the c target).
PIPELINE = _model(
    [helper.make_node("SplitToSequence", ["x"], ["parts"], axis=1),
     helper.make_node("SequenceInsert", ["s", "x"], ["s2"]),
     helper.make_node("SequenceLength", ["s2"], ["n"]),
     helper.make_node("SequenceAt", ["s2", "k"], ["at"]),
     helper.make_node("Relu", ["at"], ["r"]),
     helper.make_node("Neg", ["r"], ["nr"]),
     helper.make_node("ConcatFromSequence", ["parts"], ["cat"], axis=0, new_axis=1),
     helper.make_node("Greater", ["x", "x0"], ["gt"]),
     helper.make_node("SequenceConstruct", ["gt", "gt"], ["bools"]),
     helper.make_node("SequenceErase", ["s2"], ["s3"])],
    [helper.make_tensor_value_info("x", F, [2, 3]), _seq_vi("s", F),
     helper.make_tensor_value_info("k", TensorProto.INT64, []),
     helper.make_tensor_value_info("x0", F, [2, 3])],
    [helper.make_tensor_value_info("n", TensorProto.INT64, []),
     helper.make_tensor_value_info("nr", F, None),
     helper.make_tensor_value_info("cat", F, None),
     _seq_vi("bools", TensorProto.BOOL), _seq_vi("s3", F), _seq_vi("parts", F)])


def _pipeline_inputs(seq):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    return [x, seq, np.array(-1, np.int64), np.zeros((2, 3), np.float32)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("length", [0, 2])
def test_sequence_pipeline_matches_the_reference(target, length):
    seq = [np.full((k + 1, 3), k, np.float32) for k in range(length)]
    ins = _pipeline_inputs(seq)
    want = ReferenceEvaluator(PIPELINE).run(None, dict(zip(["x", "s", "k", "x0"], ins)))
    rep = sonnx.prepare(PIPELINE, target=target)
    got = [_np(o) for o in rep.run(ins)]
    for g, w in zip(got, want):
        _same(g, w)
    assert all(isinstance(t, Tensor) for t in rep.run(ins)[3])


@pytest.mark.parametrize("target", TARGETS)
def test_outputs_never_alias_the_callers_arrays(target):
    m = _model([helper.make_node("SequenceAt", ["s", "k"], ["y"]),
                helper.make_node("SequenceErase", ["s"], ["t"])],
               [_seq_vi("s"), helper.make_tensor_value_info("k", TensorProto.INT64, [])],
               [helper.make_tensor_value_info("y", F, None), _seq_vi("t")])
    a, b = np.ones(3, np.float32), np.zeros(2, np.float32)
    y, t = sonnx.prepare(m, target=target).run([[a, b], np.array(0, np.int64)])
    out = to_numpy(y)
    out[...] = 7
    to_numpy(t[0])[...] = 7
    assert (a == 1).all()


OPTIONAL = _model(
    [helper.make_node("OptionalHasElement", ["o"], ["has"]),
     helper.make_node("Optional", ["x"], ["wrapped"]),
     helper.make_node("OptionalGetElement", ["wrapped"], ["back"])],
    [helper.make_value_info("o", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(F, [2]))),
     helper.make_tensor_value_info("x", F, [3])],
    [helper.make_tensor_value_info("has", TensorProto.BOOL, []),
     helper.make_value_info("wrapped", helper.make_optional_type_proto(
         helper.make_tensor_type_proto(F, [3]))),
     helper.make_tensor_value_info("back", F, [3])])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("present", [True, False])
def test_optional_inputs_take_none(target, present):
    o = np.ones(2, np.float32) if present else None
    x = np.arange(3, dtype=np.float32)
    has, wrapped, back = sonnx.prepare(OPTIONAL, target=target).run([o, x])
    assert bool(to_numpy(has)) is present
    np.testing.assert_array_equal(to_numpy(wrapped), x)
    np.testing.assert_array_equal(to_numpy(back), x)


def test_graph_inputs_of_the_wrong_kind_are_input_errors():
    rep = sonnx.prepare(PIPELINE, target="numpy")
    ins = _pipeline_inputs([])
    with pytest.raises(InputError, match="'s'.*a list"):
        rep.run(ins[:1] + [np.zeros((2, 3), np.float32)] + ins[2:])
    with pytest.raises(InputError, match=r"'s\[0\]'.*f32"):
        rep.run(ins[:1] + [[np.zeros(3, np.int64)]] + ins[2:])
    with pytest.raises(InputError, match="'s' is None"):
        rep.run(ins[:1] + [None] + ins[2:])


@pytest.mark.parametrize("target", TARGETS)
def test_sequence_at_out_of_range_names_the_node(target):
    m = _model([helper.make_node("SequenceAt", ["s", "k"], ["y"], name="pick")],
               [_seq_vi("s"), helper.make_tensor_value_info("k", TensorProto.INT64, [])],
               [helper.make_tensor_value_info("y", F, None)])
    rep = sonnx.prepare(m, target=target)
    with pytest.raises(ShapeError, match="pick.*position 2 is out of range"):
        rep.run([[np.ones(1, np.float32)] * 2, np.array(2, np.int64)])
    with pytest.raises(ShapeError, match="pick.*out of range"):
        rep.run([[], np.array(0, np.int64)])


def test_a_sequence_op_given_a_tensor_names_the_node():
    m = _model([helper.make_node("SequenceLength", ["x"], ["n"], name="count")],
               [helper.make_tensor_value_info("x", F, [2])],
               [helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    with pytest.raises(DTypeError, match="count.*input_sequence must be a sequence"):
        sonnx.prepare(m, target="numpy").run([np.ones(2, np.float32)])


def test_empty_optional_get_element_is_an_op_error():
    m = _model([helper.make_node("OptionalGetElement", ["o"], ["y"], name="get")],
               [helper.make_value_info("o", helper.make_optional_type_proto(
                   helper.make_tensor_type_proto(F, [2])))],
               [helper.make_tensor_value_info("y", F, [2])])
    with pytest.raises(OpError, match="get.*the optional is empty"):
        sonnx.prepare(m, target="numpy").run([None])
