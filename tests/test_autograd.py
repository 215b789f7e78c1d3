"""Eager autograd against float64 finite differences and NumPy references."""

import numpy as np
import pytest

from singa import autograd, tensor
from singa.errors import GradError, ShapeError

from tests._numeric import central_difference


def _param(a):
    return tensor.Tensor(data=np.asarray(a, np.float64), requires_grad=True, stores_grad=True)


def _numeric_grad(f, p, eps=1e-6):
    """Central differences of scalar f() w.r.t. every entry of tensor p (float64)."""
    return central_difference(f, p.data, eps)


def _loss_value(build):
    return float(tensor.to_numpy(build())[0])


def test_mlp_grads_match_finite_differences():
    rng = np.random.default_rng(1)
    x = tensor.from_numpy(rng.normal(size=(5, 4)))
    t = tensor.from_numpy(np.eye(3)[rng.integers(0, 3, 5)])
    w1, b1 = _param(rng.normal(size=(4, 6))), _param(rng.normal(size=6))
    w2 = _param(rng.normal(size=(6, 3)))

    def build():
        h = autograd.relu(autograd.add(autograd.matmul(x, w1), b1))
        return autograd.softmax_cross_entropy(autograd.matmul(h, w2), t)

    grads = {id(p): tensor.to_numpy(g) for p, g in autograd.backward(build())}
    assert set(grads) == {id(w1), id(b1), id(w2)}  # x has no stores_grad: not yielded
    for p in (w1, b1, w2):
        np.testing.assert_allclose(grads[id(p)], _numeric_grad(lambda: _loss_value(build), p),
                                   rtol=1e-5, atol=1e-8)


def test_conv_pool_layers_grads_match_finite_differences():
    rng = np.random.default_rng(2)
    conv = autograd.Conv2d(2, 3, 3, padding=1, stride=1)
    conv.W.data = conv.W.data.astype(np.float64)
    conv.b.data = rng.normal(size=3)
    pool = autograd.MaxPool2d(2, 2)
    lin = autograd.Linear(3 * 2 * 2, 2)
    lin.W.data = lin.W.data.astype(np.float64)
    lin.b.data = lin.b.data.astype(np.float64)
    x = tensor.from_numpy(rng.normal(size=(2, 2, 4, 4)))
    t = tensor.from_numpy(np.array([[1.0, 0.0], [0.0, 1.0]]))

    def build():
        y = pool(autograd.relu(conv(x)))
        return autograd.softmax_cross_entropy(lin(autograd.flatten(y)), t)

    grads = {id(p): tensor.to_numpy(g) for p, g in autograd.backward(build())}
    for p in (conv.W, conv.b, lin.W, lin.b):
        np.testing.assert_allclose(grads[id(p)], _numeric_grad(lambda: _loss_value(build), p),
                                   rtol=1e-4, atol=1e-7)


def test_shared_parameter_accumulates():
    w = _param([[2.0]])
    x = tensor.from_numpy(np.array([[3.0]]))
    y = autograd.add(autograd.matmul(x, w), autograd.matmul(autograd.matmul(x, w), w))
    loss = autograd.reduce_sum(y)
    (p, g), = list(autograd.backward(loss))
    # d/dw (3w + 3w^2) = 3 + 6w = 15
    assert p is w and tensor.to_numpy(g).item() == pytest.approx(15.0)


def test_backward_needs_dy_for_non_scalar():
    w = _param(np.ones((2, 2)))
    y = autograd.matmul(tensor.from_numpy(np.ones((3, 2))), w)
    with pytest.raises(GradError, match="not a scalar"):
        list(autograd.backward(y))
    dy = np.arange(6.0).reshape(3, 2)
    (_, g), = list(autograd.backward(y, dy))
    np.testing.assert_allclose(tensor.to_numpy(g), np.ones((2, 3)) @ dy)


def test_mismatched_layer_shapes_raise_shape_error_naming_op():
    lin = autograd.Linear(5, 3)
    with pytest.raises(ShapeError, match=r"MatMul.*\(2, 4\).*\(5, 3\)"):
        lin(tensor.from_numpy(np.ones((2, 4), np.float32)))
    with pytest.raises(ShapeError, match="Add"):
        autograd.add(tensor.from_numpy(np.ones((2, 3))), tensor.from_numpy(np.ones((4,))))


def test_batchnorm_training_updates_running_stats_and_inference_uses_them():
    rng = np.random.default_rng(3)
    bn = autograd.BatchNorm2d(3, momentum=0.9)
    xa = rng.normal(2.0, 3.0, size=(8, 3, 4, 4)).astype(np.float32)
    autograd.training = True
    try:
        y = tensor.to_numpy(bn(tensor.from_numpy(xa)))
    finally:
        autograd.training = False
    mean, var = xa.mean(axis=(0, 2, 3)), xa.var(axis=(0, 2, 3))
    want = (xa - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tensor.to_numpy(bn.running_mean), 0.1 * mean, rtol=1e-4, atol=1e-5)
    rv = tensor.to_numpy(bn.running_var)
    n = 8 * 16
    assert np.allclose(rv, 0.9 + 0.1 * var, rtol=1e-3) or np.allclose(rv, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-3)
    y_inf = tensor.to_numpy(bn(tensor.from_numpy(xa)))
    want_inf = (xa - tensor.to_numpy(bn.running_mean)[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y_inf, want_inf, rtol=1e-4, atol=1e-4)


def test_dropout_only_in_training():
    x = tensor.from_numpy(np.ones((1000,), np.float32))
    np.testing.assert_array_equal(tensor.to_numpy(autograd.dropout(x, ratio=0.3)), np.ones(1000))
    autograd.training = True
    try:
        y = tensor.to_numpy(autograd.dropout(x, ratio=0.3))
    finally:
        autograd.training = False
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)


def test_tape_links_outputs_to_inputs():
    x = tensor.from_numpy(np.ones((2, 2), np.float32))
    y = autograd.relu(x)
    assert y.creator.op_name == "Relu" and y.creator.inputs[0] is x
