"""SINGA's recurrent layers (singa.recurrent, served as layer.RNN ...).

References: SINGA 3.1's documented equations written in NumPy float64 over the
layers' own parameters, the float64 ONNX reference of tests/ops/_rnn_reference
for CudnnRNN's stacked layers, and finite differences for parameter gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa import autograd, layer
from singa.errors import ShapeError
from singa.layer_base import Layer
from singa.recurrent import GRU, LSTM, RNN, CudnnRNN, gru, lstm, rnn
from singa.tensor import Tensor
from tests.ops._rnn_reference import reference

pytestmark = pytest.mark.usefixtures("inference_mode")

T, BATCH, IN, HID = 4, 3, 2, 5


def steps(seed, dtype=np.float64, n=T):
    rng = np.random.default_rng(seed)
    return [Tensor(data=rng.standard_normal((BATCH, IN)).astype(dtype)) for _ in range(n)]


def state(seed, dtype=np.float64):
    return Tensor(data=np.random.default_rng(seed).standard_normal((BATCH, HID)).astype(dtype))


def host(t):
    return np.asarray(t.data)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_rnn(m, xs, h, act=np.tanh):
    p = {k: host(v) for k, v in m.get_params().items()}
    out = []
    for x in xs:
        h = act(host(x) @ p["Wx"] + h @ p["Wh"] + p["b"])
        out.append(h)
    return out, h


def numpy_lstm(m, xs, h, c):
    p = {k: host(v) for k, v in m.get_params().items()}

    def gate(g):
        return x @ p[f"Wx_{g}"] + p[f"Bx_{g}"] + h @ p[f"Wh_{g}"] + p[f"Bh_{g}"]

    out = []
    for x in map(host, xs):
        i, f, o, g = sigmoid(gate("i")), sigmoid(gate("f")), sigmoid(gate("o")), np.tanh(gate("g"))
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return out, h, c


def numpy_gru(m, xs, h):
    p = {k: host(v) for k, v in m.get_params().items()}
    out = []
    for x in map(host, xs):
        z = sigmoid(x @ p["Wx_z"] + p["Bx_z"] + h @ p["Wh_z"] + p["Bh_z"])
        r = sigmoid(x @ p["Wx_r"] + p["Bx_r"] + h @ p["Wh_r"] + p["Bh_r"])
        cand = np.tanh(x @ p["Wx_h"] + p["Bx_h"] + r * (h @ p["Wh_h"] + p["Bh_h"]))
        h = (1 - z) * cand + z * h
        out.append(h)
    return out, h


def randomise(m, seed, scale=0.5):
    """Non-zero biases and sizeable weights, so every term shows in the outputs."""
    rng = np.random.default_rng(seed)
    for p in m.get_params().values():
        p.copy_from_numpy(rng.standard_normal(p.shape) * scale)


# ------------------------------------------------------------------ SINGA's equations

@pytest.mark.parametrize("nonlinearity,act", [("tanh", np.tanh),
                                              ("relu", lambda v: np.maximum(v, 0))])
def test_rnn_follows_singa_equations(nonlinearity, act):
    m = RNN(IN, HID, nonlinearity=nonlinearity)
    xs, h0 = steps(0), state(1)
    hs, h = m(xs, h0)
    randomise(m, 2)
    hs, h = m(xs, h0)
    want, want_h = numpy_rnn(m, xs, host(h0), act)
    assert len(hs) == T and all(t.shape == (BATCH, HID) for t in hs)
    for got, w in zip(hs, want):
        np.testing.assert_allclose(host(got), w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(h), want_h, rtol=1e-12, atol=1e-12)


def test_lstm_follows_singa_equations():
    m = LSTM(IN, HID)
    xs, h0, c0 = steps(3), state(4), state(5)
    m(xs, (h0, c0))
    randomise(m, 6)
    hs, h, c = m(xs, (h0, c0))
    want, want_h, want_c = numpy_lstm(m, xs, host(h0), host(c0))
    for got, w in zip(hs, want):
        np.testing.assert_allclose(host(got), w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(h), want_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(c), want_c, rtol=1e-12, atol=1e-12)


def test_gru_follows_its_equations():
    m = GRU(IN, HID)
    xs, h0 = steps(7), state(8)
    m(xs, h0)
    randomise(m, 9)
    hs, h = m(xs, h0)
    want, want_h = numpy_gru(m, xs, host(h0))
    for got, w in zip(hs, want):
        np.testing.assert_allclose(host(got), w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(h), want_h, rtol=1e-12, atol=1e-12)


def test_parameters_as_singa_creates_them():
    m = LSTM(IN, HID)
    m(steps(0, np.float32), (state(1, np.float32), state(2, np.float32)))
    params = m.get_params()
    assert sorted(params) == sorted(f"{w}_{g}" for w in ("Wx", "Wh", "Bx", "Bh")
                                    for g in "ifog")
    assert params["Wx_i"].shape == (IN, HID) and params["Wh_f"].shape == (HID, HID)
    assert params["Bh_o"].shape == (HID,) and not host(params["Bh_o"]).any()
    assert params["Wx_i"].dtype == np.float32 and 0 < host(params["Wx_g"]).std() < 0.05
    r = RNN(IN, HID)
    r(steps(0), state(1))
    assert sorted(r.get_params()) == ["Wh", "Wx", "b"]


def test_hierarchical_names_and_layer_module():
    class Net(Layer):
        def __init__(self):
            super().__init__()
            self.rnn = layer.LSTM(IN, HID)

        def forward(self, xs, hc):
            return self.rnn(xs, hc)

    net = Net()
    net(steps(0), (state(1), state(2)))
    assert "rnn.Wx_i" in net.get_params()
    assert layer.RNN is RNN and layer.GRU is GRU and issubclass(RNN, layer.RNN_Base)


def test_tensor_input_and_step_forward():
    m = GRU(IN, HID)
    xs, h0 = steps(3), state(4)
    hs, h = m(xs, h0)
    X = Tensor(data=np.stack([host(x) for x in xs]))
    hs2, h2 = m(X, h0)
    np.testing.assert_allclose(host(h2), host(h), rtol=1e-12)
    h1 = m.step_forward(xs[0], h0)
    np.testing.assert_allclose(host(h1), host(hs[0]), rtol=1e-12)


# ------------------------------------------------------------------ gradients and training

@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_parameter_gradients_finite_differences(cls):
    autograd.training = True
    m = cls(IN, HID)
    xs, h0, c0 = steps(10), state(11), state(12)
    states = (h0, c0) if cls is LSTM else h0

    def loss():
        hs = m(xs, states)[0]
        total = None
        for k, t in enumerate(hs):
            sq = autograd.apply("Mul", [t, t])[0]
            term = autograd.apply("ReduceSum", [sq], {"keepdims": 0})[0]
            term = autograd.apply("Mul", [term, np.float64(k + 1)])[0]
            total = term if total is None else autograd.apply("Add", [total, term])[0]
        return total

    loss()
    randomise(m, 13)
    grads = autograd.gradients(loss())
    rng = np.random.default_rng(14)
    for name, p in m.get_params().items():
        v = rng.standard_normal(p.shape)
        base = host(p).copy()
        p.copy_from_numpy(base + 1e-6 * v)
        up = float(host(loss()))
        p.copy_from_numpy(base - 1e-6 * v)
        down = float(host(loss()))
        p.copy_from_numpy(base)
        fd = (up - down) / 2e-6
        an = float((host(grads[p]) * v).sum())
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(fd)), f"{cls.__name__}.{name}: {fd} vs {an}"


@pytest.mark.parametrize("make", [lambda: RNN(IN, HID), lambda: LSTM(IN, HID),
                                  lambda: GRU(IN, HID),
                                  lambda: CudnnRNN(HID, num_layers=2, bidirectional=True,
                                                   batch_first=False)])
def test_layers_train_with_sgd(make):
    """A few SGD steps on a sequence-to-sequence regression lower the loss."""
    autograd.training = True
    m = make()
    rng = np.random.default_rng(0)
    xs = [Tensor(data=rng.standard_normal((BATCH, IN)).astype(np.float32)) for _ in range(T)]
    # a target the layers can fit: a fixed function of each step's input
    teacher = rng.standard_normal((IN, HID))
    target = Tensor(data=(0.5 * np.tanh(np.stack([host(x) for x in xs]) @ teacher))
                    .astype(np.float32))
    h0 = Tensor(data=np.zeros((BATCH, HID), np.float32))
    c0 = Tensor(data=np.zeros((BATCH, HID), np.float32))

    def forward():
        if isinstance(m, CudnnRNN):
            X = Tensor(data=np.stack([host(x) for x in xs]))
            Y = m(X)  # (T, B, 2H): compare the forward half
            Y = autograd.apply("Slice", [Y, np.array([0]), np.array([HID]), np.array([2])])[0]
        else:
            hs = m(xs, (h0, c0) if isinstance(m, LSTM) else h0)[0]
            Y = autograd.apply("Concat", [autograd.apply("Unsqueeze", [h, np.array([0])])[0]
                                          for h in hs], {"axis": 0})[0]
        diff = autograd.apply("Sub", [Y, target])[0]
        return autograd.apply("ReduceMean", [autograd.apply("Mul", [diff, diff])[0]],
                              {"keepdims": 0})[0]

    losses = []
    for _ in range(15):
        loss = forward()
        losses.append(float(host(loss)))
        for p, g in autograd.backward(loss):
            p.data -= 0.5 * g.data
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.8 * losses[0], losses


# ------------------------------------------------------------------ CudnnRNN, stacked ONNX ops

def _stacked_reference(m, x, hx=None, cx=None, lens=None):
    """CudnnRNN's documented computation in float64: the flat W cut per layer into
    ONNX W, R, B; each layer's outputs (directions side by side) feed the next."""
    mode = {"lstm": "LSTM", "gru": "GRU"}.get(m.rnn_mode, "RNN")
    D, H = (2 if m.bidirectional else 1), m.hidden_size
    G = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode]
    flat = host(m.W).astype(np.float64)
    y = host(x).astype(np.float64)
    if m.batch_first:
        y = y.transpose(1, 0, 2)
    width, at = y.shape[-1], 0
    attrs = {"direction": "bidirectional" if D == 2 else "forward",
             "linear_before_reset": 1}
    if mode == "RNN":
        attrs["activations"] = ["Relu" if m.rnn_mode == "relu" else "Tanh"] * D
    for k in range(m.num_layers):
        parts = []
        for shape in ((D, G * H, width), (D, G * H, H), (D, 2 * G * H)):
            n = int(np.prod(shape))
            parts.append(flat[at:at + n].reshape(shape))
            at += n
        h0 = None if hx is None else host(hx)[k * D:(k + 1) * D]
        c0 = None if cx is None else host(cx)[k * D:(k + 1) * D]
        outs = reference(mode, y, *parts, lens, h0, c0 if mode == "LSTM" else None, **attrs)
        y = outs[0].transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[1], D * H)
        width = D * H
    return y.transpose(1, 0, 2) if m.batch_first else y


@pytest.mark.parametrize("mode", ["lstm", "gru", "vanilla", "relu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_cudnn_rnn_matches_stacked_reference(mode, batch_first):
    rng = np.random.default_rng(1)
    m = CudnnRNN(HID, num_layers=2, bidirectional=True, rnn_mode=mode, batch_first=batch_first)
    shape = (BATCH, T, IN) if batch_first else (T, BATCH, IN)
    x = Tensor(data=rng.standard_normal(shape))
    hx = Tensor(data=rng.standard_normal((4, BATCH, HID)))
    cx = Tensor(data=rng.standard_normal((4, BATCH, HID)))
    y = m(x, hx, cx)
    want = _stacked_reference(m, x, hx, cx)
    assert y.shape == want.shape
    np.testing.assert_allclose(host(y), want, rtol=1e-10, atol=1e-12)
    m.return_sequences = False
    last = m(x, hx, cx)
    np.testing.assert_allclose(host(last), want[:, -1] if batch_first else want[-1],
                               rtol=1e-10, atol=1e-12)


def test_cudnn_rnn_mask_and_weights_size():
    rng = np.random.default_rng(2)
    m = CudnnRNN(HID, use_mask=True, rnn_mode="lstm")
    x = Tensor(data=rng.standard_normal((BATCH, T, IN)))
    lens = Tensor(data=np.array([4, 1, 2]), requires_grad=False)
    y = m(x, seq_lengths=lens)
    want = _stacked_reference(m, x, lens=np.array([4, 1, 2], np.int32))
    np.testing.assert_allclose(host(y), want, rtol=1e-10, atol=1e-12)
    assert not host(y)[1, 1:].any()
    assert m.weights_size == 4 * HID * IN + 4 * HID * HID + 8 * HID == m.W.size
    k = np.sqrt(1.0 / HID)
    assert np.abs(host(m.W)).max() <= k


# ------------------------------------------------------------------ functional forms

def test_functional_forms_are_the_table_ops():
    rng = np.random.default_rng(3)
    x = Tensor(data=rng.standard_normal((T, BATCH, IN)))
    for fn, op, g in ((rnn, "RNN", 1), (gru, "GRU", 3), (lstm, "LSTM", 4)):
        W = rng.standard_normal((2, g * HID, IN))
        R = rng.standard_normal((2, g * HID, HID))
        B = rng.standard_normal((2, 2 * g * HID))
        outs = fn(x, Tensor(data=W), Tensor(data=R), Tensor(data=B), direction="bidirectional",
                  clip=0.9)
        want = reference(op, host(x), W, R, B, direction="bidirectional", clip=0.9)
        assert len(outs) == len(want) and outs[0].creator.op_name == op
        for got, w in zip(outs, want):
            np.testing.assert_allclose(host(got), w, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ errors

def test_shape_errors_name_the_layer():
    m = LSTM(IN, HID)
    with pytest.raises(ShapeError, match=r"LSTM.*step 1 has shape \(3, 3\)"):
        m([Tensor(data=np.zeros((3, 2))), Tensor(data=np.zeros((3, 3)))],
          (state(0), state(1)))
    r = RNN(IN, HID)
    with pytest.raises(ShapeError, match=r"RNN.*state of shape \(3, 4\), expected \(3, 5\)"):
        r(steps(0), Tensor(data=np.zeros((3, 4))))
    c = CudnnRNN(HID)
    c(Tensor(data=np.zeros((BATCH, T, IN))))
    with pytest.raises(ShapeError, match=r"CudnnRNN.*hx of shape"):
        c(Tensor(data=np.zeros((BATCH, T, IN))), Tensor(data=np.zeros((2, BATCH, HID))))
    with pytest.raises(ShapeError, match="rnn_mode 'lstmm'"):
        CudnnRNN(HID, rnn_mode="lstmm")
    with pytest.raises(ShapeError, match="nonlinearity 'sigmoid'"):
        RNN(IN, HID, nonlinearity="sigmoid")


def test_arguments_singa_ignores_warn():
    with pytest.warns(UserWarning, match="num_layers, bidirectional ignored as in SINGA 3.1"):
        RNN(IN, HID, num_layers=2, bidirectional=True)


@pytest.mark.parametrize("mode", ["lstm", "gru", "relu"])
def test_cudnn_rnn_exports_to_onnx_that_onnxruntime_runs(mode):
    import onnxruntime as ort

    from singa import sonnx

    rng = np.random.default_rng(4)
    x = Tensor(data=rng.standard_normal((BATCH, T, IN)).astype(np.float32), requires_grad=False)
    m = CudnnRNN(HID, num_layers=2, bidirectional=True, rnn_mode=mode, return_sequences=False)
    y = m(x)
    model = sonnx.to_onnx([x], [y])
    assert {"LSTM": mode == "lstm", "GRU": mode == "gru", "RNN": mode == "relu"} == \
        {op: op in {n.op_type for n in model.graph.node} for op in ("LSTM", "GRU", "RNN")}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {model.graph.input[0].name: host(x)})[0]
    np.testing.assert_allclose(got, host(y), rtol=1e-5, atol=1e-6)
    back = sonnx.prepare(model, "CPU").run([host(x)])[0]
    np.testing.assert_allclose(host(back), host(y), rtol=1e-5, atol=1e-6)
