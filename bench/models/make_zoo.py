"""Regenerate the weightless zoo graphs of bench/infer.py that the test folder lacks.

NOT part of the project (torch is never a dependency of singa); it runs under a
throw-away virtual environment of its own, from the repository root::

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 transformers onnx
    /tmp/tvenv/bin/python bench/models/make_zoo.py

Models (``weights=None`` / fresh configs, eval mode, opset 17, batch dim ``N``):

* ``efficientnet_b0``: torchvision, input ``input`` [N, 3, 224, 224];
* ``bert``, ``roberta``: transformers ``BertModel`` / ``RobertaModel`` with the
  base sizes (hidden 768, 12 heads, FFN 3072) at 2 layers and a vocabulary of
  8192, inputs ``input_ids`` and ``attention_mask`` [N, 128] (int64);
* ``gpt2``: transformers ``GPT2Model``, same sizes and inputs.

Float initializers keep name, dtype and dims but lose their data; the seed for
refilling them (``tests/e2e/models/weights.py``'s ``load`` takes a path) is in
the metadata, as for the torchvision graphs of the test folder.
"""
from __future__ import annotations

import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e", "models"))

import make_torchvision as mt  # noqa: E402

SEQ = 128
LAYERS = 2
VOCAB = 8192


def _transformer(name: str):
    import transformers as tf

    common = dict(vocab_size=VOCAB)
    if name == "gpt2":
        cfg = tf.GPT2Config(n_layer=LAYERS, n_embd=768, n_head=12, n_positions=512,
                            use_cache=False, **common)
        return tf.GPT2Model(cfg), ["input_ids", "attention_mask"]
    cls, ccls = ((tf.BertModel, tf.BertConfig) if name == "bert"
                 else (tf.RobertaModel, tf.RobertaConfig))
    cfg = ccls(num_hidden_layers=LAYERS, hidden_size=768, num_attention_heads=12,
               intermediate_size=3072, max_position_embeddings=514, **common)
    return cls(cfg, add_pooling_layer=False), ["input_ids", "attention_mask"]


class _Hidden(torch.nn.Module):
    """The last hidden state, inputs passed by keyword (the exporter's positional
    call collides with transformers' keyword-only options)."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args):
        out = self.model(**dict(zip(self.names, args)), return_dict=True)
        return out.last_hidden_state


def export(name: str):
    torch.manual_seed(0)
    if name == "efficientnet_b0":
        import torchvision

        model = torchvision.models.efficientnet_b0(weights=None).eval()
        args, inputs, outputs = (torch.randn(1, 3, 224, 224),), ["input"], ["logits"]
    else:
        model, inputs = _transformer(name)
        model = model.eval()
        ids = torch.randint(2, VOCAB, (1, SEQ))
        args = (ids,) if len(inputs) == 1 else (ids, torch.ones(1, SEQ, dtype=torch.int64))
        outputs = ["last_hidden_state"]
    mt._make_distinct(model)
    if name != "efficientnet_b0":
        model = _Hidden(model, inputs)
    path = os.path.join(HERE, f"{name}.onnx.tmp")
    dyn = {n: {0: "N"} for n in inputs + outputs}
    with torch.no_grad():
        torch.onnx.export(model, args, path, dynamo=False, opset_version=mt.OPSET,
                          input_names=inputs, output_names=outputs, dynamic_axes=dyn,
                          do_constant_folding=True)
    import onnx

    m = onnx.load(path)
    os.remove(path)
    if len(m.graph.output) > len(outputs):  # keep the hidden states only
        del m.graph.output[len(outputs):]
    return m


def main(names):
    import onnx

    for name in names:
        m = mt.strip(export(name), name)
        m.metadata_props[-1].value = f"{name} (bench/models/make_zoo.py), torch {torch.__version__}"
        out = os.path.join(HERE, f"{name}.onnx")
        onnx.save(m, out)
        print(f"{name}: {os.path.getsize(out)} bytes, {len(m.graph.node)} nodes")


if __name__ == "__main__":
    main(sys.argv[1:] or ["efficientnet_b0", "bert", "roberta", "gpt2"])
