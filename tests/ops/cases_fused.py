"""Cases of FusedElementwise (singa/ops/fused.py), the fuse pass's op: NumPy references."""

import numpy as np

from tests.ops.case import Case, rand

A, B = rand(4, 3, seed=11), rand(4, 3, seed=12)
ROW = rand(3, seed=13)

# relu(a * b + row): the inputs are numbered 0..2, body results 3, 4, 5
MUL_ADD_RELU = {"body_ops": ["Mul", "Add", "Relu"], "body_args": [[0, 1], [3, 2], [4]],
                "body_attrs": [[], [], []]}
# leaky_relu(sigmoid(a) * a, alpha=0.2) - a: an input read twice, an attribute
SWISH_LEAKY = {"body_ops": ["Sigmoid", "Mul", "LeakyRelu", "Sub"],
               "body_args": [[0], [1, 0], [2], [3, 0]],
               "body_attrs": [[], [], ["alpha", 0.2], []]}
# int32(where(a < b, a, 0)): bool and dtype changes inside the body
CMP_WHERE_CAST = {"body_ops": ["Less", "Where", "Cast"], "body_args": [[0, 1], [3, 0, 2], [4]],
                  "body_attrs": [[], [], ["to", 6]]}


def ref_mul_add_relu(a, b, row, **attrs):
    return [np.maximum(a * b + row, 0)]


def ref_swish_leaky(a, **attrs):
    s = a / (1 + np.exp(-a))
    return [np.where(s > 0, s, 0.2 * s) - a]


def ref_cmp_where_cast(a, b, zero, **attrs):
    return [np.trunc(np.where(a < b, a, zero)).astype(np.int32)]


CASES = [
    Case("FusedElementwise", [A, B, ROW], MUL_ADD_RELU, reference=ref_mul_add_relu,
         id="mul_add_relu"),
    Case("FusedElementwise", [A], SWISH_LEAKY, reference=ref_swish_leaky, id="swish_leaky"),
    Case("FusedElementwise", [A * 5, B * 5, np.float32(0)], CMP_WHERE_CAST,
         reference=ref_cmp_where_cast, id="cmp_where_cast"),
]
