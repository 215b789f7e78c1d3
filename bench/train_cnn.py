"""Training throughput of the guide's MNIST CNN on the CPU: singa vs PyTorch.

The model (Conv 1->20 5x5, ReLU, MaxPool 2, Conv 20->50 5x5, ReLU, MaxPool 2,
Flatten, MatMul 800->500, ReLU, MatMul 500->10, softmax cross-entropy) trains
with plain SGD on random 28x28 batches.  singa runs it three ways:

- ``autograd``: the eager API of the guide (``autograd.Conv2d`` ... ``backward``),
  its ops through compiled host kernels where they measure faster
  (``singa/runtime/eager_kernels.py``),
- ``autograd numpy``: the same with ``device.eager_kernels = False`` (every op
  the table's NumPy compute),
- ``use_graph``: the same layers in a ``model.Model`` compiled with
  ``use_graph=True`` (forward, backward and SGD update as one optimised plan),
- ``table``: the op table called by hand, forward then backward, which shows the
  cost of the ops alone, without the tape.

When ``torch`` imports, the same model trains in PyTorch in the same run and the
ratio singa_time / torch_time is printed.  torch is never a dependency of singa.

    python bench/train_cnn.py [--steps 30] [--batch 64] [--threads N] [--profile]

OpenBLAS's idle threads spin for ~0.1 s after each GEMM, which keeps singa's own
op threads (see singa/ops/_window.py) from helping; with

    OPENBLAS_THREAD_TIMEOUT=4 python bench/train_cnn.py

they sleep at once and the conv/pool data movement runs on all cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--threads" in sys.argv[:-1]:  # BLAS and OpenMP read these once, at import
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "SINGA_OP_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from singa.ops import OPS  # noqa: E402

LR = 0.01


def _data(steps, batch, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.random((steps, batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, size=(steps, batch))
    ts = np.zeros((steps, batch, 10), dtype=np.float32)
    for s in range(steps):
        ts[s, np.arange(batch), labels[s]] = 1.0
    return xs, ts


def _init(seed=0):
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "W1": he((20, 1, 5, 5), 25), "b1": np.zeros(20, np.float32),
        "W2": he((50, 20, 5, 5), 500), "b2": np.zeros(50, np.float32),
        "W3": he((800, 500), 800), "W4": he((500, 10), 500),
    }


def _softmax_xent(logits, t):
    """Mean cross-entropy of softmax(logits) against one-hot t, and d loss / d logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = -float(np.sum(t * (z - np.log(e.sum(axis=1, keepdims=True))))) / n
    return loss, ((p - t) / np.float32(n)).astype(np.float32)


# ------------------------------------------------------------------ singa: op table

class TableCNN:
    """The CNN as explicit op-table calls; forward keeps what backward needs."""

    conv = {}
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}

    def __init__(self, params):
        self.p = {k: v.copy() for k, v in params.items()}
        self.ops = {k: OPS[k] for k in ("Conv", "Relu", "MaxPool", "MatMul")}
        self.conv_a = self.ops["Conv"].attrs(self.conv)
        # the images need no gradient: the first conv's grad may skip dX, as torch does
        self.conv1_grad_a = dict(self.conv_a, _need_grads=(False, True, True))
        self.pool_a = self.ops["MaxPool"].attrs(self.pool)
        self.empty = {}

    def _run(self, name, ins, attrs):
        return self.ops[name].compute(np, ins, attrs)

    def _grad(self, name, ins, outs, douts, attrs):
        return self.ops[name].grad(np, ins, outs, douts, attrs)

    def step(self, x, t):
        p, R = self.p, self.empty
        tape = []

        def f(name, ins, attrs):
            outs = self._run(name, ins, attrs)
            tape.append((name, ins, outs, attrs))
            return outs[0]

        y = f("Conv", [x, p["W1"], p["b1"]], self.conv_a)
        tape[-1] = tape[-1][:3] + (self.conv1_grad_a,)
        y = f("Relu", [y], R)
        y = f("MaxPool", [y], self.pool_a)
        y = f("Conv", [y, p["W2"], p["b2"]], self.conv_a)
        y = f("Relu", [y], R)
        y = f("MaxPool", [y], self.pool_a)
        shape = y.shape
        y = y.reshape(shape[0], -1)
        tape.append(("Flatten", None, None, shape))
        y = f("MatMul", [y, p["W3"]], R)
        y = f("Relu", [y], R)
        logits = f("MatMul", [y, p["W4"]], R)
        loss, dy = _softmax_xent(logits, t)

        grads = {}
        names = {id(v): k for k, v in p.items()}
        for name, ins, outs, attrs in reversed(tape):
            if name == "Flatten":
                dy = dy.reshape(attrs)
                continue
            dxs = self._grad(name, ins, outs, [dy], attrs)
            for a, g in zip(ins[1:], dxs[1:]):
                if id(a) in names and g is not None:
                    grads[names[id(a)]] = g
            dy = dxs[0]
        for k, g in grads.items():
            p[k] -= np.float32(LR) * g
        return loss


# ------------------------------------------------------------------ singa: autograd

def _autograd_model(params, return_model=False, kernels=True):
    """The guide's CNN on singa's eager API, or None when that API is not usable;
    with ``return_model``, a function making the model with ``params`` loaded.
    ``kernels``: the device's ``eager_kernels`` switch while this model steps."""
    try:
        from singa import autograd, device, opt, tensor
    except Exception:  # noqa: BLE001 - the eager API is optional for this bench
        return None

    import importlib.util
    import pathlib

    # The guide's model exactly as the example defines it.
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "mnist_onnx.py"
    spec = importlib.util.spec_from_file_location("mnist_onnx", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    CNN = example.CNN

    model = CNN()

    def load():
        model.conv1.W.copy_from_numpy(params["W1"])
        model.conv1.b.copy_from_numpy(params["b1"])
        model.conv2.W.copy_from_numpy(params["W2"])
        model.conv2.b.copy_from_numpy(params["b2"])
        model.linear1.W.copy_from_numpy(params["W3"])
        model.linear2.W.copy_from_numpy(params["W4"])

    load()
    if return_model:
        def make():
            nonlocal model
            model = CNN()
            load()
            return model
        return make
    sgd = opt.SGD(lr=LR)

    def step(x, t):
        autograd.training = True
        device.get_default_device().eager_kernels = kernels
        xb = tensor.Tensor(data=x)
        tb = tensor.Tensor(data=t)
        loss = autograd.softmax_cross_entropy(model.forward(xb), tb)
        for p, g in autograd.backward(loss):
            sgd.update(p, g)
        sgd.step()
        return float(tensor.to_numpy(loss).reshape(-1)[0])

    try:  # the eager API is being written alongside; use it only if it trains
        x, t = _data(1, 2)
        step(x[0], t[0])
    except Exception as e:  # noqa: BLE001
        print(f"# singa autograd unusable here ({type(e).__name__}: {e}); skipped")
        return None
    load()
    return step


def _graph_model(params):
    """The same CNN as a ``model.Model`` trained with ``compile(use_graph=True)``:
    the first step is recorded, later ones run the compiled plan."""
    from singa import autograd, model, opt, tensor

    make = _autograd_model(params, return_model=True)
    if make is None:
        return None

    class Net(model.Model):
        def __init__(self):
            super().__init__()
            self.cnn = make()

        def forward(self, x):
            return self.cnn.forward(x)

        def train_one_batch(self, x, t):
            out = self.forward(x)
            loss = autograd.softmax_cross_entropy(out, t)
            self.optimizer(loss)
            return out, loss

    net = Net()
    net.set_optimizer(opt.SGD(lr=LR))
    x, _ = _data(1, 2)
    net.compile([tensor.Tensor(data=x[0])], is_train=True, use_graph=True)

    def step(x, t):
        _, loss = net(tensor.Tensor(data=x), tensor.Tensor(data=t))
        return float(tensor.to_numpy(loss).reshape(-1)[0])

    return step


# ------------------------------------------------------------------ torch

def _torch_step(params):
    try:
        import torch
    except ImportError:
        return None, None
    import torch.nn.functional as F

    ps = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = torch.optim.SGD(list(ps.values()), lr=LR)

    def step(x, t):
        xb = torch.from_numpy(x)
        labels = torch.from_numpy(t.argmax(axis=1))
        y = F.max_pool2d(F.relu(F.conv2d(xb, ps["W1"], ps["b1"])), 2, 2)
        y = F.max_pool2d(F.relu(F.conv2d(y, ps["W2"], ps["b2"])), 2, 2)
        y = F.relu(y.flatten(1) @ ps["W3"]) @ ps["W4"]
        loss = F.cross_entropy(y, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    return step, torch


# ------------------------------------------------------------------ driver

def _time(step, xs, ts, warmup):
    for i in range(warmup):
        step(xs[i % len(xs)], ts[i % len(ts)])
    t0 = time.perf_counter()
    losses = [step(x, t) for x, t in zip(xs, ts)]
    return time.perf_counter() - t0, losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timed runs")
    ap.add_argument("--profile", action="store_true", help="cProfile the op-table run")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--threads", type=int, help="BLAS/OpenMP threads of numpy and torch "
                    "(default: their own defaults, one per core)")
    args = ap.parse_args(argv)

    xs, ts = _data(args.steps, args.batch)
    params = _init()
    imgs = args.steps * args.batch

    if args.profile:
        import cProfile
        import pstats
        model = TableCNN(params)
        _time(model.step, xs, ts, args.warmup)
        prof = cProfile.Profile()
        prof.enable()
        _time(model.step, xs, ts, 0)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return

    runs = {"singa table": TableCNN(params).step}
    auto = _autograd_model(params)
    if auto is not None:
        runs["singa autograd"] = auto
        runs["singa autograd numpy"] = _autograd_model(params, kernels=False)
        runs["singa use_graph"] = _graph_model(params)
    torch_step, torch = (None, None) if args.no_torch else _torch_step(params)
    if torch_step is not None:
        runs["torch"] = torch_step

    from singa.ops._window import op_threads

    print(f"# batch {args.batch}, {args.steps} steps, best of {args.repeat}; "
          f"numpy {np.__version__}, singa op threads {op_threads()}, OPENBLAS_THREAD_TIMEOUT="
          f"{os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}"
          + (f"; torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ""))
    best, last = {}, {}  # last: the losses of the first timed run
    for _ in range(args.repeat):  # interleaved, so drifts in machine load hit all alike
        for name, step in runs.items():
            sec, losses = _time(step, xs, ts, args.warmup)
            if name == "torch":
                time.sleep(0.5)  # let torch's OpenMP workers stop spinning on the cores
            if not np.isfinite(losses).all():
                raise SystemExit(f"{name}: loss diverged")
            best[name] = min(best.get(name, sec), sec)
            last.setdefault(name, np.array(losses))
    for name, sec in best.items():
        print(f"{name:20s} {imgs / sec:9.0f} images/s   {1000 * sec / args.steps:7.2f} ms/step")
    if "torch" in best:
        for name in best:
            if name != "torch":
                # same data, init and steps: the loss curves must agree
                diff = float(np.abs(last[name] - last["torch"]).max())
                print(f"ratio {name} / torch time: {best[name] / best['torch']:.2f}   "
                      f"(max |loss - torch loss| over the first timed run: {diff:.1e})")


if __name__ == "__main__":
    main()
