"""A recorded eager training step as one graph (forward, VJPs, optimizer update), replayed.

The reference is eager training itself: the same model trained eagerly step by
step must end with the same losses, weights, optimizer states and BatchNorm
running statistics as the compiled replay.
"""

import numpy as np
import pytest

from singa import autograd, tensor
from singa.errors import GradError, InputError
from singa.frontends.train_step import StepRecord, build_step_graph
from singa.runtime.train_step import CompiledStep


class Net:
    def __init__(self):
        self.conv = autograd.Conv2d(2, 4, 3, padding=1)
        self.bn = autograd.BatchNorm2d(4)
        self.pool = autograd.MaxPool2d(2, 2)
        self.fc = autograd.Linear(4 * 3 * 3, 5)

    def params(self):
        return [t for layer in (self.conv, self.bn, self.fc) for t in layer.get_params().values()]

    def forward(self, x):
        y = self.pool(autograd.relu(self.bn(self.conv(x))))
        return self.fc(autograd.flatten(y))


def momentum_rule(p, g, states, hyper):
    """SGD with momentum 0.9, written with autograd ops as optimizers do."""
    v = states["v"] * 0.9 + g
    return p - hyper["lr"] * v, {"v": v}


def _eager_step(net, x, y, vs, lr):
    out = net.forward(x)
    loss = autograd.softmax_cross_entropy(out, y)
    lr_t = tensor.from_numpy(np.float32(lr))
    for p, g in autograd.backward(loss):
        new_p, new_s = momentum_rule(p, g, {"v": vs[id(p)]}, {"lr": lr_t})
        p.data[...] = new_p.data
        vs[id(p)].data[...] = new_s["v"].data
    return out, loss


def _pair():
    tensor.seed(3)
    a, b = Net(), Net()
    for pa, pb in zip(a.params(), b.params()):
        pb.data[...] = pa.data
    return a, b


def _batches(n, batch=4):
    rng = np.random.default_rng(7)
    return [(rng.standard_normal((batch, 2, 6, 6)).astype(np.float32),
             np.eye(5, dtype=np.float32)[rng.integers(0, 5, batch)]) for _ in range(n)]


@pytest.fixture
def training():
    saved = autograd.training
    autograd.training = True
    yield
    autograd.training = saved


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_replay_equals_eager_training_for_ten_steps(training, target):
    eager, compiled = _pair()
    v_e = {id(p): tensor.Tensor(p.shape, requires_grad=False) for p in eager.params()}
    v_c = {id(p): tensor.Tensor(p.shape, requires_grad=False) for p in compiled.params()}
    data = _batches(10)
    lr = [0.1 / (1 + k) for k in range(10)]  # a schedule: fed per step, not baked in
    want = [_eager_step(eager, tensor.from_numpy(x), tensor.from_numpy(y), v_e, r)[1].item()
            for (x, y), r in zip(data, lr)]

    x, y = (tensor.from_numpy(a) for a in data[0])
    out, loss = _eager_step(compiled, x, y, v_c, lr[0])
    rec = StepRecord(inputs=[x, y], outputs=[out], loss=loss, params=compiled.params(),
                     states={id(p): {"v": v_c[id(p)]} for p in compiled.params()},
                     rule=momentum_rule, hyper=("lr",))
    step = CompiledStep(build_step_graph(rec, lower_conv=target != "numpy"), "CPU",
                        target=target)
    got = [loss.item()]
    for (x, y), r in zip(data[1:], lr[1:]):
        out, loss = step.run([tensor.from_numpy(x), tensor.from_numpy(y)], {"lr": r})
        assert out.shape == (4, 5)
        got.append(loss.item())

    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for pe, pc in zip(eager.params(), compiled.params()):
        np.testing.assert_allclose(pc.data, pe.data, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(v_c[id(pc)].data, v_e[id(pe)].data, rtol=1e-4, atol=1e-5)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(compiled.bn, name).data, getattr(eager.bn, name).data,
                                   rtol=1e-5, atol=1e-6)
    grads_of = sorted(op.attrs["grad_of"] for op in step.graph.ops if op.name == "VJP")
    if target == "numpy":  # every backward rule as the table's NumPy gradient
        assert grads_of == ["Add", "BatchNormalization", "Conv", "Flatten", "MatMul", "MaxPool",
                            "Relu", "SoftmaxCrossEntropy"]
    else:  # products, reshapes, sums and masks as kernels; the rest stays NumPy (the
        # columns' adjoint too, but the first conv's input needs no gradient)
        assert grads_of == ["BatchNormalization", "MaxPool", "SoftmaxCrossEntropy"]


def test_the_step_graph_holds_forward_backward_and_update(training):
    net = Net()
    x, y = (tensor.from_numpy(a) for a in _batches(1)[0])
    vs = {id(p): tensor.Tensor(p.shape, requires_grad=False) for p in net.params()}
    out, loss = _eager_step(net, x, y, vs, 0.1)
    sg = build_step_graph(StepRecord(inputs=[x, y], outputs=[out], loss=loss,
                                     params=net.params(), states={id(p): {"v": vs[id(p)]}
                                                                  for p in net.params()},
                                     rule=momentum_rule, hyper=("lr",)))
    g = sg.graph
    assert [v.name for v in g.inputs][-1] == "lr"
    grads_of = sorted(op.attrs["grad_of"] for op in g.ops if op.name == "VJP")
    assert grads_of == sorted(["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten",
                               "MatMul", "Add", "SoftmaxCrossEntropy"])
    # every param, its momentum and both running statistics are written back
    written = {id(t) for t, _ in sg.writes}
    assert all(id(p) in written and id(vs[id(p)]) in written for p in net.params())
    assert id(net.bn.running_mean) in written and id(net.bn.running_var) in written
    assert sg.n_results == 2 and len(g.outputs) == 2 + len(sg.writes)


def test_a_step_without_loss_and_wrong_inputs_are_refused(training):
    net = Net()
    x, y = (tensor.from_numpy(a) for a in _batches(1)[0])
    with pytest.raises(GradError, match="no loss"):
        build_step_graph(StepRecord(inputs=[x, y]))
    vs = {id(p): tensor.Tensor(p.shape, requires_grad=False) for p in net.params()}
    out, loss = _eager_step(net, x, y, vs, 0.1)
    step = CompiledStep(build_step_graph(StepRecord(
        inputs=[x, y], outputs=[out], loss=loss, params=net.params(),
        states={id(p): {"v": vs[id(p)]} for p in net.params()}, rule=momentum_rule,
        hyper=("lr",))), "CPU", target="numpy")
    with pytest.raises(InputError):
        step.run([x], {"lr": 0.1})
    with pytest.raises(InputError):
        step.run([tensor.from_numpy(np.zeros((5, 2, 6, 6), np.float32)), y], {"lr": 0.1})


def test_the_step_kernels_compile_with_nvrtc(training):
    """The CUDA dialect of every kernel a training step's plan emits compiles (no GPU
    needed), so compiled training on a GPU launches kernels NVRTC accepts."""
    from singa.codegen import nvrtc
    from singa.codegen.kernels import kernel_for

    if not nvrtc.available():
        pytest.skip("NVRTC not installed (pip install '.[test]')")
    net = Net()
    x, y = (tensor.from_numpy(a) for a in _batches(1)[0])
    vs = {id(p): tensor.Tensor(p.shape, requires_grad=False) for p in net.params()}
    out, loss = _eager_step(net, x, y, vs, 0.1)
    step = CompiledStep(build_step_graph(StepRecord(
        inputs=[x, y], outputs=[out], loss=loss, params=net.params(),
        states={id(p): {"v": vs[id(p)]} for p in net.params()}, rule=momentum_rule,
        hyper=("lr",)), lower_conv=True), "CPU", target="c")
    step.run([x, y], {"lr": 0.1})
    kernels = {}
    for op in step.graph.ops:
        k = kernel_for(op, lambda v: v.data if v.kind in ("const", "param") else None)
        if k is not None:
            kernels[k.name] = k
    names = " ".join(kernels)
    assert "fused" in names and "where" in names  # optimizer updates, ReLU's backward mask
    assert ".entry" in nvrtc.compile_ptx(list(kernels.values()))
