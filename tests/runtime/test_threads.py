"""Concurrency: one prepared model shared by threads while another thread trains.

Reference: onnxruntime on the same model and inputs, computed up front.  With
the interpreter switching threads every 10 microseconds, every inference result
must equal onnxruntime's and no call may raise, although a training thread keeps
``autograd.training`` on (it is per thread) and batch sizes keep changing (the
plan cache is shared).
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import autograd, opt, sonnx, tensor

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(0)


def _model() -> onnx.ModelProto:
    """Conv -> BatchNorm -> Relu -> Dropout -> Flatten -> MatMul: the training-mode
    ops (BatchNorm statistics, Dropout) would change the result if the mode leaked."""
    w = {"W": RNG.normal(size=(4, 2, 3, 3)).astype(np.float32),
         "s": RNG.uniform(0.5, 1.5, 4).astype(np.float32),
         "b": RNG.normal(size=4).astype(np.float32),
         "m": RNG.normal(size=4).astype(np.float32),
         "v": RNG.uniform(0.5, 1.5, 4).astype(np.float32),
         "F": RNG.normal(size=(4 * 4 * 4, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Dropout", ["r"], ["d"]),
             helper.make_node("Flatten", ["d"], ["f"]),
             helper.make_node("MatMul", ["f", "F"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TP.FLOAT, ["N", 2, 6, 6])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(a, k) for k, a in w.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_eight_threads_share_a_rep_while_a_ninth_trains():
    m = _model()
    rep = sonnx.prepare(m)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    batches = [RNG.normal(size=(n, 2, 6, 6)).astype(np.float32) for n in (1, 2, 3, 5, 8)]
    want = [sess.run(None, {"x": x})[0] for x in batches]
    failures, stop = [], threading.Event()

    def infer(k):
        try:
            for i in range(300):
                j = (i + k) % len(batches)
                got = tensor.to_numpy(rep.run([batches[j]])[0])
                if not np.allclose(got, want[j], rtol=1e-4, atol=1e-5):
                    failures.append(f"thread {k} call {i}: batch {batches[j].shape[0]} differs")
        except Exception as e:  # noqa: BLE001 - every exception is a failure here
            failures.append(f"thread {k}: {type(e).__name__}: {e}")

    def train():
        other = sonnx.prepare(_model())
        for t in other.tensor_map.values():
            if t.dtype == np.float32 and t.ndim > 1:
                t.requires_grad = t.stores_grad = True
        sgd = opt.SGD(lr=0.01)
        autograd.training = True  # this thread's mode only
        x = tensor.from_numpy(batches[2])
        while not stop.is_set():
            y = other.run([x])[0]
            loss = autograd.reduce_mean(autograd.mul(y, y), None, 0)
            for p, g in autograd.backward(loss):
                sgd.update(p, g)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        trainer = threading.Thread(target=train)
        trainer.start()
        workers = [threading.Thread(target=infer, args=(k,)) for k in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        trainer.join()
    finally:
        sys.setswitchinterval(old)
    assert not failures, failures[:5]
    assert autograd.training is False  # the main thread never left inference mode


def test_training_mode_is_per_thread_and_starts_off():
    seen = {}

    def child():
        seen["start"] = autograd.training
        autograd.training = True
        seen["set"] = autograd.training

    autograd.training = False
    t = threading.Thread(target=child)
    t.start()
    t.join()
    assert seen == {"start": False, "set": True}
    assert autograd.training is False
