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
* ``gpt2``: transformers ``GPT2Model``, same sizes and inputs;
* ``tiny_yolov2``: the Tiny YOLOv2 (VOC) layer stack written out here: nine 3x3
  convolutions with BatchNorm and LeakyReLU(0.1), six max pools, a 1x1 head of
  125 channels, input [N, 3, 416, 416];
* ``fer_plus``: the FER+ emotion network (VGG-style: 2-2-3-3 3x3 convolutions
  of 64-128-256-256 channels with ReLU and max pools, two dense 1024 layers,
  8 classes), input [N, 1, 64, 64];
* ``arcface``: an ArcFace-style IResNet-18 (BatchNorm-conv-BatchNorm-PReLU-conv
  residual blocks, PReLU, a BatchNorm-dropout-linear-BatchNorm head of 512),
  input [N, 3, 112, 112].

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


def _tiny_yolov2():
    import torch.nn as nn

    layers, cin = [], 3
    for i, c in enumerate([16, 32, 64, 128, 256, 512, 1024, 1024]):
        layers += [nn.Conv2d(cin, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                   nn.LeakyReLU(0.1)]
        if i < 5:
            layers.append(nn.MaxPool2d(2, 2))
        elif i == 5:
            layers += [nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, 1)]
        cin = c
    return nn.Sequential(*layers, nn.Conv2d(1024, 125, 1))


def _fer_plus():
    import torch.nn as nn

    layers, cin = [], 1
    for n, c in [(2, 64), (2, 128), (3, 256), (3, 256)]:
        for _ in range(n):
            layers += [nn.Conv2d(cin, c, 3, 1, 1), nn.ReLU()]
            cin = c
        layers += [nn.MaxPool2d(2, 2), nn.Dropout(0.25)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(256 * 4 * 4, 1024), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(1024, 8))


def _arcface():
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, c, stride):
            super().__init__()
            self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, c, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(c), nn.PReLU(c),
                                      nn.Conv2d(c, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c))
            self.down = (nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
                         if stride != 1 or cin != c else nn.Identity())

        def forward(self, x):
            return self.body(x) + self.down(x)

    layers, cin = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)], 64
    for c in (64, 128, 256, 512):
        layers += [Block(cin, c, 2), Block(c, c, 1)]
        cin = c
    return nn.Sequential(*layers, nn.BatchNorm2d(512), nn.Dropout(0.4), nn.Flatten(),
                         nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512))


VISION = {"tiny_yolov2": (_tiny_yolov2, (3, 416, 416)), "fer_plus": (_fer_plus, (1, 64, 64)),
          "arcface": (_arcface, (3, 112, 112))}


def export(name: str):
    torch.manual_seed(0)
    if name == "efficientnet_b0":
        import torchvision

        model = torchvision.models.efficientnet_b0(weights=None).eval()
        args, inputs, outputs = (torch.randn(1, 3, 224, 224),), ["input"], ["logits"]
    elif name in VISION:
        make, shape = VISION[name]
        model = make().eval()
        args, inputs, outputs = (torch.randn(1, *shape),), ["input"], ["output"]
    else:
        model, inputs = _transformer(name)
        model = model.eval()
        ids = torch.randint(2, VOCAB, (1, SEQ))
        args = (ids,) if len(inputs) == 1 else (ids, torch.ones(1, SEQ, dtype=torch.int64))
        outputs = ["last_hidden_state"]
    mt._make_distinct(model)
    if name not in VISION and name != "efficientnet_b0":
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
    main(sys.argv[1:] or ["efficientnet_b0", "bert", "roberta", "gpt2", *VISION])
