"""Fine-tuning step time of an imported BERT on the CPU: eager NumPy vs eager kernels.

The model is ``bench/models/bert.onnx`` (transformers' BertModel, base sizes at 2
layers, weights refilled deterministically as ``bench/infer.py`` does), imported
with ``sonnx.prepare`` and trained in training mode through ``SingaRep.run``
(eager autograd over the imported graph, as the guide's re-training does): every
float weight trainable, an MSE loss on the last hidden states, plain SGD.

Blocks of steps alternate between ``device.eager_kernels`` off (every op in
NumPy) and on (ops through compiled host kernels; see
``singa/runtime/eager_kernels.py``) in the same process, so load changes hit
both alike; the first step of each block is not timed (the other mode's threads
may still be spinning), and medians over the timed steps are printed.

    python bench/train_bert.py [--batch 2] [--seq 128] [--steps 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per block")
    ap.add_argument("--repeat", type=int, default=3, help="blocks per mode")
    ap.add_argument("--warmup", type=int, default=3,
                    help="untimed steps per mode before the first block (kernels compile)")
    args = ap.parse_args(argv)

    import infer

    from singa import autograd, device, opt, sonnx, tensor

    model = infer.zoo_models()["zoo_bert"]()
    rep = sonnx.prepare(model)
    for t in rep.tensor_map.values():
        if t.dtype == np.float32 and t.ndim >= 1:
            t.requires_grad = t.stores_grad = True
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 8192, (args.batch, args.seq)).astype(np.int64)
    mask = np.ones((args.batch, args.seq), np.int64)
    target = tensor.from_numpy(rng.standard_normal((args.batch, args.seq, 768))
                               .astype(np.float32) * 0.1)
    sgd = opt.SGD(lr=1e-4)
    dev = device.get_default_device()
    autograd.training = True

    def step(on):
        dev.eager_kernels = on
        t0 = time.perf_counter()
        y = rep.run([ids, mask])[0]
        loss = autograd.mse_loss(y, target)
        sgd(loss)
        value = loss.item()
        return time.perf_counter() - t0, value

    times = {False: [], True: []}
    losses = []
    for on in (False, True):
        for _ in range(args.warmup):
            losses.append(step(on)[1])
    for _ in range(args.repeat):
        for on in (False, True):
            losses.append(step(on)[1])  # the first step after a switch: not timed
            for _ in range(args.steps):
                sec, value = step(on)
                losses.append(value)
                times[on].append(sec)
    if not np.isfinite(losses).all():
        raise SystemExit("loss diverged")
    off, on = (1000 * float(np.median(times[m])) for m in (False, True))
    print(f"# BERT (2 layers, hidden 768) batch {args.batch}, seq {args.seq}; "
          f"{args.repeat} alternating blocks of {args.steps} timed steps per mode; medians")
    print(f"eager numpy    {off:8.1f} ms/step")
    print(f"eager kernels  {on:8.1f} ms/step   ratio kernels/numpy {on / off:.2f}")
    print(f"losses: {', '.join(f'{v:.4f}' for v in losses[-4:])}")


if __name__ == "__main__":
    main()
