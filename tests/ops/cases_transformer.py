"""Cases of the transformer-era ops: Swish, SwiGLU, RMSNormalization, CausalConvWithState
(singa/ops/transformer.py) and RotaryEmbedding (singa/ops/rotary.py).

onnxruntime is the reference of every op but SwiGLU, which it lacks; there onnx's
reference evaluator stands in (test_table picks it).
"""

import numpy as np

from tests.ops.case import Case, rand

F16 = np.float16
F64 = np.float64
X = rand(2, 3, 5) * 4
WIDE = rand(4, 6, low=-30.0, high=30.0, seed=3)  # saturated sigmoids both ways
HALF = {"rtol": 1e-3, "atol": 1e-3}

SWISH = [
    Case("Swish", [X], id="default"),
    Case("Swish", [X], {"alpha": 0.5}, id="alpha"),
    Case("Swish", [X], {"alpha": -0.7}, id="negative_alpha"),
    Case("Swish", [WIDE], id="wide"),
    Case("Swish", [X.astype(F64)], {"alpha": 1.5}, id="f64"),
    Case("Swish", [X.astype(F16)], id="f16", **HALF),
    Case("Swish", [np.zeros((0, 3), np.float32)], id="empty", grad=False),
]

B = rand(2, 3, 5, seed=7) * 2
SWIGLU = [
    Case("SwiGLU", [X, B], id="default"),
    Case("SwiGLU", [X, B], {"alpha": 0.5}, id="alpha"),
    Case("SwiGLU", [X, B], {"alpha": -1.25}, id="negative_alpha"),
    Case("SwiGLU", [WIDE, rand(4, 6, seed=4)], id="wide"),
    Case("SwiGLU", [X.astype(F64), B.astype(F64)], {"alpha": 1.7}, id="f64"),
    Case("SwiGLU", [X.astype(F16), B.astype(F16)], id="f16", **HALF),
    Case("SwiGLU", [rand(7), rand(7, seed=8)], id="1d"),
]

X4 = rand(2, 3, 4, 5, seed=11) * 3
RMS = [
    Case("RMSNormalization", [X4, rand(5, seed=2)], id="default_axis"),
    Case("RMSNormalization", [X4, rand(3, 4, 5, seed=2)], {"axis": 1}, id="axis1"),
    Case("RMSNormalization", [X4, rand(4, 1, seed=2)], {"axis": -2, "epsilon": 0.1},
         id="scale_broadcast_epsilon"),
    Case("RMSNormalization", [X4, rand(2, 3, 4, 5, seed=2)], {"axis": 0}, id="axis0_full"),
    Case("RMSNormalization", [X4, np.float32(1.5)], {"axis": -3}, id="scalar_scale"),
    Case("RMSNormalization", [rand(3, 4), rand(4, seed=2)], {"stash_type": 11},
         id="stash_double"),
    Case("RMSNormalization", [X4.astype(F64), rand(5, seed=2).astype(F64)], {"axis": 2},
         id="f64"),
    Case("RMSNormalization", [X4.astype(F16), rand(5, seed=2).astype(F16)], id="f16",
         **HALF),
    Case("RMSNormalization", [rand(6, seed=5) * 1e-3, rand(6, seed=2)], {"epsilon": 1e-4},
         id="tiny_values"),
]


def _positions(batch, seq, high, seed):
    """position_ids with repeats (their cache rows' gradients add up)."""
    return np.random.default_rng(seed).integers(0, high, (batch, seq)).astype(np.int64)


Q = rand(2, 4, 3, 8, seed=21)  # (batch, heads, seq, head_size)
Q3 = rand(2, 3, 24, seed=22)  # (batch, seq, heads * head_size) with 3 heads
POS = _positions(2, 3, 5, 23)


def _cache(*shape, seed):
    return rand(*shape, seed=seed)


ROPE = [
    Case("RotaryEmbedding", [Q, _cache(5, 4, seed=1), _cache(5, 4, seed=2), POS], id="4d"),
    Case("RotaryEmbedding", [Q, _cache(5, 4, seed=1), _cache(5, 4, seed=2), POS],
         {"interleaved": 1}, id="4d_interleaved"),
    Case("RotaryEmbedding", [Q, _cache(5, 2, seed=1), _cache(5, 2, seed=2), POS],
         {"rotary_embedding_dim": 4}, id="4d_partial"),
    Case("RotaryEmbedding", [Q, _cache(5, 3, seed=1), _cache(5, 3, seed=2), POS],
         {"rotary_embedding_dim": 6, "interleaved": 1}, id="4d_partial_interleaved"),
    Case("RotaryEmbedding", [Q3, _cache(5, 4, seed=1), _cache(5, 4, seed=2), POS],
         {"num_heads": 3}, id="3d"),
    Case("RotaryEmbedding", [Q3, _cache(5, 2, seed=1), _cache(5, 2, seed=2), POS],
         {"num_heads": 3, "rotary_embedding_dim": 4, "interleaved": 1},
         id="3d_partial_interleaved"),
    Case("RotaryEmbedding", [Q, _cache(2, 3, 4, seed=1), _cache(2, 3, 4, seed=2)],
         id="4d_no_position_ids"),
    Case("RotaryEmbedding", [Q3, _cache(2, 3, 2, seed=1), _cache(2, 3, 2, seed=2)],
         {"num_heads": 3, "rotary_embedding_dim": 4}, id="3d_no_position_ids_partial"),
    Case("RotaryEmbedding", [Q.astype(F16), _cache(5, 4, seed=1).astype(F16),
                             _cache(5, 4, seed=2).astype(F16), POS],
         {"interleaved": 1}, id="f16", **HALF),
]

XC = rand(2, 4, 8, seed=31)
WC = rand(4, 1, 3, seed=32)
BC = rand(4, seed=33)
PAST = rand(2, 4, 2, seed=34)
CCS = [
    Case("CausalConvWithState", [XC, WC], id="basic", outputs=2),
    Case("CausalConvWithState", [XC, WC, BC], id="bias", outputs=2),
    Case("CausalConvWithState", [XC, WC, None, PAST], id="past_state", outputs=2),
    Case("CausalConvWithState", [XC, WC, BC, PAST], {"activation": "silu"},
         id="bias_past_silu", outputs=2),
    Case("CausalConvWithState", [XC * 3, WC], {"activation": "swish"}, id="swish",
         outputs=2),
    Case("CausalConvWithState", [XC[:, :, :1], WC, BC, PAST], id="decode_step", outputs=2),
    Case("CausalConvWithState", [XC, rand(4, 1, 1, seed=35)], id="kernel_1", outputs=2),
    Case("CausalConvWithState", [XC[:, :, :2], rand(4, 1, 5, seed=36)],
         id="short_input", outputs=2),
    Case("CausalConvWithState", [XC.astype(F16), WC.astype(F16), BC.astype(F16)],
         {"activation": "silu"}, id="f16", outputs=2, **HALF),
]

CASES = SWISH + SWIGLU + RMS + ROPE + CCS
