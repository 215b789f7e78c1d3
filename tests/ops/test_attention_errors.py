"""Attention and LinearAttention: bad operands and attributes give ShapeError /
DTypeError naming the op, from compute and (where types tell) from infer; and
the fully masked rows and the KV cache behave as the spec says."""

import numpy as np
import pytest

from singa.errors import DTypeError, ShapeError
from singa.ir.types import TensorType
from singa.ops import OPS

from tests.ops.case import rand


def f32(*shape, seed=0):
    return rand(*shape, seed=seed)


Q4, K4, V4 = f32(2, 4, 3, 8), f32(2, 2, 5, 8, seed=1), f32(2, 2, 5, 6, seed=2)
Q3, K3, V3 = f32(2, 3, 32), f32(2, 5, 16, seed=1), f32(2, 5, 12, seed=2)
HEADS = {"q_num_heads": 4, "kv_num_heads": 2}
PK, PV = f32(2, 2, 4, 8, seed=3), f32(2, 2, 4, 6, seed=4)
NONPAD = np.array([3, 5], np.int64)

BAD_ATTENTION = [
    ([Q4, K3, V3], {}, ShapeError, "3-D or all 4-D"),
    ([Q3, K3, V3], {}, ShapeError, "q_num_heads"),
    ([Q3, K3, V3], {"q_num_heads": 5, "kv_num_heads": 2}, ShapeError, "split"),
    ([f32(2, 3, 3, 8), K4, V4], {}, ShapeError, "multiple"),
    ([Q4, K4, V4], {"q_num_heads": 3}, ShapeError, "q_num_heads"),
    ([Q4, f32(2, 2, 5, 4), V4], {}, ShapeError, "head sizes"),
    ([Q4, K4, f32(2, 2, 4, 6)], {}, ShapeError, "sequence lengths"),
    ([Q4, K4, f32(1, 2, 5, 6)], {}, ShapeError, "batch"),
    ([Q4.astype(np.int32), K4, V4], {}, DTypeError, "Q must be a float"),
    ([Q4, K4.astype(np.float64), V4], {}, DTypeError, "K is f64"),
    ([Q4, K4, V4, None, PK], {}, ShapeError, "together"),
    ([Q4, K4, V4, None, f32(2, 2, 4, 7), PV], {}, ShapeError, "head sizes of K and past_key"),
    ([Q4, K4, V4, f32(2, 3, 5)], {}, ShapeError, "broadcast"),
    ([Q4, K4, V4, f32(3, 6)], {}, ShapeError, "longer"),
    ([Q4, K4, V4, f32(1, 1, 1, 3, 5)], {}, ShapeError, "rank 1 to 4"),
    ([Q4, K4, V4, None, PK, PV, NONPAD], {}, ShapeError, "nonpad_kv_seqlen cannot"),
    ([Q4, K4, V4, None, None, None, np.array([3], np.int64)], {}, ShapeError, "one length"),
    ([Q4, K4, V4, None, None, None, NONPAD.astype(np.float32)], {}, DTypeError, "int64"),
    ([Q4, K4, V4], {"qk_matmul_output_mode": 4}, ShapeError, "qk_matmul_output_mode"),
    ([Q4, K4, V4], {"softmax_precision": 6}, DTypeError, "softmax_precision"),
    ([Q4, K4, V4], {"left_window_size": -2}, ShapeError, "window"),
]


@pytest.mark.parametrize("inputs,attrs,err,words", BAD_ATTENTION,
                         ids=[f"attention-{i}" for i in range(len(BAD_ATTENTION))])
def test_bad_attention(inputs, attrs, err, words):
    with pytest.raises(err, match=f"Attention.*{words}"):
        OPS["Attention"].run(np, inputs, attrs)


def _types(inputs):
    return [None if x is None else TensorType.of(x) for x in inputs]


@pytest.mark.parametrize("k", [0, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 18, 19])
def test_bad_attention_infer(k):
    """infer finds the same faults from the operand types alone."""
    inputs, attrs, err, words = BAD_ATTENTION[k]
    opdef = OPS["Attention"]
    with pytest.raises(err, match=f"Attention.*{words}"):
        opdef.infer(_types(inputs), opdef.attrs(attrs), [None] * len(inputs))


def _linear(rule="gated_delta", hq=2, hkv=2, decay=8, beta=2, past=None, **attrs):
    ins = [f32(2, 3, hq * 4), f32(2, 3, hkv * 4, seed=1), f32(2, 3, hkv * 4, seed=2), past,
           None if decay is None else f32(2, 3, decay, seed=3),
           None if beta is None else f32(2, 3, beta, seed=4)]
    return ins, dict(attrs, q_num_heads=hq, kv_num_heads=hkv, update_rule=rule)


BAD_LINEAR = [
    (_linear(rule="softmax"), ShapeError, "update_rule"),
    (_linear(rule="linear"), ShapeError, "forbids the decay"),
    (_linear(decay=None), ShapeError, "needs the decay"),
    (_linear(hq=3), ShapeError, "multiple"),
    (_linear(decay=5), ShapeError, "decay width"),
    (_linear(beta=3), ShapeError, "beta width"),
    (_linear(past=f32(2, 2, 4, 5)), ShapeError, "past_state"),
]


@pytest.mark.parametrize("case,err,words", BAD_LINEAR,
                         ids=[f"linear-{i}" for i in range(len(BAD_LINEAR))])
def test_bad_linear_attention(case, err, words):
    inputs, attrs = case
    opdef = OPS["LinearAttention"]
    with pytest.raises(err, match=f"LinearAttention.*{words}"):
        opdef.run(np, inputs, attrs)
    with pytest.raises(err, match=f"LinearAttention.*{words}"):
        opdef.infer(_types(inputs), opdef.attrs(attrs), [None] * len(inputs))


def test_linear_attention_int_input():
    inputs, attrs = _linear()
    inputs[0] = inputs[0].astype(np.int64)
    with pytest.raises(DTypeError, match="LinearAttention: query"):
        OPS["LinearAttention"].run(np, inputs, attrs)


def _naive(q, k, v, bias):
    """softmax(q k^T / sqrt(d) + bias) v in float64, one head at a time."""
    s = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + bias
    with np.errstate(invalid="ignore"):
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        p = p / p.sum(axis=-1, keepdims=True)
    return np.nan_to_num(p) @ v


def test_fully_masked_rows_are_zero_without_warnings():
    q, k, v = f32(1, 2, 3, 4), f32(1, 2, 4, 4, seed=1), f32(1, 2, 4, 4, seed=2)
    mask = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    with np.errstate(all="raise"):
        y, _, _, probs = OPS["Attention"].run(
            np, [q, k, v, mask], {"qk_matmul_output_mode": 3, "_num_outputs": 4})
    assert not y[:, :, 1].any() and not probs[:, :, 1].any()
    want = _naive(q, k, v, np.where(mask, 0.0, -np.inf))
    np.testing.assert_allclose(y[:, :, [0, 2]], want[:, :, [0, 2]], rtol=1e-5, atol=1e-6)


def test_kv_cache_step_equals_one_pass():
    """Decoding with past_key/past_value gives the rows a causal pass over the
    whole sequence gives, and present_* is the concatenated cache."""
    q, k, v = f32(2, 2, 6, 4), f32(2, 2, 6, 4, seed=1), f32(2, 2, 6, 4, seed=2)
    att = OPS["Attention"]
    whole = att.run(np, [q, k, v], {"is_causal": 1})[0]
    first = att.run(np, [q[:, :, :4], k[:, :, :4], v[:, :, :4]], {"is_causal": 1})
    step = att.run(np, [q[:, :, 4:], k[:, :, 4:], v[:, :, 4:], None, first[1], first[2]],
                   {"is_causal": 1})
    np.testing.assert_allclose(step[0], whole[:, :, 4:], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(step[1], k)
    np.testing.assert_array_equal(step[2], v)


def test_gqa_equals_repeated_heads():
    """Grouped-query attention is multi-head attention with each KV head repeated
    for its group of query heads."""
    q, k, v = f32(2, 6, 3, 4), f32(2, 2, 5, 4, seed=1), f32(2, 2, 5, 4, seed=2)
    att = OPS["Attention"]
    got = att.run(np, [q, k, v], {})[0]
    want = att.run(np, [q, np.repeat(k, 3, axis=1), np.repeat(v, 3, axis=1)], {})[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
