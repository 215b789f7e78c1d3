"""Cases of the recurrent ops RNN, GRU and LSTM (ops/recurrent.py).

onnxruntime is the forward reference for the time-major layout; it rejects
``layout=1``, so those cases use the float64 reference of ``_rnn_reference``.
"""

import functools

import numpy as np

from tests.ops._rnn_reference import GATES, reference
from tests.ops.case import Case, rand

T, BATCH, IN, HID = 5, 3, 4, 3
LENS = np.array([5, 2, 0], dtype=np.int32)  # full, short and empty sequences


def weights(op, D, seed, layout=0, states=1, peepholes=False):
    """[X, W, R, B, sequence_lens(None), initial_h(, initial_c)(, P)]."""
    g = GATES[op]
    x = rand(BATCH, T, IN, seed=seed) if layout else rand(T, BATCH, IN, seed=seed)
    state = (BATCH, D, HID) if layout else (D, BATCH, HID)
    ins = [x, rand(D, g * HID, IN, seed=seed + 1), rand(D, g * HID, HID, seed=seed + 2),
           rand(D, 2 * g * HID, seed=seed + 3), None]
    ins += [rand(*state, seed=seed + 4 + k) for k in range(states)]
    if peepholes:
        ins.append(rand(D, 3 * HID, seed=seed + 9))
    return ins


def with_lens(ins, lens=LENS):
    ins = list(ins)
    ins[4] = lens
    return ins


def A(**attrs):
    """Node attributes; onnxruntime insists on hidden_size."""
    return {"hidden_size": HID, **attrs}


def ref(op):
    return functools.partial(reference, op)


CASES = [
    # RNN
    Case("RNN", weights("RNN", 1, 10)[:3], A(), id="defaults", outputs=2),
    Case("RNN", weights("RNN", 1, 11), A(direction="reverse"), id="reverse_bias_h0", outputs=2),
    Case("RNN", with_lens(weights("RNN", 2, 12)), A(direction="bidirectional", clip=0.5),
         id="bidirectional_lens_clip", outputs=2),
    Case("RNN", weights("RNN", 2, 13),
         A(direction="bidirectional", activations=["LeakyRelu", "Softsign"],
           activation_alpha=[0.2]), id="activations_per_direction", outputs=2),
    Case("RNN", with_lens(weights("RNN", 2, 14, layout=1)),
         A(direction="bidirectional", layout=1), reference=ref("RNN"), id="batchwise",
         outputs=2),
    # GRU
    Case("GRU", weights("GRU", 1, 20)[:3], A(), id="defaults", outputs=2),
    Case("GRU", with_lens(weights("GRU", 2, 21)),
         A(direction="bidirectional", linear_before_reset=1), id="bidirectional_lbr_lens",
         outputs=2),
    Case("GRU", weights("GRU", 1, 22), A(direction="reverse", clip=0.6), id="reverse_clip",
         outputs=2),
    Case("GRU", with_lens(weights("GRU", 1, 23)), A(clip=0.6, linear_before_reset=1),
         id="lbr_clip_lens", outputs=2),
    Case("GRU", weights("GRU", 1, 24),
         A(activations=["HardSigmoid", "Elu"], activation_alpha=[0.3, 0.7],
           activation_beta=[0.45]), id="hardsigmoid_elu", outputs=2),
    Case("GRU", with_lens(weights("GRU", 2, 25, layout=1)),
         A(direction="bidirectional", layout=1), reference=ref("GRU"), id="batchwise",
         outputs=2),
    # LSTM
    Case("LSTM", weights("LSTM", 1, 30)[:3], A(), id="defaults", outputs=3),
    Case("LSTM", weights("LSTM", 1, 31, states=2, peepholes=True), A(), id="peepholes_states",
         outputs=3),
    Case("LSTM", with_lens(weights("LSTM", 2, 32, states=2, peepholes=True)),
         A(direction="bidirectional", clip=0.5), id="bidirectional_lens_clip", outputs=3),
    Case("LSTM", weights("LSTM", 1, 33, states=2, peepholes=True),
         A(direction="reverse", input_forget=1), id="reverse_input_forget", outputs=3),
    Case("LSTM", weights("LSTM", 1, 34, states=2),
         A(activations=["Sigmoid", "Softplus", "ScaledTanh"], activation_alpha=[1.5],
           activation_beta=[0.8]), id="softplus_scaledtanh", outputs=3),
    Case("LSTM", weights("LSTM", 1, 35)[:3] + [None, None, None, None, rand(1, 3 * HID, seed=3)],
         A(), id="peepholes_only", outputs=3),
    Case("LSTM", with_lens(weights("LSTM", 2, 36, layout=1, states=2, peepholes=True)),
         A(direction="bidirectional", layout=1), reference=ref("LSTM"), id="batchwise",
         outputs=3),
]
