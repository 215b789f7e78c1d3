"""The nine light zoo models shipped in the onnx wheel, against their stored outputs.

As ``onnx.backend.test.runner`` does for these models: every graph input that
is not an initializer gets ``Runner.generate_dummy_data(..., seed=0,
random=False)``, and the outputs must match ``light_<name>_output_<i>.pb`` (made
by onnx's ReferenceEvaluator) at the runner's per-model rtol/atol.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import onnx
import pytest
from onnx.backend.test.case import model as model_cases
from onnx.backend.test.runner import Runner

from singa import sonnx

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "singa_e2e_light", os.path.join(_HERE, "models", "light.py"))
light = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(light)

CASES = {c.model_name: c for c in model_cases.collect_testcases()
         if c.url and c.url.startswith("onnx/backend/test/data/light/")}


def light_inputs(m: onnx.ModelProto, name: str) -> list[np.ndarray]:
    inits = {t.name for t in m.graph.initializer}
    return [Runner.generate_dummy_data(x, seed=0, name=name, random=False)
            for x in m.graph.input if x.name not in inits]


def expected_outputs(path: str, m: onnx.ModelProto) -> list[np.ndarray]:
    prefix = os.path.splitext(path)[0]
    outs = []
    for i in range(len(m.graph.output)):
        t = onnx.TensorProto()
        with open(f"{prefix}_output_{i}.pb", "rb") as f:
            t.ParseFromString(f.read())
        outs.append(onnx.numpy_helper.to_array(t))
    return outs


def test_all_nine_present():
    assert len(CASES) == 9, sorted(CASES)


TARGETS = ("numpy", "c")  # the NumPy plan and the generated host-C kernels


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_light_model(name, target):
    case = CASES[name]
    path = light.path(name)
    m = onnx.load(path)
    rep = sonnx.prepare(path, target=target)
    outs = rep.run(light_inputs(m, name))
    Runner.assert_similar_outputs(expected_outputs(path, m), [np.asarray(t.data) for t in outs],
                                  rtol=case.rtol, atol=case.atol, model_dir=name)


# The stored outputs above are uniform (every weight is a ConstantOfShape of
# one value, so all 1000 classes score alike): they check the plumbing, not the
# arithmetic.  Here the same graphs get random weights (each ConstantOfShape
# becomes a seeded random initializer of its shape: ``light.randomized``) and a
# random input, and singa must match onnxruntime.

# alexnet, zfnet512 and vgg19 are left out: 60-140M weights, almost all in the
# Gemm layers, cost 10+ s to generate and hand to onnxruntime, and test nothing
# the other six (Conv, LRN, pools, Gemm, Softmax...) do not.
RANDOM_WEIGHTS = ["densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                  "squeezenet"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", RANDOM_WEIGHTS)
def test_light_model_random_weights_vs_onnxruntime(name, target):
    ort = pytest.importorskip("onnxruntime")
    m = light.randomized(onnx.load(light.path(name)))
    # Random weights easily saturate the final Softmax (a near one-hot output says
    # little), so the last op's input (the logits) is compared too.
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(m.graph.node[-1].input[0]))
    rng = np.random.default_rng(1)
    inits = {t.name for t in m.graph.initializer}
    feeds = {x.name: rng.random(tuple(d.dim_value for d in x.type.tensor_type.shape.dim),
                                dtype=np.float32)
             for x in m.graph.input if x.name not in inits}
    so = ort.SessionOptions()
    so.log_severity_level = 3  # the light models carry unused initializers; ort warns on each
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds)
    got = sonnx.prepare(m, target=target).run(list(feeds.values()))
    for r, g in zip(ref, got):
        g = np.asarray(g.data)
        assert g.shape == r.shape and g.dtype == r.dtype
        assert np.isfinite(r).all() and r.std() > 1e-6  # the comparison means something
        # float32 sums over ~1e4-term dot products in another order: relative to the
        # output's scale, 1e-4 is tens of ulps
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-4 * float(np.abs(r).max()))
