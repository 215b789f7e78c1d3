"""sonnx.SONNXModel as a SINGA Model: forward returning a list (last_layers,
aux_output), params and states of the imported weights, transfer learning
through train_one_batch, checkpoints.  The reference is the eager float64
model the ONNX file was exported from."""

from __future__ import annotations

import numpy as np
import pytest

from singa import autograd, layer, model, opt, sonnx
from singa.errors import InputError
from singa.tensor import Tensor

from ._layer_helpers import T

pytestmark = pytest.mark.usefixtures("inference_mode")

WEIGHTS = {"conv.W", "conv.b", "bn.scale", "bn.bias", "l1.W", "l1.b", "l2.W"}


class Source(layer.Layer):
    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(3, 3, padding=1)
        self.bn = layer.BatchNorm2d()
        self.pool = layer.MaxPool2d(2)
        self.l1 = layer.Linear(5)
        self.l2 = layer.Linear(4, bias=False)

    def features(self, x):
        y = self.pool(autograd.relu(self.bn(self.conv(x))))
        return autograd.relu(self.l1(autograd.flatten(y)))

    def forward(self, x):
        return self.l2(self.features(x))


def exported():
    src = Source()
    x = T(2, 2, 6, 6)
    return src, sonnx.to_onnx([x], [src(x)])


class Trans(sonnx.SONNXModel):
    """SINGA's transfer-learning pattern: cut the last op, add a head."""

    def __init__(self, onnx_model):
        super().__init__(onnx_model)
        self.head = layer.Linear(3)

    def forward(self, x):
        return self.head(super().forward(x, last_layers=-1)[0])

    def train_one_batch(self, x, y):
        out = self.forward(x)
        loss = autograd.softmax_cross_entropy(out, y)
        self.optimizer(loss)
        return out, loss


def test_forward_returns_a_list_and_matches_the_source():
    src, onnx_model = exported()
    m = sonnx.SONNXModel(onnx_model)
    assert isinstance(m, model.Model)
    x = T(3, 2, 6, 6, seed=1)
    out = m.forward(x)
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_allclose(out[0].numpy(), src(x).numpy(), rtol=1e-12)
    m.eval()
    np.testing.assert_allclose(m(x)[0].numpy(), src(x).numpy(), rtol=1e-12)
    (cut,) = m.forward(x, last_layers=-1)
    np.testing.assert_allclose(cut.numpy(), src.features(x).numpy(), rtol=1e-12)


def test_aux_output_returns_named_intermediate_results():
    src, onnx_model = exported()
    m = sonnx.SONNXModel(onnx_model)
    flat = next(op for op in m.sg_ir.graph.ops if op.name == "Flatten").results[0].name
    x = T(2, 2, 6, 6, seed=2)
    y, f = m.forward(x, aux_output=(flat,))
    np.testing.assert_allclose(y.numpy(), src(x).numpy(), rtol=1e-12)
    want = src.pool(autograd.relu(src.bn(src.conv(x)))).numpy().reshape(2, -1)
    np.testing.assert_allclose(f.numpy(), want, rtol=1e-12)
    with pytest.raises(InputError, match="no op result named.*nope"):
        m.forward(x, aux_output=("nope",))


def test_params_and_states_of_the_imported_weights():
    _, onnx_model = exported()
    m = sonnx.SONNXModel(onnx_model)
    params = m.get_params()
    assert set(params) == WEIGHTS  # the exporter kept the layers' names
    assert all(params[k] is m.tensor_map[k] for k in params)
    assert set(m.get_states()) == WEIGHTS | {"bn.running_mean", "bn.running_var"}
    m.set_params({"l2.W": np.zeros((5, 4))})
    np.testing.assert_array_equal(m.forward(T(2, 2, 6, 6))[0].numpy(), np.zeros((2, 4)))
    frozen = sonnx.SONNXModel(onnx_model, trainable=False)
    assert frozen.get_params() == {} and len(frozen.get_states()) == 9


def test_transfer_learning_trains_imported_and_new_weights(tmp_path):
    src, onnx_model = exported()
    x = T(16, 2, 6, 6, seed=3)
    y = Tensor(data=np.eye(3)[np.random.default_rng(5).integers(0, 3, 16)])
    m = Trans(onnx_model)
    m.set_optimizer(opt.SGD(lr=0.1))
    m.compile([x], is_train=True, use_graph=True)
    assert set(m.get_params()) == WEIGHTS | {"head.W", "head.b"}
    before = m.tensor_map["l1.W"].numpy().copy()
    losses = [float(m(x, y)[1].numpy()[0]) for _ in range(20)]
    assert losses[-1] < 0.7 * losses[0]
    assert not np.allclose(m.tensor_map["l1.W"].numpy(), before)  # imported weights trained
    # the running statistics moved while training, in the model's own tensors
    assert not np.allclose(m.tensor_map["bn.running_mean"].numpy(), 0.0)
    path = str(tmp_path / "trans.zip")
    m.save_states(path)
    saved = {k: v.numpy().copy() for k, v in m.get_states().items()}
    m(x, y)
    m.load_states(path)
    for k, t in m.get_states().items():
        np.testing.assert_array_equal(t.numpy(), saved[k], err_msg=k)
