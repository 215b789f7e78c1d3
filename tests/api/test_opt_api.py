"""singa.opt as SINGA 3.1 defines it, against float64 NumPy versions of each update.

The reference implementations below are written from SINGA's documented update
formulas (opt.py docstrings and test_opt.py of SINGA 3.1), not from our code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from singa import autograd, opt, tensor
from singa.errors import ShapeError, SingaError
from singa.tensor import Tensor

RNG = np.random.default_rng(7)
SHAPE = (3, 4)


# ----------------------------------------------------------------- references

def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf = p.copy(), np.zeros_like(p)
    for t, g in enumerate(grads):
        rate = lr(t) if callable(lr) else lr
        g = g + weight_decay * p
        if momentum:
            buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - rate * g
    return p


def ref_rmsprop(p, grads, lr, rho=0.9, eps=1e-8, weight_decay=0.0):
    p, r = p.copy(), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        r = rho * r + (1 - rho) * g * g
        p = p - lr * g / np.sqrt(r + eps)
    return p


def ref_adagrad(p, grads, lr, eps=1e-8, weight_decay=0.0):
    p, h = p.copy(), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        h = h + g * g
        p = p - lr * g / np.sqrt(h + eps)
    return p


def ref_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        rate = lr(t - 1) if callable(lr) else lr
        g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - rate * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


def problem(steps=5, dtype=np.float64):
    p0 = RNG.normal(size=SHAPE)
    grads = [RNG.normal(size=SHAPE) for _ in range(steps)]
    return p0, grads, dtype


def run_apply(optimizer, p0, grads, dtype=np.float64, name="w"):
    p = Tensor(data=p0.astype(dtype), stores_grad=True)
    for g in grads:
        optimizer.apply(name, p, tensor.from_numpy(g.astype(dtype)))
        optimizer.step()
    return tensor.to_numpy(p)


CASES = [
    ("sgd", lambda: opt.SGD(lr=0.05), lambda p, g: ref_sgd(p, g, 0.05)),
    ("sgd_momentum", lambda: opt.SGD(lr=0.05, momentum=0.9),
     lambda p, g: ref_sgd(p, g, 0.05, momentum=0.9)),
    ("sgd_dampening_decay",
     lambda: opt.SGD(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
     lambda p, g: ref_sgd(p, g, 0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("sgd_nesterov", lambda: opt.SGD(lr=0.05, momentum=0.7, nesterov=True, weight_decay=1e-3),
     lambda p, g: ref_sgd(p, g, 0.05, momentum=0.7, weight_decay=1e-3, nesterov=True)),
    ("rmsprop", lambda: opt.RMSProp(lr=0.01, rho=0.8, epsilon=1e-6),
     lambda p, g: ref_rmsprop(p, g, 0.01, rho=0.8, eps=1e-6)),
    ("rmsprop_decay", lambda: opt.RMSProp(lr=0.01, weight_decay=0.05),
     lambda p, g: ref_rmsprop(p, g, 0.01, weight_decay=0.05)),
    ("adagrad", lambda: opt.AdaGrad(lr=0.1, epsilon=1e-7),
     lambda p, g: ref_adagrad(p, g, 0.1, eps=1e-7)),
    ("adagrad_decay", lambda: opt.AdaGrad(lr=0.1, weight_decay=0.02),
     lambda p, g: ref_adagrad(p, g, 0.1, weight_decay=0.02)),
    ("adam", lambda: opt.Adam(lr=0.01), lambda p, g: ref_adam(p, g, 0.01)),
    ("adam_betas_decay", lambda: opt.Adam(lr=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-5,
                                          weight_decay=0.1),
     lambda p, g: ref_adam(p, g, 0.02, b1=0.5, b2=0.9, eps=1e-5, weight_decay=0.1)),
]


@pytest.mark.parametrize("make,ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_update_matches_float64_reference(make, ref):
    p0, grads, _ = problem(steps=6)
    np.testing.assert_allclose(run_apply(make(), p0, grads), ref(p0, grads), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("make,ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_float32_parameters_stay_float32_and_track_reference(make, ref):
    p0, grads, _ = problem(steps=4)
    got = run_apply(make(), p0, grads, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(p0.astype(np.float32).astype(np.float64),
                                        [g.astype(np.float32).astype(np.float64) for g in grads]),
                               rtol=1e-4, atol=1e-5)


def test_schedules_drive_every_step():
    p0, grads, _ = problem(steps=5)
    lr = opt.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    got = run_apply(opt.SGD(lr=lr, momentum=0.9), p0, grads)
    want = ref_sgd(p0, grads, lambda t: 0.1 * 0.5 ** (t // 2), momentum=0.9)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    cos = opt.CosineDecay(0.01, decay_steps=3)
    got = run_apply(opt.Adam(lr=cos), p0, grads)
    want = ref_adam(p0, grads, lambda t: 0.005 * (1 + math.cos(math.pi * min(t, 3) / 3)))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_momentum_itself_may_be_scheduled():
    p0, grads, _ = problem(steps=4)
    mom = opt.ExponentialDecay(0.9, decay_steps=1, decay_rate=0.5)
    got = run_apply(opt.SGD(lr=0.1, momentum=mom), p0, grads)
    p, buf = p0.copy(), np.zeros_like(p0)
    for t, g in enumerate(grads):
        buf = 0.9 * 0.5 ** t * buf + g
        p = p - 0.1 * buf
    np.testing.assert_allclose(got, p, rtol=1e-12)


# ----------------------------------------------------------------- __call__ / update

def quadratic_loss(w, x):
    """sum((x @ w)^2) / 2: gradient x^T (x w)."""
    y = autograd.matmul(x, w)
    return autograd.reduce_sum(autograd.mul(y, y), None, 0) * 0.5


def test_call_backpropagates_updates_and_steps():
    w0 = RNG.normal(size=(4, 2))
    x0 = RNG.normal(size=(5, 4))
    w = Tensor(data=w0.copy(), stores_grad=True)
    x = Tensor(data=x0, requires_grad=False)
    adam = opt.Adam(lr=0.01)
    want = w0.copy()
    grads = []
    for _ in range(3):
        adam(quadratic_loss(w, x))
        g = x0.T @ (x0 @ want)
        grads.append(g)
        want = ref_adam(w0, grads, 0.01)
    np.testing.assert_allclose(tensor.to_numpy(w), want, rtol=1e-10)
    assert adam.get_states()["step_counter"] == 3
    np.testing.assert_array_equal(tensor.to_numpy(adam.step_counter), [3])


def test_backward_and_update_is_call():
    w0, x0 = RNG.normal(size=(4, 2)), RNG.normal(size=(5, 4))
    a = Tensor(data=w0.copy(), stores_grad=True)
    b = Tensor(data=w0.copy(), stores_grad=True)
    x = Tensor(data=x0, requires_grad=False)
    o1, o2 = opt.SGD(lr=0.1, momentum=0.5), opt.SGD(lr=0.1, momentum=0.5)
    for _ in range(2):
        o1(quadratic_loss(a, x))
        o2.backward_and_update(quadratic_loss(b, x))
    np.testing.assert_array_equal(tensor.to_numpy(a), tensor.to_numpy(b))
    assert o1.get_states()["step_counter"] == o2.get_states()["step_counter"] == 2


def test_update_is_in_place_and_casts_the_gradient():
    p = Tensor(data=np.ones(3, np.float32), stores_grad=True)
    alias = p.data
    opt.Adam(lr=0.5).update(p, tensor.from_numpy(np.full(3, 2.0)))  # float64 gradient
    assert p.data is alias and p.dtype == np.float32
    np.testing.assert_allclose(alias, 0.5, rtol=2e-5)  # first Adam step moves by lr (float32)


def test_states_are_per_name_and_unnamed_tensors_get_their_own():
    sgd = opt.SGD(lr=1.0, momentum=0.5)
    a = Tensor(data=np.zeros(2), stores_grad=True)
    b = Tensor(data=np.zeros(2), stores_grad=True)
    one = tensor.from_numpy(np.ones(2))
    sgd.update(a, one)
    sgd.update(a, one)
    sgd.update(b, one)
    np.testing.assert_allclose(tensor.to_numpy(a), -2.5)  # buf 1 then 1.5
    np.testing.assert_allclose(tensor.to_numpy(b), -1.0)
    assert len(sgd.moments) == 2
    named = Tensor(data=np.zeros(2), stores_grad=True, name="fc.W")
    sgd.update(named, one)
    sgd.apply("fc.W", named, one)  # same key: the buffer continues
    np.testing.assert_allclose(tensor.to_numpy(named), -2.5)
    np.testing.assert_allclose(tensor.to_numpy(sgd.moments["fc.W"]), 1.5)


def test_sgd_without_momentum_keeps_no_state():
    sgd = opt.SGD(lr=0.1)
    p = Tensor(data=np.ones(2), stores_grad=True)
    sgd.update(p, tensor.from_numpy(np.ones(2)))
    assert sgd.moments == {} and "moments" not in sgd.get_states()


# ----------------------------------------------------------------- states

@pytest.mark.parametrize("make", [lambda: opt.SGD(lr=0.05, momentum=0.9),
                                  lambda: opt.RMSProp(lr=0.01),
                                  lambda: opt.AdaGrad(lr=0.1),
                                  lambda: opt.Adam(lr=0.01, weight_decay=0.01)],
                         ids=["sgd", "rmsprop", "adagrad", "adam"])
def test_state_round_trip_continues_identically(make):
    p0, grads, _ = problem(steps=6)
    first = make()
    p = Tensor(data=p0.copy(), stores_grad=True)
    for g in grads[:3]:
        first.apply("w", p, tensor.from_numpy(g))
        first.step()
    saved = first.get_states()
    assert saved["step_counter"] == 3
    assert set(saved) == {"step_counter", *first.state_names}
    # a snapshot: later updates of the original leave it alone
    snapshot = {k: {n: tensor.to_numpy(t).copy() for n, t in saved[k].items()}
                for k in first.state_names}
    second = make()
    second.set_states({"step_counter": saved["step_counter"],
                       **{k: {n: a.copy() for n, a in v.items()} for k, v in snapshot.items()}})
    q = Tensor(data=tensor.to_numpy(p).copy(), stores_grad=True)
    for g in grads[3:]:
        first.apply("w", p, tensor.from_numpy(g))
        first.step()
        second.apply("w", q, tensor.from_numpy(g))
        second.step()
    np.testing.assert_array_equal(tensor.to_numpy(p), tensor.to_numpy(q))
    for k, v in snapshot.items():
        for n, a in v.items():
            np.testing.assert_array_equal(tensor.to_numpy(saved[k][n]), a)
    # and the whole run equals the uninterrupted reference
    fresh = make()
    np.testing.assert_allclose(tensor.to_numpy(p), run_apply(fresh, p0, grads), rtol=1e-13)


def test_base_optimizer_step_counter_as_singa():
    o = opt.Optimizer(0.1)
    o.step()
    o.step()
    assert o.get_states()["step_counter"] == 2
    o.set_states({"step_counter": 5})
    np.testing.assert_array_equal(tensor.to_numpy(o.step_counter), [5])
    np.testing.assert_allclose(tensor.to_numpy(o.lr_value), [0.1])


# ----------------------------------------------------------------- schedulers

def test_constant_and_exponential_decay_formulas():
    c = opt.Constant(0.2)
    assert [c(s) for s in range(3)] == [0.2, 0.2, 0.2]
    for staircase in (False, True):
        e = opt.ExponentialDecay(0.1, 3, 0.7, staircase)
        for s in range(10):
            expo = s // 3 if staircase else s / 3
            assert e(s) == pytest.approx(0.1 * 0.7 ** expo, rel=1e-12)


def test_schedule_of_a_tensor_step_is_a_tensor():
    e = opt.ExponentialDecay(0.1, 2, 0.5, True)
    step = Tensor(data=np.array([5.0], np.float32), requires_grad=False)
    out = e(step)
    assert isinstance(out, Tensor) and out.shape == (1,)
    np.testing.assert_allclose(tensor.to_numpy(out), [0.1 * 0.5 ** 2], rtol=1e-6)


@pytest.mark.parametrize("staircase", [True, False])
def test_lr_value_follows_the_schedule(staircase):
    sgd = opt.SGD(lr=opt.ExponentialDecay(0.1, 2, 0.5, staircase))
    for i in range(5):
        want = 0.1 * 0.5 ** (i // 2 if staircase else i / 2)
        np.testing.assert_allclose(tensor.to_numpy(sgd.lr_value), [want], rtol=1e-6)
        assert sgd.learning_rate() == pytest.approx(want, rel=1e-12)
        sgd.step()


def test_singa_style_scheduler_defining_call_works():
    class Halving(opt.DecayScheduler):
        def call(self, step):  # SINGA's form: Tensor in, Tensor out
            return Tensor(data=self.init_value * 0.5 ** tensor.to_numpy(step), requires_grad=False)

    p0, grads, _ = problem(steps=3)
    got = run_apply(opt.SGD(lr=Halving(0.2)), p0, grads)
    np.testing.assert_allclose(got, ref_sgd(p0, grads, lambda t: 0.2 * 0.5 ** t), rtol=1e-6)


def test_plain_function_as_learning_rate():
    p0, grads, _ = problem(steps=3)
    got = run_apply(opt.SGD(lr=lambda s: 0.1 / (s + 1)), p0, grads)
    np.testing.assert_allclose(got, ref_sgd(p0, grads, lambda t: 0.1 / (t + 1)), rtol=1e-12)


# ----------------------------------------------------------------- the pure rule

def test_rule_is_pure_and_built_from_table_ops():
    adam = opt.Adam(lr=0.1, weight_decay=0.01)
    for _ in range(2):
        adam.step()
    hyper = adam.hyper_values()
    assert hyper["bias_correction_1"] == pytest.approx(1 - 0.9 ** 3)
    assert hyper["bias_correction_2"] == pytest.approx(1 - 0.999 ** 3)
    assert hyper["lr"] == pytest.approx(0.1) and hyper["weight_decay"] == pytest.approx(0.01)
    p0, g0 = RNG.normal(size=SHAPE), RNG.normal(size=SHAPE)
    m0, v0 = RNG.normal(size=SHAPE), RNG.uniform(size=SHAPE)
    as_t = lambda a: Tensor(data=a.copy(), requires_grad=False)  # noqa: E731
    param, grad = as_t(p0), as_t(g0)
    states = {"m": as_t(m0), "v": as_t(v0)}
    hyper_t = {k: Tensor(data=np.asarray(v), requires_grad=False) for k, v in hyper.items()}
    new_p, new_s = adam.rule(param, grad, states, hyper_t)
    np.testing.assert_array_equal(tensor.to_numpy(param), p0)  # inputs untouched
    np.testing.assert_array_equal(tensor.to_numpy(states["m"]), m0)
    g = g0 + 0.01 * p0
    m = 0.9 * m0 + 0.1 * g
    v = 0.999 * v0 + 0.001 * g * g
    want = p0 - 0.1 * (m / (1 - 0.9 ** 3)) / (np.sqrt(v / (1 - 0.999 ** 3)) + 1e-8)
    np.testing.assert_allclose(tensor.to_numpy(new_p), want, rtol=1e-12)
    np.testing.assert_allclose(tensor.to_numpy(new_s["m"]), m, rtol=1e-12)
    np.testing.assert_allclose(tensor.to_numpy(new_s["v"]), v, rtol=1e-12)
    assert new_p.creator is not None and new_p.creator.op_name == "Sub"  # a table op made it


def test_rule_differentiates_through_the_table():
    """Built from table ops, the rule is differentiable: d new_p / d grad for SGD is -lr."""
    sgd = opt.SGD(lr=0.25)
    param = Tensor(data=np.ones(3), requires_grad=False)
    grad = Tensor(data=np.full(3, 2.0), requires_grad=True, stores_grad=True)
    hyper = {k: Tensor(data=np.asarray(v), requires_grad=False)
             for k, v in sgd.hyper_values().items()}
    new_p, _ = sgd.rule(param, grad, {}, hyper)
    (g_of_grad,) = [g for t, g in autograd.backward(autograd.reduce_sum(new_p, None, 0))
                    if t is grad]
    np.testing.assert_allclose(tensor.to_numpy(g_of_grad), -0.25)


def test_init_states_are_zero_like_the_parameter():
    p = Tensor(data=np.ones((2, 3), np.float32), stores_grad=True)
    states = opt.Adam().init_states(p)
    assert set(states) == {"m", "v"}
    for t in states.values():
        assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
        np.testing.assert_array_equal(tensor.to_numpy(t), 0)


def test_singa_defaults():
    assert opt.SGD().learning_rate() == pytest.approx(0.1)
    assert opt.Adam().learning_rate() == pytest.approx(0.1)
    adam = opt.Adam()
    np.testing.assert_allclose(tensor.to_numpy(adam.beta_1_value), [0.9])
    np.testing.assert_allclose(tensor.to_numpy(adam.beta_2_value), [0.999])
    rms = opt.RMSProp()
    np.testing.assert_allclose(tensor.to_numpy(rms.rho_value), [0.9])


# ----------------------------------------------------------------- errors

def test_gradient_shape_mismatch_names_the_parameter():
    p = Tensor(data=np.zeros((2, 3)), stores_grad=True)
    with pytest.raises(ShapeError, match=r"'fc\.W'.*\(3, 2\).*\(2, 3\)"):
        opt.SGD().apply("fc.W", p, tensor.from_numpy(np.zeros((3, 2))))


@pytest.mark.parametrize("build,match", [
    (lambda: opt.SGD(lr=0.1, momentum=-0.1), "momentum"),
    (lambda: opt.SGD(lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda: opt.SGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda: opt.SGD(lr=0.1, nesterov=True), "Nesterov"),
    (lambda: opt.Adam(lr="fast"), "lr"),
    (lambda: opt.RMSProp(lr=-0.5), "lr"),
    (lambda: opt.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
])
def test_bad_hyper_parameters(build, match):
    with pytest.raises(opt.HyperParameterError, match=match) as info:
        build()
    assert isinstance(info.value, SingaError) and isinstance(info.value, ValueError)


def test_distopt_is_deliberately_absent():
    with pytest.raises(AttributeError, match="not supported"):
        opt.DistOpt  # noqa: B018
