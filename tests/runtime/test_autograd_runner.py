"""run_graph_autograd: training an imported graph through the autograd tape.

References: the same model run eagerly (float64, so gradients must agree to
rounding), NumPy formulas for BatchNormalization/Dropout training semantics, and
the Truncate pass for ``last_layers``.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa import autograd
from singa.errors import GradError, InputError, IRError
from singa.exporters.onnx_export import to_onnx
from singa.frontends.onnx_import import import_model
from singa.frontends.trace import trace
from singa.ir.interpret import interpret
from singa.passes.truncate import Truncate
from singa.runtime.autograd_runner import ops_without_grad, run_graph_autograd
from singa.tensor import Tensor

from ._helpers import X, Net, f64, grads_by_name, onehot

pytestmark = pytest.mark.usefixtures("inference_mode")


def imported(net, x):
    """The net exported (inference mode) and imported back; params as fresh Tensors."""
    y = net.forward(x)
    g = import_model(to_onnx([x], [y]))
    # every tensor trainable, as the guide's Infer makes tensor_map's
    params = {v.name: Tensor(data=np.array(v.data), stores_grad=True) for v in g.params}
    return g, params


def test_gradients_equal_the_eager_model_float64():
    net = Net()
    x, t = X(6, 2, 6, 6), onehot(6, 4)
    g, params = imported(net, x)
    assert set(params) == set(net.named)
    autograd.training = True
    eager = grads_by_name(autograd.softmax_cross_entropy(net.forward(x), t), net.named)
    (y,) = run_graph_autograd(g, [x], params)
    assert y.dtype == np.float64
    ours = grads_by_name(autograd.softmax_cross_entropy(y, t), params)
    # running statistics are state: no gradient for them in either model
    assert set(ours) == set(eager) == set(params) - {"BatchNormalization_0.input_mean",
                                                    "BatchNormalization_0.input_var"}
    for k in eager:
        np.testing.assert_allclose(ours[k], eager[k], rtol=1e-10, atol=1e-13, err_msg=k)
    # both BatchNorms moved their running statistics the same way
    for k in ("BatchNormalization_0.input_mean", "BatchNormalization_0.input_var"):
        np.testing.assert_allclose(params[k].numpy(), net.named[k].numpy(), rtol=1e-12)


def test_param_tensors_are_the_ones_updated():
    """backward yields the very Tensors of ``params``; an SGD step changes the next run."""
    from singa import opt

    net = Net()
    x, t = X(4, 2, 6, 6), onehot(4, 4)
    g, params = imported(net, x)
    autograd.training = True
    sgd = opt.SGD(lr=0.1)
    losses = []
    for _ in range(5):
        (y,) = run_graph_autograd(g, [x], params)
        loss = autograd.softmax_cross_entropy(y, t)
        losses.append(float(loss.numpy().reshape(-1)[0]))
        seen = []
        for p, gp in autograd.backward(loss):
            assert any(p is q for q in params.values())
            seen.append(p)
            sgd.update(p, gp)
        assert len(seen) == 7
    assert losses[-1] < losses[0]
    # the graph's own params (the imported arrays) are untouched
    w = next(v for v in g.params if v.name == "Conv_0.W")
    np.testing.assert_array_equal(w.data, net.conv.W.numpy())
    assert not np.allclose(params["Conv_0.W"].numpy(), w.data)


def test_inference_mode_equals_interpreter_and_keeps_statistics():
    net = Net()
    x = X(3, 2, 6, 6)
    g, params = imported(net, x)
    before = {k: v.numpy().copy() for k, v in params.items()}
    (y,) = run_graph_autograd(g, [x], params)
    np.testing.assert_array_equal(y.numpy(), interpret(g, [x.numpy()])[0])
    np.testing.assert_allclose(y.numpy(), net.forward(x).numpy(), rtol=1e-12)
    for k, v in params.items():
        np.testing.assert_array_equal(v.numpy(), before[k])


@pytest.mark.parametrize("last_layers", [-1, -3, -4, 4, 1])
def test_last_layers_in_training_mode(last_layers):
    net = Net()
    x, dy_seed = X(4, 2, 6, 6), 7
    g, params = imported(net, x)
    cut = g.clone()
    Truncate(last_layers).run(cut)
    kept_params = {v.name for v in cut.params if v.uses}
    autograd.training = True
    (y,) = run_graph_autograd(g, [x], params, last_layers=last_layers)
    # the eager prefix: same number of ops, in the same order
    # ops: Conv BN Relu MaxPool Flatten MatMul Add Relu MatMul
    pooled = lambda x: net.pool(autograd.relu(net.bn(net.conv(x))))  # noqa: E731
    eager = {-1: net.features, 1: net.conv, 4: pooled,
             -4: lambda x: autograd.flatten(pooled(x)),
             -3: lambda x: autograd.matmul(autograd.flatten(pooled(x)), net.l1.W)}
    ref = eager[last_layers](x)
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    dy = np.random.default_rng(dy_seed).normal(size=y.shape)
    ours = grads_by_name(y, params, dy)
    want = grads_by_name(ref, net.named, dy)
    assert set(ours) == set(want) == kept_params - {"BatchNormalization_0.input_mean",
                                                    "BatchNormalization_0.input_var"}
    for k in want:
        np.testing.assert_allclose(ours[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_last_layers_out_of_range_is_the_truncate_error():
    net = Net()
    x = X(2, 2, 6, 6)
    g, params = imported(net, x)
    with pytest.raises(IRError, match="last_layers=0 is out of range"):
        run_graph_autograd(g, [x], params, last_layers=0)
    with pytest.raises(IRError, match="out of range"):
        run_graph_autograd(g, [x], params, last_layers=len(g.ops) + 1)
    # a repeated cut is served from the cache and still right
    a = run_graph_autograd(g, [x], params, last_layers=-1)[0].numpy()
    b = run_graph_autograd(g, [x], params, last_layers=-1)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 5)


# ------------------------------------------------------------------ BN and Dropout semantics

def _bn_graph(c=3, momentum=0.8, eps=1e-3):
    x = X(5, c, 4, 4, seed=2)
    bn = f64(autograd.BatchNorm2d(c, momentum=momentum, epsilon=eps))
    bn.running_mean.data[...] = np.linspace(-1, 1, c)
    bn.running_var.data[...] = np.linspace(0.5, 2, c)
    bn.scale.data[...] = np.linspace(0.5, 1.5, c)
    bn.bias.data[...] = np.linspace(-0.2, 0.2, c)
    g = trace([x], [bn(x)])
    params = {v.name: Tensor(data=np.array(v.data), stores_grad=True) for v in g.params}
    return g, params, x


def test_batchnorm_training_semantics():
    g, params, x = _bn_graph()
    mean_t = params["BatchNormalization_0.input_mean"]
    var_t = params["BatchNormalization_0.input_var"]
    m0, v0 = mean_t.numpy().copy(), var_t.numpy().copy()
    mean_array = mean_t.data
    a = x.numpy()
    bm, bv = a.mean(axis=(0, 2, 3)), a.var(axis=(0, 2, 3))
    scale = params["BatchNormalization_0.scale"].numpy()
    bias = params["BatchNormalization_0.B"].numpy()
    want = (a - bm[None, :, None, None]) / np.sqrt(bv[None, :, None, None] + 1e-3) \
        * scale[None, :, None, None] + bias[None, :, None, None]
    autograd.training = True
    (y,) = run_graph_autograd(g, [x], params)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    # running statistics: in place, in the same Tensor and array
    assert params["BatchNormalization_0.input_mean"] is mean_t and mean_t.data is mean_array
    np.testing.assert_allclose(mean_t.numpy(), 0.8 * m0 + 0.2 * bm, rtol=1e-12)
    np.testing.assert_allclose(var_t.numpy(), 0.8 * v0 + 0.2 * bv, rtol=1e-12)
    # inference: running statistics used, nothing updated
    autograd.training = False
    m1, v1 = mean_t.numpy().copy(), var_t.numpy().copy()
    (y,) = run_graph_autograd(g, [x], params)
    want = (a - m1[None, :, None, None]) / np.sqrt(v1[None, :, None, None] + 1e-3) \
        * scale[None, :, None, None] + bias[None, :, None, None]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(mean_t.numpy(), m1)


def _dropout_graph(ratio):
    x = X(50, 200, seed=3)
    p = Tensor(data=np.full((50, 200), 1.5), stores_grad=True, name="p")
    g = trace([x], [autograd.dropout(autograd.mul(x, p), ratio=ratio)])
    return g, {"p": Tensor(data=np.full((50, 200), 1.5), stores_grad=True)}, x


def test_dropout_training_semantics():
    g, params, x = _dropout_graph(0.3)
    autograd.training = True
    (y,) = run_graph_autograd(g, [x], params)
    xp = 1.5 * x.numpy()
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.025  # 10000 draws: sigma 0.0046
    keep = 1.0 - float(np.float32(0.3))  # autograd.dropout's ratio is a float32 constant
    np.testing.assert_allclose(y.numpy()[kept], xp[kept] / keep, rtol=1e-12)
    dy = np.random.default_rng(4).normal(size=y.shape)
    ((p, grad),) = list(autograd.backward(y, dy))
    assert p is params["p"]
    np.testing.assert_allclose(grad.numpy(), dy * kept * x.numpy() / keep, rtol=1e-12)
    autograd.training = False
    (y,) = run_graph_autograd(g, [x], params)
    np.testing.assert_array_equal(y.numpy(), xp)


# ------------------------------------------------------------------ gradient checks

def _resize_graph():
    x = X(2, 3, 4, 4)
    bn = f64(autograd.BatchNorm2d(3))
    conv = f64(autograd.Conv2d(3, 3, 1))
    h = bn(conv(x))
    scales = Tensor(data=np.array([1, 1, 2, 2], np.float32), requires_grad=False)
    up = autograd.apply("Resize", [h, None, scales], {"mode": "nearest"})[0]
    y = autograd.relu(up)
    idx = autograd.apply("ArgMax", [y], {"axis": 1})[0]
    g = trace([x], [y, idx])
    params = {v.name: Tensor(data=np.array(v.data), stores_grad=True) for v in g.params}
    return g, params, x


def test_ops_without_grad_are_named_before_running():
    g, params, x = _resize_graph()
    stats = params["BatchNormalization_0.input_mean"]
    before = stats.numpy().copy()
    autograd.training = True
    with pytest.raises(GradError, match=r"no gradient defined for Resize \(Resize_0\)$"):
        run_graph_autograd(g, [x], params)
    np.testing.assert_array_equal(stats.numpy(), before)  # nothing ran
    # ArgMax lacks a grad too, but no gradient crosses it (int result): not named
    assert "ArgMax" not in str(ops_without_grad(g, dict(zip(g.inputs, [x]))))


def test_ops_without_grad_do_not_matter_when_nothing_trains():
    g, params, x = _resize_graph()
    y, _ = run_graph_autograd(g, [x], params)  # inference: never checked
    np.testing.assert_allclose(y.numpy(), interpret(g, [x.numpy()])[0], rtol=1e-12)
    for t in params.values():
        t.requires_grad = t.stores_grad = False
    autograd.training = True
    y, idx = run_graph_autograd(g, [x], params)  # frozen weights: no gradient needed
    assert y.shape == (2, 3, 8, 8) and idx.dtype == np.int64


def test_cut_before_the_op_without_grad_trains():
    g, params, x = _resize_graph()
    autograd.training = True
    (h,) = run_graph_autograd(g, [x], params, last_layers=2)  # Conv, BN
    assert h.shape == (2, 3, 4, 4)
    assert len(dict(autograd.backward(autograd.reduce_sum(h * h, None, 0)))) == 4


# ------------------------------------------------------------------ bad calls

def test_wrong_inputs_and_missing_params():
    net = Net()
    x = X(2, 2, 6, 6)
    g, params = imported(net, x)
    with pytest.raises(InputError, match="takes 1 inputs"):
        run_graph_autograd(g, [x, x], params)
    with pytest.raises(InputError, match="dtype float32"):
        run_graph_autograd(g, [X(2, 2, 6, 6, dtype=np.float32)], params)
    with pytest.raises(InputError, match="rank 4"):
        run_graph_autograd(g, [X(2, 72)], params)
    with pytest.raises(InputError, match="Conv_0.W"):
        run_graph_autograd(g, [x], {k: v for k, v in params.items() if k != "Conv_0.W"})


def test_other_batch_size_runs():
    net = Net()
    g, params = imported(net, X(2, 2, 6, 6))
    x = X(7, 2, 6, 6, seed=9)
    autograd.training = True
    (y,) = run_graph_autograd(g, [x], params)
    assert y.shape == (7, 4)
