"""The ONNX guide's complete MNIST example, run as written, on a small data set.

The code between the ``GUIDE`` markers is the guide's (singa-onnx-guide.zh.txt,
"一个完整示例"), with only these changes:

- ``load_dataset`` reads 2000 training / 500 test images of Fashion-MNIST
  (/usr/share/datasets/fashion-mnist, from ``make demo``) instead of
  downloading MNIST; where the data is absent it makes a small learnable
  MNIST-like set (noisy, shifted class templates).  It keeps the guide's
  contract: raw 0..255 float32 images N x 1 x 28 x 28 and float32 labels.
- the CPU device (the guide's commented alternative to ``create_cuda_gpu()``)
  and a model path in pytest's tmp_path instead of /tmp/mnist.onnx;
- typos fixed: ``return trans_mode`` -> ``return trans_model``; ``Infer.forward``
  and ``Trans.forward`` read ``self.sg_ir`` (the guide reads the module-global
  ``sg_ir``, which only works because each phase rebinds that global first);
- the top-level statements are wrapped in ``run_guide`` (returning what the
  checks need) so the module imports without running them.

The checks (after the guide code) compare against independent references: the
eager model's outputs, onnxruntime on the saved file, losses and accuracies
computed with NumPy from the models' outputs.
"""

from __future__ import annotations

import os
import urllib.request  # noqa: F401 - the guide imports it
import gzip  # noqa: F401
import codecs  # noqa: F401

import numpy as np
import onnx
import pytest

from singa import datasets
from singa import device
from singa import tensor
from singa import opt
from singa import autograd
from singa import sonnx
from singa.errors import SingaError

N_TRAIN, N_TEST = 2000, 500


def _synthetic(n, seed):
    """Noisy, shifted renderings of 10 fixed random templates (learnable like MNIST)."""
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:28, 0:28]
    templates = []
    for _ in range(10):
        img = np.zeros((28, 28))
        for cy, cx in rng.uniform(6, 22, size=(5, 2)):
            img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
        templates.append(img / img.max())
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.empty((n, 1, 28, 28), np.float32)
    for i, k in enumerate(labels):
        dy, dx = rng.integers(-2, 3, 2)
        img = np.roll(np.roll(templates[k], dy, 0), dx, 1) + rng.normal(0, 0.1, (28, 28))
        images[i, 0] = np.clip(img, 0, 1) * 255
    return images, labels.astype(np.float32)


def load_dataset():
    try:
        tx, ty, vx, vy = datasets.load()
    except SingaError:  # no data folder (CI without `make demo`)
        train_x, train_y = _synthetic(N_TRAIN, 1)
        valid_x, valid_y = _synthetic(N_TEST, 2)
        return train_x, train_y, valid_x, valid_y
    # the guide's contract: raw 0..255 pixels, float32 labels
    return ((tx[:N_TRAIN] * 255).astype(np.float32), ty[:N_TRAIN].astype(np.float32),
            (vx[:N_TEST] * 255).astype(np.float32), vy[:N_TEST].astype(np.float32))


# ============================== GUIDE (from "一个完整示例") ==============================

def to_categorical(y, num_classes):
    y = np.array(y, dtype="int")
    n = y.shape[0]
    categorical = np.zeros((n, num_classes))
    categorical[np.arange(n), y] = 1
    categorical = categorical.astype(np.float32)
    return categorical


class CNN:
    def __init__(self):
        self.conv1 = autograd.Conv2d(1, 20, 5, padding=0)
        self.conv2 = autograd.Conv2d(20, 50, 5, padding=0)
        self.linear1 = autograd.Linear(4 * 4 * 50, 500, bias=False)
        self.linear2 = autograd.Linear(500, 10, bias=False)
        self.pooling1 = autograd.MaxPool2d(2, 2, padding=0)
        self.pooling2 = autograd.MaxPool2d(2, 2, padding=0)

    def forward(self, x):
        y = self.conv1(x)
        y = autograd.relu(y)
        y = self.pooling1(y)
        y = self.conv2(y)
        y = autograd.relu(y)
        y = self.pooling2(y)
        y = autograd.flatten(y)
        y = self.linear1(y)
        y = autograd.relu(y)
        y = self.linear2(y)
        return y


def accuracy(pred, target):
    y = np.argmax(pred, axis=1)
    t = np.argmax(target, axis=1)
    a = y == t
    return np.array(a, "int").sum() / float(len(t))


def train(model,
          x,
          y,
          epochs=1,
          batch_size=64,
          dev=device.get_default_device()):
    batch_number = x.shape[0] // batch_size

    for i in range(epochs):
        for b in range(batch_number):
            l_idx = b * batch_size
            r_idx = (b + 1) * batch_size

            x_batch = tensor.Tensor(device=dev, data=x[l_idx:r_idx])
            target_batch = tensor.Tensor(device=dev, data=y[l_idx:r_idx])

            output_batch = model.forward(x_batch)
            # onnx_model = sonnx.to_onnx([x_batch], [y])
            # print('The model is:\n{}'.format(onnx_model))

            loss = autograd.softmax_cross_entropy(output_batch, target_batch)
            accuracy_rate = accuracy(tensor.to_numpy(output_batch),
                                     tensor.to_numpy(target_batch))

            sgd = opt.SGD(lr=0.001)
            for p, gp in autograd.backward(loss):
                sgd.update(p, gp)
            sgd.step()

            if b % 1e2 == 0:
                print("acc %6.2f loss, %6.2f" %
                      (accuracy_rate, tensor.to_numpy(loss)[0]))
    print("training completed")
    return x_batch, output_batch


def test(model, x, y, batch_size=64, dev=device.get_default_device()):
    batch_number = x.shape[0] // batch_size

    result = 0
    for b in range(batch_number):
        l_idx = b * batch_size
        r_idx = (b + 1) * batch_size

        x_batch = tensor.Tensor(device=dev, data=x[l_idx:r_idx])
        target_batch = tensor.Tensor(device=dev, data=y[l_idx:r_idx])

        output_batch = model.forward(x_batch)
        result += accuracy(tensor.to_numpy(output_batch),
                           tensor.to_numpy(target_batch))

    print("testing acc %6.2f" % (result / batch_number))


test.__test__ = False  # the guide's helper, not a pytest test


def make_onnx(x, y):
    return sonnx.to_onnx([x], [y])


class Infer:
    def __init__(self, sg_ir):
        self.sg_ir = sg_ir
        for idx, tens in sg_ir.tensor_map.items():
            # allow the tensors to be updated
            tens.requires_grad = True
            tens.stores_grad= True
            sg_ir.tensor_map[idx] = tens

    def forward(self, x):
        return self.sg_ir.run([x])[0] # we can run one step of inference by feeding input


def re_train(sg_ir,
             x,
             y,
             epochs=1,
             batch_size=64,
             dev=device.get_default_device()):
    batch_number = x.shape[0] // batch_size

    new_model = Infer(sg_ir)

    for i in range(epochs):
        for b in range(batch_number):
            l_idx = b * batch_size
            r_idx = (b + 1) * batch_size

            x_batch = tensor.Tensor(device=dev, data=x[l_idx:r_idx])
            target_batch = tensor.Tensor(device=dev, data=y[l_idx:r_idx])

            output_batch = new_model.forward(x_batch)

            loss = autograd.softmax_cross_entropy(output_batch, target_batch)
            accuracy_rate = accuracy(tensor.to_numpy(output_batch),
                                     tensor.to_numpy(target_batch))

            sgd = opt.SGD(lr=0.01)
            for p, gp in autograd.backward(loss):
                sgd.update(p, gp)
            sgd.step()

            if b % 1e2 == 0:
                print("acc %6.2f loss, %6.2f" %
                      (accuracy_rate, tensor.to_numpy(loss)[0]))
    print("re-training completed")
    return new_model


class Trans:
    def __init__(self, sg_ir, last_layers):
        self.sg_ir = sg_ir
        self.last_layers = last_layers
        self.append_linear1 = autograd.Linear(500, 128, bias=False)
        self.append_linear2 = autograd.Linear(128, 32, bias=False)
        self.append_linear3 = autograd.Linear(32, 10, bias=False)

    def forward(self, x):
        y = self.sg_ir.run([x], last_layers=self.last_layers)[0]
        y = self.append_linear1(y)
        y = autograd.relu(y)
        y = self.append_linear2(y)
        y = autograd.relu(y)
        y = self.append_linear3(y)
        y = autograd.relu(y)
        return y


def transfer_learning(sg_ir,
             x,
             y,
             epochs=1,
             batch_size=64,
             dev=device.get_default_device()):
    batch_number = x.shape[0] // batch_size

    trans_model = Trans(sg_ir, -1)

    for i in range(epochs):
        for b in range(batch_number):
            l_idx = b * batch_size
            r_idx = (b + 1) * batch_size

            x_batch = tensor.Tensor(device=dev, data=x[l_idx:r_idx])
            target_batch = tensor.Tensor(device=dev, data=y[l_idx:r_idx])
            output_batch = trans_model.forward(x_batch)

            loss = autograd.softmax_cross_entropy(output_batch, target_batch)
            accuracy_rate = accuracy(tensor.to_numpy(output_batch),
                                     tensor.to_numpy(target_batch))

            sgd = opt.SGD(lr=0.07)
            for p, gp in autograd.backward(loss):
                sgd.update(p, gp)
            sgd.step()

            if b % 1e2 == 0:
                print("acc %6.2f loss, %6.2f" %
                      (accuracy_rate, tensor.to_numpy(loss)[0]))
    print("transfer-learning completed")
    return trans_model


def run_guide(model_dir, checkpoint):
    """The guide's top-level statements; ``checkpoint(name, **objects)`` lets the
    test look at the objects between the guide's stages."""
    # create device
    #dev = device.create_cuda_gpu()
    dev = device.get_default_device()
    # create model
    model = CNN()
    # load data
    train_x, train_y, valid_x, valid_y = load_dataset()
    # normalization
    train_x = train_x / 255
    valid_x = valid_x / 255
    train_y = to_categorical(train_y, 10)
    valid_y = to_categorical(valid_y, 10)
    # do training
    autograd.training = True
    x, y = train(model, train_x, train_y, dev=dev)
    onnx_model = make_onnx(x, y)
    # print('The model is:\n{}'.format(onnx_model))

    # Save the ONNX model
    model_path = os.path.join(model_dir, 'mnist.onnx')
    onnx.save(onnx_model, model_path)
    print('The model is saved.')
    checkpoint("trained", model=model, model_path=model_path, data=(train_x, train_y,
                                                                    valid_x, valid_y))

    # load the ONNX model
    onnx_model = onnx.load(model_path)
    sg_ir = sonnx.prepare(onnx_model, device=dev) # parse and initiate to a singa model

    # inference
    autograd.training = False
    print('The inference result is:')
    test(Infer(sg_ir), valid_x, valid_y, dev=dev)
    checkpoint("imported", sg_ir=sg_ir)

    # load the ONNX model
    onnx_model = onnx.load(model_path)
    sg_ir = sonnx.prepare(onnx_model, device=dev)
    checkpoint("before_retrain", sg_ir=sg_ir)

    # re-training
    autograd.training = True
    new_model = re_train(sg_ir, train_x, train_y, dev=dev)
    autograd.training = False
    test(new_model, valid_x, valid_y, dev=dev)
    checkpoint("retrained", new_model=new_model)

    # load the ONNX model
    onnx_model = onnx.load(model_path)
    sg_ir = sonnx.prepare(onnx_model, device=dev)

    # transfer-learning
    autograd.training = True
    new_model = transfer_learning(sg_ir, train_x, train_y, dev=dev)
    autograd.training = False
    test(new_model, valid_x, valid_y, dev=dev)
    checkpoint("transfer", new_model=new_model)

# ============================== end of GUIDE ==============================


def _outputs(forward, x, batch=250):
    autograd.training = False
    return np.concatenate([tensor.to_numpy(forward(tensor.Tensor(data=x[i:i + batch])))
                           for i in range(0, x.shape[0], batch)])


def _loss(logits, onehot):
    """Mean softmax cross-entropy, NumPy float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(onehot * logp).sum(axis=1).mean())


def _acc(logits, onehot):
    return float((logits.argmax(1) == onehot.argmax(1)).mean())


@pytest.fixture
def guide_run(tmp_path_factory):
    """Runs the guide: (stages, every loss, printed text)."""
    import contextlib
    import io

    tensor.seed(0)
    old = autograd.training
    losses = []  # every loss the guide computes, in order (one per batch and stage)
    real = autograd.softmax_cross_entropy

    def recording(x, t):
        loss = real(x, t)
        losses.append(float(tensor.to_numpy(loss).reshape(-1)[0]))
        return loss

    seen, stages = {}, {}

    def checkpoint(name, **objects):
        seen.update(objects)
        stages[name] = dict(seen, measured=_measure(name, seen))

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(autograd, "softmax_cross_entropy", recording)
        try:
            run_guide(str(tmp_path_factory.mktemp("guide")), checkpoint)
        finally:
            autograd.training = old
    return stages, losses, out.getvalue()


def _measure(stage, seen):
    """Outputs of the current models, taken at the checkpoint (before later stages)."""
    train_x, train_y, valid_x, valid_y = seen["data"]
    if stage == "trained":
        return {"valid": _outputs(seen["model"].forward, valid_x)}
    if stage == "imported":
        return {"valid": _outputs(lambda x: seen["sg_ir"].run([x])[0], valid_x)}
    if stage == "before_retrain":
        return {"train": _outputs(lambda x: seen["sg_ir"].run([x])[0], train_x)}
    if stage == "retrained":
        return {"train": _outputs(seen["new_model"].forward, train_x),
                "valid": _outputs(seen["new_model"].forward, valid_x)}
    return {"valid": _outputs(seen["new_model"].forward, valid_x)}


def test_guide_complete_example(guide_run):
    """One test: the guide takes seconds to run, and xdist workers would each rerun
    a module-scoped fixture shared by several tests."""
    stages, losses, printed = guide_run
    # 0. the exported file: export -> import -> run equals the eager model, and so
    # does onnxruntime
    _check_export_matches_eager_and_onnxruntime(stages)

    train_x, train_y, valid_x, valid_y = stages["trained"]["data"]
    batches = train_x.shape[0] // 64
    assert len(losses) == 3 * batches
    assert printed.count("testing acc") == 3
    assert "training completed" in printed and "transfer-learning completed" in printed

    # 1. imported model: the trained model's test accuracy (and outputs)
    trained = stages["trained"]["measured"]["valid"]
    imported = stages["imported"]["measured"]["valid"]
    assert np.abs(imported - trained).max() <= _same_in_float32(trained)
    assert _acc(imported, valid_y) == _acc(trained, valid_y)
    # the guide's short training (lr 0.001, 31 batches) learned something: its
    # loss fell and it beats chance (0.1; 500 images: sigma 0.013)
    assert np.mean(losses[batches - 8:batches]) < np.mean(losses[:8])
    assert _acc(trained, valid_y) > 0.15

    # 2. re-training on the same data lowers the training loss and keeps accuracy
    before = _loss(stages["before_retrain"]["measured"]["train"], train_y)
    after = _loss(stages["retrained"]["measured"]["train"], train_y)
    assert after < before
    acc_before = _acc(imported, valid_y)
    acc_after = _acc(stages["retrained"]["measured"]["valid"], valid_y)
    # the guide's first training is short, so re-training (lr 0.01) improves a lot
    # (0.32 -> 0.63 on Fashion-MNIST); the issue asks that it keeps or improves
    assert acc_after >= acc_before

    # 3. transfer learning: the new model's loss falls over its epoch
    trans = losses[2 * batches:]
    assert np.mean(trans[-8:]) < np.mean(trans[:8])


def _same_in_float32(ref):
    """How far two float32 runs of one network may differ: the compiled plan's
    GEMM (codegen/gemm.py) sums in another order than NumPy's BLAS in eager
    mode, each product rounding on its own; 32 float32 roundings of the
    largest output (3.8e-6 for outputs up to 1)."""
    return 32 * float(np.finfo(np.float32).eps) * max(1.0, float(np.abs(ref).max()))


def _check_export_matches_eager_and_onnxruntime(stages):
    import onnxruntime as ort

    st = stages["trained"]
    model, path = st["model"], st["model_path"]
    valid_x = st["data"][2]
    xb = valid_x[:64]  # the exported model's static batch (the guide's batch size)
    autograd.training = False
    eager = tensor.to_numpy(model.forward(tensor.Tensor(data=xb)))
    onnx.checker.check_model(onnx.load(path), full_check=True)
    rep = sonnx.prepare(onnx.load(path))
    ours = tensor.to_numpy(rep.run([tensor.Tensor(data=xb)])[0])
    assert np.abs(ours - eager).max() <= _same_in_float32(eager)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (theirs,) = sess.run(None, {sess.get_inputs()[0].name: xb})
    np.testing.assert_allclose(theirs, eager, rtol=1e-5, atol=1e-5)
