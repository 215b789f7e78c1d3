"""Cases of VJP (singa/ops/vjp.py), the append_gradients pass's op: NumPy references.

A VJP's operands are the differentiated op's inputs, its results and the
results' incoming gradients; the references are the hand-derived gradients.
"""

import numpy as np

from tests.ops.case import Case, rand

A, B = rand(4, 3, seed=21), rand(3, 5, seed=22)
DY = rand(4, 5, seed=23)
X = rand(2, 6, seed=24)


def ref_matmul(a, b, y, dy, **attrs):
    return [dy @ b.T, a.T @ dy]


def ref_matmul_b_only(a, b, y, dy, **attrs):
    return [a.T @ dy]


def ref_tanh_absent_dout(x, y, dy=None, **attrs):
    return [np.zeros_like(x)]  # nothing flowed back: zeros, not an error


def ref_split_one_dout(x, y0, y1, d0, d1, **attrs):
    return [np.concatenate([d0, np.zeros_like(y1)], axis=1)]


MATMUL = {"grad_of": "MatMul", "grad_needs": [1, 1], "grad_arity": [2, 1]}

CASES = [
    Case("VJP", [A, B, A @ B, DY], MATMUL, reference=ref_matmul, outputs=2, grad=False,
         id="matmul_both"),
    Case("VJP", [A, B, A @ B, DY], dict(MATMUL, grad_needs=[0, 1]),
         reference=ref_matmul_b_only, grad=False, id="matmul_b_only"),
    Case("VJP", [X, np.tanh(X), None], {"grad_of": "Tanh", "grad_needs": [1],
                                        "grad_arity": [1, 1]},
         reference=ref_tanh_absent_dout, grad=False, id="tanh_no_dout"),
    Case("VJP", [X, X[:, :3], X[:, 3:], X[:, :3] * 2, X[:, 3:] * 0],
         {"grad_of": "Split", "grad_needs": [1], "grad_arity": [1, 2], "axis": 1,
          "num_outputs": 2},
         reference=ref_split_one_dout, grad=False, id="split_attrs_ride_along"),
]
