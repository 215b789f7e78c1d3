"""singa's own ops (Im2Col, FusedElementwise, VJP, its losses) cannot be reached from an
ONNX model by name: in ONNX's domain they are unsupported ops, named as singa's own."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper

from singa import sonnx, tensor
from singa.errors import UnsupportedOpError
from singa.frontends.onnx_import import SINGA_DOMAIN


def _model(op, domain="", **attrs):
    node = helper.make_node(op, ["x"], ["y"], domain=domain, **attrs)
    ids = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TP.FLOAT, [1, 2, 5, 5])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, None)])
    return helper.make_model(g, opset_imports=ids)


@pytest.mark.parametrize("op", ["Im2Col", "VJP", "FusedElementwise", "SoftmaxCrossEntropy"])
def test_in_the_onnx_domain_they_are_unsupported(op):
    with pytest.raises(UnsupportedOpError, match=rf"{op} \(opset 17\): singa's own op, not an "
                                                 r"ONNX one \(a model names it in domain "
                                                 r"'ai.singa'\)"):
        sonnx.prepare(_model(op))


def test_in_singas_domain_they_run():
    rep = sonnx.prepare(_model("Im2Col", SINGA_DOMAIN, kernel_shape=[2, 2]))
    x = np.arange(50, dtype=np.float32).reshape(1, 2, 5, 5)
    y = tensor.to_numpy(rep.run([x])[0])
    assert y.shape == (1, 2 * 4, 16)
    np.testing.assert_array_equal(y[0, 0], x[0, 0, :4, :4].reshape(-1))  # tap (0, 0)
