"""Behaviour of the nn ops that the table-wide harness cannot express: random
ops, training-mode statistics, ties, chunked batches and error messages."""

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from singa.errors import ShapeError
from singa.ops import OPS
from singa.ops import _columns as columns
from tests.ops.case import rand


def run(op, inputs, attrs=None, opset=None):
    d = OPS[op]
    attrs = dict(attrs or {})
    inputs = list(inputs)
    if opset is not None and d.adapt:
        attrs, extra = d.adapt(attrs, opset)
        for i, v in extra.items():
            inputs += [None] * (i + 1 - len(inputs))
            inputs[i] = v
    return d.run(np, inputs, attrs), d.attrs(attrs), inputs


# ------------------------------------------------------------------ BatchNormalization

def test_batchnorm_training_running_statistics():
    x = rand(8, 3, 4, 5, seed=1) * 3 + 1
    scale, b, mean, var = rand(3, seed=2), rand(3, seed=3), rand(3, seed=4), rand(3, seed=5) + 2
    mom, eps = 0.7, 1e-3
    y, rm, rv, bm, bv = run("BatchNormalization", [x, scale, b, mean, var],
                            {"training_mode": 1, "momentum": mom, "epsilon": eps})[0]
    x64 = x.astype(np.float64)
    batch_mean = x64.mean(axis=(0, 2, 3))
    batch_var = x64.var(axis=(0, 2, 3))  # biased, as the ONNX reference
    np.testing.assert_allclose(rm, mean * mom + batch_mean * (1 - mom), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, var * mom + batch_var * (1 - mom), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bm, batch_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bv, batch_var, rtol=1e-5, atol=1e-6)
    c = (1, 3, 1, 1)
    want = (x64 - batch_mean.reshape(c)) / np.sqrt(batch_var.reshape(c) + eps) \
        * scale.reshape(c) + b.reshape(c)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    assert {a.dtype for a in (y, rm, rv, bm, bv)} == {np.dtype(np.float32)}

    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"],
                            training_mode=1, momentum=mom, epsilon=eps)
    ref = ReferenceEvaluator(node).run(None, {"x": x, "s": scale, "b": b, "m": mean, "v": var})
    for got, want in zip((y, rm, rv), ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_batchnorm_old_opsets_run_in_inference_mode():
    x, s, b, m, v = rand(4, 3, 5, seed=1), rand(3, seed=2), rand(3, seed=3), rand(3, seed=4), \
        rand(3, seed=5) + 1
    for opset in (6, 7, 9):
        out, attrs, _ = run("BatchNormalization", [x, s, b, m, v],
                            {"epsilon": 0.1, "spatial": 1, "is_test": 0}, opset=opset)
        assert attrs["training_mode"] == 0 and "spatial" not in attrs
        want = (x - m[:, None]) / np.sqrt(v[:, None] + 0.1) * s[:, None] + b[:, None]
        np.testing.assert_allclose(out[0], want, rtol=1e-5, atol=1e-6)
        # statistic outputs of the old 5-output form pass the inputs through
        np.testing.assert_array_equal(out[1], m)
        np.testing.assert_array_equal(out[2], v)


def test_batchnorm_spatial0_per_activation():
    x = rand(4, 3, 5, seed=1)
    s, b, m, v = rand(3, 5, seed=2), rand(3, 5, seed=3), rand(3, 5, seed=4), rand(3, 5, seed=5) + 1
    out, _, _ = run("BatchNormalization", [x, s, b, m, v], {"spatial": 0}, opset=7)
    np.testing.assert_allclose(out[0], (x - m) / np.sqrt(v + 1e-5) * s + b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ Dropout

def test_dropout_training_mask_statistics_and_scaling():
    x = rand(200, 300, seed=1)
    np.random.seed(3)
    y, mask = run("Dropout", [x, np.array(0.3, np.float32), np.array(True)])[0]
    assert mask.dtype == np.bool_ and y.dtype == np.float32
    kept = mask.mean()
    # 60000 Bernoulli(0.7) draws: the kept fraction is within ~5 sigma of 0.7
    assert abs(kept - 0.7) < 5 * np.sqrt(0.7 * 0.3 / mask.size)
    np.testing.assert_allclose(y, np.where(mask, x / 0.7, 0), rtol=1e-6)


def test_dropout_identity_outside_training_and_for_ratio0():
    x = rand(5, 6, seed=1)
    for inputs in ([x], [x, np.array(0.5, np.float32)],
                   [x, np.array(0.5, np.float32), np.array(False)],
                   [x, np.array(0.0, np.float32), np.array(True)]):
        y, mask = run("Dropout", inputs)[0]
        np.testing.assert_array_equal(y, x)
        assert mask.dtype == np.bool_ and mask.all()
        dy = rand(5, 6, seed=2)
        g = OPS["Dropout"].grad(np, inputs, [y, mask], [dy, np.zeros_like(mask)], {})
        np.testing.assert_array_equal(g[0], dy)


def test_dropout_seed_matches_onnx_reference_and_repeats():
    x = rand(7, 9, seed=1)
    ins = [x, np.array(0.4, np.float32), np.array(True)]
    y1, m1 = run("Dropout", ins, {"seed": 5})[0]
    np.random.seed(0)  # the seed attribute, not the global state, decides the mask
    y2, m2 = run("Dropout", ins, {"seed": 5})[0]
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(y1, y2)
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y", "m"], seed=5)
    ref = ReferenceEvaluator(node).run(None, {"x": x, "r": ins[1], "t": ins[2]})
    np.testing.assert_array_equal(m1, ref[1])
    np.testing.assert_allclose(y1, ref[0], rtol=1e-6)


def test_dropout_unseeded_follows_numpy_global_state():
    x = rand(30, 30, seed=1)
    ins = [x, np.array(0.5, np.float32), np.array(True)]
    np.random.seed(11)
    m1 = run("Dropout", ins)[0][1]
    m2 = run("Dropout", ins)[0][1]
    np.random.seed(11)
    m3 = run("Dropout", ins)[0][1]
    np.testing.assert_array_equal(m1, m3)
    assert (m1 != m2).any()


def test_dropout_grad_uses_the_mask():
    x = rand(6, 8, seed=1)
    ins = [x, np.array(0.25, np.float32), np.array(True)]
    np.random.seed(2)
    y, mask = run("Dropout", ins)[0]
    dy = rand(6, 8, seed=3)
    g = OPS["Dropout"].grad(np, ins, [y, mask], [dy, np.zeros_like(mask)], {})
    np.testing.assert_allclose(g[0], dy * mask / 0.75, rtol=1e-6)
    assert g[0].dtype == np.float32 and g[1] is None and g[2] is None


def test_dropout_opset10_ratio_attribute():
    (y, mask), attrs, inputs = run("Dropout", [rand(4, 4)], {"ratio": 0.2}, opset=10)
    assert "ratio" not in attrs and float(inputs[1]) == pytest.approx(0.2)
    np.testing.assert_array_equal(y, rand(4, 4))  # no training_mode before opset 12


def test_dropout_bad_ratio():
    with pytest.raises(ShapeError, match="ratio"):
        run("Dropout", [rand(3), np.array(1.0, np.float32), np.array(True)])


# ------------------------------------------------------------------ MaxPool

def _naive_maxpool_grad(x, dy, k, s):
    """First-max routing, one window at a time (float64)."""
    dx = np.zeros_like(x, dtype=np.float64)
    n, c, oh, ow = dy.shape
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    win = x[a, b, i * s:i * s + k, j * s:j * s + k]
                    r, q = np.unravel_index(np.argmax(win), win.shape)
                    dx[a, b, i * s + r, j * s + q] += dy[a, b, i, j]
    return dx


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2)])
def test_maxpool_grad_routes_ties_to_the_first_max(k, s):
    x = np.maximum(rand(2, 3, 7, 7, seed=1), 0)  # ReLU output: many tied zeros
    x[0, 0, :3, :3] = 0.5
    attrs = {"kernel_shape": [k, k], "strides": [s, s]}
    y = run("MaxPool", [x], attrs)[0]
    dy = rand(*y[0].shape, seed=2)
    want = _naive_maxpool_grad(x, dy, k, s)
    g = OPS["MaxPool"].grad(np, [x], y, [dy], OPS["MaxPool"].attrs(attrs))[0]
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)
    # through the Indices output, when the node has it
    a2 = dict(attrs, _num_outputs=2)
    y2 = run("MaxPool", [x], a2)[0]
    g2 = OPS["MaxPool"].grad(np, [x], y2, [dy, np.zeros_like(y2[1])],
                             OPS["MaxPool"].attrs(a2))[0]
    np.testing.assert_allclose(g2, want, rtol=1e-6, atol=1e-6)
    assert g.dtype == g2.dtype == np.float32


def test_maxpool_returns_indices_only_when_asked():
    x = rand(1, 2, 4, 4)
    assert len(run("MaxPool", [x], {"kernel_shape": [2, 2]})[0]) == 1
    y, idx = run("MaxPool", [x], {"kernel_shape": [2, 2], "_num_outputs": 2})[0]
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(x.reshape(-1)[idx], y)


# ------------------------------------------------------------------ LRN

def _naive_lrn(x, size, alpha, beta, bias):
    x = x.astype(np.float64)
    c = x.shape[1]
    out = np.empty_like(x)
    for i in range(c):
        lo = max(0, i - (size - 1) // 2)
        hi = min(c, i + int(np.ceil((size - 1) / 2)) + 1)
        out[:, i] = x[:, i] / (bias + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)) ** beta
    return out


@pytest.mark.parametrize("size", [2, 4, 3])
def test_lrn_matches_the_spec_for_even_sizes(size):
    # onnxruntime rejects even sizes; the spec window is [c - floor((s-1)/2), c + ceil((s-1)/2)]
    x = rand(2, 6, 3, 3, seed=1)
    attrs = {"size": size, "alpha": 0.3, "beta": 0.7, "bias": 1.5}
    y = run("LRN", [x], attrs)[0][0]
    np.testing.assert_allclose(y, _naive_lrn(x, **attrs), rtol=1e-5, atol=1e-6)
    x64 = x.astype(np.float64)
    dy = rand(*x.shape, seed=2).astype(np.float64)
    v = rand(*x.shape, seed=3).astype(np.float64)
    g = OPS["LRN"].grad(np, [x64], run("LRN", [x64], attrs)[0], [dy], OPS["LRN"].attrs(attrs))[0]
    eps = 1e-6
    fd = (np.sum(dy * _naive_lrn(x64 + eps * v, **attrs))
          - np.sum(dy * _naive_lrn(x64 - eps * v, **attrs))) / (2 * eps)
    assert np.sum(g * v) == pytest.approx(fd, rel=1e-6)


# ------------------------------------------------------------------ GroupNormalization

def test_groupnorm_opset18_per_group_affine():
    x = rand(2, 6, 4, seed=1)
    s, b = rand(3, seed=2), rand(3, seed=3)
    y = run("GroupNormalization", [x, s, b], {"num_groups": 3, "epsilon": 1e-3})[0][0]
    xr = x.astype(np.float64).reshape(2, 3, -1)
    xh = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + 1e-3))
    want = xh * s[None, :, None] + b[None, :, None]
    np.testing.assert_allclose(y, want.reshape(x.shape), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ Conv batching

@pytest.mark.parametrize("n", [5, 12])  # 12: batch-last columns
def test_conv_split_batch_gives_the_same_result(monkeypatch, n):
    x, w, b = rand(n, 3, 9, 9, seed=1), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)
    attrs = {"pads": [1, 1, 1, 1], "strides": [2, 1]}
    whole = run("Conv", [x, w, b], attrs)[0][0]
    dy = rand(*whole.shape, seed=4)
    g_whole = OPS["Conv"].grad(np, [x, w, b], [whole], [dy], OPS["Conv"].attrs(attrs))
    monkeypatch.setattr(columns, "COL_BUDGET", 3 * 9 * 9 * 2)  # two images per chunk
    assert len(columns.batch_chunks(n, 3 * 9 * 9)) == (n + 1) // 2
    split = run("Conv", [x, w, b], attrs)[0][0]
    g_split = OPS["Conv"].grad(np, [x, w, b], [split], [dy], OPS["Conv"].attrs(attrs))
    np.testing.assert_allclose(split, whole, rtol=1e-6, atol=1e-6)
    for a, c in zip(g_split, g_whole):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("op,inputs,attrs,match", [
    ("Conv", [rand(1, 3, 5, 5), rand(2, 4, 3, 3)], {}, "group"),
    ("Conv", [rand(1, 4, 5, 5), rand(3, 2, 3, 3)], {"group": 2}, "group"),
    ("Conv", [rand(1, 3, 2, 2), rand(2, 3, 3, 3)], {}, "larger than the padded input"),
    ("Conv", [rand(1, 3, 5, 5), rand(2, 3, 3, 3)], {"pads": [1, 1]}, "pads"),
    ("Conv", [rand(1, 3, 5, 5), rand(2, 3, 3)], {}, "weight"),
    ("Conv", [rand(3, 5), rand(2, 3, 3)], {}, "rank"),
    ("Conv", [rand(1, 3, 5, 5), rand(2, 3, 3, 3)], {"strides": [0, 1]}, "strides"),
    ("ConvTranspose", [rand(1, 3, 5), rand(2, 2, 3)], {}, "group"),
    ("MaxPool", [rand(1, 3, 5, 5)], {}, "kernel_shape"),
    ("AveragePool", [rand(1, 3, 5, 5)], {"kernel_shape": [3]}, "kernel_shape"),
    ("AveragePool", [rand(1, 3, 5, 5)], {"kernel_shape": [3, 3], "auto_pad": "SAME"}, "auto_pad"),
    ("BatchNormalization", [rand(2, 3, 4), rand(4), rand(4), rand(4), rand(4)], {}, "channels"),
    ("InstanceNormalization", [rand(2, 3, 4), rand(2), rand(2)], {}, "scale"),
    ("GroupNormalization", [rand(2, 6, 4), rand(6), rand(6)], {"num_groups": 4}, "num_groups"),
    ("LayerNormalization", [rand(2, 3), rand(3)], {"axis": 2}, "axis"),
    ("Resize", [rand(1, 2, 3, 3), None, np.array([2.0], np.float32)], {}, "scales"),
])
def test_bad_shapes_raise_shape_error(op, inputs, attrs, match):
    with pytest.raises(ShapeError, match=match):
        run(op, inputs, attrs)


def test_float32_stays_float32():
    x = rand(2, 3, 8, 8)
    w = rand(4, 3, 3, 3)
    ca = {"pads": [1, 1, 1, 1]}
    y = run("Conv", [x, w, rand(4)], ca)[0][0]
    assert y.dtype == np.float32
    g = OPS["Conv"].grad(np, [x, w, rand(4)], [y], [np.ones_like(y)], OPS["Conv"].attrs(ca))
    assert [a.dtype for a in g] == [np.float32] * 3
    for op, attrs in (("MaxPool", {"kernel_shape": [2, 2]}),
                      ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
                      ("LpPool", {"kernel_shape": [2, 2]})):
        yy = run(op, [x], attrs)[0]
        assert yy[0].dtype == np.float32
        gg = OPS[op].grad(np, [x], yy, [np.ones_like(yy[0])], OPS[op].attrs(attrs))
        assert gg[0].dtype == np.float32, op


def test_conv_column_cache_is_exact_and_released():
    x, w, b = rand(3, 4, 9, 9, seed=1), rand(5, 4, 3, 3, seed=2), rand(5, seed=3)
    a1 = OPS["Conv"].attrs({"pads": [1, 1, 1, 1]})
    a2 = OPS["Conv"].attrs({"strides": [2, 2]})
    y1 = OPS["Conv"].compute(np, [x, w, b], a1)
    y2 = OPS["Conv"].compute(np, [x, w, b], a2)  # same input, other geometry
    for a, y in ((a1, y1), (a2, y2)):
        dy = rand(*y[0].shape, seed=4)
        cached = OPS["Conv"].grad(np, [x, w, b], y, [dy], a)
        fresh = OPS["Conv"].grad(np, [x.copy(), w, b], y, [dy], a)
        for c, f in zip(cached, fresh):
            np.testing.assert_array_equal(c, f)
    OPS["Conv"].compute(np, [x, w, b], a1)
    assert id(x) in columns._cols
    key = id(x)
    del x
    import gc
    gc.collect()
    assert key not in columns._cols


def test_channel_major_results_chain_like_contiguous_ones():
    """Conv returns (N, C, ...) views of (C, N, ...) blocks on the CPU; every op
    downstream must give the same values and grads as on C-ordered copies."""
    x, w1, b1 = rand(4, 3, 10, 10, seed=1), rand(5, 3, 3, 3, seed=2), rand(5, seed=3)
    w2 = rand(6, 5, 2, 2, seed=4)
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    pads = {"pads": [1, 0, 1, 0]}

    def chain(copy):
        fix = np.ascontiguousarray if copy else (lambda a: a)
        y1 = OPS["Conv"].run(np, [x, w1, b1], pads)
        p1 = OPS["MaxPool"].run(np, [fix(y1[0])], pool)
        a1 = OPS["AveragePool"].run(np, [fix(y1[0])], {"kernel_shape": [3, 3],
                                                         "pads": [1, 1, 1, 1]})
        y2 = OPS["Conv"].run(np, [fix(p1[0]), w2], {})
        dy2 = rand(*y2[0].shape, seed=5)
        g2 = OPS["Conv"].grad(np, [fix(p1[0]), w2], y2, [dy2], OPS["Conv"].attrs({}))
        gp = OPS["MaxPool"].grad(np, [fix(y1[0])], p1, [fix(g2[0])],
                                 OPS["MaxPool"].attrs(pool))
        g1 = OPS["Conv"].grad(np, [x, w1, b1], y1, [fix(gp[0])], OPS["Conv"].attrs(pads))
        return [y1[0], p1[0], a1[0], y2[0], g2[0], g2[1], gp[0], *g1]

    for got, want in zip(chain(False), chain(True)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_conv_grad_skips_inputs_marked_not_needed():
    x, w, b = rand(3, 2, 7, 7, seed=1), rand(4, 2, 3, 3, seed=2), rand(4, seed=3)
    attrs = OPS["Conv"].attrs({"pads": [1, 1, 1, 1]})
    y = OPS["Conv"].compute(np, [x, w, b], attrs)
    dy = rand(*y[0].shape, seed=4)
    full = OPS["Conv"].grad(np, [x, w, b], y, [dy], attrs)
    part = OPS["Conv"].grad(np, [x, w, b], y, [dy], dict(attrs, _need_grads=(False, True, True)))
    assert part[0] is None
    np.testing.assert_array_equal(part[1], full[1])
    np.testing.assert_array_equal(part[2], full[2])


@pytest.mark.parametrize("op,inputs,attrs", [
    ("Conv", [rand(4, 3, 9, 9, seed=1), rand(5, 3, 3, 3, seed=2), rand(5, seed=3)],
     {"pads": [1, 0, 1, 2]}),
    ("Conv", [rand(10, 3, 6, 6, seed=1), rand(5, 3, 3, 3, seed=2)], {"strides": [2, 1]}),
    ("Conv", [rand(10, 1, 6, 6, seed=1), rand(5, 1, 3, 3, seed=2)], {}),
    ("Conv", [rand(4, 1, 9, 9, seed=1), rand(5, 1, 3, 3, seed=2), rand(5, seed=3)], {}),
    ("MaxPool", [rand(4, 3, 9, 9, seed=1)], {"kernel_shape": [3, 3], "strides": [2, 2]}),
    ("MaxPool", [rand(4, 3, 8, 8, seed=1)], {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("AveragePool", [rand(4, 3, 9, 9, seed=1)], {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0]}),
])
def test_threaded_steps_match_single_thread(monkeypatch, op, inputs, attrs):
    from singa.ops import _window

    def both():
        d = OPS[op]
        y = d.run(np, inputs, attrs)
        dy = [rand(*o.shape, seed=7) for o in y]
        return y + [g for g in d.grad(np, inputs, y, dy, d.attrs(attrs)) if g is not None]

    monkeypatch.setattr(_window, "PARALLEL_MIN", 1 << 60)
    single = both()
    monkeypatch.setattr(_window, "PARALLEL_MIN", 0)
    monkeypatch.setattr(_window, "op_threads", lambda: 3)
    threaded = both()
    for a, b in zip(threaded, single):
        np.testing.assert_array_equal(a, b)
