"""sonnx.prepare / SingaRep / SingaBackend / singa.compile, against onnxruntime.

The models are built with onnx.helper; onnxruntime runs the same model (with
the same weights) as the reference.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

import singa
from singa import autograd, sonnx, tensor
from singa.errors import DeviceError, InputError, IRError, UnsupportedOpError
from singa.sonnx import SingaBackend
from singa.tensor import Tensor

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(0)


def cnn_model(batch="N") -> onnx.ModelProto:
    """Conv -> BN -> Relu -> MaxPool -> Flatten -> Gemm -> Softmax, NCHW 1x8x8."""
    inits = {
        "conv.W": RNG.normal(size=(3, 1, 3, 3)).astype(np.float32),
        "conv.b": RNG.normal(size=3).astype(np.float32),
        "bn.scale": RNG.uniform(0.5, 1.5, 3).astype(np.float32),
        "bn.B": RNG.normal(size=3).astype(np.float32),
        "bn.mean": RNG.normal(size=3).astype(np.float32),
        "bn.var": RNG.uniform(0.5, 1.5, 3).astype(np.float32),
        "fc.W": (RNG.normal(size=(27, 4)) / 5).astype(np.float32),
        "fc.b": RNG.normal(size=4).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.W", "conv.b"], ["c"], kernel_shape=[3, 3],
                         name="conv1"),
        helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.B", "bn.mean", "bn.var"],
                         ["n"], name="bn1"),
        helper.make_node("Relu", ["n"], ["r"], name="relu1"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2],
                         name="pool1"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc.W", "fc.b"], ["g"], name="fc"),
        helper.make_node("Softmax", ["g"], ["y"], axis=1, name="softmax"),
    ]
    g = helper.make_graph(nodes, "cnn",
                          [helper.make_tensor_value_info("x", TP.FLOAT, [batch, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [batch, 4])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def ort_run(m, feeds, outputs=None):
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    for name in outputs or []:
        m2.graph.output.append(helper.make_empty_tensor_value_info(name))
    sess = ort.InferenceSession(m2.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(outputs, feeds)


def with_weights(m, tmap) -> onnx.ModelProto:
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    for t in m2.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(tensor.to_numpy(tmap[t.name]), t.name))
    return m2


def xs(n):
    return RNG.normal(size=(n, 1, 8, 8)).astype(np.float32)


@pytest.fixture(autouse=True)
def _inference_mode():
    old = autograd.training
    autograd.training = False
    yield
    autograd.training = old


# ------------------------------------------------------------------ run

def test_run_matches_onnxruntime_batch_1_then_5():
    m = cnn_model()
    rep = sonnx.prepare(m, device="CPU")
    for n in (1, 5, 1):
        x = xs(n)
        (y,) = rep.run([x])
        assert isinstance(y, Tensor) and y.shape == (n, 4) and y.dtype == np.float32
        np.testing.assert_allclose(tensor.to_numpy(y), ort_run(m, {"x": x})[0],
                                   rtol=1e-5, atol=1e-6)


def test_input_forms():
    m = cnn_model()
    rep = sonnx.prepare(m)
    x = xs(2)
    ref = ort_run(m, {"x": x})[0]
    for given in ([x], x, (x,), [Tensor(data=x)], Tensor(data=x), {"x": x}):
        np.testing.assert_allclose(tensor.to_numpy(rep.run(given)[0]), ref, rtol=1e-5,
                                   atol=1e-6)


def test_update_batch_size_from_the_guide_still_works():
    def update_batch_size(onnx_model, batch_size):  # verbatim from the guide
        model_input = onnx_model.graph.input[0]
        model_input.type.tensor_type.shape.dim[0].dim_value = batch_size
        model_output = onnx_model.graph.output[0]
        model_output.type.tensor_type.shape.dim[0].dim_value = batch_size
        return onnx_model

    m0 = cnn_model()
    m = onnx.ModelProto()
    m.CopyFrom(m0)
    rep = sonnx.prepare(update_batch_size(m, 1))
    for n in (1, 3):
        x = xs(n)
        np.testing.assert_allclose(tensor.to_numpy(rep.run([x])[0]), ort_run(m0, {"x": x})[0],
                                   rtol=1e-5, atol=1e-6)


def test_input_errors_name_input_and_types():
    rep = sonnx.prepare(cnn_model())
    with pytest.raises(InputError, match=r"1 input.*x.*got 2"):
        rep.run([xs(1), xs(1)])
    with pytest.raises(InputError, match=r"'x'.*f32\[N,1,8,8\].*float64"):
        rep.run([xs(1).astype(np.float64)])
    with pytest.raises(InputError, match=r"'x'.*rank 4.*rank 3"):
        rep.run([xs(1)[0]])
    with pytest.raises(InputError, match=r"'x'.*f32\[N,1,8,8\].*\[1, 1, 8, 9\]"):
        rep.run([np.zeros((1, 1, 8, 9), np.float32)])
    with pytest.raises(InputError, match="unknown input"):
        rep.run({"y": xs(1)})


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_tensor_map_in_place_and_rebound_updates_are_seen(target):
    """On "c" the BatchNormalization statistics are folded (small weights, compared
    on every run): an in-place change must still reach the next run."""
    m = cnn_model()
    rep = sonnx.prepare(m, target=target)
    assert list(rep.tensor_map) == [t.name for t in m.graph.initializer]
    assert all(isinstance(t, Tensor) for t in rep.tensor_map.values())
    x = xs(3)
    rep.run([x])
    rep.tensor_map["conv.W"].data *= 2  # in place
    rep.tensor_map["fc.b"].data = rep.tensor_map["fc.b"].data + 1  # rebound
    rep.tensor_map["bn.var"].data[:] = 4.0
    np.testing.assert_allclose(tensor.to_numpy(rep.run([x])[0]),
                               ort_run(with_weights(m, rep.tensor_map), {"x": x})[0],
                               rtol=1e-5, atol=1e-6)
    rep.tensor_map["bn.mean"].data[0] += 0.5  # one element, in place
    np.testing.assert_allclose(tensor.to_numpy(rep.run([x])[0]),
                               ort_run(with_weights(m, rep.tensor_map), {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_last_layers():
    m = cnn_model()
    rep = sonnx.prepare(m)
    x = xs(2)
    flat, pool, conv = ort_run(m, {"x": x}, ["f", "p", "c"])
    np.testing.assert_allclose(tensor.to_numpy(rep.run([x], last_layers=-2)[0]), flat,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tensor.to_numpy(rep.run([x], last_layers=4)[0]), pool,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tensor.to_numpy(rep.run([x], last_layers=1)[0]), conv,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(IRError):
        rep.run([x], last_layers=0)


def test_all_outputs_every_intermediate_in_order():
    m = cnn_model()
    rep = sonnx.prepare(m)
    x = xs(2)
    names = ["c", "n", "r", "p", "f", "g", "y"]
    got = rep.run([x], all_outputs=True)
    assert isinstance(got, OrderedDict) and list(got) == names
    for name, ref in zip(names, ort_run(m, {"x": x}, names)):
        np.testing.assert_allclose(tensor.to_numpy(got[name]), ref, rtol=1e-5, atol=1e-5)


def test_training_mode_runs_through_autograd():
    m = cnn_model()
    rep = sonnx.prepare(m)
    for t in rep.tensor_map.values():
        t.requires_grad = True
        t.stores_grad = True
    x = xs(2)
    autograd.training = True
    (y,) = rep.run([Tensor(data=x)], last_layers=-1)
    assert y.creator is not None  # recorded on the tape
    grads = dict(autograd.backward(autograd.reduce_sum(y) if hasattr(autograd, "reduce_sum")
                                   else autograd.sum(y)))
    assert rep.tensor_map["conv.W"] in grads and rep.tensor_map["fc.W"] in grads


def test_unsupported_ops_fail_at_prepare():
    m = cnn_model()
    m.graph.node[2].op_type = "NoSuchRelu"
    with pytest.raises(UnsupportedOpError, match="NoSuchRelu.*relu1"):
        sonnx.prepare(m)


def test_prepare_from_path_and_bytes(tmp_path):
    m = cnn_model()
    p = tmp_path / "cnn.onnx"
    onnx.save(m, str(p))
    x = xs(1)
    ref = ort_run(m, {"x": x})[0]
    for src in (str(p), p, m.SerializeToString()):
        np.testing.assert_allclose(tensor.to_numpy(sonnx.prepare(src).run([x])[0]), ref,
                                   rtol=1e-5, atol=1e-6)


def test_to_onnx_roundtrip():
    x = Tensor(data=RNG.normal(size=(2, 3)).astype(np.float32))
    w = Tensor(data=RNG.normal(size=(3, 4)).astype(np.float32), stores_grad=True)
    y = autograd.relu(autograd.matmul(x, w))
    m = sonnx.to_onnx([x], [y])
    assert isinstance(m, onnx.ModelProto)
    np.testing.assert_allclose(tensor.to_numpy(sonnx.prepare(m).run([x])[0]),
                               tensor.to_numpy(y), rtol=1e-6)


# ------------------------------------------------------------------ backend

def test_backend_api():
    m = cnn_model()
    x = xs(2)
    assert SingaBackend.supports_device("CPU")
    out = SingaBackend.run_model(m, [x])
    assert isinstance(out[0], np.ndarray)
    np.testing.assert_allclose(out.y, ort_run(m, {"x": x})[0], rtol=1e-5, atol=1e-6)
    assert SingaBackend.is_compatible(m)
    bad = onnx.ModelProto()
    bad.CopyFrom(m)
    bad.graph.node[0].op_type = "NoSuchConv"
    assert not SingaBackend.is_compatible(bad)
    rep = SingaBackend.prepare(m, "CPU", rtol=1e-3)  # unknown options (the onnx runner's) ignored
    assert isinstance(rep, sonnx.SingaRep)
    node = helper.make_node("Add", ["a", "b"], ["c"])
    a, b = np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(SingaBackend.run_node(node, [a, b])[0], a + b)


def test_cuda_without_gpu():
    # CuPy is installed with the test extras; without a driver or GPU it must still
    # end in DeviceError
    from singa import device

    try:
        device.create_cuda_gpu()
        pytest.skip("a usable GPU is present")
    except DeviceError:
        pass
    assert not SingaBackend.supports_device("CUDA")
    with pytest.raises(DeviceError):
        sonnx.prepare(cnn_model(), device="CUDA")


@pytest.mark.filterwarnings("ignore")  # onnx's case generators warn while collecting
def test_onnx_backend_test_runs_against_singa_backend():
    import onnx.backend.test

    bt = onnx.backend.test.BackendTest(SingaBackend, __name__)
    bt.include(r"^test_(relu|abs|softmax_axis_0|conv_with_strides_padding)_cpu$")
    suite = __import__("unittest").defaultTestLoader.loadTestsFromTestCase(
        bt.test_cases["OnnxBackendNodeModelTest"])
    result = __import__("unittest").TextTestRunner(verbosity=0).run(suite)
    assert result.testsRun >= 4 and result.wasSuccessful(), result.failures + result.errors


# ------------------------------------------------------------------ compile

def test_compile_ir_plan_dump_run(tmp_path):
    m = cnn_model()
    cm = singa.compile(m)
    assert "BatchNormalization" not in cm.ir  # folded into the Conv
    assert "Conv(" in cm.ir and "N" in cm.ir  # symbolic batch kept
    assert "Conv(" in cm.plan and "steps:" in cm.plan
    paths = cm.dump(tmp_path / "dump")
    names = [p.split("/")[-1] for p in paths]
    assert names[0] == "00-input.ir" and "plan.txt" in names
    assert any("fold_batchnorm" in n for n in names)
    x = xs(3)
    np.testing.assert_allclose(tensor.to_numpy(cm.run([x])[0]), ort_run(m, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)
    # folded weights still follow tensor_map
    cm.tensor_map["bn.scale"].data *= 3
    np.testing.assert_allclose(tensor.to_numpy(cm.run([x])[0]),
                               ort_run(with_weights(m, cm.tensor_map), {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_compile_options():
    m = cnn_model()
    cm = singa.compile(m, passes=["infer_shapes", "fold_constants"], last_layers=-2,
                       input_shapes={"x": (2, 1, 8, 8)})
    assert "BatchNormalization" in cm.ir and "Gemm" not in cm.ir
    assert "f32[2,27]" in cm.ir
    x = xs(2)
    np.testing.assert_allclose(tensor.to_numpy(cm.run([x])[0]), ort_run(m, {"x": x}, ["f"])[0],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(IRError, match="unknown pass"):
        singa.compile(m, passes=["nope"])


def _embedding_model(id_type=TP.INT64):
    table = RNG.normal(size=(50, 4)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)]
    g = helper.make_graph(nodes, "emb", [helper.make_tensor_value_info("ids", id_type, ["N", 3])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, ["N", 3, 4])],
                          [numpy_helper.from_array(table, "table")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), table


def test_token_ids_fed_as_int32_or_float32_reach_int64_inputs():
    """SINGA users feed ids in SINGA's tensor types (its BERT/GPT-2 examples do)."""
    m, table = _embedding_model()
    rep = sonnx.prepare(m)
    ids = np.array([[0, 7, 49], [3, 3, 1]])
    want = table[ids]
    for given in (ids.astype(np.int32), ids.astype(np.float32), ids.astype(np.uint8)):
        np.testing.assert_array_equal(tensor.to_numpy(rep.run([given])[0]), want)
        np.testing.assert_array_equal(tensor.to_numpy(rep.run([tensor.from_numpy(given)])[0]),
                                      want)


def test_ids_that_a_cast_would_change_are_refused():
    rep = sonnx.prepare(_embedding_model()[0])
    with pytest.raises(InputError, match="'ids'.*fractions"):
        rep.run([np.array([[0.5, 1, 2]], np.float32)])
    with pytest.raises(InputError, match="'ids'"):
        rep.run([np.array([[np.nan, 1, 2]], np.float32)])
    rep32 = sonnx.prepare(_embedding_model(TP.INT32)[0])
    with pytest.raises(InputError, match="'ids'.*range"):
        rep32.run([np.array([[0, 1, 2**40]], np.int64)])
    with pytest.raises(InputError, match="'x'.*f64 != f32"):  # a float input stays strict
        sonnx.prepare(cnn_model()).run([np.zeros((1, 1, 8, 8), np.float64)])


def test_to_onnx_passes_over_the_non_tensor_arguments_users_list():
    x = tensor.from_numpy(RNG.normal(size=(2, 3)).astype(np.float32))
    y = autograd.clip(x, -0.5, 0.5)
    m = sonnx.to_onnx([x, -0.5, 0.5], [y])
    assert len(m.graph.input) == 1
    got = ort.InferenceSession(m.SerializeToString()).run(None, {m.graph.input[0].name:
                                                                 tensor.to_numpy(x)})[0]
    np.testing.assert_array_equal(got, np.clip(tensor.to_numpy(x), -0.5, 0.5))
