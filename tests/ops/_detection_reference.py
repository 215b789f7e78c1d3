"""Independent references for the detection and sampling cases where onnxruntime
has no kernel for the form tested (1-D/3-D DeformConv, N-d cubic GridSample, ...).

``onnx_ref`` runs onnx's own reference evaluator on one node; ``deform_conv`` is
a plain loop over every output element in float64, written from the ONNX
definition (bilinear samples, zero outside the input).
"""

from __future__ import annotations

import itertools

import numpy as np
from onnx import helper
from onnx.reference import ReferenceEvaluator


def onnx_ref(op, cast=None):
    """A ``Case.reference`` running onnx's reference evaluator on one ``op`` node;
    float inputs are handed over in float64 (``cast``: another dtype), absent
    inputs (None) stay absent."""

    def reference(*inputs, **attrs):
        names = [f"i{k}" if x is not None else "" for k, x in enumerate(inputs)]
        while names and not names[-1]:
            names.pop()
        node = helper.make_node(op, names, ["y"], **attrs)
        feeds = {}
        for name, x in zip(names, inputs):
            if x is None:
                continue
            x = np.asarray(x)
            if cast is not None and (x.dtype.kind == "f" or x.dtype.name == "bfloat16"):
                x = x.astype(cast)
            feeds[name] = x
        return ReferenceEvaluator(node).run(None, feeds)

    return reference


def _bilinear(img, pos):
    """img (spatial...) read at float position ``pos``, zero outside."""
    lo = np.floor(pos).astype(int)
    total = 0.0
    for corner in itertools.product((0, 1), repeat=len(pos)):
        idx = lo + np.array(corner)
        if np.any(idx < 0) or np.any(idx >= img.shape):
            continue
        w = np.prod([f if c else 1 - f for c, f in zip(corner, pos - lo)])
        total += w * img[tuple(idx)]
    return total


def deform_conv(x, w, offset, b=None, mask=None, *, group=1, offset_group=1,
                strides=None, pads=None, dilations=None, kernel_shape=None):
    """DeformConv by definition, one output element at a time."""
    n, c = x.shape[:2]
    oc, nd = w.shape[0], x.ndim - 2
    kernel = list(kernel_shape or w.shape[2:])
    strides = strides or [1] * nd
    dilations = dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    out = offset.shape[2:]
    taps = list(itertools.product(*[range(k) for k in kernel]))
    off = offset.reshape((n, offset_group, len(taps), nd) + out)
    y = np.zeros((n, oc) + out)
    cg, ocg, cog = c // group, oc // group, c // offset_group
    for bi, o, oi in itertools.product(range(n), range(oc), np.ndindex(*out)):
        g = o // ocg
        acc = 0.0 if b is None else b[o]
        for ci in range(g * cg, (g + 1) * cg):
            og = ci // cog
            for t, tap in enumerate(taps):
                pos = np.array([oi[a] * strides[a] - pads[a] + tap[a] * dilations[a]
                                + off[(bi, og, t, a) + oi] for a in range(nd)])
                v = _bilinear(x[bi, ci], pos)
                if mask is not None:
                    v *= mask[(bi, og * len(taps) + t) + oi]
                acc += w[(o, ci - g * cg) + tap] * v
        y[(bi, o) + oi] = acc
    return [y]
