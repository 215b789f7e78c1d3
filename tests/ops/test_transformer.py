"""Transformer-era ops beyond the table harness: bad operands and attributes,
bfloat16 (which onnxruntime lacks for them) against onnx's reference evaluator,
and the state carried by CausalConvWithState between calls."""

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from singa.errors import DTypeError, ModelError, ShapeError
from singa.ir.types import DType, TensorType
from singa.ops import OPS

F = np.float32
BF16 = DType.BFLOAT16.np


def _r(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(F)


X4 = _r(2, 3, 3, 4)
POS = np.array([[0, 1, 1], [2, 0, 1]], np.int64)
C2 = _r(3, 2, seed=1)

BAD = [
    ("SwiGLU", [_r(2, 3), _r(3)], {}, ShapeError, ShapeError),
    ("SwiGLU", [_r(2, 3), _r(2, 3).astype(np.float64)], {}, DTypeError, DTypeError),
    ("SwiGLU", [_r(2, 3).astype(np.int64), _r(2, 3).astype(np.int64)], {}, None, DTypeError),
    ("RMSNormalization", [_r(2, 3), _r(4)], {}, ShapeError, ShapeError),
    ("RMSNormalization", [_r(2, 3), _r(2, 2, 3)], {}, ShapeError, ShapeError),
    ("RMSNormalization", [_r(2, 3), _r(3).astype(np.float64)], {}, DTypeError, DTypeError),
    ("RMSNormalization", [_r(2, 3), _r(3)], {"axis": 2}, ShapeError, ShapeError),
    ("RMSNormalization", [_r(2, 3), _r(3)], {"stash_type": 7}, ModelError, ModelError),
    ("RMSNormalization", [np.float32(2.0), np.float32(1.0)], {}, ShapeError, ShapeError),
    ("RotaryEmbedding", [_r(2, 3, 4), C2, C2, POS[:, :3]], {}, ShapeError, None),
    ("RotaryEmbedding", [_r(2, 3, 8), C2, C2, POS], {"num_heads": 3}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, C2, POS], {"rotary_embedding_dim": 3}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, C2, POS], {"rotary_embedding_dim": 6}, ShapeError, None),
    ("RotaryEmbedding", [X4, _r(3, 3), _r(3, 3), POS], {}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, _r(4, 2), POS], {}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, C2], {}, ShapeError, None),  # needs (batch, seq, 2) caches
    ("RotaryEmbedding", [X4, C2, C2, POS + 2], {}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, C2, POS[:1]], {}, ShapeError, None),
    ("RotaryEmbedding", [X4, C2, C2, POS.astype(F)], {}, DTypeError, DTypeError),
    ("RotaryEmbedding", [X4, C2.astype(np.float16), C2, POS], {}, DTypeError, DTypeError),
    ("RotaryEmbedding", [_r(2, 3, 3, 4, 1), C2, C2, POS], {}, ShapeError, ShapeError),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 1, 2)], {"activation": "relu"},
     ModelError, ModelError),
    ("CausalConvWithState", [_r(2, 3, 5), _r(4, 1, 2)], {}, ShapeError, None),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 2)], {}, ShapeError, ShapeError),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 1, 2), _r(2)], {}, ShapeError, None),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 1, 3), None, _r(2, 3, 1)], {},
     ShapeError, None),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 1, 2).astype(np.float64)], {},
     DTypeError, DTypeError),
]


@pytest.mark.parametrize("op, inputs, attrs, compute_error, infer_error", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_operands(op, inputs, attrs, compute_error, infer_error):
    """compute and infer raise singa's errors naming the op, never NumPy's."""
    opdef = OPS[op]
    full = opdef.attrs(attrs)
    if compute_error is not None:
        with pytest.raises(compute_error, match=op):
            opdef.compute(np, list(inputs), full)
    types = [None if x is None else TensorType.of(np.asarray(x)) for x in inputs]
    if infer_error is not None:
        with pytest.raises(infer_error, match=op):
            opdef.infer(types, full, [None] * len(inputs))


# ------------------------------------------------------------------ bfloat16

def _reference(op, inputs, attrs, n_out=1):
    """onnx's reference evaluator on the inputs cast to float32 (it has no bf16 math)."""
    names = [f"i{k}" if x is not None else "" for k, x in enumerate(inputs)]
    node = helper.make_node(op, names, [f"o{k}" for k in range(n_out)], **attrs)
    ev = ReferenceEvaluator(node)
    feeds = {n: (x.astype(F) if x.dtype == BF16 else x)
             for n, x in zip(names, inputs) if x is not None}
    return ev.run(None, feeds)


BF16_CASES = [
    ("Swish", [_r(3, 5) * 4], {"alpha": 0.75}, 1),
    ("SwiGLU", [_r(3, 5) * 4, _r(3, 5, seed=2)], {}, 1),
    ("RMSNormalization", [_r(2, 3, 4) * 3, _r(4, seed=2)], {}, 1),
    ("RotaryEmbedding", [X4, C2, _r(3, 2, seed=3), POS], {"interleaved": 1}, 1),
    ("CausalConvWithState", [_r(2, 3, 5), _r(3, 1, 3, seed=2), _r(3, seed=3)],
     {"activation": "silu"}, 2),
]


@pytest.mark.parametrize("op, inputs, attrs, n_out", BF16_CASES, ids=[c[0] for c in BF16_CASES])
def test_bfloat16(op, inputs, attrs, n_out):
    """bfloat16 in, bfloat16 out, within two bf16 roundings of the float32 result."""
    ins = [x.astype(BF16) if x.dtype == F else x for x in inputs]
    got = OPS[op].compute(np, list(ins), OPS[op].attrs(attrs))
    want = _reference(op, ins, attrs, n_out)
    for g, w in zip(got[:n_out], want):
        assert g.dtype == BF16
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64),
                                   rtol=2 ** -7, atol=2 ** -7)


# ------------------------------------------------------------------ carried state

@pytest.mark.parametrize("activation", ["none", "silu"])
def test_causal_conv_state_carries_across_chunks(activation):
    """Feeding a sequence in chunks, each with the previous present_state as
    past_state, gives the output of one call over the whole sequence."""
    op = OPS["CausalConvWithState"]
    attrs = op.attrs({"activation": activation})
    x, w, b = _r(2, 3, 9, seed=5), _r(3, 1, 4, seed=6), _r(3, seed=7)
    whole, last = op.compute(np, [x, w, b], attrs)
    state, parts = None, []
    for lo, hi in ((0, 2), (2, 3), (3, 3), (3, 9)):
        y, state = op.compute(np, [x[:, :, lo:hi], w, b, state], attrs)
        parts.append(y)
    np.testing.assert_allclose(np.concatenate(parts, axis=2), whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(state, last)
    np.testing.assert_array_equal(last, x[:, :, -3:])


def test_causal_conv_empty_input_passes_the_state_through():
    op = OPS["CausalConvWithState"]
    past = _r(2, 3, 2, seed=8)
    y, state = op.compute(np, [_r(2, 3, 0), _r(3, 1, 3), None, past], op.attrs({}))
    assert y.shape == (2, 3, 0) and y.dtype == F
    np.testing.assert_array_equal(state, past)


# ------------------------------------------------------------------ fusion

def test_swish_and_swiglu_fuse_into_one_kernel():
    """On the c target a Mul -> Swish -> SwiGLU -> Neg chain is one generated loop
    whose result is the chain evaluated in float64."""
    import singa
    from onnx import TensorProto

    nodes = [helper.make_node("Mul", ["x", "x"], ["a"]),
             helper.make_node("Swish", ["a"], ["s"], alpha=-0.5),
             helper.make_node("SwiGLU", ["s", "b"], ["y"], alpha=1.5),
             helper.make_node("Neg", ["y"], ["z"])]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3, 40]) for n in "xbz"]
    model = helper.make_model(helper.make_graph(nodes, "g", vi[:2], vi[2:]),
                              opset_imports=[helper.make_opsetid("", 28)])
    compiled = singa.compile(model, target="c")
    assert "FusedElementwise[Mul, Swish, SwiGLU, Neg]" in compiled.plan
    assert "launches (1 generated kernels)" in compiled.plan
    x, b = _r(3, 40, seed=9) * 3, _r(3, 40, seed=10)
    got = np.asarray(compiled.run([x, b])[0].data)
    a = x.astype(np.float64) ** 2
    s = a / (1 + np.exp(0.5 * a))
    want = -(s / (1 + np.exp(-1.5 * s)) * b)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
