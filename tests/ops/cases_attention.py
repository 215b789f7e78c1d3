"""Cases of Attention and LinearAttention (singa/ops/attention.py)."""

import ml_dtypes
import numpy as np

from tests.ops.case import Case, rand

F16, BF16 = np.float16, ml_dtypes.bfloat16


def qkv(b, hq, hkv, sq, skv, dk, dv=None, packed=False, seed=0, dtype=np.float32):
    """Q, K, V of the given sizes, 4-D (B, H, S, D) or packed 3-D (B, S, H*D)."""
    dv = dk if dv is None else dv
    if packed:
        shapes = [(b, sq, hq * dk), (b, skv, hkv * dk), (b, skv, hkv * dv)]
    else:
        shapes = [(b, hq, sq, dk), (b, hkv, skv, dk), (b, hkv, skv, dv)]
    return [rand(*s, seed=seed + i).astype(dtype) for i, s in enumerate(shapes)]


def past(b, hkv, p, dk, dv=None, seed=10):
    dv = dk if dv is None else dv
    return [rand(b, hkv, p, dk, seed=seed), rand(b, hkv, p, dv, seed=seed + 1)]


BOOL_MASK = np.array([[1, 1, 0, 1, 0], [1, 0, 1, 1, 1], [0, 1, 1, 0, 1], [1, 1, 1, 1, 0]],
                     dtype=bool)
NONPAD = np.array([3, 5], dtype=np.int64)
HEADS = {"q_num_heads": 6, "kv_num_heads": 2}

def _mixed_reference(q, k, v, **attrs):
    """float32 Q, K with float16 V (onnxruntime binds them to one type): plain
    softmax(Q K^T / sqrt(d)) V in float64; the caches keep their types."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return [(p / p.sum(axis=-1, keepdims=True)) @ v, k.astype(np.float32),
            v.astype(F16)]


ATTENTION = [
    Case("Attention", qkv(2, 3, 3, 4, 5, 8), id="4d"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 8) + [BOOL_MASK], {"is_causal": 1}, opset=23,
         id="opset23_bool_mask_causal"),
    Case("Attention", qkv(1, 2, 2, 3, 3, 4, dtype=np.float64), {"scale": 0.3}, id="f64_scale"),
    Case("Attention", qkv(2, 6, 2, 4, 5, 4, dv=6, packed=True), HEADS, id="3d_gqa_diff_v"),
    Case("Attention", qkv(2, 6, 2, 4, 4, 4, packed=True), dict(HEADS, is_causal=1),
         id="3d_gqa_causal"),
    Case("Attention", qkv(2, 4, 1, 5, 5, 4), {"is_causal": 1, "scale": 0.5}, id="mqa_causal"),
    Case("Attention", qkv(2, 4, 2, 4, 6, 4) + [rand(4, 6, seed=7)], {"softcap": 1.5},
         id="float_mask_2d_softcap"),
    Case("Attention", qkv(2, 4, 2, 4, 6, 4) + [rand(2, 1, 4, 6, seed=7)], {"is_causal": 1},
         id="float_mask_batch_causal"),
    Case("Attention", qkv(2, 4, 2, 4, 6, 4) + [rand(4, 4, 6, seed=7)], id="float_mask_heads"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 4) + [BOOL_MASK], id="bool_mask"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 4) + [np.array([1, 0, 1, 1, 0], bool)],
         {"is_causal": 1}, opset=25, id="bool_mask_rank1_causal"),
    # the mask covers 5 of the 3 + 4 keys: the rest are masked out (onnxruntime takes
    # short and rank-1 masks from its opset-25 kernel on)
    Case("Attention", qkv(2, 4, 2, 3, 4, 4, dv=5) + [rand(3, 5, seed=7)] + past(2, 2, 3, 4, 5),
         {"_num_outputs": 3}, outputs=3, opset=25, id="past_present_short_mask"),
    Case("Attention", qkv(2, 6, 2, 3, 2, 4, packed=True) + [None] + past(2, 2, 4, 4),
         dict(HEADS, is_causal=1, _num_outputs=3), outputs=3, id="3d_past_causal"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 4), {"_num_outputs": 4}, outputs=4, id="qk_mode0"),
    # mode 0 is the product before the softcap
    Case("Attention", qkv(2, 3, 3, 4, 5, 4), {"softcap": 0.8, "_num_outputs": 4}, outputs=4,
         id="qk_mode0_softcap"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 4) + [rand(4, 5, seed=7)],
         {"qk_matmul_output_mode": 1, "softcap": 0.8, "_num_outputs": 4}, outputs=4,
         id="qk_mode1_softcap"),
    Case("Attention", qkv(2, 4, 2, 4, 5, 4) + [rand(2, 1, 4, 5, seed=7)],
         {"qk_matmul_output_mode": 2, "_num_outputs": 4}, outputs=4, id="qk_mode2_bias"),
    Case("Attention", qkv(2, 4, 2, 4, 4, 4) + [rand(4, 4, seed=7)],
         {"qk_matmul_output_mode": 3, "is_causal": 1, "_num_outputs": 4}, outputs=4,
         id="qk_mode3_causal"),
    # a fully masked query row gives zeros in Y and in the probabilities
    Case("Attention", qkv(1, 2, 2, 4, 5, 4) + [BOOL_MASK & np.array([[1], [1], [0], [1]], bool)],
         {"qk_matmul_output_mode": 3, "_num_outputs": 4}, outputs=4,
         id="fully_masked_row"),
    Case("Attention", qkv(2, 4, 2, 3, 4, 8) + [rand(3, 4, seed=7)],
         {"softmax_precision": 11, "qk_matmul_output_mode": 3, "_num_outputs": 4},
         outputs=4, id="softmax_precision_double"),
    Case("Attention", qkv(2, 2, 2, 2, 6, 4) + [None, None, None, NONPAD], {"is_causal": 1},
         opset=24, id="nonpad_causal"),
    Case("Attention", qkv(2, 2, 2, 2, 6, 4) + [rand(2, 1, 2, 6, seed=7), None, None, NONPAD],
         opset=24, id="nonpad_float_mask"),
    Case("Attention", qkv(2, 3, 3, 5, 7, 4), {"is_causal": 1, "left_window_size": 2},
         id="causal_left_window"),
    Case("Attention", qkv(1, 2, 2, 5, 5, 4) + [rand(5, 5, seed=7)],
         {"left_window_size": 1, "right_window_size": 2}, id="bidirectional_window"),
    Case("Attention", qkv(2, 3, 3, 3, 2, 4) + [None] + past(2, 3, 4, 4),
         {"is_causal": 1, "left_window_size": 3, "_num_outputs": 3}, outputs=3,
         id="window_with_past"),
    Case("Attention", qkv(2, 4, 2, 4, 5, 8, dtype=F16) + [rand(4, 5, seed=7).astype(F16)],
         # onnxruntime rounds to fp16 once, singa (as the ONNX reference) after each
         # stage: a float16 ulp or two apart
         {"is_causal": 1}, rtol=2e-3, atol=2e-3, grad=False, id="f16"),
    Case("Attention", qkv(2, 3, 3, 4, 5, 4)[:2] + [rand(2, 3, 5, 6, seed=2).astype(F16)],
         {"_num_outputs": 3}, outputs=3, reference=_mixed_reference,
         id="f16_values_f32_queries"),
    Case("Attention", qkv(2, 4, 2, 4, 5, 8, dtype=BF16), {"is_causal": 1},
         grad=False, id="bf16"),
]


def linear(rule, b=2, t=4, hq=2, hkv=2, dk=4, dv=3, decay="key", beta="head", past=False,
           **attrs):
    """A LinearAttention case: inputs for ``rule``; decay per key dim or per head,
    beta per head or shared (one value per token)."""
    ins = [rand(b, t, hq * dk, seed=1), rand(b, t, hkv * dk, seed=2) * 0.5,
           rand(b, t, hkv * dv, seed=3),
           rand(b, hkv, dk, dv, seed=4) if past else None]
    width = {"key": hkv * dk, "head": hkv, "one": 1}
    ins.append(rand(b, t, width[decay], low=-0.6, high=-0.05, seed=5)
               if rule in ("gated", "gated_delta") else None)
    ins.append(rand(b, t, width[beta], low=0.1, high=0.9, seed=6)
               if rule in ("delta", "gated_delta") else None)
    while ins[-1] is None:
        ins.pop()
    return dict(inputs=ins, attrs=dict(attrs, q_num_heads=hq, kv_num_heads=hkv,
                                       update_rule=rule))


LINEAR = [
    Case("LinearAttention", **linear("linear"), outputs=2, id="linear"),
    Case("LinearAttention", **linear("gated", past=True), outputs=2, id="gated_key_decay_past"),
    Case("LinearAttention", **linear("gated", decay="head", hq=4), outputs=2,
         id="gated_head_decay_gqa"),
    Case("LinearAttention", **linear("delta", beta="one"), outputs=2, id="delta_shared_beta"),
    Case("LinearAttention", **linear("gated_delta", hq=4, hkv=1, past=True), outputs=2,
         id="gated_delta_mqa_past"),
    Case("LinearAttention", **linear("gated_delta", t=1, decay="head", past=True, scale=0.3),
         outputs=2, id="decode_step_scale"),
]
_fp16 = linear("gated_delta", hq=4)
LINEAR.append(Case("LinearAttention",
                   [None if x is None else x.astype(F16) for x in _fp16["inputs"]],
                   _fp16["attrs"], outputs=2, grad=False, id="f16"))



def _flex_reference(q, k, v, scale=None):
    """softmax(Q K^T * scale) V in float64, K/V heads repeated for grouped queries."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    g = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, g, axis=1), np.repeat(v, g, axis=1)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return [(p / p.sum(axis=-1, keepdims=True)) @ v]


# onnxruntime has no FlexAttention: float64 NumPy references (bodies: tests/ops/test_control)
FLEX = [
    Case("FlexAttention", qkv(2, 3, 3, 4, 5, 8), reference=_flex_reference, grad=False,
         id="mha"),
    Case("FlexAttention", qkv(1, 4, 2, 3, 6, 4, dv=5, dtype=np.float64), {"scale": 0.25},
         reference=_flex_reference, grad=False, id="gqa_f64_scale"),
]

CASES = ATTENTION + LINEAR + FLEX
