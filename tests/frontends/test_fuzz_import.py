"""Fuzzing the ONNX front end with mutated small models.

Each example takes one of a few small, valid models built with onnx.helper and
applies one mutation: an attribute gets another value (negative, zero, huge,
a list of the wrong length, the wrong type), an initializer another shape,
dtype or values (a Reshape target with two -1, Gather indices out of range,
Slice steps of 0), a node input is dropped or renamed, an op renamed, or the
declared graph input gets another shape or dtype.  Then the model is prepared
and run on an input matching its declared input.

The rule checked: whatever goes wrong is reported as a ``singa.errors``
exception (a SingaError) whose message names the node (its name or op type),
never a raw NumPy/Python exception.  Many mutations leave the model valid; when
SINGA runs one and onnxruntime runs it too, the outputs must agree.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import autograd, sonnx
from singa.errors import InputError, SingaError

ort = pytest.importorskip("onnxruntime")

OPSET = 13


def _model(nodes, x_shape, inits, x_elem=TP.FLOAT):
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", x_elem, x_shape)],
                          [helper.make_tensor_value_info("y", TP.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(a), n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 8
    return m


def conv_net():
    r = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv1", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["c"], ["r"], name="relu1"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 0, 0]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat1", axis=1),
        helper.make_node("Gemm", ["f", "W2", "B2"], ["y"], name="fc1", alpha=1.0, beta=1.0,
                         transA=0, transB=1),
    ]
    inits = {"W": r.normal(size=(3, 2, 3, 3)).astype(np.float32),
             "B": r.normal(size=(3,)).astype(np.float32),
             "W2": r.normal(size=(4, 27)).astype(np.float32),
             "B2": r.normal(size=(4,)).astype(np.float32)}
    return _model(nodes, [1, 2, 6, 6], inits)


def shape_net():
    r = np.random.default_rng(2)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["a"], name="reshape1"),
        helper.make_node("Transpose", ["a"], ["t"], name="transpose1", perm=[1, 0]),
        helper.make_node("Concat", ["t", "C"], ["c"], name="concat1", axis=1),
        helper.make_node("Slice", ["c", "starts", "ends", "axes", "steps"], ["s"],
                         name="slice1"),
        helper.make_node("Gather", ["s", "idx"], ["y"], name="gather1", axis=0),
    ]
    inits = {"shape": np.array([3, -1], np.int64),
             "C": r.normal(size=(8, 2)).astype(np.float32),
             "starts": np.array([1, 0], np.int64), "ends": np.array([7, 5], np.int64),
             "axes": np.array([0, 1], np.int64), "steps": np.array([2, 1], np.int64),
             "idx": np.array([2, 0], np.int64)}
    return _model(nodes, [2, 3, 4], inits)


def broadcast_net():
    r = np.random.default_rng(3)
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="add1"),
        helper.make_node("Mul", ["a", "c"], ["m"], name="mul1"),
        helper.make_node("Sub", ["m", "x"], ["y"], name="sub1"),
    ]
    inits = {"b": r.normal(size=(4,)).astype(np.float32),
             "c": r.normal(size=(3, 1)).astype(np.float32)}
    return _model(nodes, [2, 3, 4], inits)


def bn_net():
    r = np.random.default_rng(4)
    nodes = [helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["b"],
                              name="bn1", epsilon=1e-5, momentum=0.9),
             helper.make_node("Relu", ["b"], ["y"], name="relu2")]
    inits = {"scale": r.normal(size=(3,)).astype(np.float32),
             "bias": r.normal(size=(3,)).astype(np.float32),
             "mean": r.normal(size=(3,)).astype(np.float32),
             "var": r.uniform(0.5, 2, size=(3,)).astype(np.float32)}
    return _model(nodes, [2, 3, 4, 4], inits)


def softmax_net():
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="softmax1", axis=-1),
             helper.make_node("Softmax", ["s"], ["y"], name="softmax2", axis=1)]
    return _model(nodes, [2, 3, 5], {})


MODELS = [conv_net, shape_net, broadcast_net, bn_net, softmax_net]

# values an int attribute (or an element of a list attribute) may become
INTS = st.sampled_from([-(10 ** 9), -5, -2, -1, 0, 1, 2, 3, 4, 7, 10 ** 9])
INT_LISTS = st.lists(INTS, min_size=0, max_size=6)
# values an int64 initializer element may become
INIT_INTS = st.sampled_from([-(2 ** 62), -10, -3, -2, -1, 0, 1, 2, 3, 5, 8, 100, 2 ** 62])
ATTR_NAMES = ["axis", "perm", "kernel_shape", "pads", "strides", "dilations", "group", "transA",
              "transB", "alpha", "beta", "epsilon", "momentum", "training_mode", "ceil_mode",
              "storage_order", "auto_pad", "keepdims", "allowzero", "bogus"]
DTYPES = [TP.FLOAT, TP.DOUBLE, TP.INT64, TP.INT32, TP.UINT8, TP.BOOL, TP.FLOAT16, TP.INT8]


@st.composite
def attr_values(draw, name):
    kind = draw(st.sampled_from(["int", "ints", "float", "floats", "string", "tensor"]))
    if kind == "int":
        return helper.make_attribute(name, draw(INTS))
    if kind == "ints":
        return helper.make_attribute(name, draw(INT_LISTS), attr_type=onnx.AttributeProto.INTS)
    if kind == "float":
        return helper.make_attribute(name, draw(st.sampled_from(
            [-1.0, 0.0, 1e-30, 0.5, 2.0, 1e30, float("nan"), float("inf")])))
    if kind == "floats":
        return helper.make_attribute(name, draw(st.lists(st.sampled_from([0.0, 1.5, -2.0]),
                                                         max_size=3)),
                                     attr_type=onnx.AttributeProto.FLOATS)
    if kind == "string":
        return helper.make_attribute(name, draw(st.sampled_from(
            ["", "SAME_UPPER", "VALID", "NOTSET", "nonsense"])))
    return helper.make_attribute(name, numpy_helper.from_array(np.array([1, 2], np.int64)))


def _new_init(draw, arr: np.ndarray) -> np.ndarray:
    kind = draw(st.sampled_from(["values", "dtype", "shape", "empty", "scalar"]))
    if kind == "values":
        if arr.dtype.kind in "iu":
            n = draw(st.integers(0, 5))
            return np.array(draw(st.lists(INIT_INTS, min_size=n, max_size=n)), np.int64)
        return np.full(arr.shape, draw(st.sampled_from([0.0, -1.0, 1e30, np.nan])), arr.dtype)
    if kind == "dtype":
        dt = draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8,
                                   np.bool_, np.float16]))
        return arr.astype(dt)
    if kind == "shape":
        how = draw(st.sampled_from(["flat", "col", "grow", "shrink"]))
        if how == "flat":
            return arr.reshape(-1)
        if how == "col":
            return arr.reshape(-1, 1)
        if how == "grow":
            return np.concatenate([arr.reshape(-1), arr.reshape(-1)[:1]]) if arr.size else arr
        return arr.reshape(-1)[:-1]
    if kind == "empty":
        return np.zeros((0,), arr.dtype)
    return np.asarray(arr.reshape(-1)[0] if arr.size else 0, arr.dtype)


@st.composite
def mutated_models(draw):
    m = draw(st.sampled_from(MODELS))()
    for _ in range(draw(st.integers(1, 2))):
        _mutate(draw, m.graph)
    return m


def _mutate(draw, g: onnx.GraphProto) -> None:
    kind = draw(st.sampled_from(["attr", "attr", "init", "init", "input", "op", "decl",
                                 "graph"]))
    if kind == "attr":
        node = draw(st.sampled_from(list(g.node)))
        names = [a.name for a in node.attribute]
        name = draw(st.sampled_from(names + ATTR_NAMES)) if names else draw(
            st.sampled_from(ATTR_NAMES))
        keep = [a for a in node.attribute if a.name != name]
        if draw(st.booleans()) or name not in names:
            keep.append(draw(attr_values(name)))
        del node.attribute[:]
        node.attribute.extend(keep)
    elif kind == "init" and len(g.initializer):
        i = draw(st.integers(0, len(g.initializer) - 1))
        t = g.initializer[i]
        arr = _new_init(draw, numpy_helper.to_array(t))
        g.initializer[i].CopyFrom(numpy_helper.from_array(arr, t.name))
    elif kind == "input":
        node = draw(st.sampled_from(list(g.node)))
        if not node.input:
            node.input.append("x")
        j = draw(st.integers(0, len(node.input) - 1))
        how = draw(st.sampled_from(["drop", "rename", "truncate", "extra", "swap"]))
        if how == "drop":
            node.input[j] = ""
        elif how == "rename":
            node.input[j] = "nowhere"
        elif how == "truncate":
            del node.input[j:]
        elif how == "extra":
            node.input.append("x")
        else:
            other = draw(st.sampled_from(["x"] + [t.name for t in g.initializer]))
            node.input[j] = other
    elif kind == "graph":
        how = draw(st.sampled_from(["drop_node", "drop_init", "output", "node_output"]))
        if how == "drop_node" and len(g.node) > 1:
            del g.node[draw(st.integers(0, len(g.node) - 1))]
        elif how == "drop_init" and len(g.initializer):
            del g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        elif how == "output":
            g.output[0].name = draw(st.sampled_from(["x", "nowhere", g.node[0].output[0]]))
        else:
            node = draw(st.sampled_from(list(g.node)))
            node.output.append(draw(st.sampled_from(["", "extra", "x"])))
    elif kind == "op":
        node = draw(st.sampled_from(list(g.node)))
        node.op_type = draw(st.sampled_from(["Relu", "Conv", "Softmax", "Gemm", "NoSuchOp",
                                             "Reshape", "Gather", "Concat"]))
    else:
        tt = g.input[0].type.tensor_type
        how = draw(st.sampled_from(["dtype", "rank", "dim", "symbolic"] if len(tt.shape.dim)
                                   else ["dtype", "rank"]))
        if how == "dtype":
            tt.elem_type = draw(st.sampled_from(DTYPES))
        elif how == "rank":
            dims = [d.dim_value for d in tt.shape.dim]
            dims = dims[:-1] if draw(st.booleans()) else dims + [2]
            g.input[0].CopyFrom(helper.make_tensor_value_info("x", tt.elem_type, dims))
        elif how == "dim":
            d = draw(st.integers(0, len(tt.shape.dim) - 1))
            tt.shape.dim[d].dim_value = draw(st.sampled_from([0, 1, 2, 5, 9]))
        else:
            d = draw(st.integers(0, len(tt.shape.dim) - 1))
            tt.shape.dim[d].dim_param = "S"


_NP = {TP.FLOAT: np.float32, TP.DOUBLE: np.float64, TP.INT64: np.int64, TP.INT32: np.int32,
       TP.UINT8: np.uint8, TP.BOOL: np.bool_, TP.FLOAT16: np.float16, TP.INT8: np.int8}


def _input_for(m: onnx.ModelProto) -> np.ndarray:
    tt = m.graph.input[0].type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else 2 for d in tt.shape.dim]
    x = np.random.default_rng(0).normal(size=shape)
    return x.astype(_NP[tt.elem_type])


def _names_node(msg: str, m: onnx.ModelProto) -> bool:
    """The message names a node (name or op type), or, for a fault of the graph
    itself rather than of a node, the graph input or output at fault."""
    return (any((n.name and n.name in msg) or n.op_type in msg for n in m.graph.node)
            or "graph output" in msg or "graph input" in msg)


def _ort(m: onnx.ModelProto, x: np.ndarray):
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(m.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})
    except Exception:
        return None


def check(m: onnx.ModelProto) -> None:
    x = _input_for(m)
    old = autograd.training
    autograd.training = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = sonnx.prepare(m)
            got = rep.run([x])
    except SingaError as e:
        msg = str(e)
        assert isinstance(e, InputError) or _names_node(msg, m), \
            f"{type(e).__name__} does not name the node: {msg}"
        # The safety net (an op's stray exception wrapped as OpError/IRError) must
        # not be how bad input is found: validation raises the singa error itself.
        cause = e
        while isinstance(cause, SingaError):
            cause = cause.__cause__ or cause.__context__
        assert cause is None, f"{type(e).__name__} wraps a raw {type(cause).__name__}: {msg}"
        return
    finally:
        autograd.training = old
    want = _ort(m, x)
    if want is None:
        return
    assert len(got) == len(want)
    for a, b in zip(got, want):
        a = np.asarray(a)
        assert a.shape == b.shape, (a.shape, b.shape)
        if b.dtype.kind in "fc":
            np.testing.assert_allclose(a.astype(b.dtype), b, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__)
def test_unmutated_models_match_onnxruntime(make):
    m = make()
    x = _input_for(m)
    assert _ort(m, x) is not None
    check(m)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(mutated_models())
def test_mutated_models_raise_singa_errors_or_match_onnxruntime(m):
    check(m)


# ------------------------------------------------------------------ found by the fuzzer
# Each once escaped as a raw Python/NumPy exception (or one wrapped by the
# safety net); now validation names the node and the fault.

def _set_attr(m, node, name, value):
    n = next(n for n in m.graph.node if n.name == node)
    keep = [a for a in n.attribute if a.name != name]
    del n.attribute[:]
    n.attribute.extend(keep if value is None else keep + [helper.make_attribute(name, value)])


def _set_init(m, name, arr):
    t = next(t for t in m.graph.initializer if t.name == name)
    t.CopyFrom(numpy_helper.from_array(np.asarray(arr), name))


def _set_inputs(m, node, inputs):
    n = next(n for n in m.graph.node if n.name == node)
    del n.input[:]
    n.input.extend(inputs)


FOUND = [
    # (model, mutation, error class name, text the message holds)
    (bn_net, lambda m: _set_inputs(m, "relu2", []), "ModelError", "relu2"),
    (conv_net, lambda m: _set_inputs(m, "conv1", ["", "W", "B"]), "ModelError", "conv1"),
    (bn_net, lambda m: _set_inputs(m, "bn1", ["x", "scale", "", "mean", "var"]), "ModelError",
     "bn1"),
    (broadcast_net, lambda m: _set_inputs(m, "add1", ["x", "b", "x"]), "ModelError", "add1"),
    (shape_net, lambda m: _set_inputs(m, "concat1", ["", "C"]), "ModelError", "concat1"),
    (shape_net, lambda m: _set_attr(m, "concat1", "axis", None), "ModelError", "'axis'"),
    (bn_net, lambda m: _set_attr(m, "bn1", "epsilon", [1, 2]), "ModelError", "'epsilon'"),
    (softmax_net, lambda m: _set_attr(m, "softmax1", "axis", "1"), "ModelError", "'axis'"),
    (conv_net, lambda m: _set_attr(m, "pool1", "kernel_shape", 2), "ModelError",
     "'kernel_shape'"),
    (conv_net, lambda m: _set_attr(m, "conv1", "pads", 1.5), "ModelError", "'pads'"),
    (conv_net, lambda m: _set_attr(m, "conv1", "kernal_shape", [3, 3]), "ModelError",
     "kernal_shape"),
    (conv_net, lambda m: _set_init(m, "B", np.zeros(0, np.float32)), "ShapeError", "bias"),
    (conv_net, lambda m: _set_init(m, "W", np.float32(1)), "ShapeError", "rank"),
    (conv_net, lambda m: _set_init(m, "W", np.zeros((3, 2, 5, 5), np.float32)), "ShapeError",
     "kernel_shape"),
    (conv_net, lambda m: _set_init(m, "W", np.zeros((3, 2, 3, 3), np.float64)), "DTypeError",
     "Conv"),
    # C (3, 1) broadcasts with A'B' (1, 4) both ways, but Gemm broadcasts C one way only
    (conv_net, lambda m: _set_init(m, "B2", np.zeros((3, 1), np.float32)), "ShapeError",
     "does not broadcast to"),
    (bn_net, lambda m: m.graph.input[0].type.tensor_type.__setattr__("elem_type", TP.BOOL),
     "DTypeError", "floats"),
    (bn_net, lambda m: _set_init(m, "mean", np.zeros(3, np.int64)), "DTypeError", "input_mean"),
    (shape_net, lambda m: _set_init(m, "shape", np.array([np.nan, 1], np.float32)),
     "DTypeError", "shape"),
    (shape_net, lambda m: _set_init(m, "idx", np.array([1.0], np.float32)), "DTypeError",
     "indices"),
    (shape_net, lambda m: _set_init(m, "steps", np.array([1.0, 1.0], np.float32)), "DTypeError",
     "steps"),
    (shape_net, lambda m: _set_init(m, "C", np.zeros((8, 2), np.int64)), "DTypeError", "Concat"),
    (softmax_net, lambda m: m.graph.input[0].type.tensor_type.__setattr__("elem_type", TP.INT32),
     "DTypeError", "softmax1"),
    (softmax_net, lambda m: _set_attr(m, "softmax2", "axis", 3), "ShapeError", "softmax2"),
]


@pytest.mark.parametrize("make, mutate, err, text", FOUND,
                         ids=[f"{i}-{f[0].__name__}-{f[2]}" for i, f in enumerate(FOUND)])
def test_found_mutations_raise_clear_errors(make, mutate, err, text):
    m = make()
    mutate(m)
    with pytest.raises(SingaError) as info:
        sonnx.prepare(m).run([_input_for(m)])
    assert type(info.value).__name__ == err, str(info.value)
    assert text in str(info.value)
    assert _names_node(str(info.value), m)
    cause = info.value
    while isinstance(cause, SingaError):
        cause = cause.__cause__ or cause.__context__
    assert cause is None, repr(cause)
