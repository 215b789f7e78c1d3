"""A transformer block of today's ops and an LSTM model: inference against onnxruntime,
then fine-tuning through ``SingaRep`` in training mode with a falling loss.

The block: RMSNormalization, Q/K/V projections, RotaryEmbedding on Q and K, causal
Attention with grouped KV heads, the output projection and a residual Add.  The
LSTM model: a bidirectional LSTM over a sequence and a linear head on its last
hidden states.  Both are written with onnx.helper at opset 23 with random weights.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import autograd, opt, sonnx, tensor

ort = pytest.importorskip("onnxruntime")

B, S, D, HEADS, KV_HEADS = 2, 6, 16, 4, 2
HD = D // HEADS


def _inits(rng, **shapes):
    return {k: (rng.standard_normal(s) * (0.3 if len(s) > 1 else 1.0)).astype(np.float32)
            for k, s in shapes.items()}


def transformer_block() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = _inits(rng, Wq=(D, D), Wk=(D, KV_HEADS * HD), Wv=(D, KV_HEADS * HD), Wo=(D, D))
    w["g"] = (1.0 + 0.1 * rng.standard_normal(D)).astype(np.float32)
    pos = np.arange(S)[:, None] / (10000 ** (np.arange(HD // 2) / (HD // 2)))
    w["cos"], w["sin"] = np.cos(pos).astype(np.float32), np.sin(pos).astype(np.float32)
    w["pos"] = np.tile(np.arange(S, dtype=np.int64), (B, 1))
    nodes = [
        helper.make_node("RMSNormalization", ["x", "g"], ["n"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n", "Wq"], ["q"]),
        helper.make_node("MatMul", ["n", "Wk"], ["k"]),
        helper.make_node("MatMul", ["n", "Wv"], ["v"]),
        helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["qr"], num_heads=HEADS),
        helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["kr"],
                         num_heads=KV_HEADS),
        helper.make_node("Attention", ["qr", "kr", "v"], ["a"], is_causal=1, q_num_heads=HEADS,
                         kv_num_heads=KV_HEADS),
        helper.make_node("MatMul", ["a", "Wo"], ["o"]),
        helper.make_node("Add", ["x", "o"], ["y"]),
    ]
    g = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TP.FLOAT, [B, S, D])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [B, S, D])],
                          [numpy_helper.from_array(v, k) for k, v in w.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)])


H = 8


def lstm_model() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w = _inits(rng, W=(2, 4 * H, D), R=(2, 4 * H, H), B=(2, 8 * H), F=(2 * H, 3))
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=H,
                         direction="bidirectional"),
        helper.make_node("Transpose", ["h"], ["ht"], perm=[1, 0, 2]),
        helper.make_node("Reshape", ["ht", "shape"], ["hf"]),
        helper.make_node("MatMul", ["hf", "F"], ["y"]),
    ]
    w["shape"] = np.array([B, 2 * H], np.int64)
    g = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TP.FLOAT, [S, B, D])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, [B, 3])],
                          [numpy_helper.from_array(v, k) for k, v in w.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)])


MODELS = {"transformer_block": (transformer_block, (B, S, D)), "lstm": (lstm_model, (S, B, D))}


@pytest.fixture
def training():
    saved = autograd.training
    yield
    autograd.training = saved


@pytest.mark.parametrize("target", ["numpy", "c"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_inference_matches_onnxruntime(name, target):
    make, shape = MODELS[name]
    m = make()
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = tensor.to_numpy(sonnx.prepare(m, target=target).run([x])[0])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fine_tuning_through_singarep_lowers_the_loss(name, training):
    make, shape = MODELS[name]
    rep = sonnx.prepare(make())
    trained = {}
    for k, t in rep.tensor_map.items():
        if t.dtype == np.float32 and t.ndim >= 1 and k not in ("cos", "sin"):  # not the caches
            t.requires_grad = t.stores_grad = True
            trained[k] = tensor.to_numpy(t).copy()
    rng = np.random.default_rng(3)
    x = tensor.from_numpy(rng.standard_normal(shape).astype(np.float32))
    target = tensor.from_numpy(rng.standard_normal(
        (B, S, D) if name == "transformer_block" else (B, 3)).astype(np.float32))
    sgd = opt.SGD(lr=0.05)
    autograd.training = True
    losses = []
    for _ in range(8):
        y = rep.run([x])[0]
        loss = autograd.mse_loss(y, target)
        losses.append(loss.item())
        sgd(loss)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
    # every weight got a gradient through every op (RMSNorm's scale, the rotary and
    # attention inputs' projections, all of the LSTM's W, R, B)
    unchanged = [k for k, before in trained.items()
                 if np.array_equal(before, tensor.to_numpy(rep.tensor_map[k]))]
    assert not unchanged, unchanged
