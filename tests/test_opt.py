"""Optimizers against their update rules written out in NumPy float64."""

import numpy as np
import pytest

from singa import opt, tensor


def _run(optimizer, grads, p0):
    p = tensor.Tensor(data=p0.copy(), stores_grad=True)
    for g in grads:
        optimizer.update(p, tensor.from_numpy(g))
        optimizer.step()
    return tensor.to_numpy(p)


@pytest.mark.parametrize("momentum,dampening,wd,nesterov", [
    (0.0, 0.0, 0.0, False), (0.9, 0.0, 0.0, False), (0.9, 0.1, 1e-2, False), (0.8, 0.0, 1e-3, True)])
def test_sgd_matches_reference(momentum, dampening, wd, nesterov):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(5)]
    got = _run(opt.SGD(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=wd,
                       nesterov=nesterov), grads, p0)
    # SINGA's momentum buffer starts at zero, so dampening applies from the first step
    p, buf = p0.copy(), np.zeros_like(p0)
    for g in grads:
        g = g + wd * p
        if momentum:
            buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - 0.1 * g
    np.testing.assert_allclose(got, p, rtol=1e-12)


def test_adam_matches_reference():
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(4)]
    got = _run(opt.Adam(lr=0.01), grads, p0)
    p, m, v = p0.copy(), 0, 0
    for t, g in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(got, p, rtol=1e-10)


def test_state_persists_per_parameter_when_reused():
    sgd = opt.SGD(lr=1.0, momentum=0.5)
    a = tensor.Tensor(data=np.zeros(1), stores_grad=True)
    b = tensor.Tensor(data=np.zeros(1), stores_grad=True)
    for _ in range(2):
        sgd.update(a, tensor.from_numpy(np.ones(1)))
    sgd.update(b, tensor.from_numpy(np.ones(1)))
    assert tensor.to_numpy(a).item() == pytest.approx(-(1 + 1.5))
    assert tensor.to_numpy(b).item() == pytest.approx(-1)


def test_update_is_in_place_and_keeps_dtype():
    p = tensor.Tensor(data=np.ones(3, np.float32), stores_grad=True)
    alias = p.data
    opt.SGD(lr=0.5).update(p, tensor.from_numpy(np.ones(3, np.float32)))
    assert p.data is alias and p.dtype == np.float32
    np.testing.assert_allclose(alias, 0.5)


def test_cosine_decay_schedule_drives_sgd():
    sched = opt.CosineDecay(0.1, decay_steps=4, alpha=0.1)
    want = [0.1 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s, 4) / 4))) for s in range(6)]
    assert [sched(s) for s in range(6)] == pytest.approx(want)
    assert sched(0) == pytest.approx(0.1) and sched(4) == pytest.approx(0.01) == sched(9)
    sgd = opt.SGD(lr=sched)
    p = tensor.Tensor(data=np.zeros(1), stores_grad=True)
    for _ in range(3):
        sgd.update(p, tensor.from_numpy(np.ones(1)))
        sgd.step()
    assert tensor.to_numpy(p).item() == pytest.approx(-sum(want[:3]))
