"""Cases of PRelu (singa/ops/prelu.py), in its broadcasting form and its opset 1-6
per-channel form.

onnxruntime has no PRelu kernel before opset 7, and onnx's reference evaluator
guesses the channel axis by size, so the old form is checked against NumPy in
float64 with the slope laid along axis 1, as the opset 6 spec describes it.
Integer PRelu (opset 9 on) has no onnxruntime kernel either: pinned to opset 16,
the cases fall back to onnx's reference evaluator.
"""

import numpy as np

from tests.ops.case import Case, rand

A = rand(2, 3, 4)
X4 = rand(2, 3, 4, 5, seed=21)
# three channels and a last dim of three: NumPy's rules would put the slope there
AMBIGUOUS = rand(2, 3, 4, 3, seed=22)
SLOPE3 = np.array([0.1, -0.5, 2.0], np.float32)


def per_channel(x, slope, **attrs):
    """The opset 1-6 reading: a slope of size 1 shared, else one value per channel."""
    s = slope.reshape(-1) if slope.size == 1 else slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return [np.where(x >= 0, x, s * x)]


CASES = [
    Case("PRelu", [A, np.array([0.1, 0.2, 0.3, 0.4], np.float32)], id="slope_row"),
    Case("PRelu", [A, rand(3, 1, seed=11)], id="slope_col"),
    Case("PRelu", [A, rand(2, 3, 4, seed=12)], id="slope_full"),
    Case("PRelu", [X4, rand(3, 1, 1, seed=13)], opset=7, id="opset7_channel_as_col"),
    Case("PRelu", [A.astype(np.float64), rand(4, dtype=np.float64, seed=14)], id="float64"),
    Case("PRelu", [np.array([[-3, 0, 5], [7, -2, -9]], np.int32), np.array([2, -1, 3], np.int32)],
         opset=16, id="int32"),
    Case("PRelu", [np.array([[-3, 0, 5], [7, -2, -9]], np.int64), np.array([2], np.int64)],
         opset=16, id="int64"),
    Case("PRelu", [A, SLOPE3], opset=6, reference=per_channel, id="opset6_per_channel"),
    Case("PRelu", [X4, SLOPE3], opset=6, reference=per_channel, id="opset6_per_channel_4d"),
    Case("PRelu", [AMBIGUOUS, SLOPE3], opset=6, reference=per_channel,
         id="opset6_channels_equal_last_dim"),
    Case("PRelu", [X4, np.array([0.25], np.float32)], opset=6, reference=per_channel,
         id="opset6_shared"),
    Case("PRelu", [A, SLOPE3], {"consumed_inputs": [0]}, opset=1, reference=per_channel,
         id="opset1"),
]
