"""Cases of the sequence and optional ops (singa/ops/sequence.py, optional.py).

Sequences are lists of arrays; the references are onnxruntime (or onnx's
reference evaluator where it lacks a kernel), as for every table case."""

import numpy as np
from onnx import TensorProto, helper

from tests.ops.case import Case, rand

A, B, C = rand(2, 3), rand(2, 3, seed=1), rand(4, 3, seed=2)
I = lambda *a: np.array(a, np.int64)  # noqa: E731
S = lambda v: np.array(v, np.int64)  # noqa: E731  (a scalar)
SEQ = [A, B, C]
INTS = [np.arange(3, dtype=np.int32), np.arange(5, dtype=np.int32)]
X = rand(3, 6, seed=3)

CASES = [
    Case("SequenceConstruct", [A, B, C], id="three"),
    Case("SequenceConstruct", [np.arange(4, dtype=np.int64)], id="one_int64"),
    Case("SequenceConstruct", [np.array(True), np.array([False, True])], id="bool_ranks"),
    Case("SequenceEmpty", [], id="float"),
    Case("SequenceEmpty", [], {"dtype": TensorProto.INT64}, id="int64"),
    Case("SequenceAt", [SEQ, S(1)], id="middle"),
    Case("SequenceAt", [SEQ, S(-1)], id="negative"),
    Case("SequenceAt", [INTS, np.array(0, np.int32)], id="int32_position"),
    Case("SequenceLength", [SEQ], id="three"),
    Case("SequenceLength", [INTS], id="ints"),
    Case("SequenceInsert", [SEQ, rand(5, 3, seed=4)], id="back"),
    Case("SequenceInsert", [SEQ, rand(1, 3, seed=5), S(0)], id="front"),
    Case("SequenceInsert", [SEQ, rand(2, 3, seed=6), S(-1)], id="negative"),
    Case("SequenceInsert", [INTS, np.arange(2, dtype=np.int32), S(2)], id="at_end"),
    Case("SequenceErase", [SEQ], id="last"),
    Case("SequenceErase", [SEQ, S(0)], id="first"),
    Case("SequenceErase", [INTS, np.array(-2, np.int32)], id="negative"),
    Case("SplitToSequence", [X], id="ones_keepdims"),
    Case("SplitToSequence", [X], {"axis": 1, "keepdims": 0}, id="ones_squeezed"),
    Case("SplitToSequence", [X, S(4)], {"axis": 1}, id="scalar_remainder"),
    Case("SplitToSequence", [X, S(2)], {"axis": 1}, id="scalar_even"),
    Case("SplitToSequence", [X, I(1, 2)], id="lengths"),
    Case("SplitToSequence", [X, np.array([3, 3], np.int32)], {"axis": -1}, id="equal_i32"),
    Case("SplitToSequence", [np.arange(6, dtype=np.int64).reshape(2, 3)], {"axis": 1},
         id="int64"),
    Case("ConcatFromSequence", [SEQ], {"axis": 0}, id="concat"),
    Case("ConcatFromSequence", [[A, B]], {"axis": -1}, id="concat_last"),
    Case("ConcatFromSequence", [[A, B]], {"axis": 1, "new_axis": 1}, id="stack_middle"),
    Case("ConcatFromSequence", [[A, B]], {"axis": -1, "new_axis": 1}, id="stack_end"),
    Case("ConcatFromSequence", [INTS], {"axis": 0}, id="int32"),
    Case("Optional", [A], id="tensor"),
    Case("Optional", [SEQ], id="sequence"),
    Case("Optional", [], {"type": helper.make_tensor_type_proto(TensorProto.FLOAT, [2, 3])},
         id="empty_tensor"),
    Case("Optional", [], {"type": helper.make_sequence_type_proto(
        helper.make_tensor_type_proto(TensorProto.INT64, None))}, id="empty_sequence"),
    Case("OptionalHasElement", [A], id="tensor"),
    Case("OptionalHasElement", [SEQ], id="sequence"),
    Case("OptionalHasElement", [], id="no_input"),
    Case("OptionalGetElement", [A], id="tensor"),
    Case("OptionalGetElement", [INTS], id="sequence"),
]
