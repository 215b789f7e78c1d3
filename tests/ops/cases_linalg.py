"""Cases of MatMul, Gemm and Einsum (singa/ops/linalg.py)."""

import numpy as np

from tests.ops.case import Case, rand

CASES = [
    Case("MatMul", [rand(3, 4), rand(4, 5)], id="2d"),
    Case("MatMul", [rand(2, 3, 4), rand(2, 4, 5)], id="batched"),
    Case("MatMul", [rand(2, 1, 3, 4), rand(3, 4, 2)], id="bcast_batch"),
    Case("MatMul", [rand(4), rand(2, 4, 3)], id="vec_left"),
    Case("MatMul", [rand(2, 3, 4), rand(4)], id="vec_right"),
    Case("MatMul", [rand(4), rand(4, seed=1)], id="vec_vec"),
    Case("MatMul", [rand(3, 4).astype(np.float64), rand(4, 2).astype(np.float64)], id="f64"),
    Case("MatMul", [np.arange(6, dtype=np.int64).reshape(2, 3),
                    np.arange(6, dtype=np.int64).reshape(3, 2)], id="int64"),
    Case("MatMul", [rand(0, 4), rand(4, 3)], id="empty"),
    Case("Gemm", [rand(3, 4), rand(4, 5), rand(5)], id="bias_row"),
    Case("Gemm", [rand(4, 3), rand(5, 4), rand(3, 5)],
         {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}, id="trans_alpha_beta"),
    Case("Gemm", [rand(3, 4), rand(4, 5), rand(3, 1)], {"transB": 0}, id="bias_col"),
    Case("Gemm", [rand(3, 4), rand(5, 4)], {"transB": 1}, id="no_c"),
    Case("Gemm", [rand(3, 4), rand(4, 5), np.array(0.3, np.float32)], id="scalar_c"),
    Case("Gemm", [rand(3, 4).astype(np.float64), rand(4, 5).astype(np.float64),
                  rand(5).astype(np.float64)], id="f64"),
    Case("Gemm", [rand(3, 4), rand(4, 5), rand(3, 5)], {"broadcast": 1}, opset=6, id="opset6"),
    Case("Einsum", [rand(3, 4), rand(4, 5)], {"equation": "ij,jk->ik"}, id="matmul"),
    Case("Einsum", [rand(2, 3, 4), rand(2, 4, 5)], {"equation": "bij,bjk->bik"}, id="bmm"),
    Case("Einsum", [rand(3, 4)], {"equation": "ij->ji"}, id="transpose"),
    Case("Einsum", [rand(3, 4)], {"equation": "ij->i"}, id="rowsum"),
    Case("Einsum", [rand(3, 4), rand(3, 4, seed=2)], {"equation": "ij,ij"}, id="implicit"),
    Case("Einsum", [rand(2, 3, 4), rand(4, 5)], {"equation": "...j,jk->...k"}, id="ellipsis"),
    Case("Einsum", [rand(3, 4), rand(5)], {"equation": "ij,k->ijk"}, id="outer"),
    Case("Einsum", [rand(3, 3)], {"equation": "ii->i"}, id="diag", grad=False),
    Case("Einsum", [rand(3, 4), rand(4, 5)], {"equation": "ij,jk->k"}, id="sum_only"),
    Case("MatMul", [rand(3, 4).astype(np.float16), rand(4, 2).astype(np.float16)], id="f16",
         rtol=2e-3, atol=2e-3),
    Case("Gemm", [rand(3, 4).astype(np.float16), rand(4, 5).astype(np.float16)], id="f16",
         rtol=2e-3, atol=2e-3),
]
