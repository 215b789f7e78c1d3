"""A model declared at batch 1 runs at another batch only where it computes per sample.

singa re-specialises a plan for the batch it is given (SINGA users' models are
often exported at batch 1); onnxruntime refuses such inputs.  The reference for
the runs that are allowed is onnxruntime at batch 1, sample by sample; the runs
that would silently compute something else must be an ``InputError`` naming the
input with its declared and given shape.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx, tensor
from singa.errors import InputError

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(0)


def _model(nodes, inits, out_shape):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TP.FLOAT, [1, 10])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, out_shape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_per_sample_model_runs_at_any_batch_as_onnxruntime_per_sample():
    m = _model([helper.make_node("MatMul", ["x", "W"], ["h"]),
                helper.make_node("Softmax", ["h"], ["y"], axis=1)],
               {"W": RNG.normal(size=(10, 4)).astype(np.float32)}, [1, 4])
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.normal(size=(5, 10)).astype(np.float32)
    got = tensor.to_numpy(sonnx.prepare(m).run([x])[0])
    want = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(5)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_reshape_that_folds_the_batch_away_is_refused():
    # Reshape to [1, -1] then Softmax: at batch 2 one row normalised over both samples
    m = _model([helper.make_node("Reshape", ["x", "s"], ["r"]),
                helper.make_node("Softmax", ["r"], ["y"], axis=1)],
               {"s": np.array([1, -1], np.int64)}, [1, 10])
    rep = sonnx.prepare(m)
    with pytest.raises(InputError, match=r"input 'x': declared f32\[1,10\], given batch 2.*"
                                         r"output 'y' would be \[1, 20\], declared \[1, 10\]"):
        rep.run([RNG.normal(size=(2, 10)).astype(np.float32)])
    assert tensor.to_numpy(rep.run([RNG.normal(size=(1, 10)).astype(np.float32)])[0]).shape \
        == (1, 10)


def test_a_batch_the_graph_cannot_take_names_the_input_not_a_deep_op():
    # a Reshape pinned to [1, 2, 5]: batch 3 has 30 elements, not 10
    m = _model([helper.make_node("Reshape", ["x", "s"], ["r"]),
                helper.make_node("ReduceSum", ["r"], ["y"], keepdims=0)],
               {"s": np.array([1, 2, 5], np.int64)}, [])
    with pytest.raises(InputError, match=r"input 'x': declared f32\[1,10\], given batch 3: "
                                         r"the model does not run at this batch size"):
        sonnx.prepare(m).run([RNG.normal(size=(3, 10)).astype(np.float32)])
