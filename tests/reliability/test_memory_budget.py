"""The memory budget: a model asking for more than the limit is a ResourceError naming
what asks for how much, raised before anything that large is allocated."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx
from singa.errors import ResourceError
from singa.runtime import budget


def _model(nodes, inputs, outputs, inits=(), sparse=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), sparse_initializer=list(sparse))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _constant_of_shape_bomb(dims):
    """A 100-byte model: ConstantOfShape of a constant shape, added to the input."""
    return _model([helper.make_node("ConstantOfShape", ["s"], ["c"]),
                   helper.make_node("Add", ["c", "x"], ["y"])],
                  [helper.make_tensor_value_info("x", TP.FLOAT, [1])],
                  [helper.make_tensor_value_info("y", TP.FLOAT, None)],
                  [numpy_helper.from_array(np.array(dims, np.int64), "s")])


def test_a_constant_of_shape_bomb_is_refused_before_allocation():
    rep = sonnx.prepare(_constant_of_shape_bomb([200_000, 200_000]))  # 160 GB of float32
    with pytest.raises(ResourceError, match=r"ConstantOfShape .*160,000,000,000 bytes; the limit"):
        rep.run([np.ones(1, np.float32)])


def test_max_bytes_limits_a_model_and_only_that_one():
    small = _constant_of_shape_bomb([64, 64])  # 16 KiB buffers
    with pytest.raises(ResourceError, match=r"the limit is 4,000 \(set SINGA_MAX_BYTES"):
        sonnx.prepare(small, max_bytes=4000).run([np.ones(1, np.float32)])
    y = sonnx.prepare(small).run([np.ones(1, np.float32)])[0]  # the default budget fits
    assert np.asarray(y.data).shape == (64, 64)


def test_singa_max_bytes_sets_the_default(monkeypatch):
    monkeypatch.setenv("SINGA_MAX_BYTES", "1e4")
    assert budget.max_bytes() == 10_000
    with pytest.raises(ResourceError, match="the plan at its peak|result"):
        sonnx.prepare(_constant_of_shape_bomb([100, 100])).run([np.ones(1, np.float32)])


def test_a_sparse_initializer_declaring_a_trillion_elements_is_refused_at_import():
    values = numpy_helper.from_array(np.ones(1, np.float32), "w")
    indices = numpy_helper.from_array(np.zeros(1, np.int64), "w_idx")
    sparse = helper.make_sparse_tensor(values, indices, [1_000_000, 1_000_000])
    m = _model([helper.make_node("Identity", ["w"], ["y"])], [],
               [helper.make_tensor_value_info("y", TP.FLOAT, None)], sparse=[sparse])
    with pytest.raises(ResourceError, match=r"tensor 'w' \(f32\[1000000, 1000000\]\) asks for "
                                            r"4,000,000,000,000 bytes"):
        sonnx.prepare(m)
