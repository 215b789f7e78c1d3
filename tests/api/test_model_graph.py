"""``Model.compile(..., use_graph=True)``: compiled training equals eager training.

The reference is the same model trained eagerly (``use_graph=False``) from the
same weights on the same batches: losses, weights and optimizer state must
agree step by step.
"""

import warnings

import numpy as np
import pytest

from singa import autograd, layer, model, opt, tensor
from singa.runtime.graph_training import GraphTrainer
from singa.runtime.train_step import CompiledStep


class GuideCNN(model.Model):
    """The guide's MNIST CNN as a SINGA 3.1 Model."""

    def __init__(self):
        super().__init__()
        self.conv1 = layer.Conv2d(20, 5, padding=0)
        self.conv2 = layer.Conv2d(50, 5, padding=0)
        self.linear1 = layer.Linear(500, bias=False)
        self.linear2 = layer.Linear(10, bias=False)
        self.pool1 = layer.MaxPool2d(2, 2, padding=0)
        self.pool2 = layer.MaxPool2d(2, 2, padding=0)
        self.relu = layer.ReLU()
        self.flatten = layer.Flatten()
        self.loss = layer.SoftMaxCrossEntropy()

    def forward(self, x):
        y = self.pool1(self.relu(self.conv1(x)))
        y = self.pool2(self.relu(self.conv2(y)))
        y = self.relu(self.linear1(self.flatten(y)))
        return self.linear2(y)

    def train_one_batch(self, x, y):
        out = self.forward(x)
        loss = self.loss(out, y)
        self.optimizer(loss)
        return out, loss


def _batches(n, batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32),
             np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]) for _ in range(n)]


def _trained(use_graph, optimizer, data):
    tensor.seed(11)
    m = GuideCNN()
    m.set_optimizer(optimizer)
    x0 = tensor.from_numpy(data[0][0])
    m.compile([x0], is_train=True, use_graph=use_graph)
    losses = []
    for x, y in data:
        out, loss = m(tensor.from_numpy(x), tensor.from_numpy(y))
        assert out.shape == (x.shape[0], 10)
        losses.append(loss.item())
    return m, losses


@pytest.fixture(autouse=True)
def _restore_training():
    saved = autograd.training
    yield
    autograd.training = saved


@pytest.mark.parametrize("make_opt", [
    lambda: opt.SGD(lr=0.05, momentum=0.9, weight_decay=1e-4),
    lambda: opt.Adam(lr=0.001),
], ids=["sgd_momentum", "adam"])
def test_twenty_steps_of_the_guide_cnn_equal_eager_training(make_opt):
    data = _batches(20)
    eager, want = _trained(False, make_opt(), data)
    graph, got = _trained(True, make_opt(), data)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ge, gg = eager.get_params(), graph.get_params()
    assert ge.keys() == gg.keys()
    for k in ge:
        np.testing.assert_allclose(tensor.to_numpy(gg[k]), tensor.to_numpy(ge[k]),
                                   rtol=1e-4, atol=1e-5, err_msg=k)
    assert eager.optimizer.get_states()["step_counter"] == 20.0
    assert graph.optimizer.get_states()["step_counter"] == 20.0
    trainer = graph._compiled_step
    assert isinstance(trainer, GraphTrainer) and len(trainer.steps) == 1
    (compiled,) = trainer.steps.values()
    assert compiled and isinstance(compiled.step, CompiledStep)  # not the eager fallback
    assert loss_is_falling(got)


def loss_is_falling(losses):
    return np.mean(losses[-5:]) < np.mean(losses[:5])


def test_a_new_batch_size_gets_its_own_compiled_step():
    data = _batches(3, batch=8) + _batches(3, batch=5, seed=1)
    eager, want = _trained(False, opt.SGD(lr=0.05), data)
    graph, got = _trained(True, opt.SGD(lr=0.05), data)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    steps = graph._compiled_step.steps
    assert len(steps) == 2 and all(steps.values())


def test_a_step_that_cannot_be_compiled_trains_eagerly_with_one_warning():
    class NoOptimizer(GuideCNN):
        def train_one_batch(self, x, y):
            out = self.forward(x)
            return out, self.loss(out, y)  # forgets the optimizer

    m = NoOptimizer()
    m.set_optimizer(opt.SGD(lr=0.1))
    data = _batches(3)
    m.compile([tensor.from_numpy(data[0][0])], is_train=True, use_graph=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x, y in data:
            m(tensor.from_numpy(x), tensor.from_numpy(y))
    msgs = [str(w.message) for w in caught if "use_graph" in str(w.message)]
    assert len(msgs) == 1 and "no loss to an optimizer" in msgs[0]


def test_eval_mode_and_switching_graph_off_run_eagerly():
    data = _batches(2)
    m, _ = _trained(True, opt.SGD(lr=0.05), data[:1])
    m.eval()
    y = m(tensor.from_numpy(data[1][0]))
    assert y.shape == (8, 10)
    m.train()
    m.graph(False)
    assert m._compiled_step is None
    out, loss = m(*(tensor.from_numpy(a) for a in data[1]))
    assert np.isfinite(loss.item())


def test_new_optimizer_states_or_a_new_optimizer_are_picked_up():
    """set_states replaces the state Tensors and set_optimizer the rule: the next
    step is recorded afresh, so compiled training keeps matching eager training."""
    data = _batches(6)

    def run(use_graph):
        tensor.seed(11)
        m = GuideCNN()
        m.set_optimizer(opt.SGD(lr=0.05, momentum=0.9))
        m.compile([tensor.from_numpy(data[0][0])], is_train=True, use_graph=use_graph)
        losses = [m(*(tensor.from_numpy(a) for a in b))[1].item() for b in data[:2]]
        saved = m.optimizer.get_states()
        losses += [m(*(tensor.from_numpy(a) for a in b))[1].item() for b in data[2:4]]
        m.optimizer.set_states(saved)  # back to the momentum of step 2
        losses += [m(*(tensor.from_numpy(a) for a in data[4]))[1].item()]
        m.set_optimizer(opt.Adam(lr=0.001))
        losses += [m(*(tensor.from_numpy(a) for a in data[5]))[1].item()]
        return losses

    np.testing.assert_allclose(run(True), run(False), rtol=1e-5, atol=1e-5)
