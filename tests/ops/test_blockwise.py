"""Elementwise ops evaluated block by block (ops/_blockwise.py): Erf, Sigmoid, Gelu.

References: ``math.erf`` / ``math.exp`` in float64 per element, so every block
boundary, memory layout and dtype is checked against values computed without
the op's code.  The memory test counts NumPy's allocations with tracemalloc:
before blocking, Erf held about ten float64 copies of its input at once.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from singa.ops import OPS
from singa.ops import _blockwise
from singa.ops.elementwise import erf, sigmoid

RNG = np.random.default_rng(11)
N = 3 * _blockwise.BLOCK + 17  # several blocks and a ragged last one

SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 2.999999, 3.0, -3.0, 3.000001, 6.0, -6.0, 30.0, -30.0,
           np.inf, -np.inf]


def _values(dtype):
    x = np.concatenate([RNG.normal(0, 3, N - len(SPECIAL)), SPECIAL]).astype(dtype)
    RNG.shuffle(x)
    return x


def _layouts(x):
    """The same elements in several memory layouts (and some views of them)."""
    n = (x.size // 60) * 60
    yield "contiguous", x
    yield "transposed", x[:n].reshape(60, -1).T
    yield "channel-major", x[:n].reshape(6, 10, -1).swapaxes(0, 1)
    yield "reversed", x[::-1]
    yield "strided", x[::3]
    yield "broadcast", np.broadcast_to(x[:40], (7, 40))
    yield "0-d", np.array(x[5])
    yield "empty", x[:0].reshape(0, 3)


def _ref(f, x):
    return np.vectorize(f, otypes=[np.float64])(x.astype(np.float64))


ULP = {np.float64: 2e-15, np.float32: 1.2e-7, np.float16: 1e-3}


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_erf_matches_math_erf_in_every_layout(dtype):
    for name, x in _layouts(_values(dtype)):
        got = erf(np, x)
        assert got.dtype == x.dtype and got.shape == x.shape, name
        want = _ref(math.erf, x)
        # exact to ~1e-15 in float64, then one rounding to x's type
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=ULP[dtype],
                                   atol=ULP[dtype] * 1e-3, err_msg=name)
        assert not np.signbit(got[(x == 0) & ~np.signbit(x)]).any()


def test_erf_in_place_and_nan():
    x = _values(np.float32)
    x[7] = np.nan
    want = erf(np, x)
    y = x.copy()
    assert erf(np, y, out=y) is y
    np.testing.assert_array_equal(y, want)
    assert np.isnan(y[7]) and np.isfinite(np.delete(y, 7)).all()


def _sigmoid_ref(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_matches_float64_reference(dtype):
    for name, x in _layouts(_values(dtype) * 10):
        got = OPS["Sigmoid"].compute(np, [x], {})[0]
        assert got.dtype == x.dtype and got.shape == x.shape, name
        # results under the smallest normal keep only absolute precision
        tiny = np.finfo(dtype).smallest_subnormal
        np.testing.assert_allclose(got, _ref(_sigmoid_ref, x), rtol=4 * ULP[dtype],
                                   atol=4 * tiny, err_msg=name)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_float64_reference(approximate):
    c = math.sqrt(2 / math.pi)

    def ref(v):
        if approximate == "tanh":
            return 0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v ** 3)))
        return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))

    attrs = OPS["Gelu"].attrs({"approximate": approximate})
    values = _values(np.float32)
    values[~np.isfinite(values)] = 0  # x * Phi(x) at -inf is inf * 0
    for name, x in _layouts(values):
        got = OPS["Gelu"].compute(np, [x], attrs)[0]
        assert got.dtype == np.float32 and got.shape == x.shape, name
        # float32 arithmetic: 1 + tanh(u) cancels for negative x, so the error is
        # absolute, a few float32 epsilons
        np.testing.assert_allclose(got, _ref(ref, x), rtol=1e-6,
                                   atol=1e-7 if approximate == "none" else 1e-6,
                                   err_msg=name)


def test_results_keep_the_input_layout():
    x = RNG.standard_normal((5, 4, 30, 30)).astype(np.float32)
    cn = np.ascontiguousarray(x.swapaxes(0, 1)).swapaxes(0, 1)  # a Conv result's layout
    for f in (erf, sigmoid):
        y = f(np, cn)
        assert y.strides == cn.strides
        np.testing.assert_array_equal(y, f(np, x))


def test_out_of_another_layout():
    x = RNG.standard_normal((300, 200)).astype(np.float32)
    out = np.empty((200, 300), np.float32).T  # Fortran order
    assert sigmoid(np, x, out=out) is out
    np.testing.assert_array_equal(out, sigmoid(np, x))


@pytest.mark.parametrize("op", ["Erf", "Sigmoid", "Gelu"])
def test_temporaries_stay_a_few_blocks(op):
    x = RNG.standard_normal(1 << 20).astype(np.float32)  # 4 MiB
    attrs = OPS[op].attrs({})
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        OPS[op].compute(np, [x], attrs)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # the result, plus temporaries of a few 256 KiB blocks (not ~10 float64 copies)
    assert peak < x.nbytes + 24 * _blockwise.BLOCK * 8, peak
