"""Local stand-ins for what SINGA's ``examples/onnx`` scripts download.

Used by ``tools/singa_examples.py``.  Models keep the architecture family of
the zoo model a script downloads, with seeded random weights, taken from the
generators this repository already has:

* ``tests/e2e/models/weights.py``: the weightless torchvision graphs (resnet18,
  mobilenet_v2, densenet121, shufflenet_v2_x1_0, squeezenet1_0) and the
  ``bench/models`` graphs (tiny_yolov2, fer_plus, arcface, bert, roberta, gpt2);
* ``tests/e2e/models/light.py``: the onnx wheel's light zoo models (vgg19,
  shufflenet v1).

VGG-16 has no graph here, so :func:`vgg16` writes its layer stack out.  The
transformer scripts need the zoo model's inputs and outputs, so the 2-layer
``bench/models`` bodies get the zoo model's interface around them
(:func:`bert_squad`, :func:`gpt2_lm_head`, :func:`roberta_classifier`).

Data files: a synset-style label file, images as binary PPM (which PIL opens,
so this module needs no PIL), a WordPiece vocabulary and byte-level BPE
tokenizer files that ``transformers`` reads from a local folder.
Only numpy and onnx are needed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_MODELS = os.path.join(ROOT, "tests", "e2e", "models")
BENCH_MODELS = os.path.join(ROOT, "bench", "models")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_examples_{name}",
                                                  os.path.join(TEST_MODELS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- models -----------------------------------------------------------------

def torchvision(name: str) -> onnx.ModelProto:
    """A ``tests/e2e/models`` torchvision graph with its deterministic weights."""
    return _module("weights").load(name)


def bench(name: str) -> onnx.ModelProto:
    """A ``bench/models`` graph with its deterministic weights."""
    return _module("weights").load(os.path.join(BENCH_MODELS, f"{name}.onnx"))


def light(name: str) -> onnx.ModelProto:
    """A light zoo model of the onnx wheel with seeded random weights."""
    mod = _module("light")
    return mod.randomized(onnx.load(mod.path(name)))


def tiny_yolov2() -> onnx.ModelProto:
    """``bench/models``' Tiny YOLOv2 behind the zoo model's input scaling:
    the zoo graph starts with an ImageScaler of 1/255 (it takes 0..255
    pixels, as SINGA's example feeds), here a Mul."""
    m = bench("tiny_yolov2")
    x = m.graph.input[0].name
    for node in m.graph.node:
        for i, v in enumerate(node.input):
            if v == x:
                node.input[i] = "scaled_input"
    m.graph.initializer.append(numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"))
    m.graph.node.insert(0, helper.make_node("Mul", [x, "scale"], ["scaled_input"]))
    return m


def _init(rng, name: str, shape, std: float) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * std).astype(np.float32), name)


def vgg16(seed: int = 16) -> onnx.ModelProto:
    """VGG-16 (configuration D): 13 3x3 convolutions with ReLU in five blocks
    ending in 2x2 max pools, then 4096-4096-1000 dense layers; input
    ``data`` [N, 3, 224, 224], He-scaled random weights (138M of them)."""
    rng = np.random.default_rng(seed)
    nodes, inits, x, cin = [], [], "data", 3
    for b, (n, c) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]):
        for i in range(n):
            w, bias, y = f"conv{b}_{i}_w", f"conv{b}_{i}_b", f"conv{b}_{i}"
            inits += [_init(rng, w, (c, cin, 3, 3), np.sqrt(2.0 / (cin * 9))),
                      _init(rng, bias, (c,), 0.02)]
            nodes += [helper.make_node("Conv", [x, w, bias], [y], pads=[1, 1, 1, 1]),
                      helper.make_node("Relu", [y], [y + "_relu"])]
            x, cin = y + "_relu", c
        nodes.append(helper.make_node("MaxPool", [x], [f"pool{b}"], kernel_shape=[2, 2],
                                      strides=[2, 2]))
        x = f"pool{b}"
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    x, fin = "flat", 512 * 7 * 7
    for i, fout in enumerate([4096, 4096, 1000]):
        w, bias, y = f"fc{i}_w", f"fc{i}_b", ("vgg0_dense2_fwd" if i == 2 else f"fc{i}")
        inits += [_init(rng, w, (fout, fin), np.sqrt((2.0 if i < 2 else 1.0) / fin)),
                  _init(rng, bias, (fout,), 0.02)]
        nodes.append(helper.make_node("Gemm", [x, w, bias], [y], transB=1))
        if i < 2:
            nodes.append(helper.make_node("Relu", [y], [y + "_relu"]))
            y += "_relu"
        x, fin = y, fout
    graph = helper.make_graph(
        nodes, "vgg16",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 1000])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _body(name: str, renames: dict) -> onnx.ModelProto:
    """A ``bench/models`` transformer with a symbolic sequence length (its
    graph is length-generic; only the exported input dims say 128) and its
    graph inputs renamed by ``renames``."""
    m = bench(name)
    for inp in m.graph.input:
        inp.type.tensor_type.shape.dim[1].dim_param = "S"
    del m.graph.value_info[:]
    for node in m.graph.node:
        for i, v in enumerate(node.input):
            node.input[i] = renames.get(v, v)
    for inp in m.graph.input:
        inp.name = renames.get(inp.name, inp.name)
    return m


def _wrap(body: onnx.ModelProto, inputs, outputs, nodes, inits, name: str) -> onnx.ModelProto:
    g = body.graph
    made = {v.name for v in inputs} | {o for n in nodes[0] for o in n.output}
    keep_inputs = [i for i in g.input if i.name not in made]
    graph = helper.make_graph(list(nodes[0]) + list(g.node) + list(nodes[1]), name,
                              list(inputs) + keep_inputs, outputs,
                              list(g.initializer) + inits)
    m = helper.make_model(graph, opset_imports=list(body.opset_import))
    m.ir_version = body.ir_version
    return m


def _ones_mask(ids: str, mask: str):
    return [helper.make_node("Shape", [ids], [mask + "_shape"]),
            helper.make_node("ConstantOfShape", [mask + "_shape"], [mask],
                             value=numpy_helper.from_array(np.ones(1, np.int64)))]


def bert_squad(seed: int = 10) -> onnx.ModelProto:
    """bertsquad-10's interface over the 2-layer BERT body: int64 inputs
    ``unique_ids_raw_output___9:0`` [N], ``segment_ids:0``, ``input_mask:0``,
    ``input_ids:0`` [N, S]; outputs ``unstack:1`` (end logits), ``unstack:0``
    (start logits) [N, S] and ``unique_ids:0``.  The body has no token-type
    input, so ``segment_ids:0`` is accepted and unused."""
    rng = np.random.default_rng(seed)
    body = _body("bert", {"input_ids": "input_ids:0", "attention_mask": "input_mask:0"})
    hid = body.graph.output[0].name
    int64 = lambda n, s: helper.make_tensor_value_info(n, TensorProto.INT64, s)  # noqa: E731
    inputs = [int64("unique_ids_raw_output___9:0", ["N"]), int64("segment_ids:0", ["N", "S"]),
              int64("input_mask:0", ["N", "S"]), int64("input_ids:0", ["N", "S"])]
    inits = [_init(rng, "squad_w", (768, 2), np.sqrt(1 / 768)), _init(rng, "squad_b", (2,), 0.02),
             numpy_helper.from_array(np.array([2], np.int64), "squad_axis")]
    head = [helper.make_node("MatMul", [hid, "squad_w"], ["squad_mm"]),
            helper.make_node("Add", ["squad_mm", "squad_b"], ["squad_logits"]),
            helper.make_node("Split", ["squad_logits"], ["start3", "end3"], axis=2),
            helper.make_node("Squeeze", ["start3", "squad_axis"], ["unstack:0"]),
            helper.make_node("Squeeze", ["end3", "squad_axis"], ["unstack:1"]),
            helper.make_node("Identity", ["unique_ids_raw_output___9:0"], ["unique_ids:0"])]
    outputs = [helper.make_tensor_value_info("unstack:1", TensorProto.FLOAT, ["N", "S"]),
               helper.make_tensor_value_info("unstack:0", TensorProto.FLOAT, ["N", "S"]),
               int64("unique_ids:0", ["N"])]
    return _wrap(body, inputs, outputs, ([], head), inits, "bert_squad")


def gpt2_lm_head(vocab: int = 8192, seed: int = 2) -> onnx.ModelProto:
    """gpt2-lm-head-10's interface over the 2-layer GPT-2 body: int64 ``input1``
    [N, 1, S] -> ``output1`` [N, 1, S, vocab] (next-token logits)."""
    rng = np.random.default_rng(seed)
    body = _body("gpt2", {"input_ids": "ids", "attention_mask": "mask"})
    hid = body.graph.output[0].name
    inits = [_init(rng, "lm_head_w", (768, vocab), np.sqrt(1 / 768)),
             numpy_helper.from_array(np.array([1], np.int64), "lm_axis")]
    pre = [helper.make_node("Squeeze", ["input1", "lm_axis"], ["ids"])] + _ones_mask("ids", "mask")
    post = [helper.make_node("MatMul", [hid, "lm_head_w"], ["lm_logits"]),
            helper.make_node("Unsqueeze", ["lm_logits", "lm_axis"], ["output1"])]
    inputs = [helper.make_tensor_value_info("input1", TensorProto.INT64, ["N", 1, "S"])]
    outputs = [helper.make_tensor_value_info("output1", TensorProto.FLOAT, ["N", 1, "S", vocab])]
    return _wrap(body, inputs, outputs, (pre, post), inits, "gpt2_lm_head")


def roberta_classifier(seed: int = 9) -> onnx.ModelProto:
    """roberta-sequence-classification-9's interface over the 2-layer RoBERTa
    body: int64 ``input_ids`` [N, S] -> ``output`` [N, 2] (dense + tanh +
    projection of the first token)."""
    rng = np.random.default_rng(seed)
    body = _body("roberta", {"attention_mask": "mask"})
    hid = body.graph.output[0].name
    inits = [numpy_helper.from_array(np.array(0, np.int64), "cls_index"),
             _init(rng, "cls_dense_w", (768, 768), np.sqrt(1 / 768)),
             _init(rng, "cls_dense_b", (768,), 0.02),
             _init(rng, "cls_out_w", (2, 768), np.sqrt(1 / 768)),
             _init(rng, "cls_out_b", (2,), 0.02)]
    post = [helper.make_node("Gather", [hid, "cls_index"], ["cls"], axis=1),
            helper.make_node("Gemm", ["cls", "cls_dense_w", "cls_dense_b"], ["cls_dense"], transB=1),
            helper.make_node("Tanh", ["cls_dense"], ["cls_tanh"]),
            helper.make_node("Gemm", ["cls_tanh", "cls_out_w", "cls_out_b"], ["output"], transB=1)]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])]
    return _wrap(body, inputs, outputs, (_ones_mask("input_ids", "mask"), post), inits, "roberta")


# --- data files -------------------------------------------------------------

def write_labels(path: str, n: int = 1000) -> None:
    """A synset.txt-style label file: one ``n<8 digits> class_<k>`` line per class."""
    with open(path, "w") as f:
        f.writelines(f"n{k:08d} class_{k}\n" for k in range(n))


def write_image(path: str, width: int, height: int, seed: int = 0) -> None:
    """A random RGB image as binary PPM (P6), which ``PIL.Image.open`` reads."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (width, height))
        f.write(pixels.tobytes())


def write_wordpiece_zip(path: str, folder: str, text: str) -> None:
    """A zip holding ``<folder>/vocab.txt``: BERT's special tokens, then every
    lower-cased word and punctuation mark of ``text`` (words outside it become
    [UNK], which WordPiece allows)."""
    import re

    words = sorted(set(re.findall(r"\w+|[^\w\s]", text.lower())))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{folder}/vocab.txt", "".join(w + "\n" for w in vocab))


def _byte_symbols() -> list[str]:
    # Byte-level BPE spells each byte as one printable character: printable
    # Latin-1 bytes as themselves, the rest shifted past 255, in byte order.
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, shift = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + shift))
            shift += 1
    return out


def write_bpe_tokenizer(folder: str, specials: list[str]) -> None:
    """``vocab.json`` (the special tokens, then the 256 byte symbols) and an
    empty ``merges.txt``: a byte-level BPE tokenizer that ``transformers``'
    GPT2Tokenizer and RobertaTokenizer load from ``folder``; every text
    encodes to byte tokens, ids below 300."""
    os.makedirs(folder, exist_ok=True)
    symbols = list(specials) + [s for s in _byte_symbols() if s not in specials]
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump({s: i for i, s in enumerate(symbols)}, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
