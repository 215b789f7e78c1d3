"""A plain float64 reference for ONNX RNN, GRU and LSTM, written from the spec's
equations: one batch entry, one direction and one time step at a time.

What the spec leaves open follows onnxruntime (checked against it in
``test_recurrent.py``): entries past ``sequence_lens`` output zeros and keep
their state, entries of length 0 end in zero states, the clip bounds every gate
pre-activation (peephole terms included) but not the cell state, and
``activation_alpha``/``beta`` are consumed in order by the functions that take
them (defaults: those of the ONNX operators of the same name).
"""

from __future__ import annotations

import numpy as np

# name -> (function of (x, alpha, beta), takes alpha, takes beta, alpha, beta)
ACTIVATIONS = {
    "Relu": (lambda x, a, b: np.maximum(x, 0.0), False, False, 0.0, 0.0),
    "Tanh": (lambda x, a, b: np.tanh(x), False, False, 0.0, 0.0),
    "Sigmoid": (lambda x, a, b: 1.0 / (1.0 + np.exp(-x)), False, False, 0.0, 0.0),
    "Affine": (lambda x, a, b: a * x + b, True, True, 1.0, 0.0),
    "LeakyRelu": (lambda x, a, b: np.where(x >= 0, x, a * x), True, False, 0.01, 0.0),
    "ThresholdedRelu": (lambda x, a, b: np.where(x > a, x, 0.0), True, False, 1.0, 0.0),
    "ScaledTanh": (lambda x, a, b: a * np.tanh(b * x), True, True, 1.0, 1.0),
    "HardSigmoid": (lambda x, a, b: np.minimum(np.maximum(a * x + b, 0.0), 1.0),
                    True, True, 0.2, 0.5),
    "Elu": (lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1.0)), True, False, 1.0, 0.0),
    "Softsign": (lambda x, a, b: x / (1.0 + np.abs(x)), False, False, 0.0, 0.0),
    "Softplus": (lambda x, a, b: np.logaddexp(0.0, x), False, False, 0.0, 0.0),
}

DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _functions(op, attrs, num_directions):
    names = list(attrs.get("activations") or DEFAULT_ACTIVATIONS[op] * num_directions)
    if len(names) == len(DEFAULT_ACTIVATIONS[op]) and num_directions == 2:
        names = names * 2
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    out = []
    for name in names:
        fn, takes_a, takes_b, a, b = ACTIVATIONS[name]
        if takes_a and alphas:
            a = alphas.pop(0)
        if takes_b and betas:
            b = betas.pop(0)
        out.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
    k = len(DEFAULT_ACTIVATIONS[op])
    return [out[d * k:(d + 1) * k] for d in range(num_directions)]


def reference(op, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None,
              **attrs):
    """[Y, Y_h] (RNN, GRU) or [Y, Y_h, Y_c] (LSTM) in float64."""
    layout = attrs.get("layout", 0)
    X = np.asarray(X, np.float64)
    if layout:
        X = X.transpose(1, 0, 2)
        initial_h = None if initial_h is None else np.asarray(initial_h).transpose(1, 0, 2)
        initial_c = None if initial_c is None else np.asarray(initial_c).transpose(1, 0, 2)
    T, batch, _ = X.shape
    D = 2 if attrs.get("direction") == "bidirectional" else 1
    H = R.shape[-1]
    G = GATES[op]
    B = np.zeros((D, 2 * G * H)) if B is None else np.asarray(B, np.float64)
    P = np.zeros((D, 3 * H)) if P is None else np.asarray(P, np.float64)
    h0 = np.zeros((D, batch, H)) if initial_h is None else np.asarray(initial_h, np.float64)
    c0 = np.zeros((D, batch, H)) if initial_c is None else np.asarray(initial_c, np.float64)
    lens = [T] * batch if sequence_lens is None else [int(n) for n in sequence_lens]
    clip = attrs.get("clip")
    clamp = (lambda v: v) if clip is None else (lambda v: np.clip(v, -clip, clip))
    funcs = _functions(op, attrs, D)

    Y = np.zeros((T, D, batch, H))
    Y_h = np.zeros((D, batch, H))
    Y_c = np.zeros((D, batch, H))
    for d in range(D):
        reverse = attrs.get("direction") == "reverse" or d == 1
        w, r = np.asarray(W[d], np.float64), np.asarray(R[d], np.float64)
        wb, rb = B[d, :G * H], B[d, G * H:]
        for b in range(batch):
            n = lens[b]
            h, c = h0[d, b].copy(), c0[d, b].copy()
            steps = range(n - 1, -1, -1) if reverse else range(n)
            for t in steps:
                x = X[t, b]
                if op == "RNN":
                    (f,) = funcs[d]
                    h = f(clamp(w @ x + r @ h + wb + rb))
                elif op == "GRU":
                    f, g = funcs[d]
                    wz, wr, wh = np.split(w, 3)
                    rz, rr, rh = np.split(r, 3)
                    wbz, wbr, wbh = np.split(wb, 3)
                    rbz, rbr, rbh = np.split(rb, 3)
                    z = f(clamp(wz @ x + rz @ h + wbz + rbz))
                    rt = f(clamp(wr @ x + rr @ h + wbr + rbr))
                    if attrs.get("linear_before_reset", 0):
                        hh = g(clamp(wh @ x + rt * (rh @ h + rbh) + wbh))
                    else:
                        hh = g(clamp(wh @ x + rh @ (rt * h) + rbh + wbh))
                    h = (1 - z) * hh + z * h
                else:
                    f, g, hf = funcs[d]
                    wi, wo, wf, wc = np.split(w, 4)
                    ri, ro, rf, rc = np.split(r, 4)
                    bi, bo, bf, bc = np.split(wb + rb, 4)
                    pi, po, pf = np.split(P[d], 3)
                    i = f(clamp(wi @ x + ri @ h + pi * c + bi))
                    if attrs.get("input_forget", 0):
                        ft = 1 - i
                    else:
                        ft = f(clamp(wf @ x + rf @ h + pf * c + bf))
                    ct = g(clamp(wc @ x + rc @ h + bc))
                    c = ft * c + i * ct
                    o = f(clamp(wo @ x + ro @ h + po * c + bo))
                    h = o * hf(c)
                Y[t, d, b] = h
            if n > 0:
                Y_h[d, b], Y_c[d, b] = h, c
    outs = [Y, Y_h, Y_c] if op == "LSTM" else [Y, Y_h]
    if layout:
        outs = [Y.transpose(2, 0, 1, 3)] + [s.transpose(1, 0, 2) for s in outs[1:]]
    return outs
