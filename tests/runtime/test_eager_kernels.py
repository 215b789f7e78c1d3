"""Eager ops and their gradients through compiled host kernels (runtime/eager_kernels.py).

References are independent of both paths: NumPy float64 arithmetic (products,
direct convolution sums, pools) and the eager NumPy path for whole training
steps.  The plans are forced (no call count, no size threshold) so every case
runs the kernels; each test checks that it did.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from singa import autograd, device, tensor
from singa.codegen import host
from singa.errors import ShapeError
from singa.runtime import eager_kernels as ek

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no C compiler for kernels")


@pytest.fixture(autouse=True)
def forced(monkeypatch):
    """Every eager op is a plan from its first call: no size threshold."""
    monkeypatch.setattr(ek, "HOT", 1)
    monkeypatch.setattr(ek, "MIN_WORK", 0)
    monkeypatch.delenv(ek.ENV, raising=False)
    ek.clear()
    saved = autograd.training
    yield
    autograd.training = saved
    ek.clear()


def _planned(kind: str, op: str) -> bool:
    return any(k[0] == kind and k[1] == op and p is not None for k, p in ek._plans.items())


def _t(a, grad=False):
    return tensor.Tensor(data=np.ascontiguousarray(a), requires_grad=grad, stores_grad=grad)


def _grads(loss):
    return {id(p): tensor.to_numpy(g) for p, g in autograd.backward(loss)}


def _conv_ref(x, w, b):
    """Direct convolution in float64 (stride 1, no pads)."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    y = np.zeros((n, m, oh, ow))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,mc->nmhw", x[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return y + b[None, :, None, None]


def _conv_grad_ref(x, w, dy):
    m, _, kh, kw = w.shape
    oh, ow = dy.shape[2:]
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i in range(kh):
        for j in range(kw):
            dw[:, :, i, j] = np.einsum("nmhw,nchw->mc", dy, x[:, :, i:i + oh, j:j + ow])
            dx[:, :, i:i + oh, j:j + ow] += np.einsum("nmhw,mc->nchw", dy, w[:, :, i, j])
    return dx, dw, dy.sum(axis=(0, 2, 3))


def test_conv_forward_and_gradients_match_float64_sums():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 9, 8)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    dy = rng.standard_normal((3, 5, 7, 6)).astype(np.float32)
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    autograd.training = True
    y = autograd.apply("Conv", [tx, tw, tb], {})[0]
    got = _grads_with(y, dy)
    assert _planned("fwd", "Conv") and _planned("grad", "Conv")
    np.testing.assert_allclose(tensor.to_numpy(y), _conv_ref(x, w, b), rtol=1e-5, atol=1e-4)
    for t, want in zip((tx, tw, tb), _conv_grad_ref(x, w, dy.astype(np.float64))):
        np.testing.assert_allclose(got[id(t)], want, rtol=1e-5, atol=1e-4)


def _grads_with(y, dy):
    return {id(p): tensor.to_numpy(g) for p, g in autograd.backward(y, _t(dy))}


@pytest.mark.parametrize("shapes", [((6, 40), (40, 7)), ((2, 5, 40), (40, 7)),
                                    ((2, 3, 6, 40), (2, 3, 40, 7))])
def test_matmul_forward_and_gradients_match_float64(shapes):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    ta, tb = _t(a, True), _t(b, True)
    y = autograd.apply("MatMul", [ta, tb], {})[0]
    dy = rng.standard_normal(y.shape).astype(np.float32)
    got = _grads_with(y, dy)
    assert _planned("fwd", "MatMul") and _planned("grad", "MatMul")
    a64, b64, dy64 = a.astype(np.float64), b.astype(np.float64), dy.astype(np.float64)
    np.testing.assert_allclose(tensor.to_numpy(y), a64 @ b64, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got[id(ta)], dy64 @ b64.swapaxes(-1, -2), rtol=1e-5, atol=1e-4)
    if b.ndim == 2:  # one weight for the whole stack
        want_db = a64.reshape(-1, a.shape[-1]).T @ dy64.reshape(-1, dy.shape[-1])
    else:
        want_db = a64.swapaxes(-1, -2) @ dy64
    np.testing.assert_allclose(got[id(tb)], want_db, rtol=1e-5, atol=1e-4)


def test_elementwise_relu_and_broadcast_add_with_gradients():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    c = rng.standard_normal((3, 1)).astype(np.float32)
    tx, tc = _t(x, True), _t(c, True)
    y = autograd.apply("Relu", [autograd.apply("Add", [tx, tc], {})[0]], {})[0]
    dy = rng.standard_normal(y.shape).astype(np.float32)
    got = _grads_with(y, dy)
    assert _planned("fwd", "Relu") and _planned("fwd", "Add") and _planned("grad", "Relu")
    s = x.astype(np.float64) + c
    np.testing.assert_allclose(tensor.to_numpy(y), np.maximum(s, 0), rtol=1e-6)
    dsum = np.where(s > 0, dy, 0.0)
    np.testing.assert_allclose(got[id(tx)], dsum, rtol=1e-6)
    np.testing.assert_allclose(got[id(tc)], dsum.sum(axis=(0, 2))[:, None], rtol=1e-5,
                               atol=1e-5)


def test_maxpool_forward_matches_window_maxima():
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 6)).astype(np.float32)
    y = autograd.apply("MaxPool", [_t(x)], {"kernel_shape": [2, 2], "strides": [2, 2]})[0]
    assert _planned("fwd", "MaxPool")
    np.testing.assert_array_equal(tensor.to_numpy(y), x.reshape(2, 3, 4, 2, 3, 2).max(axis=(3, 5)))


def test_training_steps_agree_with_the_numpy_path():
    """The guide's CNN (smaller batch): losses and weights after three SGD steps
    equal those of the NumPy path within float32 rounding."""
    from singa import opt

    from examples.mnist_onnx import CNN

    rng = np.random.default_rng(4)
    xs = rng.random((3, 4, 1, 28, 28), dtype=np.float32)
    ts = np.eye(10, dtype=np.float32)[rng.integers(0, 10, (3, 4))]

    def train(on):
        device.get_default_device().eager_kernels = on
        try:
            tensor.seed(0)
            model, sgd = CNN(), opt.SGD(lr=0.05)
            autograd.training = True
            losses = []
            for x, t in zip(xs, ts):
                loss = autograd.softmax_cross_entropy(model.forward(_t(x)), _t(t))
                for p, g in autograd.backward(loss):
                    sgd.update(p, g)
                losses.append(loss.item())
            return losses, tensor.to_numpy(model.linear1.W)
        finally:
            device.get_default_device().eager_kernels = True

    ref_losses, ref_w = train(False)
    assert not ek._plans
    losses, w = train(True)
    assert _planned("fwd", "Conv") and _planned("grad", "MatMul")
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


def test_switches_and_no_compiler_keep_numpy(monkeypatch):
    x = _t(np.ones((4, 4), np.float32))
    dev = device.get_default_device()
    dev.eager_kernels = False
    try:
        autograd.apply("Relu", [x], {})
    finally:
        dev.eager_kernels = True
    monkeypatch.setenv(ek.ENV, "0")
    autograd.apply("Relu", [x], {})
    monkeypatch.delenv(ek.ENV)
    monkeypatch.setattr(ek, "_host_usable", lambda: False)
    autograd.apply("Relu", [x], {})
    assert not ek._plans
    monkeypatch.setattr(ek, "_host_usable", lambda: True)
    autograd.apply("Relu", [x], {})
    assert _planned("fwd", "Relu")


def test_not_compiled_before_hot_and_small_ops_stay_numpy(monkeypatch):
    monkeypatch.setattr(ek, "HOT", 2)
    x = _t(np.ones((4, 4), np.float32))
    autograd.apply("Relu", [x], {})
    assert not ek._plans
    autograd.apply("Relu", [x], {})
    assert _planned("fwd", "Relu")
    monkeypatch.setattr(ek, "MIN_WORK", 1 << 15)
    autograd.apply("Sigmoid", [x], {})
    autograd.apply("Sigmoid", [x], {})
    assert not any(k[1] == "Sigmoid" for k in ek._plans)


def test_bad_shapes_still_raise_shape_error():
    a, b = _t(np.ones((3, 4), np.float32)), _t(np.ones((5, 2), np.float32))
    with pytest.raises(ShapeError, match="MatMul"):
        autograd.apply("MatMul", [a, b], {})


def test_threads_training_at_once_get_the_single_thread_results():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((16, 32)).astype(np.float32)
    bs = [rng.standard_normal((32, 24)).astype(np.float32) for _ in range(6)]

    def work(b):
        tb = _t(b, True)
        y = autograd.apply("Relu", [autograd.apply("MatMul", [_t(a), tb], {})[0]], {})[0]
        return tensor.to_numpy(y), _grads_with(y, np.ones(y.shape, np.float32))[id(tb)]

    want = [work(b) for b in bs]
    got = [None] * len(bs)

    def run(k):
        for _ in range(5):
            got[k] = work(bs[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(bs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (wy, wg), (gy, gg) in zip(want, got):
        np.testing.assert_array_equal(gy, wy)
        np.testing.assert_array_equal(gg, wg)
    a64 = a.astype(np.float64)
    for b, (y, _) in zip(bs, want):
        np.testing.assert_allclose(y, np.maximum(a64 @ b, 0), rtol=1e-5, atol=1e-5)


def test_strided_operands_passed_again_give_the_same_gradient():
    """A strided operand (a transposed view) that needs a gradient, given to the
    same gradient plan three times: no run may read an earlier run's temporary
    contiguous copy (freed, and here overwritten with NaN in between)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 4, 2, 9, 8)).astype(np.float32)[:, :, 1]
    x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # F-ish strides
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 3, 7, 6)).astype(np.float32)
    assert not x.flags.c_contiguous
    tx, tw = tensor.Tensor(data=x, requires_grad=True, stores_grad=True), _t(w, True)
    node = autograd.apply("Conv", [tx, tw], {})[0].creator
    want = _conv_grad_ref(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64))
    for _ in range(3):
        dx, dw = ek.gradient(node, [dy])
        np.testing.assert_allclose(dx, want[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(dw, want[1], rtol=1e-5, atol=1e-4)
        junk = [np.full(x.size, np.nan, np.float32) for _ in range(8)]
        del junk
    assert _planned("grad", "Conv")


def test_a_gradient_plan_run_again_reads_the_new_operands():
    """New arrays for every operand on every call (a new model's weights, a strided
    input that needs a gradient): the cached plan computes with them, not with
    pointers a replayed kernel call recorded on an earlier run."""
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = rng.standard_normal((4, 12, 12, 3)).astype(np.float32).transpose(0, 3, 1, 2)
        w = rng.standard_normal((5, 3, 5, 5)).astype(np.float32)
        b = rng.standard_normal(5).astype(np.float32)
        tx = tensor.Tensor(data=x, requires_grad=True, stores_grad=True)
        tw, tb = _t(w, True), _t(b, True)
        y = autograd.apply("Conv", [tx, tw, tb], {})[0]
        dy = rng.standard_normal(y.shape).astype(np.float32)
        got = _grads_with(y, dy)
        want = _conv_grad_ref(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64))
        for t, ref in zip((tx, tw, tb), want):
            np.testing.assert_allclose(got[id(t)], ref, rtol=1e-5, atol=1e-4)
    assert _planned("grad", "Conv")
