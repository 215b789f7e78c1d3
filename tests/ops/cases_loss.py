"""Cases of the losses (singa/ops/loss.py); singa's own losses check against NumPy."""

import numpy as np

from tests.ops.case import Case, rand

N, C = 4, 5
LOGITS = rand(N, C) * 3
LABELS = np.array([1, 0, 4, 2], np.int64)
ONEHOT = np.eye(C, dtype=np.float32)[LABELS]
SOFT = rand(N, C, low=0.1, high=1.0, seed=3)
SOFT = SOFT / SOFT.sum(1, keepdims=True)
PROBS = rand(N, C, low=0.05, high=1.0, seed=4)
PROBS = PROBS / PROBS.sum(1, keepdims=True)


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def ref_sce(x, t):
    return [np.array([-(t * _log_softmax(x)).sum() / x.shape[0]])]


def ref_ce(x, t):
    return [np.array([-(t * np.log(x)).sum() / x.shape[0]])]


SCORES = rand(3, 4, 2, 2) * 2
SPATIAL = np.array([[[0, 1], [3, 2]], [[1, 1], [0, 3]], [[2, -1], [3, 0]]], np.int64)
W = np.array([0.5, 1.0, 2.0, 1.5], np.float32)

CASES = [
    Case("SoftmaxCrossEntropy", [LOGITS, ONEHOT], reference=ref_sce, id="onehot"),
    Case("SoftmaxCrossEntropy", [LOGITS, SOFT], reference=ref_sce, id="soft"),
    Case("SoftmaxCrossEntropy", [LOGITS.astype(np.float64), ONEHOT.astype(np.float64)],
         reference=ref_sce, id="f64"),
    Case("SoftmaxCrossEntropy", [LOGITS * 100, ONEHOT], reference=ref_sce, id="large",
         rtol=1e-4),
    Case("CrossEntropy", [PROBS, ONEHOT], reference=ref_ce, id="onehot"),
    Case("CrossEntropy", [PROBS, SOFT], reference=ref_ce, id="soft"),
]
for op, x in (("SoftmaxCrossEntropyLoss", SCORES), ("NegativeLogLikelihoodLoss",
                                                     np.log(np.abs(SCORES) + 0.1))):
    outs = 2 if op == "SoftmaxCrossEntropyLoss" else 1
    lab = np.where(SPATIAL < 0, 0, SPATIAL)
    CASES += [
        Case(op, [x[:, :, 0, 0], lab[:, 0, 0]], id="2d_mean", outputs=outs),
        Case(op, [x, lab], {"reduction": "sum"}, id="spatial_sum", outputs=outs),
        Case(op, [x, lab], {"reduction": "none"}, id="spatial_none", outputs=outs),
        Case(op, [x, lab, W], id="weights_mean", outputs=outs),
        Case(op, [x, SPATIAL, W], {"ignore_index": -1}, id="ignore_weights", outputs=outs),
        Case(op, [x, SPATIAL], {"ignore_index": -1, "reduction": "none"}, id="ignore_none",
             outputs=outs),
        Case(op, [x.astype(np.float64), lab.astype(np.int32)], id="f64_i32", outputs=outs),
    ]
CASES.append(Case("SoftmaxCrossEntropyLoss", [SCORES, np.where(SPATIAL < 0, 0, SPATIAL)],
                  {"ignore_index": 3},
                  id="ignore_valid_class", outputs=2))
