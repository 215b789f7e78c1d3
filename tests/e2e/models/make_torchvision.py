"""Regenerate the weightless torchvision ONNX graphs in this folder.

This script is NOT part of the project and torch is never a dependency of
singa: it runs only under a throw-away virtual environment of its own.  The
exact commands (from the repository root)::

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx numpy
    # (fallback pair if that one is not available: torch==2.9.1 torchvision==0.24.1)
    /tmp/tvenv/bin/python tests/e2e/models/make_torchvision.py
    # then check that every graph loads, runs and is numerically sane
    # (needs only onnx, onnxruntime and numpy, e.g. the project's venv):
    .venv/bin/python tests/e2e/models/weights.py

What it does, for each of resnet18, mobilenet_v2, squeezenet1_0, densenet121
and shufflenet_v2_x1_0 (``weights=None``, ``model.eval()``):

* exports with the classic TorchScript exporter (``dynamo=False``) at opset 17,
  input ``input`` of shape ``[N, 3, 224, 224]`` and output ``logits`` of shape
  ``[N, 1000]``, the batch dimension dynamic and named ``N``.  Eval-mode export
  folds BatchNormalization into a preceding Conv where it can, and folds
  constants into initializers.  Parameters are nudged to distinct values first
  so the exporter does not merge equal (fresh-init) tensors behind Identity
  nodes;
* strips the weights: every floating-point initializer keeps its name, dtype
  and dims but loses its data (so the file is a few tens of KB); integer
  initializers (Reshape shapes, Slice bounds, ...) keep their real values;
* records a seed in the model's ``metadata_props`` (key
  ``singa_test.weights_seed``), used by ``weights.load`` to refill the stripped
  tensors with deterministic random values;
* saves ``<name>.onnx`` next to this file.

Export is deterministic apart from the (stripped) random weights, so running
it again gives the same graphs.
"""
from __future__ import annotations

import collections
import os
import sys
import zlib

import onnx
import torch
import torchvision
from onnx import TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
MODELS = ["resnet18", "mobilenet_v2", "squeezenet1_0", "densenet121", "shufflenet_v2_x1_0"]
SEED_KEY = "singa_test.weights_seed"
MAX_BYTES = 300 * 1024

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
_DATA_FIELDS = ("raw_data", "float_data", "double_data", "int32_data", "int64_data",
                "uint64_data", "string_data")


def seed_for(name: str) -> int:
    """The seed recorded for a model (also weights.py's fallback)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _make_distinct(model: torch.nn.Module) -> None:
    """Give every float parameter/buffer distinct values before export.

    A fresh model has many identical tensors (BatchNorm's ones and zeros, and
    after Conv+BN folding all-zero biases); the exporter deduplicates equal
    initializers and wires them through Identity nodes, which the real graphs
    (trained weights) never have.  The values themselves are thrown away.
    """
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.add_(torch.rand(t.shape, generator=g) * 1e-3)  # stays positive where it was (running_var)


def export(name: str) -> onnx.ModelProto:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    _make_distinct(model)
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(HERE, f"{name}.onnx.tmp")
    kwargs = dict(
        opset_version=OPSET,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        do_constant_folding=True,
        export_params=True,
        training=torch.onnx.TrainingMode.EVAL,
    )
    with torch.no_grad():
        try:
            torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo switch: classic exporter is the default
            torch.onnx.export(model, (x,), path, **kwargs)
    m = onnx.load(path)
    os.remove(path)
    return m


def strip(m: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Drop float initializer data (keep name/dtype/dims), keep integer ones."""
    for init in m.graph.initializer:
        if init.data_type in FLOAT_TYPES:
            for f in _DATA_FIELDS:
                init.ClearField(f)
    # Node doc strings carry nothing the runtime needs.
    for n in m.graph.node:
        n.ClearField("doc_string")
    del m.metadata_props[:]
    p = m.metadata_props.add()
    p.key, p.value = SEED_KEY, str(seed_for(name))
    p = m.metadata_props.add()
    p.key, p.value = "singa_test.source", f"torchvision.models.{name}(weights=None), torch {torch.__version__}, torchvision {torchvision.__version__}"
    m.graph.name = name
    return m


def main(names: list[str]) -> None:
    for name in names:
        m = strip(export(name), name)
        out = os.path.join(HERE, f"{name}.onnx")
        onnx.save(m, out)
        size = os.path.getsize(out)
        ops = collections.Counter(n.op_type for n in m.graph.node)
        n_float = sum(1 for i in m.graph.initializer if i.data_type in FLOAT_TYPES)
        n_int = len(m.graph.initializer) - n_float
        print(f"{name}: {size} bytes, opset {m.opset_import[0].version}, {len(m.graph.node)} nodes, "
              f"{n_float} float initializers (stripped), {n_int} integer kept")
        print("   ", dict(sorted(ops.items())))
        if size > MAX_BYTES:
            raise SystemExit(f"{out} is {size} bytes, over the {MAX_BYTES} byte limit")


if __name__ == "__main__":
    main(sys.argv[1:] or MODELS)
