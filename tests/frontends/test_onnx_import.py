"""ONNX import: mapping to the IR, validation errors, external data safety.

References: the models are built with onnx.helper, so what each part must
become is known; numeric checks compare with onnxruntime or NumPy.
"""

from __future__ import annotations

import builtins
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa.errors import ExternalDataError, ModelError, UnsupportedOpError
from singa.frontends.onnx_import import import_model
from singa.ir.interpret import interpret
from singa.ir.types import DType, OptionalType, SequenceType, TensorType


def model(nodes, inputs, outputs, inits=(), opset=13, **kw):
    g = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], **kw)


def vi(name, elem=TP.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def mlp(opset=13):
    W = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    b = np.array([1, -1, 2, -2], np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "b"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["y"], name="act")]
    return model(nodes, [vi("x", shape=["N", 3])], [vi("y")],
                 [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")], opset)


# ------------------------------------------------------------------ mapping

def test_mapping_inputs_params_ops_locs():
    g = import_model(mlp())
    assert [v.name for v in g.inputs] == ["x"]
    assert g.inputs[0].type == TensorType(DType.FLOAT, ("N", 3))
    assert [v.name for v in g.params] == ["W", "b"]
    np.testing.assert_array_equal(g.params[0].data, np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    assert [op.name for op in g.ops] == ["MatMul", "Add", "Relu"]
    # loc: the node name, or <op_type>_<index> for unnamed nodes
    assert [op.loc for op in g.ops] == ["fc", "Add_1", "act"]
    assert [op.results[0].name for op in g.ops] == ["h", "hb", "y"]
    assert g.outputs == [g.ops[2].results[0]]
    assert g.opset == 13
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    W, b = g.params[0].data, g.params[1].data
    np.testing.assert_allclose(interpret(g, [x])[0], np.maximum(x @ W + b, 0), rtol=1e-6)


def test_dims_value_param_and_fresh_symbols():
    t = helper.make_tensor_type_proto(TP.FLOAT, [2, "batch", None, None])
    m = model([helper.make_node("Relu", ["x"], ["y"])],
              [helper.make_value_info("x", t)], [vi("y")])
    shape = import_model(m).inputs[0].type.shape
    assert shape[:2] == (2, "batch")
    assert isinstance(shape[2], str) and isinstance(shape[3], str)
    assert len({shape[1], shape[2], shape[3]}) == 3  # each unknown dim its own symbol


def test_unknown_rank_input():
    t = onnx.TypeProto()
    t.tensor_type.elem_type = TP.INT64
    m = model([helper.make_node("Identity", ["x"], ["y"])], [helper.make_value_info("x", t)],
              [vi("y", TP.INT64)])
    assert import_model(m).inputs[0].type == TensorType(DType.INT64, None)


def test_initializer_listed_as_input_is_a_param():
    m = mlp()
    m.graph.input.append(vi("W", shape=[3, 4]))
    g = import_model(m)
    assert [v.name for v in g.inputs] == ["x"]
    assert "W" in [v.name for v in g.params]


def test_constant_nodes_become_consts():
    nodes = [helper.make_node("Constant", [], ["c1"], value=numpy_helper.from_array(
                 np.array([[1, 2]], np.int32))),
             helper.make_node("Constant", [], ["c2"], value_float=2.5),
             helper.make_node("Constant", [], ["c3"], value_ints=[1, 2, 3]),
             helper.make_node("Constant", [], ["c4"], value_int=7),
             helper.make_node("Constant", [], ["c5"], value_floats=[0.5]),
             helper.make_node("Constant", [], ["c6"], value_string="hi")]
    outs = [vi(n, e) for n, e in [("c1", TP.INT32), ("c2", TP.FLOAT), ("c3", TP.INT64),
                                  ("c4", TP.INT64), ("c5", TP.FLOAT), ("c6", TP.STRING)]]
    g = import_model(model(nodes, [], outs))
    assert not g.ops and len(g.consts) == 6
    got = {v.name: v.data for v in g.consts}
    np.testing.assert_array_equal(got["c1"], np.array([[1, 2]], np.int32))
    assert got["c2"].dtype == np.float32 and got["c2"].shape == () and got["c2"] == 2.5
    np.testing.assert_array_equal(got["c3"], np.array([1, 2, 3], np.int64))
    assert got["c4"].dtype == np.int64 and got["c4"] == 7
    assert got["c5"].dtype == np.float32 and got["c5"].shape == (1,)
    assert got["c6"].item() == "hi"
    assert [v.name for v in g.outputs] == ["c1", "c2", "c3", "c4", "c5", "c6"]


def test_unsorted_nodes_are_ordered():
    m = mlp()
    nodes = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(reversed(nodes))
    g = import_model(m)
    assert [op.name for op in g.ops] == ["MatMul", "Add", "Relu"]


def test_old_form_adapted_to_newest():
    # Unsqueeze-11 takes axes as an attribute; the IR holds the opset-13 form (an input).
    m = model([helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0, 3], name="u")],
              [vi("x", shape=[2, 3])], [vi("y")], opset=11)
    g = import_model(m)
    op = g.ops[0]
    assert "axes" not in op.attrs and len(op.operands) == 2
    assert op.operands[1].kind == "const"
    np.testing.assert_array_equal(op.operands[1].data, [0, 3])
    x = np.ones((2, 3), np.float32)
    assert interpret(g, [x])[0].shape == (1, 2, 3, 1)


def test_optional_inputs_and_outputs():
    # Clip with min absent ('' input), max given; Dropout naming only its first output.
    nodes = [helper.make_node("Clip", ["x", "", "mx"], ["c"]),
             helper.make_node("Dropout", ["c"], ["y", ""])]
    g = import_model(model(nodes, [vi("x", shape=[4])], [vi("y")],
                           [numpy_helper.from_array(np.array(0.5, np.float32), "mx")]))
    clip, drop = g.ops
    assert clip.operands[1] is None and clip.operands[2].name == "mx"
    assert len(drop.results) == 1
    x = np.array([-1, 0.2, 0.7, 3], np.float32)
    np.testing.assert_array_equal(interpret(g, [x])[0], np.minimum(x, 0.5))


# ------------------------------------------------------------------ malformed models

def test_truncated_bytes_raise_model_error():
    data = mlp().SerializeToString()
    for k in list(range(0, len(data), 7)) + [len(data) - 1]:
        with pytest.raises(ModelError):
            import_model(data[:k])


def test_corrupt_bytes_raise_model_error():
    rng = np.random.default_rng(0)
    good = bytearray(mlp().SerializeToString())
    with pytest.raises(ModelError):
        import_model(bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    for seed in range(20):
        bad = bytearray(good)
        r = np.random.default_rng(seed)
        for i in r.integers(0, len(bad), 5):
            bad[i] = int(r.integers(0, 256))
        try:
            import_model(bytes(bad))
        except (ModelError, UnsupportedOpError):
            pass  # a flipped byte may also rename an op


def test_truncated_file_and_missing_path(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(mlp().SerializeToString()[:50])
    with pytest.raises(ModelError, match="m.onnx"):
        import_model(str(p))
    with pytest.raises(ModelError, match="cannot read"):
        import_model(str(tmp_path / "missing.onnx"))
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        import_model(tmp_path / "empty.onnx")


def test_missing_initializer_names_node_and_input():
    m = mlp()
    del m.graph.initializer[1]  # b
    with pytest.raises(ModelError, match=r"Add_1.*'b'"):
        import_model(m)


def test_undefined_graph_output():
    m = mlp()
    m.graph.output.append(vi("nowhere"))
    with pytest.raises(ModelError, match="nowhere"):
        import_model(m)


def test_cycle_names_nodes():
    nodes = [helper.make_node("Relu", ["x2"], ["x1"], name="a"),
             helper.make_node("Relu", ["x1"], ["x2"], name="b"),
             helper.make_node("Add", ["x", "x1"], ["y"], name="c")]
    with pytest.raises(ModelError, match=r"cycle.*\b(a|b)\b.*\b(a|b)\b"):
        import_model(model(nodes, [vi("x", shape=[2])], [vi("y")]))


def test_duplicate_definitions():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="n1"),
             helper.make_node("Neg", ["x"], ["y"], name="n2")]
    with pytest.raises(ModelError, match=r"'y'.*n1.*n2"):
        import_model(model(nodes, [vi("x", shape=[2])], [vi("y")]))
    m = mlp()
    m.graph.node[0].output[0] = "W"  # redefines an initializer
    with pytest.raises(ModelError, match="'W' is defined twice"):
        import_model(m)


def test_no_graph_or_opset():
    m = mlp()
    del m.opset_import[:]
    with pytest.raises(ModelError, match="opset"):
        import_model(m)
    with pytest.raises(ModelError, match="no graph"):
        import_model(onnx.ModelProto(ir_version=8))


def test_bad_initializer_data():
    t = numpy_helper.from_array(np.zeros((3, 4), np.float32), "W")
    t.raw_data = b"\0" * 10  # 10 bytes for 12 floats
    m = mlp()
    m.graph.initializer[0].CopyFrom(t)
    with pytest.raises(ModelError, match="'W'"):
        import_model(m)


# ------------------------------------------------------------------ unsupported

def test_one_error_lists_every_unsupported_op():
    nodes = [helper.make_node("FooOp", ["x"], ["a"], name="foo1"),
             helper.make_node("FooOp", ["a"], ["b"], name="foo2"),
             helper.make_node("Gelu", ["b"], ["c"], name="gelu"),  # in the table from opset 20
             helper.make_node("Relu", ["c"], ["d"]),
             helper.make_node("Mystery", ["d"], ["y"], domain="com.acme")]
    m = model(nodes, [vi("x", shape=[2])], [vi("y")], opset=13)
    m.opset_import.append(helper.make_opsetid("com.acme", 3))
    with pytest.raises(UnsupportedOpError) as ei:
        import_model(m)
    msg = str(ei.value)
    assert "3 unsupported" in msg
    assert "FooOp (opset 13)" in msg and "foo1, foo2" in msg
    assert "Gelu (opset 13)" in msg and "gelu" in msg and "from opset 20" in msg
    assert "com.acme.Mystery (opset 3)" in msg and "Mystery_4" in msg
    assert "Relu" not in msg
    assert [u[0] for u in ei.value.unsupported] == ["FooOp", "Gelu", "com.acme.Mystery"]


def test_opset_newer_than_onnx_knows():
    m = mlp(opset=onnx.defs.onnx_opset_version() + 1)
    with pytest.raises(UnsupportedOpError, match="opset"):
        import_model(m)


def test_sequence_and_optional_inputs_import_as_their_types():
    t = helper.make_sequence_type_proto(helper.make_tensor_type_proto(TP.FLOAT, [2]))
    o = helper.make_optional_type_proto(helper.make_tensor_type_proto(TP.INT64, [None]))
    m = model([helper.make_node("Identity", ["s"], ["y"])],
              [helper.make_value_info("s", t), helper.make_value_info("o", o)], [vi("y")])
    g = import_model(m)
    assert g.inputs[0].type == SequenceType(TensorType(DType.FLOAT, (2,)))
    assert g.inputs[1].type == OptionalType(TensorType(DType.INT64, (None,)))


def test_old_opset_model_imports_when_ops_allow():
    g = import_model(mlp(opset=9))
    assert g.opset == 9 and len(g.ops) == 3


# ------------------------------------------------------------------ external data

def save_external(tmp_path, m=None, location="weights.bin"):
    m = m or mlp()
    onnx.external_data_helper.convert_model_to_external_data(
        m, all_tensors_to_one_file=True, location=location, size_threshold=0)
    path = tmp_path / "model.onnx"
    onnx.save(m, str(path))
    return path


def set_location(path, name, location):
    m = onnx.load(str(path), load_external_data=False)
    for t in m.graph.initializer:
        if t.name == name:
            for e in t.external_data:
                if e.key == "location":
                    e.value = location
    onnx.save(m, str(path))
    return m


@pytest.fixture
def opened(monkeypatch):
    """Paths opened through builtins.open while the test runs."""
    seen = []
    real = builtins.open

    def spy(file, *a, **kw):
        seen.append(os.path.realpath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy)
    return seen


def test_external_data_loads_from_model_folder(tmp_path):
    path = save_external(tmp_path)
    g = import_model(str(path))
    ref = import_model(mlp())
    for a, b in zip(g.params, ref.params):
        np.testing.assert_array_equal(a.data, b.data)


def test_external_data_escaping_folder(tmp_path, opened):
    sub = tmp_path / "model"
    sub.mkdir()
    path = save_external(sub)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    set_location(path, "W", "../secret.bin")
    opened.clear()
    with pytest.raises(ExternalDataError, match="'W'.*leaves"):
        import_model(str(path))
    assert str((tmp_path / "secret.bin").resolve()) not in opened


def test_external_data_absolute_path(tmp_path, opened):
    path = save_external(tmp_path)
    target = str((tmp_path / "weights.bin").resolve())
    set_location(path, "b", target)
    opened.clear()
    with pytest.raises(ExternalDataError, match="'b'.*absolute"):
        import_model(str(path))


def test_external_data_symlink_escaping(tmp_path, opened):
    sub = tmp_path / "model"
    sub.mkdir()
    path = save_external(sub)
    outside = tmp_path / "outside.bin"
    outside.write_bytes((sub / "weights.bin").read_bytes())
    (sub / "link.bin").symlink_to(outside)
    set_location(path, "W", "link.bin")
    opened.clear()
    with pytest.raises(ExternalDataError, match="'W'"):
        import_model(str(path))
    assert str(outside.resolve()) not in opened


def test_external_data_bounds_and_no_folder(tmp_path):
    path = save_external(tmp_path)
    m = onnx.load(str(path), load_external_data=False)
    with pytest.raises(ExternalDataError, match="without a folder"):
        import_model(m)
    assert import_model(m, base_dir=tmp_path).params[0].data.shape == (3, 4)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "offset":
                e.value = "100000"
    with pytest.raises(ExternalDataError, match="outside"):
        import_model(m, base_dir=tmp_path)


def test_variadic_results_get_num_outputs():
    # Split-13 with three named outputs: the IR op records how many results it has.
    m = model([helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0, name="sp")],
              [vi("x", shape=[6, 2])], [vi("a"), vi("b"), vi("c")])
    g = import_model(m)
    assert g.ops[0].attrs["_num_outputs"] == 3 and len(g.ops[0].results) == 3
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    for got, ref in zip(interpret(g, [x]), np.split(x, 3)):
        np.testing.assert_array_equal(got, ref)


def test_model_local_functions_are_inlined_at_import():
    """A local function (with an attribute reference and a nested call) used twice
    computes what onnxruntime computes."""
    import onnxruntime as ort

    from singa import sonnx, tensor

    dom = "local.fn"
    scaled = helper.make_function(
        dom, "ScaledTanh", ["x"], ["y"],
        [helper.make_node("Constant", [], ["a"], value_float=0.0),
         helper.make_node("Constant", [], ["k"]),
         helper.make_node("Mul", ["x", "k"], ["xk"]), helper.make_node("Tanh", ["xk"], ["y"])],
        [helper.make_opsetid("", 17)], attributes=[])
    # 'k' comes from the caller's attribute
    scaled.node[1].ClearField("attribute")
    scaled.node[1].attribute.append(helper.make_attribute_ref("value_float", TP.FLOAT))
    scaled.node[1].attribute[0].ref_attr_name = "k"
    scaled.attribute.append("k")
    twice = helper.make_function(
        dom, "Twice", ["x"], ["y"],
        [helper.make_node("ScaledTanh", ["x"], ["t"], domain=dom, k=0.5),
         helper.make_node("Add", ["t", "t"], ["y"])],
        [helper.make_opsetid("", 17), helper.make_opsetid(dom, 1)])
    g = helper.make_graph([helper.make_node("Twice", ["x"], ["h"], domain=dom),
                           helper.make_node("ScaledTanh", ["h"], ["z"], domain=dom, k=3.0)],
                          "f", [vi("x", shape=[2, 3])], [vi("z", shape=[2, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid(dom, 1)],
                          functions=[scaled, twice])
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = tensor.to_numpy(sonnx.prepare(m).run([x])[0])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert [op.name for op in import_model(m).ops] == ["Mul", "Tanh", "Add", "Mul", "Tanh"]
