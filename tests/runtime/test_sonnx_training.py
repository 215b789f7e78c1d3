"""Training imported models through the public API: ``sonnx.to_onnx``,
``sonnx.prepare(...).run`` in training mode, and ``SONNXModel``.

References: the eager model the ONNX file was exported from (float64), NumPy
formulas for BatchNormalization's running statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa import autograd, opt, sonnx
from singa.errors import GradError
from singa.sonnx_model import SONNXModel
from singa.tensor import Tensor

from ._helpers import X, Net, f64, grads_by_name, onehot

pytestmark = pytest.mark.usefixtures("inference_mode")


def exported(net, x):
    return sonnx.to_onnx([x], [net.forward(x)])


def test_sonnx_to_onnx_is_the_exporter():
    from singa.exporters.onnx_export import to_onnx

    net, x = Net(), X(2, 2, 6, 6)
    a, b = sonnx.to_onnx([x], [net.forward(x)]), to_onnx([x], [net.forward(x)])
    assert a.SerializeToString() == b.SerializeToString()


def test_rep_run_training_gradients_and_statistics():
    """The guide's Infer: all of tensor_map trainable, training-mode run, backward."""
    net, x, t = Net(), X(6, 2, 6, 6), onehot(6, 4)
    rep = sonnx.prepare(exported(net, x))
    for tens in rep.tensor_map.values():
        tens.requires_grad = True
        tens.stores_grad = True
    mean = rep.tensor_map["BatchNormalization_0.input_mean"]
    autograd.training = True
    want = grads_by_name(autograd.softmax_cross_entropy(net.forward(x), t), net.named)
    (y,) = rep.run([x])
    got = grads_by_name(autograd.softmax_cross_entropy(y, t), rep.tensor_map)
    assert set(got) == set(want)  # running statistics get no gradient
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-13, err_msg=k)
    # the batch statistics moved tensor_map's running mean, in place
    assert rep.tensor_map["BatchNormalization_0.input_mean"] is mean
    np.testing.assert_allclose(mean.numpy(), net.bn.running_mean.numpy(), rtol=1e-12)


def test_rep_run_training_last_layers():
    net, x = Net(), X(4, 2, 6, 6)
    rep = sonnx.prepare(exported(net, x))
    autograd.training = True
    (y,) = rep.run([x], last_layers=-1)
    np.testing.assert_allclose(y.numpy(), net.features(x).numpy(), rtol=1e-10, atol=1e-12)


def test_rep_run_training_names_ops_without_grad():
    x = X(2, 3, 4, 4)
    conv = f64(autograd.Conv2d(3, 3, 1))
    scales = Tensor(data=np.array([1, 1, 2, 2], np.float32), requires_grad=False)
    y = autograd.apply("Resize", [conv(x), None, scales], {"mode": "nearest"})[0]
    rep = sonnx.prepare(sonnx.to_onnx([x], [y]))
    for tens in rep.tensor_map.values():
        tens.stores_grad = True
    autograd.training = True
    with pytest.raises(GradError, match=r"Resize"):
        rep.run([x])


# ------------------------------------------------------------------ SONNXModel

def test_sonnx_model_api():
    net, x = Net(), X(3, 2, 6, 6)
    m = SONNXModel(exported(net, x))
    out = m.forward(x)  # SINGA's SONNXModel.forward returns the list of outputs
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], Tensor)
    np.testing.assert_allclose(out[0].numpy(), net.forward(x).numpy(), rtol=1e-12)
    params = m.get_params()
    assert all(params[k] is m.sg_ir.tensor_map[k] for k in params)
    trainable = {k for k, v in params.items() if v.stores_grad}
    assert trainable == set(net.weights)  # running statistics are not weights
    assert m.train() is m and autograd.training is True and m.training
    assert m.eval() is m and autograd.training is False and not m.training
    m.set_params({"MatMul_1.B": np.zeros((5, 4))})
    np.testing.assert_array_equal(m(x)[0].numpy(), np.zeros((3, 4)))  # eval: m(x) is forward


def test_sonnx_model_transfer_learning_subclass():
    """SINGA's pattern: subclass, cut the last layer, append layers, train."""
    net, x = Net(), X(16, 2, 6, 6)
    t = onehot(16, 3, seed=5)

    class Trans(SONNXModel):
        def __init__(self, model):
            super().__init__(model)
            self.head = f64(autograd.Linear(5, 3))

        def forward(self, x):
            return self.head(super().forward(x, last_layers=-1)[0])

    m = Trans(exported(net, x))
    sgd = opt.SGD(lr=0.1)
    m.train()
    losses = []
    for _ in range(20):
        loss = autograd.softmax_cross_entropy(m.forward(x), t)  # m(x) would train_one_batch
        losses.append(float(loss.numpy().reshape(-1)[0]))
        for p, g in autograd.backward(loss):
            sgd.update(p, g)
    m.eval()
    assert losses[-1] < 0.7 * losses[0]
    # the imported weights were trained too
    assert not np.allclose(m.get_params()["MatMul_0.B"].numpy(), net.l1.W.numpy())
