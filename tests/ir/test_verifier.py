"""verify(): each kind of broken graph is reported, naming the op, loc, values and types."""

import textwrap

import numpy as np
import pytest

from singa.errors import IRError
from singa.ir import DType, TensorType
from singa.ir.graph import Graph, Value
from singa.ir.parser import parse_graph
from singa.ir.verifier import types_compatible, verify

F32 = DType.FLOAT


def ir(text):
    return textwrap.dedent(text).strip("\n") + "\n"


GOOD = ir('''
    graph @g(%x: f32[N,3]) -> (f32[N,4], f32[N,3]) {
      %w = param f32[3,4]
      %b = const f32[4] {value=[1,2,3,4]}
      %0 = MatMul(%x, %w) : f32[N,4]  # fc
      %1 = Add(%0, %b) : f32[N,4]
      %2 = Relu(%x) : f32[N,3]
      return %1, %2
    }
''')


def test_a_sound_graph_passes():
    verify(parse_graph(GOOD))


def test_unknown_types_are_not_contradictions():
    verify(parse_graph(ir('''
        graph @g(%x: f32[N,?]) -> (?) {
          %0 = Relu(%x)
          %1 = Add(%0, %x) : f32[?,?]
          return %1
        }
    ''')))


def _err(g):
    with pytest.raises(IRError) as ei:
        verify(g)
    return str(ei.value)


def test_result_type_disagreeing_with_infer_names_op_loc_values_and_types():
    msg = _err(parse_graph(GOOD.replace("%0 = MatMul(%x, %w) : f32[N,4]",
                                        "%0 = MatMul(%x, %w) : f32[N,5]")
                           .replace("%1 = Add(%0, %b) : f32[N,4]",
                                    "%1 = Add(%0, %b) : f32[N,5]")
                           .replace("-> (f32[N,4]", "-> (f32[N,5]")))
    assert "MatMul (fc): (%x: f32[N,3], %w: f32[3,4]) -> (%0: f32[N,5])" in msg
    assert "result 0 is typed f32[N,5] but infer gives f32[N,4]" in msg
    # the Add is reported too: its operands no longer broadcast
    assert "Add: (%0: f32[N,5], %b: f32[4])" in msg and "rejects its operands" in msg


@pytest.mark.parametrize("declared, inferred, ok", [
    ("f32[N,3]", "f32[N,3]", True),
    ("f32[N,3]", "f32[M,3]", False),  # symbols compare by name
    ("f32[N,3]", "f32[?,3]", True),
    ("f32[?,3]", "f32[N,3]", True),
    ("f32[N,3]", "f32[2,3]", False),
    ("f32[*]", "f32[2,3]", True),
    ("f32[2]", "f32[2,3]", False),
    ("f64[2]", "f32[2]", False),
    ("?", "f32[2]", True),
])
def test_type_compatibility(declared, inferred, ok):
    def t(s):
        g = parse_graph(f"graph @g(%x: {s}) -> () {{\n  return\n}}\n")
        return g.inputs[0].type
    assert types_compatible(t(declared), t(inferred)) is ok


def test_symbol_mismatch_is_an_error():
    msg = _err(parse_graph(ir('''
        graph @g(%x: f32[N,3]) -> (f32[M,3]) {
          %0 = Relu(%x) : f32[M,3]  # r
          return %0
        }
    ''')))
    assert "Relu (r)" in msg and "typed f32[M,3] but infer gives f32[N,3]" in msg


def test_unknown_op():
    msg = _err(parse_graph(GOOD.replace("Relu(%x)", "NoSuchOp(%x)")))
    assert "unknown op 'NoSuchOp'" in msg


def test_use_before_definition():
    g = parse_graph(GOOD)
    g.ops[0], g.ops[1] = g.ops[1], g.ops[0]
    msg = _err(g)
    # names are those print_graph gives the broken graph, where Add now comes first
    assert "op #0 Add" in msg and "operand 0 %1 is used before its definition" in msg


def test_operand_not_in_graph():
    g = parse_graph(GOOD)
    stray = Value(TensorType(F32, (3, 4)), "param", "stray", data=np.zeros((3, 4), np.float32))
    g.ops[0].set_operand(1, stray)
    assert "operand 1 %stray is not defined in the graph" in _err(g)


def test_value_defined_twice():
    g = parse_graph(GOOD)
    g.params.append(g.params[0])
    assert "value %w is defined twice" in _err(g)


def test_op_listed_twice():
    g = parse_graph(GOOD)
    g.ops.append(g.ops[2])
    msg = _err(g)
    assert "appears twice" in msg and "result %2 is defined twice" in msg


def test_use_lists_must_match_operands():
    g = parse_graph(GOOD)
    x = g.inputs[0]
    x.uses.remove((g.ops[2], 0))  # Relu's use forgotten
    assert "operand 0 %x does not list this use exactly once" in _err(g)

    g = parse_graph(GOOD)
    g.params[0].uses.append((g.ops[2], 0))  # a use that is not one
    assert "%w lists a use by Relu () operand 0 that is not it" in _err(g)

    g = parse_graph(GOOD)
    g.params[0].uses.append(g.params[0].uses[0])
    assert "lists a use twice" in _err(g)


def test_erased_op_still_listed_as_user():
    g = parse_graph(GOOD)
    relu = g.ops[2]
    g.ops.remove(relu)  # removed without dropping its operands
    msg = _err(g)
    assert "used by Relu () which is not in the graph" in msg
    assert "graph output 1 %" in msg and "is not defined in the graph" in msg


def test_output_use_bookkeeping():
    g = parse_graph(GOOD)
    g.outputs[1] = g.inputs[0]  # bypassing set_outputs
    msg = _err(g)
    assert "lists a use as graph output 1 that is not it" in msg
    assert "graph output 1 %x does not list its use as output" in msg


def test_params_must_hold_data_of_their_type():
    g = parse_graph(GOOD)
    g.params[0].data = np.zeros((4, 3), np.float32)
    assert "param %w is typed f32[3,4] but holds f32[4,3]" in _err(g)
    g.params[0].data = None
    assert "param %w has no data" in _err(g)


def test_result_that_does_not_point_back():
    g = parse_graph(GOOD)
    g.ops[2].results[0].index = 3
    assert "result 0 %2 does not point back to its op" in _err(g)


def test_too_many_results():
    g = Graph()
    x = g.add_input("x", TensorType(F32, (3,)))
    op = g.add_op("Relu", [x], [TensorType(F32, (3,))] * 2, loc="r")
    g.set_outputs([op.results[0]])
    assert "Relu (r): (%x: f32[3]) -> (%0: f32[3], %1: f32[3]): 2 results, the op has at " \
           "most 1" in _err(g)


def test_errors_are_collected():
    g = parse_graph(GOOD.replace("Relu(%x)", "Nope(%x)").replace("MatMul(", "Nada("))
    msg = _err(g)
    assert "unknown op 'Nope'" in msg and "unknown op 'Nada'" in msg
