"""singa.model.Model: compile, modes, the train_one_batch dispatch, params and
states, SINGA's checkpoint format; a small CNN trained to a falling loss.
References: NumPy float64 (forward, one SGD step by hand), SINGA's documented
file layout.  SONNXModel: test_sonnx_model.py."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from singa import autograd, layer, model, opt, tensor
from singa.errors import InputError, SingaError
from singa.tensor import Tensor

from ._layer_helpers import DoubleLinear, T, softmax

pytestmark = pytest.mark.usefixtures("inference_mode")


class MLP(model.Model):
    def __init__(self, hidden=6, classes=2):
        super().__init__()
        self.linear1 = layer.Linear(hidden)
        self.relu = layer.ReLU()
        self.linear2 = layer.Linear(classes)
        self.softmax_cross_entropy = layer.SoftMaxCrossEntropy()

    def forward(self, x):
        return self.linear2(self.relu(self.linear1(x)))

    def train_one_batch(self, x, y):
        out = self.forward(x)
        loss = self.softmax_cross_entropy(out, y)
        self.optimizer(loss)
        return out, loss


class ConvNet(model.Model):
    """SINGA's test model: conv, batch norm, reshape, two linears in a sublayer."""

    def __init__(self):
        super().__init__()
        self.conv1 = layer.Conv2d(2, 2)
        self.bn1 = layer.BatchNorm2d(2)
        self.doublelinear1 = DoubleLinear(2, 4, 2)
        self.optimizer = opt.SGD(lr=0.1)

    def forward(self, x):
        y = self.bn1(self.conv1(x))
        return self.doublelinear1(autograd.reshape(y, (y.shape[0], -1)))

    def train_one_batch(self, x, y):
        out = self.forward(x)
        loss = autograd.softmax_cross_entropy(out, y)
        self.optimizer(loss)
        return out, loss


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    label = (x[:, 0] * 2 + 0.3 > x[:, 1]).astype(int)
    return Tensor(data=x, requires_grad=False), Tensor(data=np.eye(2)[label], requires_grad=False)


# ------------------------------------------------------------------ compile, modes, dispatch

def test_compile_creates_named_parameters_and_sets_the_mode():
    m = MLP()
    x, _ = data()
    assert m.get_params() == {} and m.training and m.graph_mode
    assert m.compile([x], is_train=False, use_graph=False) is m
    assert list(m.get_params()) == ["linear1.W", "linear1.b", "linear2.W", "linear2.b"]
    assert m.get_params()["linear1.W"].shape == (2, 6)
    assert not m.training and autograd.training is False and not m.graph_mode
    p = m.get_params()
    want = np.maximum(x.numpy() @ p["linear1.W"].numpy() + p["linear1.b"].numpy(), 0)
    want = want @ p["linear2.W"].numpy() + p["linear2.b"].numpy()
    np.testing.assert_allclose(m(x).numpy(), want, rtol=1e-12)  # evaluation: forward
    m.compile([x], is_train=True, use_graph=True, sequential=True)
    assert m.training and autograd.training is True and m.graph_mode and m.sequential
    with pytest.raises(InputError, match="non-empty list of Tensors"):
        m.compile(x)
    with pytest.raises(InputError, match="non-empty list of Tensors"):
        m.compile([x.numpy()])


def test_train_eval_graph_switches():
    m = MLP()
    assert m.train() is m and m.training and autograd.training is True
    assert m.eval() is m and not m.training and autograd.training is False
    m.graph(False)
    assert not m.graph_mode and not m.sequential
    m.graph(True, sequential=True)
    assert m.graph_mode and m.sequential and m.__get_name__() == "MLP"


def test_one_training_step_matches_numpy_sgd():
    """As SINGA's test: out, loss and the updated weights after one step of SGD."""
    m = MLP()
    x, t = data()
    m.set_optimizer(opt.SGD(lr=0.05))
    m.compile([x], is_train=True, use_graph=False)
    p = {k: v.numpy().copy() for k, v in m.get_params().items()}
    out, loss = m(x, t)  # training mode: train_one_batch
    a, y = x.numpy(), t.numpy()
    h = a @ p["linear1.W"] + p["linear1.b"]
    r = np.maximum(h, 0)
    o = r @ p["linear2.W"] + p["linear2.b"]
    np.testing.assert_allclose(out.numpy(), o, rtol=1e-12)
    np.testing.assert_allclose(loss.numpy(), [-(y * np.log(softmax(o))).sum() / len(a)],
                               rtol=1e-12)
    do = (softmax(o) - y) / len(a)
    dr = do @ p["linear2.W"].T * (h > 0)
    want = {"linear2.W": r.T @ do, "linear2.b": do.sum(0), "linear1.W": a.T @ dr,
            "linear1.b": dr.sum(0)}
    for k, g in want.items():
        np.testing.assert_allclose(m.get_params()[k].numpy(), p[k] - 0.05 * g, rtol=1e-12,
                                   atol=1e-15, err_msg=k)


def test_use_graph_trains_as_eagerly_and_calls_go_through_the_compiled_step():
    results = []
    for use_graph in (False, True):
        tensor.seed(1)
        m = MLP()
        m.set_optimizer(opt.SGD(lr=0.1))
        x, t = data()
        m.compile([x], use_graph=use_graph)
        results.append([float(m(x, t)[1].numpy()[0]) for _ in range(3)])
    # the compiled plan sums in another order than NumPy: equal up to float32 rounding
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    calls = []
    m._compiled_step = lambda *a: calls.append(a) or "compiled"
    assert m(x, t) == "compiled" and calls == [(x, t)]
    m.graph(False)
    assert m(x, t) != "compiled"  # graph off: eager train_one_batch
    m.graph(True)
    m.eval()
    assert isinstance(m(x), Tensor)  # evaluation never uses the training step


def test_compile_moves_no_running_statistics():
    m = ConvNet()
    x = T(2, 2, 2, 2, scale=3.0)
    autograd.training = True
    m.compile([x], is_train=True)
    np.testing.assert_array_equal(m.bn1.running_mean.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(m.bn1.running_var.numpy(), [1.0, 1.0])


def test_missing_train_one_batch_and_forward():
    class OnlyForward(model.Model):
        def __init__(self):
            super().__init__()
            self.fc = layer.Linear(2)

        def forward(self, x):
            return self.fc(x)

    m = OnlyForward()
    with pytest.raises(NotImplementedError, match="train_one_batch.*eval"):
        m(T(1, 3))
    assert m.eval()(T(1, 3)).shape == (1, 2)
    with pytest.raises(NotImplementedError, match="forward"):
        model.Model().forward(T(1))


# ------------------------------------------------------------------ states and checkpoints

SINGA_STATES = {"conv1.W": ((2, 2, 2, 2), 0.1), "conv1.b": ((2,), 0.2),
                "bn1.scale": ((2,), 0.3), "bn1.bias": ((2,), 0.4),
                "bn1.running_mean": ((2,), 0.5), "bn1.running_var": ((2,), 0.6),
                "doublelinear1.l1.W": ((2, 4), 0.7), "doublelinear1.l1.b": ((4,), 0.8),
                "doublelinear1.l2.W": ((4, 2), 0.9), "doublelinear1.l2.b": ((2,), 1.0)}


def compiled_convnet():
    m = ConvNet()
    m.compile([tensor.PlaceHolder((2, 2, 2, 2))], is_train=True)
    return m


def test_states_have_singas_names_and_round_trip():
    m = compiled_convnet()
    assert set(m.get_states()) == set(SINGA_STATES)
    assert set(m.get_params()) == set(SINGA_STATES) - {"bn1.running_mean", "bn1.running_var"}
    m.set_states({k: Tensor(s).set_value(v) for k, (s, v) in SINGA_STATES.items()})
    for k, t in m.get_states().items():
        want = np.full(SINGA_STATES[k][0], SINGA_STATES[k][1], np.float32)
        np.testing.assert_array_equal(t.numpy(), want)
    with pytest.raises(InputError, match="unknown parameter.*bn1.running_mean"):
        m.set_params({"bn1.running_mean": np.zeros(2)})  # a state, not a parameter


def test_save_and_load_states_round_trip(tmp_path):
    m = compiled_convnet()
    m.set_states({k: np.full(s, v) for k, (s, v) in SINGA_STATES.items()})
    aux = {"opt1": Tensor((2, 10)).gaussian(1, 0.1), "epoch": 3}
    path = tmp_path / "snapshot.zip"
    m.save_states(str(path), aux)
    x, y = T(2, 2, 2, 2, scale=2.0), Tensor(data=np.eye(2))
    for _ in range(5):
        m(x, y)  # training moves every state
    moved = m.get_states()
    assert not np.allclose(moved["bn1.running_mean"].numpy(), 0.5)
    got = m.load_states(str(path))
    for k, t in m.get_states().items():
        assert t is moved[k]  # restored in place
        np.testing.assert_allclose(t.numpy(), np.full(SINGA_STATES[k][0], SINGA_STATES[k][1]),
                                   rtol=1e-7)
    assert set(got) == {"opt1", "epoch"} and isinstance(got["opt1"], Tensor)
    np.testing.assert_array_equal(got["opt1"].numpy(), aux["opt1"].numpy())
    assert got["epoch"].numpy() == 3


def test_checkpoint_file_layout_is_singas(tmp_path):
    m = compiled_convnet()
    path = tmp_path / "m.zip"
    m.save_states(str(path), {"lr": Tensor(data=np.array([0.5], np.float32)),
                              "step": np.array(3)})
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["states_attr.json", "tensor_dict.npz"]
        attrs = json.loads(zf.read("states_attr.json"))
        zf.extract("tensor_dict.npz", tmp_path)
    arrays = np.load(tmp_path / "tensor_dict.npz")
    assert set(arrays.files) == set(SINGA_STATES) | {"lr", "step"}
    assert attrs["lr"] == {"state_type": 1, "shape": [1], "dtype": 0}  # 0: kFloat32
    assert attrs["step"] == {"state_type": 1, "shape": [], "dtype": "int64"}  # no SINGA code
    assert attrs["conv1.W"] == {"state_type": 0, "shape": [2, 2, 2, 2], "dtype": 0}
    np.testing.assert_array_equal(arrays["conv1.W"], m.conv1.W.numpy())


def test_loads_a_file_written_as_singa_writes_it(tmp_path):
    """SINGA 3.1 writes np.savez + json.dump into a deflated zip; shapes as lists."""
    arrays = {k: np.full(s, v, np.float32) for k, (s, v) in SINGA_STATES.items()}
    arrays["step"] = np.array([7.0], np.float32)
    attrs = {k: {"state_type": 0, "shape": list(a.shape), "dtype": 0} for k, a in arrays.items()}
    attrs["step"]["state_type"] = 1
    np.savez(tmp_path / "tensor_dict.npz", **arrays)
    (tmp_path / "states_attr.json").write_text(json.dumps(attrs))
    path = tmp_path / "singa.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("tensor_dict.npz", "states_attr.json"):
            zf.write(tmp_path / name, name, compress_type=zipfile.ZIP_DEFLATED)
    m = compiled_convnet()
    aux = m.load_states(str(path))
    np.testing.assert_array_equal(m.bn1.running_var.numpy(), np.full(2, 0.6, np.float32))
    np.testing.assert_array_equal(aux["step"].numpy(), [7.0])


def test_checkpoint_errors(tmp_path):
    m = compiled_convnet()
    path = tmp_path / "a.zip"
    m.save_states(str(path))
    with pytest.raises(FileExistsError, match="a.zip"):
        m.save_states(str(path))
    with pytest.raises(FileNotFoundError, match="b.zip"):
        m.load_states(str(tmp_path / "b.zip"))
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    with pytest.raises(SingaError, match="not a SINGA states file"):
        m.load_states(str(tmp_path / "c.zip"))
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as zf:
        zf.writestr("tensor_dict.npz", b"")
    with pytest.raises(SingaError, match="not a SINGA states file.*states_attr"):
        m.load_states(str(tmp_path / "e.zip"))
    with pytest.raises(InputError, match="conv1.W"):
        m.save_states(str(tmp_path / "d.zip"), {"conv1.W": Tensor((1,))})
    other = MLP()
    other.compile([Tensor((1, 2))])
    with pytest.raises(InputError, match="unknown state"):
        other.load_states(str(path))


# ------------------------------------------------------------------ training

class SmallCNN(model.Model):
    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(4, 3, padding=1)
        self.bn = layer.BatchNorm2d()
        self.pool = layer.MaxPool2d(2)
        self.flat = layer.Flatten()
        self.drop = layer.Dropout(0.1)
        self.fc = layer.Linear(3)
        self.loss = layer.SoftMaxCrossEntropy()

    def forward(self, x):
        y = self.pool(autograd.relu(self.bn(self.conv(x))))
        return self.fc(self.drop(self.flat(y)))

    def train_one_batch(self, x, y):
        out = self.forward(x)
        loss = self.loss(out, y)
        self.optimizer(loss)
        return out, loss


def test_small_cnn_trains_with_falling_loss():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 24)
    images = rng.normal(0, 0.3, (24, 1, 6, 6)).astype(np.float32)
    for i, k in enumerate(labels):  # class k: a bright row at 2k
        images[i, 0, 2 * k] += 1.5
    x = Tensor(data=images, requires_grad=False)
    y = Tensor(data=np.eye(3, dtype=np.float32)[labels], requires_grad=False)
    m = SmallCNN()
    m.set_optimizer(opt.SGD(lr=0.1, momentum=0.9))
    m.compile([x], is_train=True, use_graph=True)
    losses = [float(m(x, y)[1].numpy()[0]) for _ in range(15)]
    assert losses[-1] < 0.3 * losses[0]
    m.eval()
    assert (m(x).numpy().argmax(1) == labels).mean() == 1.0
