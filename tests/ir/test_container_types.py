"""Sequence and optional types in the IR text form: print -> parse -> print."""

import pytest

from singa.errors import IRError
from singa.ir import DType, TensorType
from singa.ir.parser import parse_graph, parse_type
from singa.ir.printer import format_type, print_graph
from singa.ir.types import OptionalType, SequenceType
from singa.ir.verifier import types_compatible, verify

F32, I64 = DType.FLOAT, DType.INT64


@pytest.mark.parametrize("t, text", [
    (SequenceType(TensorType(F32, (2, None))), "seq<f32[2,?]>"),
    (OptionalType(SequenceType(TensorType(I64, None))), "opt<seq<i64[*]>>"),
    (SequenceType(None), "seq<?>"),
    (OptionalType(TensorType(F32, ("N", 3))), "opt<f32[N,3]>"),
    (SequenceType(SequenceType(TensorType(DType.BOOL, ()))), "seq<seq<bool[]>>"),
])
def test_type_text_round_trips(t, text):
    assert format_type(t) == text == str(t)
    assert parse_type(text) == t


def test_graph_with_container_values_round_trips_and_verifies():
    text = (
        "graph @g(%s: seq<f32[?,3]>, %p: i64[]) -> (f32[?,3], opt<seq<f32[?,3]>>) opset 18 {\n"
        "  %0 = SequenceAt(%s, %p) : f32[?,3]\n"
        "  %1 = Optional(%s) : opt<seq<f32[?,3]>>\n"
        "  return %0, %1\n"
        "}\n")
    g = parse_graph(text)
    assert print_graph(g) == text
    assert isinstance(g.inputs[0].type, SequenceType)
    verify(g)


def test_verifier_rejects_a_tensor_typed_sequence_result():
    g = parse_graph(
        "graph @g(%a: f32[2]) -> (f32[2]) opset 18 {\n"
        "  %0 = SequenceConstruct(%a) : f32[2]\n"
        "  return %0\n"
        "}\n")
    with pytest.raises(IRError, match="infer gives seq<f32\\[2\\]>"):
        verify(g)


def test_types_compatible_recurses_into_containers():
    s = SequenceType(TensorType(F32, (None, 3)))
    assert types_compatible(s, SequenceType(TensorType(F32, (2, 3))))
    assert not types_compatible(s, SequenceType(TensorType(I64, (2, 3))))
    assert not types_compatible(s, OptionalType(s.elem))
    assert not types_compatible(s, TensorType(F32, (2, 3)))


@pytest.mark.parametrize("text", ["seq<f32[2]", "seq f32[2]>", "opt<>", "seq<f32[2]> x"])
def test_malformed_container_types_are_errors(text):
    with pytest.raises(IRError):
        parse_type(text)
