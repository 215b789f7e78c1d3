"""trace(): autograd tape -> IR.

The graph structure is checked as IR text; its meaning by interpreting it and
comparing with the eager result the tape recorded (and, for exported graphs,
with onnxruntime in tests/exporters).
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from singa import autograd, tensor
from singa.errors import ExportError
from singa.frontends.trace import trace
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.ir.printer import graph_data, print_graph
from singa.ir.verifier import verify
from singa.tensor import Tensor

pytestmark = pytest.mark.usefixtures("inference_mode")


def T(*shape, seed=0, dtype=np.float32, name=None):
    rng = np.random.default_rng(seed)
    return Tensor(data=rng.uniform(-1, 1, shape).astype(dtype), name=name)


def ir(text):
    return textwrap.dedent(text).strip("\n") + "\n"


def check_semantics(g, inputs, outputs):
    """The graph verifies, survives print/parse, and recomputes the eager outputs."""
    verify(g)
    again = parse_graph(print_graph(g), data=graph_data(g))
    verify(again)
    assert print_graph(again) == print_graph(g)
    got = interpret(g, [t.numpy() for t in inputs])
    assert len(got) == len(outputs)
    for a, t in zip(got, outputs):
        assert a.dtype == t.dtype and a.shape == t.shape
        np.testing.assert_array_equal(a, t.numpy())


def test_mlp_ir_text_and_names():
    x = T(4, 6)
    l1, l2 = autograd.Linear(6, 5), autograd.Linear(5, 3, bias=False)
    y = l2(autograd.relu(l1(x)))
    g = trace([x], [y], name="mlp")
    assert print_graph(g) == ir("""
        graph @mlp(%input_0: f32[4,6]) -> (f32[4,3]) {
          %MatMul_0.B = param f32[6,5]
          %Add_0.B = param f32[5]
          %MatMul_1.B = param f32[5,3]
          %0 = MatMul(%input_0, %MatMul_0.B) : f32[4,5]  # MatMul_0
          %1 = Add(%0, %Add_0.B) : f32[4,5]  # Add_0
          %2 = Relu(%1) : f32[4,5]  # Relu_0
          %output_0 = MatMul(%2, %MatMul_1.B) : f32[4,3]  # MatMul_1
          return %output_0
        }
        """)
    check_semantics(g, [x], [y])
    # params hold the layers' weights
    np.testing.assert_array_equal(g.params[0].data, l1.W.numpy())
    np.testing.assert_array_equal(g.params[2].data, l2.W.numpy())


def test_guide_cnn_structure():
    x = T(2, 1, 28, 28)
    conv1, conv2 = autograd.Conv2d(1, 4, 5), autograd.Conv2d(4, 6, 5)
    lin = autograd.Linear(4 * 4 * 6, 10, bias=False)
    pool = autograd.MaxPool2d(2, 2)
    y = pool(autograd.relu(conv2(pool(autograd.relu(conv1(x))))))
    y = lin(autograd.flatten(y))
    g = trace([x], [y])
    assert [op.name for op in g.ops] == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
                                         "Flatten", "MatMul"]
    assert [op.loc for op in g.ops] == ["Conv_0", "Relu_0", "MaxPool_0", "Conv_1", "Relu_1",
                                        "MaxPool_1", "Flatten_0", "MatMul_0"]
    assert [v.name for v in g.params] == ["Conv_0.W", "Conv_0.B", "Conv_1.W", "Conv_1.B",
                                          "MatMul_0.B"]
    assert g.inputs[0].type.shape == (2, 1, 28, 28)  # static, as traced
    assert g.consts == []
    # MaxPool computes [Y, Indices]; only Y is used, so only Y is a result
    assert all(len(op.results) == 1 for op in g.ops)
    assert dict(g.ops[0].attrs)["kernel_shape"] == [5, 5]
    check_semantics(g, [x], [y])


def test_tensor_names_win_and_stay_unique():
    x = T(3, 4, name="image")
    w1 = Tensor(data=np.ones((4, 4), np.float32), stores_grad=True, name="w")
    w2 = Tensor(data=np.full((4, 4), 2, np.float32), stores_grad=True, name="w")
    y = autograd.matmul(autograd.matmul(x, w1), w2)
    y.name = "logits"
    g = trace([x], [y])
    assert g.inputs[0].name == "image"
    assert [v.name for v in g.params] == ["w", "w_2"]
    assert g.outputs[0].name == "logits"
    check_semantics(g, [x], [y])


def test_shared_weight_is_one_param():
    x = T(3, 4)
    lin = autograd.Linear(4, 4, bias=False)
    y = lin(autograd.tanh(lin(x)))
    g = trace([x], [y])
    assert len(g.params) == 1 and len(g.params[0].uses) == 2
    check_semantics(g, [x], [y])


def test_consts_scalars_and_shape_inputs():
    x = T(2, 3, 4)
    y = autograd.reshape(x * 2.0 + 1.0, (6, 4))
    y = autograd.reduce_sum(y, axes=[1], keepdims=0)
    g = trace([x], [y])
    assert [op.name for op in g.ops] == ["Mul", "Add", "Reshape", "ReduceSum"]
    assert g.params == []
    consts = {v.name: v for v in g.consts}
    assert set(consts) == {"Mul_0.B", "Add_0.B", "Reshape_0.shape", "ReduceSum_0.axes"}
    assert consts["Mul_0.B"].data.dtype == np.float32 and consts["Mul_0.B"].data.shape == ()
    np.testing.assert_array_equal(consts["Reshape_0.shape"].data, [6, 4])
    assert consts["Reshape_0.shape"].data.dtype == np.int64
    check_semantics(g, [x], [y])


def test_split_keeps_all_results_and_num_outputs():
    x = T(2, 7)
    a, b, c = autograd.split(x, 1, [2, 3, 2])
    g = trace([x], [c])  # only the last piece is an output
    (op,) = g.ops
    assert op.name == "Split" and len(op.results) == 3
    assert op.attrs["_num_outputs"] == 3 and op.attrs["axis"] == 1
    check_semantics(g, [x], [c])


def test_multiple_outputs_and_inputs():
    x, z = T(3, 4, seed=1), T(3, 4, seed=2)
    s = x + z
    p = autograd.sigmoid(s)
    m = autograd.apply("Less", [x, z])[0]  # the table op: a bool result
    g = trace([x, z], [p, m, s])
    assert [v.name for v in g.inputs] == ["input_0", "input_1"]
    assert [str(v.type) for v in g.outputs] == ["f32[3,4]", "bool[3,4]", "f32[3,4]"]
    check_semantics(g, [x, z], [p, m, s])


def test_intermediate_tensor_as_input_cuts_the_tape():
    x = T(3, 4)
    lin = autograd.Linear(4, 4)
    h = autograd.relu(lin(x))
    y = autograd.tanh(h)
    g = trace([h], [y])
    assert [op.name for op in g.ops] == ["Tanh"] and g.params == []
    check_semantics(g, [h], [y])


def test_batchnorm_traced_while_training_becomes_inference():
    x = T(4, 3, 5, 5)
    bn = autograd.BatchNorm2d(3)
    autograd.training = True
    y = autograd.relu(bn(x))
    autograd.training = False
    g = trace([x], [y])
    op = g.ops[0]
    assert op.name == "BatchNormalization" and len(op.results) == 1
    assert op.attrs["training_mode"] == 0
    assert [v.name for v in g.params] == [
        "BatchNormalization_0.scale", "BatchNormalization_0.B",
        "BatchNormalization_0.input_mean", "BatchNormalization_0.input_var"]
    # the running statistics as they are after the training step
    np.testing.assert_array_equal(g.params[2].data, bn.running_mean.numpy())
    np.testing.assert_array_equal(g.params[3].data, bn.running_var.numpy())
    ref = autograd.relu(bn(x))  # inference mode now
    check_semantics(g, [x], [ref])


def test_dropout_traced_while_training_has_no_training_mode():
    x = T(4, 8)
    autograd.training = True
    y = autograd.dropout(x, ratio=0.25)
    autograd.training = False
    g = trace([x], [y])
    (op,) = g.ops
    assert op.name == "Dropout" and len(op.operands) == 2
    np.testing.assert_allclose(op.operands[1].data, 0.25)
    check_semantics(g, [x], [x])  # inference: the identity


def test_params_are_snapshots():
    x = T(2, 3)
    lin = autograd.Linear(3, 2)
    y = lin(x)
    w_after_forward = lin.W.numpy().copy()
    lin.W.data -= 1.0  # an optimiser step after the forward pass ...
    g = trace([x], [y])
    np.testing.assert_array_equal(g.params[0].data, w_after_forward - 1.0)  # ... is exported
    lin.W.data -= 1.0  # later steps are not
    np.testing.assert_array_equal(g.params[0].data, w_after_forward - 1.0)


def test_order_is_reproducible():
    def build():
        tensor.seed(3)
        x = T(2, 4)
        a, b = autograd.Linear(4, 4), autograd.Linear(4, 4)
        h = autograd.relu(a(x))
        return x, autograd.add(b(h), autograd.sigmoid(h))

    x1, y1 = build()
    x2, y2 = build()
    assert print_graph(trace([x1], [y1])) == print_graph(trace([x2], [y2]))


def test_deep_chain_needs_no_recursion():
    x = T(2, 2)
    y = x
    for _ in range(sys.getrecursionlimit() + 100):
        y = autograd.identity(y)
    g = trace([x], [y])
    assert len(g.ops) == sys.getrecursionlimit() + 100
    verify(g)


def test_output_not_connected_to_inputs():
    x, other = T(2, 3, seed=1), T(2, 3, seed=2)
    lin = autograd.Linear(3, 2)
    y = lin(other)
    with pytest.raises(ExportError) as e:
        trace([x], [y])
    msg = str(e.value)
    assert "output 0" in msg and "f32[2,2]" in msg
    assert "not connected" in msg and "f32[2,3]" in msg  # names the input and the leaves
    assert "weight f32[3,2]" in msg  # what it depends on


def test_second_output_not_connected_is_named():
    x = T(2, 3)
    z = Tensor(data=np.ones((3,), np.float32), name="stray")
    with pytest.raises(ExportError, match=r"output 1 .*stray"):
        trace([x], [autograd.relu(x), autograd.relu(z)])


@pytest.mark.parametrize("loss,name", [
    (lambda y, t: autograd.softmax_cross_entropy(y, t), "SoftmaxCrossEntropy"),
    (lambda y, t: autograd.cross_entropy(autograd.softmax(y), t), "CrossEntropy"),
])
def test_singa_only_ops_are_refused(loss, name):
    x = T(4, 3)
    t = Tensor(data=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    out = loss(autograd.relu(x), t)
    with pytest.raises(ExportError, match=rf"{name}.*no ONNX form"):
        trace([x], [out])
    # without the ONNX restriction the loss traces (and recomputes)
    g = trace([x], [out], onnx_only=False)
    check_semantics(g, [x], [out])


def test_mse_loss_traces_as_standard_ops():
    """SINGA 3.1's mse_loss (mean of every squared error, shape (1,)) is built of
    ONNX ops, so it traces under the ONNX restriction."""
    x = T(4, 3)
    t = Tensor(data=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    out = autograd.mse_loss(autograd.relu(x), t)
    g = trace([x], [out])
    assert all(op.name in ("Relu", "Sub", "Mul", "ReduceMean", "Reshape") for op in g.ops)
    check_semantics(g, [x], [out])
    err = np.maximum(x.numpy().astype(np.float64), 0) - t.numpy()
    np.testing.assert_allclose(out.numpy(), [np.mean(err ** 2)], rtol=1e-6)


def test_comparison_traces_as_compare_and_cast():
    """SINGA's comparisons give 0/1 in the first input's dtype: the table op and a Cast."""
    x, z = T(3, 4, seed=1), T(3, 4, seed=2)
    m = autograd.less(x, z)
    g = trace([x, z], [m])
    assert [op.name for op in g.ops] == ["Less", "Cast"]
    assert str(g.outputs[0].type) == "f32[3,4]"
    np.testing.assert_array_equal(m.numpy(), (x.numpy() < z.numpy()).astype(np.float32))
    check_semantics(g, [x, z], [m])


def test_user_defined_operator_is_refused():
    """An Operator subclass with its own forward/backward (raw arrays) has no ONNX form."""

    class Twice(autograd.Operator):
        def forward(self, x):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    x = T(2, 3)
    y = Twice()(autograd.relu(x))[0]
    with pytest.raises(ExportError, match=r"Twice.*no ONNX form"):
        trace([x], [y])
    g = trace([x], [y], onnx_only=False)
    assert [op.name for op in g.ops] == ["Relu", "Twice"]


def test_bad_arguments():
    x = T(2, 2)
    with pytest.raises(ExportError, match="not a singa Tensor"):
        trace([x.numpy()], [x])
    with pytest.raises(ExportError, match="no outputs"):
        trace([x], [])
