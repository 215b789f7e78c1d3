"""The nine light zoo models shipped in the onnx wheel, given random weights.

Every weight of a light model is a ``ConstantOfShape`` of one value, so all
1000 classes score alike: running them checks the plumbing, not the
arithmetic.  ``randomized(m)`` turns each ConstantOfShape of an initializer
shape into a seeded random initializer of that shape, which
``tests/e2e/test_light_models.py`` (against onnxruntime) and ``bench/infer.py``
use.  Only onnx and numpy are needed.
"""
from __future__ import annotations

import os

import numpy as np
import onnx

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def path(name: str) -> str:
    """The wheel's ``light_<name>.onnx``."""
    return os.path.join(LIGHT_DIR, f"light_{name}.onnx")


def randomized(m: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """``m`` with every ConstantOfShape-of-an-initializer replaced by random weights."""
    rng = np.random.default_rng(seed)
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m2.graph.initializer}
    keep, new = [], []
    for n in m2.graph.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = tuple(int(d) for d in inits[n.input[0]])
            w = rng.random(shape, dtype=np.float32)
            if len(shape) >= 2:  # conv / gemm weights: He-uniform scale keeps activations O(1)
                a = np.float32(np.sqrt(6.0 / int(np.prod(shape[1:]))))
                w = (w * 2 - 1) * a
            else:  # biases, BN scale/shift/mean/var: positive, O(1)
                w += np.float32(0.5)
            new.append(onnx.numpy_helper.from_array(w, n.output[0]))
        else:
            keep.append(n)
    del m2.graph.node[:]
    m2.graph.node.extend(keep)
    m2.graph.initializer.extend(new)
    return m2
