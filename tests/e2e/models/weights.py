"""Deterministic random weights for the weightless torchvision graphs here.

The ``<name>.onnx`` files in this folder (made by ``make_torchvision.py``)
keep every floating-point initializer's name, dtype and dims but no data;
integer initializers and Constant nodes keep their real values.
``load(name)`` reads one and fills each stripped tensor from
``numpy.random.default_rng([seed, crc32(tensor name)])``, where ``seed`` is
the model's ``singa_test.weights_seed`` metadata entry (the crc32 of the
model name), so every call gives bit-identical weights.

The values are scaled by the tensor's role (found from the node that consumes
it) so that activations stay finite and unsaturated through the deepest model
(densenet121, 120 convolutions):

* Conv weight ``[M, C/g, kh, kw]``: normal, std ``sqrt(gain / (C/g*kh*kw))``,
  gain 2 (He) where the output is rectified next (Relu/Clip, possibly after a
  BatchNormalization), else 1 (linear bottlenecks, ends of residual branches,
  convolutions that feed a Concat);
* Gemm / MatMul weight: normal, std ``sqrt(1 / fan_in)`` (the classifier);
* Conv / Gemm bias: normal, std 0.02;
* BatchNormalization: scale ``1 + 0.1 n``, bias ``0.1 n``, mean ``0.1 n``,
  variance uniform in [0.75, 1.25];
* anything else: normal, std 0.05.

Only onnx and numpy are needed.  Run this file to check every model with
onnxruntime (finite, non-constant logits of sensible spread at N=2)::

    .venv/bin/python tests/e2e/models/weights.py
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_0", "densenet121", "shufflenet_v2_x1_0"]
SEED_KEY = "singa_test.weights_seed"
INPUT_SHAPE = (3, 224, 224)

_FLOAT = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16,
          TensorProto.DOUBLE: np.float64}
_DATA_FIELDS = ("raw_data", "float_data", "double_data", "int32_data", "int64_data",
                "uint64_data", "string_data")


def path(name: str) -> str:
    return name if name.endswith(".onnx") else os.path.join(HERE, f"{name}.onnx")


def _is_stripped(t: onnx.TensorProto) -> bool:
    if t.data_location == TensorProto.EXTERNAL:
        return False
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    if n == 0:
        return False
    return not any(t.HasField(f) if f == "raw_data" else len(getattr(t, f)) for f in _DATA_FIELDS)


def _seed(m: onnx.ModelProto, name: str) -> int:
    for p in m.metadata_props:
        if p.key == SEED_KEY:
            return int(p.value)
    return zlib.crc32(os.path.basename(name).removesuffix(".onnx").encode()) & 0x7FFFFFFF


_RECTIFIERS = {"Relu", "Clip", "LeakyRelu", "PRelu"}
_PASS_THROUGH = {"BatchNormalization"}


def _gain(consumers: dict[str, list[onnx.NodeProto]], out: str) -> float:
    """2 where the output is rectified next (through BatchNormalization), else 1."""
    for node in consumers.get(out, []):
        if node.op_type in _RECTIFIERS:
            return 2.0
        if node.op_type in _PASS_THROUGH and _gain(consumers, node.output[0]) == 2.0:
            return 2.0
    return 1.0


def _values(rng: np.random.Generator, shape: tuple[int, ...], role: tuple[str, int, dict, float] | None) -> np.ndarray:
    op, idx, attrs, gain = role if role else ("", -1, {}, 1.0)
    normal = lambda std: rng.standard_normal(shape) * std  # noqa: E731
    if op == "Conv" and idx == 1:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return normal(np.sqrt(gain / max(fan_in, 1)))
    if op in ("Gemm", "MatMul") and idx in (0, 1) and len(shape) == 2:
        if op == "Gemm":
            trans = attrs.get("transB" if idx == 1 else "transA", 0)
            fan_in = shape[1] if (idx == 1) == bool(trans) else shape[0]
        else:
            fan_in = shape[0] if idx == 1 else shape[1]
        return normal(np.sqrt(1.0 / max(fan_in, 1)))
    if op in ("Conv", "Gemm") and idx == 2:
        return normal(0.02)
    if op == "BatchNormalization":
        if idx == 1:
            return 1.0 + normal(0.1)
        if idx in (2, 3):
            return normal(0.1)
        if idx == 4:
            return rng.uniform(0.75, 1.25, shape)
    return normal(0.05)


def load(name: str) -> onnx.ModelProto:
    """The graph ``name`` (a model name here, or a path) with its weights filled in."""
    m = onnx.load(path(name))
    seed = _seed(m, name)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in m.graph.node:
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)
    roles: dict[str, tuple[str, int, dict, float]] = {}
    for node in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        gain = _gain(consumers, node.output[0]) if node.output else 1.0
        for i, inp in enumerate(node.input):
            roles.setdefault(inp, (node.op_type, i, attrs, gain))
    for k, t in enumerate(m.graph.initializer):
        if not _is_stripped(t):
            continue
        if t.data_type not in _FLOAT:
            raise ValueError(f"{name}: initializer {t.name!r} of type "
                             f"{TensorProto.DataType.Name(t.data_type)} has no data")
        rng = np.random.default_rng([seed, zlib.crc32(t.name.encode())])
        arr = _values(rng, tuple(t.dims), roles.get(t.name)).astype(_FLOAT[t.data_type])
        m.graph.initializer[k].CopyFrom(numpy_helper.from_array(arr, t.name))
    return m


def make_input(n: int, seed: int = 0) -> np.ndarray:
    """A seeded float32 batch of ``n`` standard-normal 3x224x224 images."""
    return np.random.default_rng(seed).standard_normal((n, *INPUT_SHAPE)).astype(np.float32)


def _check(names: list[str]) -> None:
    import onnxruntime as ort

    ok = True
    for name in names:
        m = load(name)
        onnx.checker.check_model(m, full_check=True)
        x = make_input(2)
        # Every float intermediate as an extra output, to see the spread layer by layer.
        inferred = onnx.shape_inference.infer_shapes(m)
        consts = {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
        floats = [v.name for v in inferred.graph.value_info
                  if v.type.tensor_type.elem_type == TensorProto.FLOAT and v.name not in consts]
        probe = onnx.ModelProto()
        probe.CopyFrom(m)
        have = {o.name for o in probe.graph.output}
        for f in floats:
            if f not in have:
                probe.graph.output.add().name = f
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
        names_out = [o.name for o in sess.get_outputs()]
        outs = dict(zip(names_out, sess.run(None, {"input": x})))
        y = outs["logits"]
        inter = [outs[f] for f in floats if f in outs and outs[f].size]
        stds = [float(a.std()) for a in inter]
        peak = max(float(np.abs(a).max()) for a in inter)
        good = (np.isfinite(y).all() and 1e-3 <= y.std() <= 1e3 and np.ptp(y) > 0
                and all(np.isfinite(a).all() for a in inter))
        ok &= bool(good)
        print(f"{name:20s} logits {tuple(y.shape)} mean {y.mean():+.4f} std {y.std():.4f} "
              f"min {y.min():+.3f} max {y.max():+.3f} | {len(inter)} intermediates: "
              f"std {min(stds):.3g}..{max(stds):.3g}, max|a| {peak:.3g}  {'OK' if good else 'BAD'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    import sys

    _check(sys.argv[1:] or MODELS)
