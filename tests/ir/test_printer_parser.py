"""The IR text form: print -> parse -> print is the identity, errors point at the text."""

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from singa.errors import IRError
from singa.ir import DType, TensorType
from singa.ir.graph import Graph
from singa.ir.parser import parse_graph
from singa.ir.printer import INLINE_LIMIT, digest, graph_data, print_graph

F32 = DType.FLOAT


def ir(text):
    return textwrap.dedent(text).strip("\n") + "\n"


def roundtrip(g):
    """print -> parse (with the data) -> print; returns (text, reparsed graph)."""
    text = print_graph(g)
    g2 = parse_graph(text, data=graph_data(g))
    assert print_graph(g2) == text
    return text, g2


CNN = ir('''
    graph @cnn(%x: f32[N,1,28,28]) -> (f32[N,10]) opset 13 {
      %conv1.W = param f32[20,1,5,5]
      %c0 = const i64[2] {value=[1,-1]}
      %0 = Conv(%x, %conv1.W) {kernel_shape=[5,5], pads=[0,0,0,0]} : f32[N,20,24,24]  # conv1
      %1 = Relu(%0) : f32[N,20,24,24]
      %2 = Reshape(%1, %c0) : f32[N,11520]
      %fc.W = param f32[11520,10]
      %3 = MatMul(%2, %fc.W) : f32[N,10]  # "fc \\"1\\" "
      return %3
    }
''')


def test_handwritten_text_prints_back_canonically():
    g = parse_graph(CNN)
    # params are listed before consts and ops whatever order the text used
    assert [p.name for p in g.params] == ["conv1.W", "fc.W"]
    assert [op.loc for op in g.ops] == ["conv1", "", "", 'fc "1" ']
    text = print_graph(g)
    lines = CNN.splitlines()
    fc = lines.pop(6)
    lines.insert(2, fc)
    assert text == "\n".join(lines) + "\n"
    assert print_graph(parse_graph(text)) == text
    assert g.opset == 13
    assert g.inputs[0].type == TensorType(F32, ("N", 1, 28, 28))
    assert g.ops[0].attrs == {"kernel_shape": [5, 5], "pads": [0, 0, 0, 0]}
    np.testing.assert_array_equal(g.consts[0].data, np.array([1, -1], np.int64))
    # params without data are zeros of their type
    assert g.params[0].data.dtype == np.float32 and not g.params[0].data.any()
    assert g.params[0].data.shape == (20, 1, 5, 5)


def _weird_graph():
    g = Graph("torch-jit-export")
    g.opset = 18
    x = g.add_input("input.1", TensorType(F32, ("batch size", None, 3)))
    m = g.add_input("mask", TensorType(DType.BOOL, None))
    w = g.add_param("0", np.arange(6, dtype=np.float32).reshape(2, 3))  # a numeric name
    w2 = g.add_param("", np.ones(3, np.float64))  # unnamed
    big = g.add_const(np.linspace(-1, 1, 40, dtype=np.float32).reshape(4, 10), "big")
    s = g.add_const(np.array(["a\"b", "ü\n"], dtype=object), "strs")
    b = g.add_const(np.array([True, False]), "x")  # clashes with nothing: inputs differ
    f = g.add_const(np.array([0.1, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38],
                             np.float32))
    h = g.add_const(np.array([0.1, 65504, 6e-8], np.float16), "h")
    bf = g.add_const(np.array([0.1, 3.0], dtype=DType.BFLOAT16.np), "bf")
    u = g.add_const(np.array([2**64 - 1], np.uint64), "u")
    e = g.add_const(np.zeros((0, 3), np.float32), "empty")
    op = g.add_op("Foo", [x, None, w], [TensorType(F32, ("batch size", 2)), None],
                  attrs={"f": 1e-5, "i": -3, "s": "tab\there \"q\" \\", "l": [1.5, 2.0],
                         "ls": ["a", "b"], "empty": [], "t": np.array([[1, 2]], np.int64),
                         "b": True, "n": None, "dt": DType.FLOAT16, "by": b"\x00\xff",
                         "weird key": 1, "neg": -0.0, "big": 1e300, "nested": [[1], [2, 3]]},
                  loc="  spaced # loc\n", result_names=["y", "y"])  # duplicate names
    op2 = g.add_op("Bar", [op.results[0], m, w2, big, s, b, f, h, bf, u, e],
                   [TensorType(DType.INT64, ())], loc="node/Bar:0", result_names=["7"])
    g.add_op("Sink", [op2.results[0]], [], loc="sink")
    g.add_op("const", [op2.results[0]], [TensorType(F32, (1,))], result_names=["graph"])
    g.set_outputs([op2.results[0], op.results[1], x, w])
    return g


def test_roundtrip_of_a_hand_built_graph_with_every_feature():
    g = _weird_graph()
    text, g2 = roundtrip(g)
    assert '@"torch-jit-export"' in text
    assert '%"input.1"' not in text and "%input.1:" in text  # dots are fine in names
    assert 'f32["batch size",?,3]' in text and "bool[*]" in text
    assert '%"0" = param f32[2,3]' in text and "= param f64[3]" in text
    assert "%big = const f32[4,10] {sha1=" in text
    assert ", _, " in text and "Sink(" in text and '"const"(' in text
    assert '# "  spaced # loc\\n"' in text
    # names survive where they are unique; the duplicate result got a number
    assert [v.name for v in g2.inputs] == ["input.1", "mask"]
    assert [v.name for v in g2.params] == ["0", ""]
    assert g2.ops[0].results[0].name == "y" and g2.ops[0].results[1].name == ""
    assert g2.ops[1].results[0].name == "7" and g2.ops[3].results[0].name == "graph"
    assert "%graph = " in text and '%"7" = ' in text
    assert g2.name == "torch-jit-export" and g2.opset == 18
    # attributes come back with their Python types
    a = g2.ops[0].attrs
    assert a["f"] == 1e-5 and a["i"] == -3 and a["s"] == 'tab\there "q" \\'
    assert a["l"] == [1.5, 2.0] and isinstance(a["l"][1], float)
    assert a["ls"] == ["a", "b"] and a["empty"] == [] and a["b"] is True and a["n"] is None
    assert a["dt"] is DType.FLOAT16 and a["by"] == b"\x00\xff" and a["weird key"] == 1
    assert a["big"] == 1e300 and np.signbit(a["neg"]) and a["nested"] == [[1], [2, 3]]
    assert a["t"].dtype == np.int64 and a["t"].tolist() == [[1, 2]]
    assert g2.ops[0].loc == "  spaced # loc\n" and g2.ops[1].loc == "node/Bar:0"
    # data: every array comes back bit for bit
    for v, v2 in zip(g.params + g.consts, g2.params + g2.consts):
        assert v.type == v2.type and v.name == v2.name
        a, b = np.asarray(v.data), np.asarray(v2.data)
        if a.dtype == object:
            assert a.tolist() == b.tolist()
        else:
            assert a.tobytes() == b.tobytes()
    assert [str(v.type) for v in g2.outputs] == [str(v.type) for v in g.outputs]


def test_inline_floats_use_the_shortest_exact_text():
    g = Graph()
    g.add_const(np.array([0.1, 1.0, 1e20, -2.5e-3], np.float32), "c")
    g.add_const(np.array([0.1], np.float64), "d")
    text = print_graph(g)
    assert "%c = const f32[4] {value=[0.1,1.0,1e+20,-0.0025]}" in text
    assert "%d = const f64[1] {value=[0.1]}" in text


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float16, np.float64, np.int8, np.uint16,
                                   np.int64, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)))
def test_inline_constants_roundtrip_exactly(arr):
    g = Graph()
    g.set_outputs([g.add_const(arr, "c")])
    text = print_graph(g)
    assert ("{value=" in text) == (arr.size <= INLINE_LIMIT)
    g2 = parse_graph(text, data=graph_data(g))  # data only used for the large ones
    back = g2.consts[0].data
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()


def test_large_constant_without_data_keeps_its_digest():
    g = Graph()
    c = g.add_const(np.arange(100, dtype=np.float32), "big")
    g.set_outputs([c])
    text = print_graph(g)
    assert f'{{sha1="{digest(c.data)}"}}' in text
    g2 = parse_graph(text)  # no data: zeros stand in, the digest is remembered
    assert not g2.consts[0].data.any()
    assert print_graph(g2) == text
    assert print_graph(g2.clone()) == text
    g3 = parse_graph(text, data={"big": np.arange(100, dtype=np.float32)})
    np.testing.assert_array_equal(g3.consts[0].data, c.data)
    with pytest.raises(IRError, match="does not match its sha1"):
        parse_graph(text, data={"big": np.ones(100, np.float32)})
    with pytest.raises(IRError, match=r"data for const %big is f64\[100\]"):
        parse_graph(text, data={"big": np.ones(100, np.float64)})


def test_param_data_comes_from_data_or_inline_value():
    text = ir('''
        graph @g(%x: f32[2]) -> (f32[2]) {
          %w = param f32[2]
          %v = param f32[2] {value=[1.5,-2]}
          %3 = param i64[2]
          %0 = Add(%x, %w) : f32[2]
          return %0
        }
    ''')
    g = parse_graph(text, data={"w": np.array([3, 4], np.float32),
                                "%3": np.array([7, 8], np.int64)})
    assert g.params[0].data.tolist() == [3, 4]
    assert g.params[1].data.tolist() == [1.5, -2.0]
    assert g.params[2].data.tolist() == [7, 8]
    assert graph_data(g)["%0"] is g.params[2].data
    with pytest.raises(IRError, match=r"data for param %w is f32\[3\], the text says f32\[2\]"):
        parse_graph(text, data={"w": np.zeros(3, np.float32)})


def test_values_without_types_and_unknown_result_types():
    text = ir('''
        graph @g(%x: ?) -> (?) {
          %0 = Relu(%x)
          %1, %2 = Split(%0) : ?, f32[*]
          return %1
        }
    ''')
    g = parse_graph(text)
    assert g.inputs[0].type is None and g.ops[0].results[0].type is None
    assert g.ops[1].results[1].type == TensorType(F32, None)
    assert print_graph(g) == text


def test_declared_output_type_fills_an_unknown_result_type():
    g = parse_graph(ir('''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0 = Relu(%x)
          return %0
        }
    '''))
    assert g.outputs[0].type == TensorType(F32, (3,))


def test_comments_on_their_own_lines_are_ignored():
    g = parse_graph(ir('''
        # a graph
        graph @g(%x: f32[3]) -> (f32[3]) {  # header comment
          # before the op
          %0 = Relu(%x)
          # after the op, on its own line: not its loc
          return %0  # end
        }
    '''))
    assert g.ops[0].loc == ""


def test_nested_value_literals_are_accepted():
    g = parse_graph(ir('''
        graph @g() -> (i32[2,2]) {
          %c = const i32[2,2] {value=[[1,2],[3,4]]}
          return %c
        }
    '''))
    assert g.consts[0].data.tolist() == [[1, 2], [3, 4]]
    assert "{value=[1,2,3,4]}" in print_graph(g)


@pytest.mark.parametrize("text, where, what", [
    ("graph @g(%x: f32[3]) -> (f32[3]) {\n  %0 = Relu(%y)\n  return %0\n}\n", "line 2, column 13",
     "%y used before its definition"),
    ("graph @g(%x: f32[3]) -> (f32[3]) {\n  %x = Relu(%x)\n  return %x\n}\n", "line 2, column 3",
     "%x defined twice"),
    ("graph @g(%x: f99[3]) -> () {\n  return\n}\n", "line 1, column 14",
     "unknown element type 'f99'"),
    ("graph @g(%x: f32[3]) -> (f32[3]) {\n  %0 = Relu(%x) : f32[3], f32[3]\n  return %0\n}\n",
     "line 2, column 17", "1 results but 2 types"),
    ("graph @g(%x: f32[3]) -> (f32[4]) {\n  return %x\n}\n", "line 1, column 26",
     r"output 0 is declared f32\[4\] but the value is f32\[3\]"),
    ("graph @g(%x: f32[3]) -> () {\n  %0 = Relu(%x) $\n  return\n}\n", "line 2, column 17",
     "unexpected character '\\$'"),
    ("graph @g(%x: f32[3]) -> () {\n  %0 = Relu(%x {a=1}\n  return\n}\n", "line 2, column 16",
     "expected ','"),
    ("graph @g() -> () {\n  %c = const i64[3] {value=[1,2]}\n  return\n}\n", "line 2, column 21",
     r"2 elements given for i64\[3\]"),
    ("graph @g() -> () {\n  %c = const i64[1] {value=[1.5]}\n  return\n}\n", "line 2, column 21",
     "bad literal"),
    ("graph @g() -> () {\n  %c = const i64[2]\n  return\n}\n", "line 2, column 3",
     "has no value"),
    ("graph @g() -> () {\n  %w = param f32[N]\n  return\n}\n", "line 2, column 14",
     "no static type"),
    ("graph @g() -> () {\n  return\n}\nextra\n", "line 4, column 1", "text after the end"),
    ("graph @g() -> () {\n  %0 = Relu(\n", "line 3, column 1", "end of text"),
    ("graph @g() -> () {\n  %0 = Foo() {a=1, a=2}\n  return\n}\n", "line 2, column 20",
     "attribute 'a' given twice"),
    ("graph @g() -> () {\n  %0 = Foo() {a=b\"\u0900\"}\n  return\n}\n", "line 2, column 18",
     "bytes literal"),
    ("graph @g() -> () {\n  %c = const f16[1] {value=[1e300]}\n  return\n}\n",
     "line 2, column 21", r"out of range for f16\[1\]"),
    ("graph @g() -> () {\n  %c = const str[1] {value=[1]}\n  return\n}\n",
     "line 2, column 21", "non-string element"),
])
def test_syntax_errors_name_line_and_column(text, where, what):
    with pytest.raises(IRError, match=what) as ei:
        parse_graph(text)
    assert where in str(ei.value)
    assert "^" in str(ei.value)  # the offending line is shown with a caret


def test_print_shows_values_missing_from_the_graph():
    g = Graph()
    x = g.add_input("x", TensorType(F32, (3,)))
    other = Graph().add_input("stray", TensorType(F32, (3,)))
    g.add_op("Add", [x, other], [TensorType(F32, (3,))])
    assert "%<undefined stray>" in print_graph(g)


@pytest.mark.parametrize("dtype,bits", [(np.float32, [0xFFC00000, 0x7F800001]),
                                        (np.float16, [0xFE00, 0x7C01]),
                                        (np.float64, [0xFFF8000000000000])])
def test_nan_sign_and_payload_round_trip(dtype, bits):
    uint = np.dtype(f"u{np.dtype(dtype).itemsize}")
    arr = np.array(bits, dtype=uint).view(dtype)
    g = Graph()
    g.set_outputs([g.add_const(arr, "c")])
    back = parse_graph(print_graph(g)).consts[0].data
    assert back.dtype == arr.dtype and back.tobytes() == arr.tobytes()
