"""The ONNX guide's complete example: train a CNN, export it to ONNX, import it,
infer, re-train, and transfer-learn -- on Fashion-MNIST by default.

    python examples/mnist_onnx.py [--data DIR] [--device cpu|cuda] [--epochs 2]

``--data DIR`` may hold MNIST or Fashion-MNIST IDX files (``*-ubyte[.gz]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import onnx

from singa import autograd, datasets, device, opt, sonnx, tensor
from singa.errors import DeviceError

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is a nicety, not a requirement
    def tqdm(it, **_):
        return it


class CNN:
    """The guide's model: two conv/relu/max-pool stages and two linear layers."""

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


class Infer:
    """An imported model whose weights are trainable (the guide's ``Infer``)."""

    def __init__(self, sg_ir, last_layers=None):
        self.sg_ir = sg_ir
        self.last_layers = last_layers
        for tens in sg_ir.tensor_map.values():
            tens.requires_grad = True
            tens.stores_grad = True

    def forward(self, x):
        return self.sg_ir.run([x], last_layers=self.last_layers)[0]


class Trans:
    """The imported model cut before its last layer, with three new linear layers."""

    def __init__(self, sg_ir, last_layers):
        self.sg_ir = sg_ir
        self.last_layers = last_layers
        self.append_linear1 = autograd.Linear(500, 128, bias=False)
        self.append_linear2 = autograd.Linear(128, 32, bias=False)
        self.append_linear3 = autograd.Linear(32, 10, bias=False)

    def forward(self, x):
        y = self.sg_ir.run([x], last_layers=self.last_layers)[0]
        y = autograd.relu(self.append_linear1(y))
        y = autograd.relu(self.append_linear2(y))
        return autograd.relu(self.append_linear3(y))


def accuracy(pred, target):
    return float((np.argmax(pred, axis=1) == np.argmax(target, axis=1)).mean())


def train(model, x, y, optimizer, dev, epochs=1, batch_size=64, desc="train"):
    """Eager training; returns the last batch's input and output tensors."""
    batches = x.shape[0] // batch_size
    rng = np.random.default_rng(0)
    autograd.training = True
    for epoch in range(epochs):
        order = rng.permutation(x.shape[0])
        bar = tqdm(range(batches), desc=f"{desc} epoch {epoch + 1}/{epochs}", unit="batch",
                   file=sys.stdout, mininterval=2.0)
        losses, accs = [], []
        for b in bar:
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb = tensor.Tensor(device=dev, data=x[idx])
            tb = tensor.Tensor(device=dev, data=y[idx])
            out = model.forward(xb)
            loss = autograd.softmax_cross_entropy(out, tb)
            for p, g in autograd.backward(loss):
                optimizer.update(p, g)
            optimizer.step()
            losses.append(float(tensor.to_numpy(loss)[0]))
            accs.append(accuracy(tensor.to_numpy(out), y[idx]))
            if b % 100 == 0 and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}", acc=f"{np.mean(accs[-100:]):.3f}")
        print(f"{desc} epoch {epoch + 1}: loss {np.mean(losses):.4f}  train acc {np.mean(accs):.4f}")
    autograd.training = False
    return xb, out, float(np.mean(losses[-100:]))


def test(model, x, y, dev, batch_size=500):
    """Accuracy over all of ``x`` (inference mode)."""
    autograd.training = False
    correct = 0
    for b in range(0, x.shape[0], batch_size):
        out = model.forward(tensor.Tensor(device=dev, data=x[b:b + batch_size]))
        correct += int((np.argmax(tensor.to_numpy(out), 1) == np.argmax(y[b:b + batch_size], 1)).sum())
    return correct / x.shape[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="folder of MNIST-format IDX files")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.05,
                    help="initial learning rate, decayed along a cosine over the training")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--retrain-samples", type=int, default=60000,
                    help="training images used by the re-train and transfer stages")
    ap.add_argument("--retrain-lr", type=float, default=0.001)
    ap.add_argument("--out", default=None, help="where to save the .onnx (default: a temp dir)")
    args = ap.parse_args(argv)

    try:
        dev = device.create_cuda_gpu() if args.device == "cuda" else device.get_default_device()
    except DeviceError as e:
        sys.exit(f"error: {e}")
    tensor.seed(0)
    train_x, train_y, valid_x, valid_y = datasets.load(args.data)
    train_y = datasets.to_categorical(train_y, 10)
    valid_y = datasets.to_categorical(valid_y, 10)
    t0 = time.time()

    print("== 1. train the CNN eagerly")
    model = CNN()
    steps = args.epochs * (train_x.shape[0] // args.batch_size)
    sgd = opt.SGD(lr=opt.CosineDecay(args.lr, steps), momentum=args.momentum)
    x, y, _ = train(model, train_x, train_y, sgd, dev, epochs=args.epochs,
                    batch_size=args.batch_size)
    acc_trained = test(model, valid_x, valid_y, dev)
    print(f"test accuracy of the trained model: {acc_trained:.4f}")

    print("== 2. export to ONNX")
    onnx_model = sonnx.to_onnx([x], [y])
    path = args.out or os.path.join(tempfile.mkdtemp(prefix="singa-"), "mnist.onnx")
    onnx.save(onnx_model, path)
    print(f"saved {path} ({os.path.getsize(path) / 1e6:.1f} MB)")

    print("== 3. import and infer")
    sg_ir = sonnx.prepare(onnx.load(path), device=dev)
    acc_imported = test(Infer(sg_ir), valid_x, valid_y, dev)
    print(f"test accuracy of the imported model: {acc_imported:.4f}")

    n = min(args.retrain_samples, train_x.shape[0])
    print(f"== 4. re-train the imported model ({n} images)")
    sg_ir = sonnx.prepare(onnx.load(path), device=dev)
    retrained = Infer(sg_ir)
    train(retrained, train_x[:n], train_y[:n], opt.SGD(lr=args.retrain_lr, momentum=0.9), dev,
          desc="re-train")
    acc_retrained = test(retrained, valid_x, valid_y, dev)
    print(f"test accuracy after re-training: {acc_retrained:.4f}")

    print(f"== 5. transfer learning: cut the last layer, add three linear layers ({n} images)")
    sg_ir = sonnx.prepare(onnx.load(path), device=dev)
    trans = Trans(sg_ir, -1)
    _, _, last_loss = train(trans, train_x[:n], train_y[:n], opt.SGD(lr=0.02, momentum=0.9), dev,
                            desc="transfer")
    acc_trans = test(trans, valid_x, valid_y, dev)
    print(f"test accuracy of the transfer model: {acc_trans:.4f}")

    print(f"\nsummary: trained {acc_trained:.4f} | imported {acc_imported:.4f} | "
          f"re-trained {acc_retrained:.4f} | transfer {acc_trans:.4f} | {time.time() - t0:.0f} s")
    return {"trained": acc_trained, "imported": acc_imported, "retrained": acc_retrained,
            "transfer": acc_trans}


if __name__ == "__main__":
    main()
