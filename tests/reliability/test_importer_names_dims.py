"""Names that are not UTF-8 and negative dims are refused at import (issue #11,
items 4 and 6).

Protobuf keeps a proto2 string field whose bytes are not UTF-8 and hands it back
as ``bytes``; before, such a node name failed with a ``TypeError`` at the first
run.  The expected error names a field path; the tests resolve that path on the
parsed proto themselves and check it holds the planted bytes.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx
from singa.errors import ModelError
from singa.frontends.onnx_import import import_model

from ._models import external, reference, save, tiny

PLACEHOLDER = "QQQQQQQQ"
BAD = b"\xc3\x28\xff\xfe" + PLACEHOLDER.encode()[4:]  # same length, not UTF-8


def planted(model: onnx.ModelProto) -> bytes:
    data = model.SerializeToString()
    assert PLACEHOLDER.encode() in data
    return data.replace(PLACEHOLDER.encode(), BAD)


def resolve(proto, path: str):
    """The value at ``model.graph.node[0].name``-style ``path`` of ``proto``."""
    parts = path.split(".")
    assert parts[0] == "model"
    v = proto
    for part in parts[1:]:
        m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", part)
        v = getattr(v, m.group(1))
        if m.group(2) is not None:
            v = v[int(m.group(2))]
    return v


def assert_names_bad_field(data: bytes, err: ModelError):
    msg = str(err)
    m = re.match(r"(model(?:\.\w+(?:\[\d+\])?)+) is not valid UTF-8", msg)
    assert m, msg
    parsed = onnx.ModelProto()
    parsed.ParseFromString(data)
    assert resolve(parsed, m.group(1)) == BAD
    assert repr(BAD) in msg  # the bytes, escaped


@pytest.mark.parametrize("part", ["fc", "h", "W", "x", "y", "N", "graph"])
def test_non_utf8_name_is_a_model_error(part):
    data = planted(tiny({part: PLACEHOLDER}))
    with pytest.raises(ModelError) as e:
        import_model(data)
    assert_names_bad_field(data, e.value)


def test_non_utf8_external_location(tmp_path):
    m = tiny()
    external(m.graph.initializer[0], PLACEHOLDER, 0, 48)
    data = planted(m)
    (tmp_path / "m.onnx").write_bytes(data)
    with pytest.raises(ModelError) as e:
        import_model(str(tmp_path / "m.onnx"))
    assert_names_bad_field(data, e.value)


def test_non_utf8_domain_and_attribute_name():
    m = tiny()
    m.graph.node[1].domain = PLACEHOLDER
    data = planted(m)
    with pytest.raises(ModelError) as e:
        import_model(data)
    assert_names_bad_field(data, e.value)
    m = tiny()
    m.graph.node[0].attribute.append(helper.make_attribute(PLACEHOLDER, 1))
    data = planted(m)
    with pytest.raises(ModelError) as e:
        import_model(data)
    assert_names_bad_field(data, e.value)


def test_prepare_refuses_bad_node_name_instead_of_failing_at_run(tmp_path):
    data = planted(tiny({"act": PLACEHOLDER}))
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for model in (data, str(path)):
        with pytest.raises(ModelError, match="not valid UTF-8"):
            sonnx.prepare(model)


def test_non_utf8_doc_string_is_free_text_and_runs():
    m = tiny()
    m.graph.node[0].doc_string = PLACEHOLDER
    rep = sonnx.prepare(planted(m))
    x = np.random.default_rng(1).normal(size=(3, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(rep.run([x])[0].data), reference(x),
                               rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ negative dims

def add_model(w: onnx.TensorProto, x_shape=(4,), y_shape=(4,)) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Add", ["x", w.name], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TP.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info("y", TP.FLOAT, list(y_shape))], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def raw_tensor(name, dims, data: bytes) -> onnx.TensorProto:
    t = onnx.TensorProto()
    t.name, t.data_type = name, TP.FLOAT
    t.dims.extend(dims)
    t.raw_data = data
    return t


FOUR = np.ones(4, np.float32).tobytes()


@pytest.mark.parametrize("dims, data", [([-4], FOUR), ([2, -2], b""), ([-1, -4], FOUR)],
                         ids=["-4", "2,-2", "-1,-4"])
def test_initializer_with_negative_dims(dims, data):
    with pytest.raises(ModelError, match=r"'W'.*negative dim") as e:
        import_model(add_model(raw_tensor("W", dims, data)))
    assert str(dims) in str(e.value)


def test_initializer_with_zero_dim_is_fine():
    g = import_model(add_model(raw_tensor("W", [0], b""), (0,), (0,)))
    assert g.params[0].data.shape == (0,)


def test_negative_dim_in_graph_input_and_output():
    w = numpy_helper.from_array(np.ones(4, np.float32), "W")
    with pytest.raises(ModelError, match=r"graph input 'x'.*negative dim -3"):
        import_model(add_model(w, x_shape=(-3,)))
    with pytest.raises(ModelError, match=r"graph output 'y'.*negative dim -1"):
        import_model(add_model(w, y_shape=(-1,)))


def test_negative_dim_in_constant_and_sparse_tensor(tmp_path):
    const = raw_tensor("c", [-4], np.ones(4, np.float32).tobytes())
    g = helper.make_graph([helper.make_node("Constant", [], ["c"], value=const),
                           helper.make_node("Add", ["x", "c"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TP.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ModelError, match=r"'c'.*negative dim"):
        import_model(save(m, tmp_path / "c.onnx"))
    values = numpy_helper.from_array(np.ones(2, np.float32), "S")
    indices = numpy_helper.from_array(np.array([0, 1], np.int64), "S_idx")
    sparse = helper.make_sparse_tensor(values, indices, [-4])
    m = add_model(numpy_helper.from_array(np.ones(4, np.float32), "W"))
    m.graph.sparse_initializer.append(sparse)
    with pytest.raises(ModelError, match=r"'S'.*negative dim"):
        import_model(m)
