"""Small ONNX models for the reliability tests, built with onnx.helper so what
each must compute is known (a MatMul and a Relu: NumPy is the reference)."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

W = np.arange(12, dtype=np.float32).reshape(3, 4) / 10 - 0.5


def tiny(names=None, w=W) -> onnx.ModelProto:
    """y = relu(x @ W), x: f32[N, 3].  ``names`` renames parts (keys below), so a
    test can plant a placeholder and then overwrite its bytes."""
    n = {"graph": "tiny", "x": "x", "W": "W", "h": "h", "y": "y", "fc": "fc", "act": "act",
         "N": "N", **(names or {})}
    nodes = [helper.make_node("MatMul", [n["x"], n["W"]], [n["h"]], name=n["fc"]),
             helper.make_node("Relu", [n["h"]], [n["y"]], name=n["act"])]
    g = helper.make_graph(nodes, n["graph"], [helper.make_tensor_value_info(n["x"], TP.FLOAT,
                                                                           [n["N"], 3])],
                          [helper.make_tensor_value_info(n["y"], TP.FLOAT, [n["N"], 4])],
                          [numpy_helper.from_array(w, n["W"])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def reference(x: np.ndarray, w=W) -> np.ndarray:
    return np.maximum(x.astype(np.float64) @ w.astype(np.float64), 0)


def save(model: onnx.ModelProto, path) -> str:
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return os.fspath(path)


def external(t: onnx.TensorProto, location: str, offset: int = 0, length: int | None = None):
    """Mark ``t`` as stored in ``location`` (its raw bytes dropped)."""
    t.ClearField("raw_data")
    t.data_location = TP.EXTERNAL
    del t.external_data[:]
    items = [("location", location), ("offset", str(offset))]
    if length is not None:
        items.append(("length", str(length)))
    for k, v in items:
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def tiny_external(folder, location="weights.bin", write=True) -> str:
    """``tiny()`` saved in ``folder`` with W in external file ``location``
    (written there unless ``write`` is false: the test puts something else)."""
    m = tiny()
    if write:
        W.tofile(os.path.join(folder, location))
    external(m.graph.initializer[0], location, 0, W.nbytes)
    return save(m, os.path.join(folder, "model.onnx"))


@contextmanager
def no_hang(seconds: int = 20):
    """TimeoutError instead of a test blocked for ever (an open() on a FIFO)."""
    def fire(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line a CLI failure prints (asserted to be alone)."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
