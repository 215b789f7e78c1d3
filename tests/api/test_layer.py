"""singa.layer: Layer's lazy parameters, names, params/states, device and dtype
handling, and the dense / parameter-free layers against NumPy float64 and
finite differences.  (Convolution, BatchNorm and pooling: test_layer_conv.py.)"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from singa import autograd, layer, tensor
from singa.errors import DTypeError, InputError, ShapeError
from singa.tensor import Tensor

from ._layer_helpers import DoubleLinear, T, check_grads, softmax

pytestmark = pytest.mark.usefixtures("inference_mode")


class Net(layer.Layer):
    def __init__(self):
        super().__init__()
        self.fc = layer.Linear(3)
        self.block = DoubleLinear(3, 4, 2)

    def forward(self, x):
        return self.block(self.fc(x))


# ------------------------------------------------------------------ lazy creation, names

def test_parameters_are_created_on_the_first_call_from_the_input():
    lin = layer.Linear(3)
    assert lin.get_params() == {} and not lin._initialized
    x = T(4, 5)
    lin(x)
    assert lin._initialized and lin.in_features == 5
    assert lin.W.shape == (5, 3) and lin.b.shape == (3,)
    assert lin.W.dtype == np.float64  # parameters take a float input's dtype
    np.testing.assert_array_equal(lin.b.numpy(), np.zeros(3))
    w = lin.W
    lin(T(2, 5, seed=1))
    assert lin.W is w  # created once
    assert layer.Linear(3)(T(2, 5).as_type(np.float32)).dtype == np.float32


def test_initialisation_follows_singa():
    """W ~ N(0, 2 / (in + out)) for Linear, N(0, 1) or U(-1, 1) for Embedding."""
    tensor.seed(3)
    lin = layer.Linear(600)
    lin(T(2, 400))
    assert lin.W.numpy().mean() == pytest.approx(0.0, abs=2e-3)
    assert lin.W.numpy().std() == pytest.approx(np.sqrt(2.0 / 1000), rel=0.01)
    emb = layer.Embedding(300, 200)
    emb(Tensor(data=np.array([1, 2])))
    assert emb.W.numpy().std() == pytest.approx(1.0, rel=0.01)
    assert emb.W.dtype == np.float32
    uni = layer.Embedding(300, 200, initializer="uniform")
    uni(Tensor(data=np.array([1])))
    w = uni.W.numpy()
    assert -1 <= w.min() < -0.99 and 0.99 < w.max() <= 1
    assert w.std() == pytest.approx(np.sqrt(1 / 3), rel=0.01)


def test_hierarchical_names_and_tensor_names():
    net = Net()
    assert net.block.name == "block" and net.block.l1.name == "block.l1"
    net(T(2, 5))
    params = net.get_params()
    assert list(params) == ["fc.W", "fc.b", "block.l1.W", "block.l1.b", "block.l2.W",
                            "block.l2.b"]
    assert params["block.l2.W"] is net.block.l2.W
    assert net.block.l2.W.name == "block.l2.W"  # as SINGA names them
    assert net.get_states().keys() == params.keys()  # no non-trainable states here
    # a layer with no parent prefixes nothing and leaves tensor names alone
    lin = layer.Linear(2)
    lin(T(1, 3))
    assert list(lin.get_params()) == ["W", "b"] and lin.W.name is None


def test_layer_attached_after_its_parameters_exist_is_renamed():
    lin = autograd.Linear(3, 2)  # parameters made at construction
    assert lin.W.name is None
    holder = layer.Layer()
    holder.head = lin
    assert lin.W.name == "head.W" and list(holder.get_params()) == ["head.W", "head.b"]
    outer = layer.Layer()
    outer.inner = holder
    assert lin.W.name == "inner.head.W"
    named = Tensor(data=np.ones(2), stores_grad=True, name="mine")
    lin.extra = named
    assert named.name == "mine"  # a user's own name wins


def test_register_layers_and_replacing_a_sublayer():
    holder = layer.Layer()
    holder.register_layers(layer.Linear(2), layer.ReLU())
    assert holder.Linear_0.name == "Linear_0" and isinstance(holder.ReLU_1, layer.ReLU)
    holder.register_layers(OrderedDict(first=layer.Linear(4)))
    assert holder.first.name == "first"
    holder.first = 5  # no longer a sublayer
    assert holder.first == 5 and "first" not in holder._layers
    del holder.Linear_0
    with pytest.raises(AttributeError, match="Linear_0"):
        holder.Linear_0


# ------------------------------------------------------------------ params and states

def test_set_params_round_trip_in_place_and_errors():
    net = Net()
    net(T(2, 5))
    new = {k: np.random.default_rng(1).normal(size=v.shape) for k, v in net.get_params().items()}
    before = dict(net.get_params())
    net.set_params(new)
    for k, t in net.get_params().items():
        assert t is before[k]  # updated in place
        np.testing.assert_array_equal(t.numpy(), new[k])
    x = T(3, 5, seed=2)
    h = x.numpy() @ new["fc.W"] + new["fc.b"]
    h = h @ new["block.l1.W"] + new["block.l1.b"]
    want = h @ new["block.l2.W"] + new["block.l2.b"]
    np.testing.assert_allclose(net(x).numpy(), want, rtol=1e-12)
    # Tensors are accepted too, and a partial dict sets only what it names
    net.set_params({"fc.b": Tensor(data=np.full(3, 7.0))})
    np.testing.assert_array_equal(net.fc.b.numpy(), np.full(3, 7.0))
    with pytest.raises(InputError, match=r"unknown parameter.*'fc\.V'"):
        net.set_params({"fc.V": np.zeros(3)})
    with pytest.raises(ShapeError, match=r"'fc\.W' has shape \(5, 3\).*\(3, 5\)"):
        net.set_params({"fc.W": np.zeros((3, 5))})
    with pytest.raises(InputError, match="first call"):
        Net().set_params({"fc.W": np.zeros((5, 3))})


def test_custom_layer_with_its_own_initialize():
    class Scale(layer.Layer):
        _state_attrs = ("calls",)

        def initialize(self, x):
            self.s = Tensor(data=np.full(x.shape[1:], 2.0), stores_grad=True)
            self.calls = Tensor(data=np.zeros(1), requires_grad=False)

        def forward(self, x):
            self.calls.data += 1
            return autograd.mul(x, self.s)

    holder = layer.Layer()
    holder.scale = Scale()
    x = T(2, 3, grad=True)
    np.testing.assert_allclose(holder.scale(x).numpy(), 2 * x.numpy())
    assert list(holder.get_params()) == ["scale.s"]
    assert list(holder.get_states()) == ["scale.s", "scale.calls"]
    holder.set_states({"scale.calls": np.array([9.0])})
    assert holder.scale.calls.numpy()[0] == 9.0
    check_grads(lambda: holder.scale(x), [x, holder.scale.s])


def test_dtype_check_converts_parameters_to_the_input_dtype():
    lin = autograd.Linear(4, 2)  # float32 parameters
    w = lin.W
    y = lin(T(3, 4))
    assert lin.W is w and w.dtype == np.float64 and y.dtype == np.float64
    emb = layer.Embedding(3, 2)
    emb(Tensor(data=np.array([1])))  # integer indices leave the float table alone
    assert emb.W.dtype == np.float32
    with pytest.raises(DTypeError, match="Linear: expects a Tensor input, got tuple"):
        lin((T(3, 4),))


def test_recurrent_layers_are_served_and_other_names_explained():
    from singa import recurrent

    for name in ("RNN_Base", "RNN", "LSTM", "GRU", "CudnnRNN"):
        assert getattr(layer, name) is getattr(recurrent, name)
        assert issubclass(getattr(layer, name), layer.Layer)
    with pytest.raises(AttributeError, match="subclass layer.Layer"):
        layer.LayerMeta
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        layer.Nope


# ------------------------------------------------------------------ dense layers

def test_linear_forward_and_gradients():
    lin = layer.Linear(3)
    x = T(4, 5, grad=True)
    lin(x)
    lin.b.data[...] = np.random.default_rng(3).normal(size=3)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.W.numpy() + lin.b.numpy(),
                               rtol=1e-12)
    check_grads(lambda: lin(x), [x, lin.W, lin.b])
    nob = layer.Linear(2, bias=False)
    nob(x)
    assert nob.b is None and list(nob.get_params()) == ["W"]


def test_linear_older_form_and_shape_errors():
    lin = layer.Linear(4, 3)  # (in_features, out_features)
    assert lin.out_features == 3
    with pytest.raises(ShapeError, match=r"Linear.*4 input features.*\(2, 5\)"):
        lin(T(2, 5))
    holder = layer.Layer()
    holder.fc = layer.Linear(3)
    holder.fc(T(2, 5))
    with pytest.raises(ShapeError, match=r"Linear 'fc'.*MatMul.*\(2, 6\).*\(5, 3\)"):
        holder.fc(T(2, 6))


@pytest.mark.parametrize("transA, transB", [(False, True), (True, False), (False, False)])
def test_gemm(transA, transB):
    gemm = layer.Gemm(3, alpha=0.5, beta=2.0, transA=transA, transB=transB)
    x = T(5, 4, grad=True) if transA else T(4, 5, grad=True)
    gemm(x)
    assert gemm.W.shape == ((3, 5) if transB else (5, 3)) and gemm.b.shape == (1, 3)
    gemm.b.data[...] = np.arange(3.0)
    a = x.numpy().T if transA else x.numpy()
    w = gemm.W.numpy().T if transB else gemm.W.numpy()
    np.testing.assert_allclose(gemm(x).numpy(), 0.5 * a @ w + 2.0 * np.arange(3.0), rtol=1e-12)
    check_grads(lambda: gemm(x), [x, gemm.W, gemm.b])
    with pytest.raises(ShapeError, match="Gemm"):
        gemm(T(4, 6))


def test_embedding_forward_gradient_and_pretrained():
    emb = layer.Embedding(6, 3)
    idx = np.array([[0, 5], [2, 2]])
    y = emb(Tensor(data=idx.astype(np.float32)))  # SINGA feeds indices as floats
    np.testing.assert_array_equal(y.numpy(), emb.W.numpy()[idx])
    dy = np.random.default_rng(0).normal(size=(2, 2, 3)).astype(np.float32)
    (p, g), = autograd.backward(emb(Tensor(data=idx)), dy=dy)
    want = np.zeros((6, 3))
    np.add.at(want, idx, dy)  # the repeated index 2 sums two rows (in float32 by singa)
    assert p is emb.W and g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-6, atol=1e-7)
    table = np.arange(18.0).reshape(6, 3)
    frozen = layer.Embedding(6, 3)
    frozen.from_pretrained(table)
    np.testing.assert_array_equal(frozen(Tensor(data=np.array([4]))).numpy(), table[[4]])
    assert list(autograd.backward(autograd.reduce_sum(frozen(Tensor(data=np.array([4]))))))\
        == []
    with pytest.raises(ValueError, match="initializer"):
        layer.Embedding(2, 2, initializer="zeros")


# ------------------------------------------------------------------ layers without parameters

def test_activation_and_shape_layers():
    x = T(3, 4)
    a = x.numpy()
    np.testing.assert_allclose(layer.ReLU()(x).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(layer.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-a)), rtol=1e-12)
    np.testing.assert_allclose(layer.SoftMax()(x).numpy(), softmax(a, 1), rtol=1e-12)
    np.testing.assert_allclose(layer.Add()(x, T(4, seed=1)).numpy(),
                               a + T(4, seed=1).numpy())
    z = T(2, 3, 4, 5)
    assert layer.Flatten()(z).shape == (2, 60) and layer.Flatten(2)(z).shape == (6, 20)
    np.testing.assert_array_equal(layer.Cat(1)([x, x]).numpy(), np.concatenate([a, a], 1))
    np.testing.assert_array_equal(layer.Cat()([x, x]).numpy(), np.concatenate([a, a], 0))
    np.testing.assert_array_equal(layer.Reshape()(x, (2, 6)).numpy(), a.reshape(2, 6))


def test_dropout_layer():
    x = Tensor(data=np.ones((200, 50)))
    drop = layer.Dropout(0.25)
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())  # evaluation: identity
    autograd.training = True
    y = drop(x).numpy()
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], 1 / 0.75)


def test_loss_layers():
    rng = np.random.default_rng(4)
    x = T(5, 3, grad=True)
    t = np.eye(3)[rng.integers(0, 3, 5)]
    tt = Tensor(data=t, requires_grad=False)
    sce = layer.SoftMaxCrossEntropy()
    want = -(t * np.log(softmax(x.numpy()))).sum() / 5
    np.testing.assert_allclose(sce(x, tt).numpy(), [want], rtol=1e-12)
    check_grads(lambda: sce(x, tt), [x])
    p = Tensor(data=softmax(x.numpy()), requires_grad=True, stores_grad=True)
    np.testing.assert_allclose(layer.CrossEntropy()(p, tt).numpy(),
                               [-(t * np.log(p.numpy())).sum() / 5], rtol=1e-12)
    mse = layer.MeanSquareError()  # SINGA 3.1: the mean over every element
    np.testing.assert_allclose(np.reshape(mse(x, tt).numpy(), -1),
                               [((x.numpy() - t) ** 2).mean()], rtol=1e-12)
    check_grads(lambda: mse(x, tt), [x])
    # SINGA 3.1: -(sum(t log(x + 1e-4)) + sum((1 - t) log(1.0001 - x))) / N
    bce = layer.BinaryCrossEntropy()
    q = p.numpy()
    want = -((t * np.log(q + 1e-4)).sum() + ((1 - t) * np.log(1.0001 - q)).sum()) / 5
    np.testing.assert_allclose(np.reshape(bce(p, tt).numpy(), -1), [want], rtol=1e-12)
    check_grads(lambda: bce(p, tt), [p])
