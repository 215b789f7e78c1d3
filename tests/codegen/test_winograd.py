"""3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (codegen/winograd.py),
against the convolution's definition in float64."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from singa import sonnx
from singa.codegen import host, winograd

pytestmark = pytest.mark.skipif(host.usable() is not None, reason="no usable C compiler")


def _conv(x, w, b=None, **attrs):
    """The c target's Conv of x by w (inputs), with ``b`` a bias (a weight) and a
    ReLU after it; its result and the plan's kernels."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, w.shape)]
    if b is None:
        nodes, inits = [helper.make_node("Conv", ["x", "w"], ["y"], **attrs)], []
    else:
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], **attrs),
                 helper.make_node("Relu", ["c"], ["y"])]
        inits = [helper.make_tensor("b", TensorProto.FLOAT, b.shape, b)]
    g = helper.make_graph(nodes, "g", inputs,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    rep = sonnx.prepare(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
                        target="c")
    y = rep.run([x, w])[0].numpy()
    plan = next(iter(rep.executor._cache.values())).plan
    return y, [s.kernel.base for s in plan.steps if s.kernel is not None]


def _reference(x, w, pads):
    """The definition: a sum over the 9 taps of shifted images, in float64."""
    top, left, bottom, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    w64 = w.astype(np.float64)
    return np.stack([sum(np.tensordot(w64[:, :, r, s], img[:, r:r + oh, s:s + ow], 1)
                         for r in range(3) for s in range(3)) for img in xp])


CASES = [((1, 32, 16, 16), 40, [1, 1, 1, 1]),  # 8x8 tiles, the fewest for small filters
         ((2, 33, 17, 23), 35, [1, 0, 2, 1]),  # two images, pads of every size
         ((1, 32, 19, 21), 37, [1, 1, 1, 1]),  # odd outputs: the last tiles cut
         ((1, 40, 20, 20), 32, [0, 0, 0, 0]),  # no padding
         ((1, 300, 16, 16), 33, [1, 1, 1, 1]),  # channels over one block of the product
         ((1, 128, 14, 14), 128, [1, 1, 1, 1]),  # 49 tiles of mid-sized filters
         ((1, 256, 13, 13), 384, [1, 1, 1, 1]),  # 49 tiles, 2^16 to 2^17 pairs (YOLO's)
         ((2, 256, 13, 13), 768, [1, 1, 1, 1]),  # 2^17.6 pairs, two images
         ((1, 16, 32, 32), 64, [1, 1, 1, 1]),  # 16 channels over 256 tiles
         ((3, 32, 16, 16), 32, [1, 1, 1, 1])]  # 24 tile rows: two threads split an image


@pytest.mark.parametrize("sx,m,pads", CASES)
def test_matches_the_definition(sx, m, pads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(sx).astype(np.float32)
    w = rng.standard_normal((m, sx[1], 3, 3)).astype(np.float32)
    y, kernels = _conv(x, w, pads=pads)
    assert kernels == ["conv_winograd"], kernels
    ref = _reference(x, w, pads)
    assert y.shape == ref.shape
    # F(2x2, 3x3) adds up to 4 transformed terms each way: a few roundings more
    tol = 16 * np.finfo(np.float32).eps * 9 * sx[1] * max(1.0, np.abs(ref).max())
    assert np.abs(y - ref).max() <= tol


@pytest.mark.parametrize("sx,m,attrs", [
    ((1, 32, 12, 12), 32, {"pads": [1, 1, 1, 1]}),  # 36 tiles
    ((1, 96, 14, 14), 400, {"pads": [1, 1, 1, 1]}),  # 49 tiles of few channels
    ((1, 16, 30, 30), 32, {"pads": [1, 1, 1, 1]}),  # 16 channels, 32 filters
    ((1, 16, 28, 28), 64, {"pads": [1, 1, 1, 1]}),  # 16 channels over 196 tiles
    ((1, 48, 13, 13), 192, {"pads": [1, 1, 1, 1]}),  # 49 tiles of few channels
    ((1, 32, 30, 30), 16, {"pads": [1, 1, 1, 1]}),  # 16 filters
    ((1, 32, 30, 30), 32, {"strides": [2, 2]}),
    ((1, 32, 30, 30), 32, {"dilations": [2, 2]})])
def test_the_rest_take_the_direct_product(sx, m, attrs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(sx).astype(np.float32)
    w = rng.standard_normal((m, sx[1], 3, 3)).astype(np.float32)
    _, kernels = _conv(x, w, **attrs)
    assert kernels == ["conv_gemm"], kernels


@pytest.mark.parametrize("channels,filters,images,out,want", [
    (512, 1024, 1, (13, 13), True), (1024, 1024, 1, (13, 13), False),
    (1024, 1024, 2, (13, 13), True), (512, 512, 1, (14, 14), True),
    (96, 192, 8, (14, 14), False), (512, 512, 1, (7, 7), False)])
def test_few_tiles_take_winograd_by_channel_filter_pairs_an_image(channels, filters, images,
                                                                   out, want):
    # at 49 tiles: from 128 channels, up to 2^19 channel-filter pairs an image
    # (the filters are transformed once a batch)
    assert winograd.eligible((3, 3), (1, 1), (1, 1), out, channels, filters, images) is want


def test_transformed_data_past_the_cap_fall_back_to_the_direct_product():
    """256 channels of 128x128 need 39M floats of transformed data, over
    winograd.SCRATCH_MAX: the same kernel makes the direct product instead."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 256, 128, 128)).astype(np.float32)
    w = rng.standard_normal((256, 256, 3, 3)).astype(np.float32) / 16
    t = 64 * 64
    need = 16 * 256 * 256 + 2 * 16 * 256 * t + 2 * 256 * 130 * 65
    assert need > winograd.SCRATCH_MAX
    y, kernels = _conv(x, w, pads=[1, 1, 1, 1])
    assert kernels == ["conv_winograd"]
    ref = _reference(x, w, [1, 1, 1, 1])
    assert np.abs(y - ref).max() <= 4 * np.finfo(np.float32).eps * 2304 * np.abs(ref).max()


PARTS_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_winograd import _conv, _reference
out = []
for sx, m, bias in {cases!r}:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(sx).astype(np.float32)
    w = rng.standard_normal((m, sx[1], 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if bias else None
    y, kernels = _conv(x, w, pads=[1, 1, 1, 1], b=b)
    ref = _reference(x, w, [1, 1, 1, 1])
    if bias:
        ref = np.maximum(ref + b[:, None, None], 0)
    tol = 16 * np.finfo(np.float32).eps * 9 * sx[1] * max(1.0, np.abs(ref).max())
    out.append([kernels, list(y.shape) == list(ref.shape) and float(np.abs(y - ref).max()) / tol])
print(json.dumps(out))
"""


def test_parts_on_three_threads():
    """Three threads: parts of tile rows that begin and end inside an image (rows
    counted over the batch), the last one cut short; parts of filters that end in
    a ragged panel; the fused bias and ReLU on each part's rows.  (Two threads
    split the cases above in halves.)"""
    import json
    import os
    import subprocess
    import sys

    cases = [((2, 32, 18, 18), 32, False),  # 18 tile rows: 6 each, the 2nd spans both images
             ((2, 32, 17, 19), 40, True),  # the last tile row half cut
             ((1, 128, 14, 14), 140, True),  # 18 panels of filters, 6 each, the last of 4
             ((2, 64, 16, 16), 32, True)]  # 16 tile rows: 5, 5 and 6
    script = PARTS_SCRIPT.format(tests=os.path.dirname(__file__), cases=cases)
    env = dict(os.environ, OMP_NUM_THREADS="3")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for (sx, m, bias), (kernels, err) in zip(cases, json.loads(r.stdout.splitlines()[-1])):
        want = ["conv_winograd_add_relu"] if bias else ["conv_winograd"]
        assert kernels == want, (sx, kernels)
        assert err is not False and err <= 1.0, (sx, m, err)


def test_chunks_of_tile_rows(monkeypatch):
    """Images whose V and P pass winograd.CHUNK floats are made a few tile rows at
    a time: here 3 rows of 8 (3, 3 and 2 per image; the parts of two threads
    end inside one), with the epilogue on each chunk's rows."""
    sx, m = (3, 32, 16, 16), 40
    monkeypatch.setattr(winograd, "CHUNK", 16 * (sx[1] + m) * 8 * 3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(sx).astype(np.float32)
    w = rng.standard_normal((m, sx[1], 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    y, kernels = _conv(x, w, b=b, pads=[1, 1, 1, 1])
    assert kernels == ["conv_winograd_add_relu"], kernels
    ref = np.maximum(_reference(x, w, [1, 1, 1, 1]) + b[:, None, None], 0)
    tol = 16 * np.finfo(np.float32).eps * 9 * sx[1] * max(1.0, np.abs(ref).max())
    assert np.abs(y - ref).max() <= tol
