"""Running out of memory during ``run`` is a ``ResourceError`` naming the step or output."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper

from singa import sonnx
from singa.errors import ResourceError
from singa.runtime import executor


def _rep():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu1"),
                           helper.make_node("Identity", ["x"], ["same"], name="id1")],
                          "g", [helper.make_tensor_value_info("x", TP.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("r", TP.FLOAT, [2, 3]),
                           helper.make_tensor_value_info("same", TP.FLOAT, [2, 3])])
    return sonnx.prepare(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                         target="numpy")


def test_a_step_out_of_memory_names_the_step(monkeypatch):
    rep = _rep()
    x = np.ones((2, 3), np.float32)
    rep.run([x])
    plan = next(iter(rep.executor._cache.values())).plan
    step = next(s for s in plan.steps if s.op == "Relu")

    def starving(xp, args, attrs, out=None):
        raise MemoryError()

    monkeypatch.setattr(step, "compute", starving)
    with pytest.raises(ResourceError, match=r"Relu \(relu1\): out of memory"):
        rep.run([x])


def test_an_output_copy_out_of_memory_names_the_output():
    class Starving(np.ndarray):
        def copy(self, *a, **k):
            raise MemoryError()

    a = np.ones((4, 5), np.float32).view(Starving)
    with pytest.raises(ResourceError, match=r"output 'same' \(float32\[4, 5\], 80 bytes\)"):
        executor._own(a, {id(executor._root(a))}, "same")
