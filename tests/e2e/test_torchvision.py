"""torchvision CNNs end to end: singa.sonnx against onnxruntime.

The graphs are torchvision's resnet18, mobilenet_v2, squeezenet1_0,
densenet121 and shufflenet_v2_x1_0, exported at opset 17 with a dynamic batch
dimension ``N`` and stored without weights (``models/*.onnx``, a few tens of KB
each, made by ``models/make_torchvision.py``).  ``models/weights.py`` fills in
deterministic random weights scaled so activations stay finite and unsaturated.

Each model is run by onnxruntime (the reference) and by
``singa.sonnx.prepare(model).run([x])`` on the same seeded input, and must
agree to

    rel_err = max|singa - ort| / max|ort|  <=  1e-4

(the largest absolute difference over the whole output, relative to the
largest reference magnitude).  shufflenet_v2_x1_0, whose channel shuffles
compute their Reshape targets from Shape at run time, is also run at batch 1,
3 and 2 again from one prepared rep, to check that the rep re-specialises to
each batch size.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np
import onnx
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "singa_e2e_torchvision_weights", os.path.join(_HERE, "models", "weights.py"))
weights = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(weights)

RTOL = 1e-4
MODELS = weights.MODELS
RESPECIALISE = "shufflenet_v2_x1_0"
TARGETS = ("numpy", "c")  # the NumPy plan and the generated host-C kernels


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max |ref| over the whole array."""
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / np.max(np.abs(ref)))


@functools.lru_cache(maxsize=None)
def _model_bytes(name: str) -> bytes:
    return weights.load(name).SerializeToString()


def _model(name: str) -> onnx.ModelProto:
    return onnx.load_from_string(_model_bytes(name))


@functools.lru_cache(maxsize=None)
def _ort_session(name: str):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(_model_bytes(name), providers=["CPUExecutionProvider"])


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    (y,) = _ort_session(name).run(None, {"input": x})
    assert np.isfinite(y).all()
    return y


def _run_singa(rep, x: np.ndarray) -> np.ndarray:
    from singa import tensor

    outs = rep.run([tensor.from_numpy(x)])
    assert len(outs) == 1
    y = tensor.to_numpy(outs[0]) if isinstance(outs[0], tensor.Tensor) else np.asarray(outs[0])
    return y


def _prepare(name: str, target=None):
    from singa import autograd, device, sonnx  # the module under test

    autograd.training = False
    return sonnx.prepare(_model(name), device=device.get_default_device(), target=target)


# --- the stored graphs themselves (onnxruntime only) ---------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_graph_is_weightless_and_small(name):
    path = weights.path(name)
    assert os.path.getsize(path) < 300 * 1024
    m = onnx.load(path)
    assert m.opset_import[0].version == 17
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 224, 224]
    assert all(not init.raw_data and not init.float_data for init in m.graph.initializer
               if init.data_type == onnx.TensorProto.FLOAT)


@pytest.mark.parametrize("name", MODELS)
def test_weights_are_deterministic_and_sane(name):
    a, b = weights.load(name), weights.load(name)
    assert a.SerializeToString() == b.SerializeToString()
    onnx.checker.check_model(a)
    y = _reference(name, weights.make_input(2))
    assert y.shape == (2, 1000)
    assert 1e-3 <= y.std() <= 1e3


# --- singa against onnxruntime --------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", MODELS)
def test_matches_onnxruntime(name, target):
    x = weights.make_input(2, seed=1)
    ref = _reference(name, x)
    got = _run_singa(_prepare(name, target), x)
    assert got.shape == ref.shape
    assert np.isfinite(got).all()
    err = rel_err(got, ref)
    assert err <= RTOL, f"{name}: max|singa-ort|/max|ort| = {err:.3g} > {RTOL}"


@pytest.mark.parametrize("target", TARGETS)
def test_batch_respecialisation(target):
    rep = _prepare(RESPECIALISE, target)
    for n in (2, 1, 3, 2):
        x = weights.make_input(n, seed=10 + n)
        ref = _reference(RESPECIALISE, x)
        got = _run_singa(rep, x)
        assert got.shape == (n, 1000)
        err = rel_err(got, ref)
        assert err <= RTOL, f"batch {n}: max|singa-ort|/max|ort| = {err:.3g} > {RTOL}"
