"""singa.tensor as SINGA 3.1 defines it: module functions and Tensor methods.

References: NumPy in float64, central finite differences for gradients, and
SINGA 3.1's documented behaviour (its tensor.py / test_tensor.py facts).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import pytest

from singa import autograd, device, tensor
from singa.errors import DTypeError, ShapeError

pytestmark = pytest.mark.usefixtures("inference_mode")

RNG = np.random.default_rng(1234)


def T(a, dtype=None):
    """A float64 (or ``dtype``) tensor of ``a``."""
    a = np.asarray(a, dtype=dtype or np.float64)
    return tensor.from_numpy(a)


def N(t):
    return tensor.to_numpy(t)


def close(t, want, rtol=1e-12, atol=1e-12):
    got = N(t)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def numeric_grad(f, a, eps=1e-6):
    """d sum(f(a) * w) / d a by central differences (f maps float64 arrays to arrays)."""
    a = a.astype(np.float64)
    g = np.zeros_like(a)
    flat = g.reshape(-1)
    for i in range(a.size):
        hi, lo = a.copy().reshape(-1), a.copy().reshape(-1)
        hi[i] += eps
        lo[i] -= eps
        flat[i] = (np.sum(f(hi.reshape(a.shape))) - np.sum(f(lo.reshape(a.shape)))) / (2 * eps)
    return g


def grad_of(fn, a, w):
    """The gradient, through our tape, of sum(fn(x) * w) with respect to x."""
    x = tensor.Tensor(data=a.astype(np.float64), requires_grad=True, stores_grad=True)
    y = fn(x)
    loss = autograd.reduce_sum(y * tensor.from_numpy(w), None, keepdims=0)
    return N(autograd.gradients(loss)[x])


# ----------------------------------------------------------------- elementwise functions

UNARY = {
    "abs": (tensor.abs, np.abs),
    "exp": (tensor.exp, np.exp),
    "ceil": (tensor.ceil, np.ceil),
    "floor": (tensor.floor, np.floor),
    "sign": (tensor.sign, np.sign),
    "square": (tensor.square, np.square),
    "sigmoid": (tensor.sigmoid, lambda a: 1.0 / (1.0 + np.exp(-a))),
    "tanh": (tensor.tanh, np.tanh),
    "relu": (tensor.relu, lambda a: np.maximum(a, 0.0)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_functions_match_numpy(name):
    ours, ref = UNARY[name]
    a = RNG.normal(size=(3, 4)) * 3
    a[0, 0] = 0.0
    close(ours(T(a)), ref(a))


@pytest.mark.parametrize("name,ref", [("log", np.log), ("sqrt", np.sqrt)])
def test_log_and_sqrt_on_positive_values(name, ref):
    a = RNG.uniform(0.1, 5.0, size=(2, 5))
    close(getattr(tensor, name)(T(a)), ref(a))


def test_unary_functions_keep_float32():
    a = RNG.normal(size=(4,)).astype(np.float32)
    for fn in (tensor.abs, tensor.exp, tensor.ceil, tensor.square, tensor.sigmoid):
        assert fn(tensor.from_numpy(a)).dtype == np.float32


def test_square_gradient_by_finite_differences():
    a = RNG.normal(size=(2, 3))
    w = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(grad_of(tensor.square, a, w),
                               numeric_grad(lambda v: np.square(v) * w, a), rtol=1e-6)


def test_pow_with_scalar_tensor_and_out():
    a = RNG.uniform(0.5, 2.0, size=(3, 2))
    b = RNG.uniform(-1.0, 2.0, size=(3, 2))
    close(tensor.pow(T(a), 2.5), a ** 2.5)
    close(tensor.pow(T(a), T(b)), a ** b)
    out = tensor.zeros((3, 2), dtype=np.float64)
    got = tensor.pow(T(a), 3, out=out)
    assert got is out
    close(out, a ** 3)


def test_softmax_of_rows_and_of_a_vector():
    a = RNG.normal(size=(3, 5))
    e = np.exp(a - a.max(axis=1, keepdims=True))
    close(tensor.softmax(T(a)), e / e.sum(axis=1, keepdims=True))
    v = RNG.normal(size=(6,))
    close(tensor.softmax(T(v)), np.exp(v) / np.exp(v).sum())
    out = tensor.zeros((3, 5), dtype=np.float64)
    assert tensor.softmax(T(a), out=out) is out
    close(out, e / e.sum(axis=1, keepdims=True))


def test_softmax_rejects_3d_naming_the_shape():
    with pytest.raises(ShapeError, match=r"\(2, 3, 4\)"):
        tensor.softmax(T(np.zeros((2, 3, 4))))


# ----------------------------------------------------------------- comparisons

CMP = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
       "eq": np.equal}


@pytest.mark.parametrize("name", sorted(CMP))
def test_comparison_functions_give_float_zero_one(name):
    a = np.array([[1.0, 2.0, 3.0], [3.45, -1.0, 3.45]], np.float32)
    b = np.array([[2.0, 2.0, 1.0], [3.45, 0.0, 4.0]], np.float32)
    for rhs, ref_rhs in ((tensor.from_numpy(b), b), (np.float32(3.45), np.float32(3.45)), (2, 2)):
        got = getattr(tensor, name)(tensor.from_numpy(a), rhs)
        assert got.dtype == np.float32  # SINGA: 1.0f / 0.0f in the float tensor's dtype
        np.testing.assert_array_equal(N(got), CMP[name](a, ref_rhs).astype(np.float32))


def test_comparison_operators_match_singa_test():
    # SINGA's test_comparison_operators: t holds 3.45 everywhere
    t = tensor.Tensor((2, 3)).set_value(0)
    t += 3.45
    want = {"<": 0, "<=": 1, ">": 0, ">=": 1, "==": 1, "!=": 0}
    got = {"<": t < 3.45, "<=": t <= 3.45, ">": t > 3.45, ">=": t >= 3.45, "==": t == 3.45,
           "!=": t != 3.45}
    for op, value in want.items():
        assert N(got[op])[0, 0] == value, op


def test_comparisons_broadcast_and_reflect():
    a = RNG.normal(size=(3, 4))
    row = RNG.normal(size=(4,))
    np.testing.assert_array_equal(N(T(a) < T(row)), (a < row).astype(np.float64))
    # a number on the left: Python reflects the comparison
    np.testing.assert_array_equal(N(0.5 < T(a)), (0.5 < a).astype(np.float64))


def test_integer_comparisons_stay_integer_and_float_scalar_promotes():
    a = np.array([1, 5, 3], np.int32)
    b = np.array([2, 5, 1], np.int32)
    got = tensor.from_numpy(a) < tensor.from_numpy(b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(N(got), [1, 0, 0])
    got = tensor.from_numpy(a) >= 2.5
    assert got.dtype == np.float32
    np.testing.assert_array_equal(N(got), [0.0, 1.0, 1.0])


def test_eq_with_none_and_other_objects():
    t = T([1.0, 2.0])
    assert (t == None) is False  # noqa: E711 - SINGA's documented result
    assert (t != None) is True  # noqa: E711
    assert (t == "x") is False  # Python's fallback: not the same object


def test_hash_is_identity_and_tensors_work_as_keys():
    a, b = T([1.0, 2.0]), T([1.0, 2.0])
    assert hash(a) != hash(b) or a is b
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b"
    nan = T([np.nan, 1.0])
    weak = weakref.WeakKeyDictionary({nan: 1, a: 2})
    assert weak.get(nan) == 1 and weak.get(a) == 2 and b not in weak


def test_truth_value_of_one_element_and_ambiguous_tensors():
    assert bool(T([2.0]) > 1.0) is True
    assert bool(T(3.0) < 1.0) is False
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        bool(T([1.0, 2.0]) == T([1.0, 2.0]))


# ----------------------------------------------------------------- arithmetic

def test_binary_functions_match_numpy_and_fill_ret():
    a = RNG.normal(size=(3, 4))
    b = RNG.uniform(0.5, 2.0, size=(4,))
    for fn, ref in ((tensor.add, np.add), (tensor.sub, np.subtract),
                    (tensor.eltwise_mult, np.multiply), (tensor.div, np.divide)):
        close(fn(T(a), T(b)), ref(a, b))
        close(fn(T(a), 1.5), ref(a, 1.5))
        ret = tensor.zeros((3, 4), dtype=np.float64)
        assert fn(T(a), T(b), ret) is ret
        close(ret, ref(a, b))


def test_ret_of_the_wrong_shape_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        tensor.add(T(np.ones((3, 4))), 1.0, tensor.zeros((2, 2), dtype=np.float64))


def test_scalar_operators_on_both_sides():
    a = RNG.uniform(0.5, 2.0, size=(2, 3))
    t = T(a)
    cases = [(t + 2, a + 2), (2 + t, 2 + a), (t - 2, a - 2), (2 - t, 2 - a), (t * 3, a * 3),
             (3 * t, 3 * a), (t / 4, a / 4), (4 / t, 4 / a), (t ** 2, a ** 2), (2 ** t, 2 ** a),
             (np.float64(1.5) * t, 1.5 * a), (-t, -a), (abs(-t), a), (t // 0.3, a // 0.3),
             (7.0 // t, 7.0 // a), (np.full((2, 3), 0.5) + t, 0.5 + a),
             (t - np.arange(3.0), a - np.arange(3.0))]
    for got, want in cases:
        assert isinstance(got, tensor.Tensor)
        close(got, want)


def test_singa_reflected_operators_test():
    # SINGA's test_radd/rsub/rmul/rdiv on a (3,) tensor of ones, read through average
    x = tensor.Tensor((3,)).set_value(1)
    assert tensor.average(1 + x) == 2.0
    assert tensor.average(1 - x) == 0.0
    assert tensor.average(2 * x) == 2.0
    assert tensor.average(2 / x) == 2.0


def test_integer_floor_division_truncates_as_singa():
    # SINGA divides in float, casts back to int (towards zero), then floors an int
    a = np.array([7, -7, 6], np.int32)
    b = np.array([2, 2, -4], np.int32)
    got = tensor.from_numpy(a) // tensor.from_numpy(b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(N(got), np.trunc(a / b).astype(np.int32))


def test_int_tensor_with_float_scalar_becomes_float32():
    # SINGA's test_kint_float: int tensor + float scalar -> float32
    x_val = RNG.integers(0, 10, (2, 3)).astype(np.int32)
    scalar = 37.25
    y = tensor.from_numpy(x_val) + scalar
    assert y.dtype == np.float32
    np.testing.assert_allclose(N(y), x_val + scalar, rtol=1e-6)
    assert (scalar * tensor.from_numpy(x_val)).dtype == np.float32
    # an int scalar keeps integers integer
    z = tensor.from_numpy(x_val) + 2
    assert z.dtype == np.int32
    np.testing.assert_array_equal(N(z), x_val + 2)


def test_int_and_float_tensors_meet_in_the_float_dtype():
    i = np.array([[1, 2], [3, 4]], np.int32)
    f = RNG.normal(size=(2, 2)).astype(np.float32)
    for got, want in ((tensor.from_numpy(i) * tensor.from_numpy(f), i * f.astype(np.float64)),
                      (tensor.from_numpy(f) - tensor.from_numpy(i), f - i.astype(np.float64))):
        assert got.dtype == np.float32
        np.testing.assert_allclose(N(got), want, rtol=1e-6)


def test_int_int_arithmetic_and_broadcast():
    # SINGA's test_kint_kint / _bc
    a = RNG.integers(-25, 25, (3, 4, 5)).astype(np.int32)
    b = RNG.integers(-25, 25, (4, 5)).astype(np.int32)
    y = tensor.from_numpy(a) - tensor.from_numpy(b)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(N(y), a - b)


def test_promoted_operands_still_get_gradients():
    a = RNG.normal(size=(2, 3))
    w = RNG.normal(size=(2, 3))
    mask = np.array([[1, 0, 2], [0, 3, 1]], np.int32)
    g = grad_of(lambda x: x * tensor.from_numpy(mask), a, w)
    np.testing.assert_allclose(g, w * mask)


def test_in_place_operators_write_the_same_storage():
    t = tensor.Tensor((2, 3)).set_value(0)
    storage = t.data
    t += 1.23
    t -= 0.23
    t *= 2.5
    t /= 2
    assert t.data is storage
    np.testing.assert_allclose(N(t), np.full((2, 3), (1.23 - 0.23) * 2.5 / 2), rtol=1e-6)
    a = RNG.normal(size=(2, 3))
    row = RNG.normal(size=(3,))
    u = T(a)
    u += T(row)
    u *= T(row)
    close(u, (a + row) * row)


def test_in_place_keeps_the_dtype_and_checks_the_shape():
    t = tensor.from_numpy(np.array([1, 2, 3], np.int32))
    t += 1.7
    assert t.dtype == np.int32
    np.testing.assert_array_equal(N(t), [2, 3, 4])  # truncated back, as a C cast
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        t += tensor.from_numpy(np.ones((2, 3), np.int32))


def test_in_place_is_not_recorded():
    x = tensor.Tensor(data=np.ones(3), requires_grad=True, stores_grad=True)
    y = x * 2.0
    creator = y.creator
    y += 1.0
    assert y.creator is creator


# ----------------------------------------------------------------- products

def test_mult_matrix_vector_and_batched():
    A = RNG.normal(size=(3, 4))
    B = RNG.normal(size=(4, 5))
    v = RNG.normal(size=(4,))
    close(tensor.mult(T(A), T(B)), A @ B)
    close(tensor.mult(T(A), T(v)), A @ v)
    X = RNG.normal(size=(2, 3, 4, 5))
    Y = RNG.normal(size=(2, 3, 5, 6))
    close(tensor.mult(T(X), T(Y)), X @ Y)


def test_mult_into_c_with_alpha_and_beta():
    A = RNG.normal(size=(3, 4))
    B = RNG.normal(size=(4, 2))
    C0 = RNG.normal(size=(3, 2))
    C = T(C0)
    assert tensor.mult(T(A), T(B), C, alpha=0.5, beta=2.0) is C
    close(C, 0.5 * A @ B + 2.0 * C0)


def test_axpy_updates_y_in_place():
    x, y0 = RNG.normal(size=(4,)), RNG.normal(size=(4,))
    y = T(y0)
    assert tensor.axpy(0.3, T(x), y) is y
    close(y, y0 + 0.3 * x)


@pytest.mark.parametrize("spec", ["kij,kij->kij", "kij,kih->kjh", "ij,jk->ik", "ki,kj->kij"])
def test_einsum_matches_numpy(spec):
    lhs = spec.split("->")[0].split(",")
    sizes = {"k": 2, "i": 3, "j": 4, "h": 5}
    a = RNG.normal(size=[sizes[c] for c in lhs[0]])
    b = RNG.normal(size=[sizes[c] for c in lhs[1]])
    close(tensor.einsum(spec, T(a), T(b)), np.einsum(spec, a, b), rtol=1e-10)


def test_tensordot_int_axes_and_axis_pairs():
    a = RNG.normal(size=(2, 3, 2))
    close(tensor.tensordot(T(a), T(a), axes=1), np.tensordot(a, a, axes=1), rtol=1e-10)
    close(tensor.tensordot(T(a), T(a), axes=([0, 1], [2, 1])),
          np.tensordot(a, a, axes=([0, 1], [2, 1])), rtol=1e-10)
    b = RNG.normal(size=(3, 2, 4))
    close(tensor.tensordot(T(a), T(b), axes=2), np.tensordot(a, b, axes=2), rtol=1e-10)
    close(tensor.tensordot(T(a), T(b), axes=(-1, 1)), np.tensordot(a, b, axes=(-1, 1)),
          rtol=1e-10)


def test_tensordot_full_contraction_is_1x1_as_in_singa():
    a = RNG.normal(size=(2, 3))
    got = tensor.tensordot(T(a), T(a), axes=2)
    close(got, np.tensordot(a, a, axes=2).reshape(1, 1), rtol=1e-10)


def test_tensordot_mismatch_names_the_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        tensor.tensordot(T(np.zeros((2, 3))), T(np.zeros((4, 5))), axes=1)


def test_tensordot_gradient_by_finite_differences():
    a = RNG.normal(size=(2, 3, 4))
    b = RNG.normal(size=(4, 3, 5))
    w = RNG.normal(size=(2, 5))
    g = grad_of(lambda x: tensor.tensordot(x, T(b), axes=([1, 2], [1, 0])), a, w)
    ref = numeric_grad(lambda v: np.tensordot(v, b, axes=([1, 2], [1, 0])) * w, a)
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------- repeat

def test_repeat_like_numpy():
    a = RNG.normal(size=(2, 3, 2))
    close(tensor.repeat(T(a), 2), np.repeat(a, 2))
    close(tensor.repeat(T(a), 4, axis=1), np.repeat(a, 4, axis=1))
    close(tensor.repeat(T(a), [1, 0, 2], axis=1), np.repeat(a, [1, 0, 2], axis=1))
    close(tensor.repeat(T(a), 3, axis=-1), np.repeat(a, 3, axis=-1))
    close(T(a).repeat(2, 0), np.repeat(a, 2, axis=0))


def test_repeat_errors():
    t = T(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="negative"):
        tensor.repeat(t, -1)
    with pytest.raises(ShapeError, match="needs an axis"):
        tensor.repeat(t, [1, 2])
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        tensor.repeat(t, [1, 2], axis=1)
    with pytest.raises(DTypeError):
        tensor.repeat(t, 1.5)


def test_repeat_gradient_by_finite_differences():
    a = RNG.normal(size=(2, 3))
    w = RNG.normal(size=(2, 6))
    g = grad_of(lambda x: tensor.repeat(x, [2, 1, 3], axis=1), a, w)
    ref = numeric_grad(lambda v: np.repeat(v, [2, 1, 3], axis=1) * w, a)
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------- reductions

def test_sum_axis_semantics():
    a = RNG.normal(size=(2, 3, 2))
    close(tensor.sum(T(a)), np.sum(a).reshape(1, 1))  # SINGA: a (1, 1) tensor
    close(tensor.sum(T(a), axis=1), np.sum(a, axis=1))
    close(tensor.sum(T(a), axis=-1), np.sum(a, axis=-1))
    close(tensor.sum(T(a), axis=(0, 2)), np.sum(a, axis=(0, 2)))
    out = tensor.zeros((2, 2), dtype=np.float64)
    assert tensor.sum(T(a), 1, out=out) is out
    close(out, np.sum(a, axis=1))


def test_sum_gradient_by_finite_differences():
    a = RNG.normal(size=(3, 4))
    w = RNG.normal(size=(4,))
    g = grad_of(lambda x: tensor.sum(x, 0), a, w)
    np.testing.assert_allclose(g, numeric_grad(lambda v: v.sum(axis=0) * w, a), rtol=1e-6)


def test_average_is_a_float_or_a_tensor_by_axis():
    v = RNG.normal(size=(1000,))
    got = tensor.average(T(v))
    assert isinstance(got, float) and got == pytest.approx(v.mean(), rel=1e-12)
    m = RNG.normal(size=(3, 5))
    assert tensor.average(T(m)) == pytest.approx(m.mean(), rel=1e-12)
    close(tensor.average(T(m), 0), m.mean(axis=0))
    close(tensor.average(T(m), 1), m.mean(axis=1))


def test_sum_rows_and_columns():
    m = RNG.normal(size=(3, 4))
    close(tensor.sum_columns(T(m)), m.sum(axis=1, keepdims=True))
    close(tensor.sum_rows(T(m)), m.sum(axis=0, keepdims=True))
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        tensor.sum_rows(T(np.zeros(4)))


def test_add_column_and_add_row_scale_in_place():
    m0 = RNG.normal(size=(3, 4))
    col, row = RNG.normal(size=(3,)), RNG.normal(size=(4,))
    m = T(m0)
    assert tensor.add_column(2.0, T(col), 0.5, m) is m
    close(m, 2.0 * col[:, None] + 0.5 * m0)
    m = T(m0)
    assert tensor.add_row(-1.0, T(row), 3.0, m) is m
    close(m, -row[None, :] + 3.0 * m0)


@pytest.mark.parametrize("name,ref,column", [
    ("add_column", np.add, True), ("add_row", np.add, False),
    ("mult_column", np.multiply, True), ("mult_row", np.multiply, False),
    ("div_column", np.divide, True), ("div_row", np.divide, False)])
def test_deprecated_row_and_column_methods(name, ref, column):
    m0 = RNG.normal(size=(3, 4))
    v = RNG.uniform(0.5, 2.0, size=(3,) if column else (4,))
    m = T(m0)
    with pytest.warns(DeprecationWarning, match="broadcast"):
        assert getattr(m, name)(T(v)) is m
    close(m, ref(m0, v[:, None] if column else v[None, :]))


def test_l1_and_l2_are_divided_by_the_size():
    a = RNG.normal(size=(4, 5))
    assert T(a).l1() == pytest.approx(np.abs(a).sum() / a.size, rel=1e-12)
    assert T(a).l2() == pytest.approx(np.sqrt((a * a).sum()) / a.size, rel=1e-12)


# ----------------------------------------------------------------- shape functions

def test_reshape_transpose_concatenate():
    a = RNG.normal(size=(2, 3, 2))
    close(tensor.reshape(T(a), [2, 6]), a.reshape(2, 6))
    close(T(a).reshape((3, 4)), a.reshape(3, 4))
    close(T(a).reshape(4, 3), a.reshape(4, 3))
    close(tensor.transpose(T(a)), a.T)
    close(tensor.transpose(T(a), [0, 2, 1]), a.transpose(0, 2, 1))
    close(T(a).transpose((2, 0, 1)).reshape((2, 6)), a.transpose(2, 0, 1).reshape(2, 6))
    b = RNG.normal(size=(2, 3, 1))
    close(tensor.concatenate((T(a), T(b)), 2), np.concatenate([a, b], axis=2))


def test_transpose_with_wrong_axes_is_a_shape_error():
    with pytest.raises(ShapeError):
        T(np.zeros((2, 3))).transpose((0, 1, 2))


def test_T_as_attribute_and_as_singa_call():
    a = RNG.normal(size=(3, 2))
    close(T(a).T, a.T)
    close(T(a).T(), a.T)
    close(tensor.mult(T(a).T(), T(a)), a.T @ a)


def test_contiguous_and_is_transpose():
    a = RNG.normal(size=(3, 4))
    t = T(a)
    assert not t.is_transpose()
    tt = tensor.transpose(t)
    assert tt.is_transpose() == (not np.transpose(a).flags.c_contiguous)
    c = tensor.contiguous(tt)
    assert not c.is_transpose() and c.data.flags.c_contiguous
    close(c, a.T)


# ----------------------------------------------------------------- indexing

def test_subscription_like_singa_test():
    a = RNG.random((5, 5, 5, 5)).astype(np.float32)
    got = tensor.Tensor(data=a)[1:3, :, 1:, :-1]
    np.testing.assert_array_equal(N(got), a[1:3, :, 1:, :-1])


def test_integer_index_keeps_the_axis_as_singa():
    a = RNG.normal(size=(4, 3))
    close(T(a)[2], a[2:3])
    close(T(a)[-1, 1], a[-1:, 1:2])
    close(T(a)[1:, -2], a[1:, -2:-1])


def test_slices_with_steps_and_negative_steps():
    a = RNG.normal(size=(6, 5))
    t = T(a)
    for key in [(slice(None, None, 2),), (slice(None, None, -1),), (slice(4, 0, -2), slice(1, None, 3)),
                (slice(-3, None), slice(None, -1)), (slice(None, None, -1), slice(None, None, -2))]:
        close(t[key], a[key])


def test_index_errors_name_the_shape():
    t = T(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        t[2]
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        t[0, 0, 0]
    with pytest.raises(DTypeError):
        t[..., 1]


def test_slicing_gradient_by_finite_differences():
    a = RNG.normal(size=(4, 5))
    w = RNG.normal(size=(2, 3))
    g = grad_of(lambda x: x[1:3, ::2], a, w)
    np.testing.assert_allclose(g, numeric_grad(lambda v: v[1:3, ::2] * w, a), rtol=1e-6)


def test_iteration_and_len():
    a = RNG.normal(size=(3, 2))
    rows = list(T(a))
    assert len(T(a)) == 3 and len(rows) == 3
    for i, r in enumerate(rows):
        close(r, a[i:i + 1])
    with pytest.raises(TypeError):
        len(T(1.0))


# ----------------------------------------------------------------- attributes

def test_fields_as_singa_test():
    t = tensor.Tensor((2, 3))
    assert t.shape == (2, 3)
    assert tensor.product((2, 3)) == 6 and tensor.product(()) == 1
    assert t.ndim() == 2 and t.ndim == 2
    assert t.size() == 6 and t.size == 6
    assert t.memsize() == 6 * tensor.sizeof(tensor.float32) == 24
    assert tensor.sizeof(tensor.float64) == 8 and tensor.sizeof("int") == 4
    assert not t.is_transpose()


def test_is_empty_and_is_dummy():
    assert tensor.Tensor().is_empty()
    assert not tensor.Tensor((2,)).is_empty()
    assert tensor.Tensor((2,)).is_dummy()
    assert not tensor.Tensor((2,), name="w").is_dummy()


def test_as_type_with_singa_names_and_numpy_dtypes():
    # SINGA's _astype_helper
    flt = RNG.random((2, 3)).astype(np.float32) * 10 - 5
    t = tensor.Tensor(data=flt).as_type("int")
    assert t.dtype == np.int32
    np.testing.assert_array_equal(N(t), flt.astype(np.int32))  # truncation towards zero
    back = t.reshape([3, 2]).as_type("float")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(N(back), flt.astype(np.int32).astype(np.float32).reshape(3, 2))
    assert tensor.Tensor(data=flt).astype(np.float64).dtype == np.float64
    with pytest.raises(DTypeError, match="nonsense"):
        t.as_type("nonsense")


def test_copy_shares_and_clone_does_not():
    # SINGA's test_tensor_copy
    t = tensor.Tensor((2, 3)).set_value(0)
    t += 1.23
    tc, tdc, tcl = t.copy(), t.deepcopy(), t.clone()
    t += 1.23
    assert N(tc)[0, 0] == pytest.approx(2.46)
    assert N(tdc)[0, 0] == pytest.approx(1.23) and N(tcl)[0, 0] == pytest.approx(1.23)


def test_set_value_and_fills_return_self_or_a_new_tensor():
    x = tensor.Tensor((3,))
    assert x.set_value(1) is x and x.uniform(1, 2) is x
    assert x.bernoulli(1) is x and x.gaussian(1, 2) is x
    fresh = x.set_value(7.0, inplace=False)
    assert fresh is not x and fresh.shape == x.shape
    np.testing.assert_array_equal(N(fresh), [7.0, 7.0, 7.0])


def test_random_fills_have_the_asked_distribution():
    x = tensor.Tensor((20000,))
    x.gaussian(1.0, 0.5)
    a = N(x)
    assert abs(a.mean() - 1.0) < 5 * 0.5 / math.sqrt(a.size)
    assert abs(a.std() - 0.5) < 0.02
    x.uniform(-2.0, 3.0)
    a = N(x)
    assert a.min() >= -2.0 and a.max() < 3.0 and abs(a.mean() - 0.5) < 0.1
    x.bernoulli(0.3)
    a = N(x)
    assert set(np.unique(a)) <= {0.0, 1.0} and abs(a.mean() - 0.3) < 0.02
    np.testing.assert_array_equal(N(tensor.Tensor((5,)).bernoulli(0.0)), np.zeros(5))
    np.testing.assert_array_equal(N(tensor.Tensor((5,)).bernoulli(1.0)), np.ones(5))


def test_module_random_functions_fill_their_argument():
    t = tensor.Tensor((4000,))
    assert tensor.gaussian(2.0, 0.1, t) is t and abs(N(t).mean() - 2.0) < 0.02
    assert tensor.uniform(5.0, 6.0, t) is t and N(t).min() >= 5.0 and N(t).max() < 6.0
    assert tensor.bernoulli(1.0, t) is t and N(t).min() == 1.0
    r = tensor.random((3, 4))
    assert r.shape == (3, 4) and r.dtype == np.float32 and 0 <= N(r).min() and N(r).max() < 1


def test_seed_makes_fills_reproducible():
    tensor.seed(7)
    a = N(tensor.Tensor((5,)).gaussian(0, 1))
    tensor.seed(7)
    np.testing.assert_array_equal(N(tensor.Tensor((5,)).gaussian(0, 1)), a)


def test_zeros_ones_and_likes():
    t = tensor.from_numpy(np.ones((2, 3), np.int32))
    for got, value in ((tensor.zeros_like(t), 0), (tensor.ones_like(t), 1)):
        assert got.shape == (2, 3) and got.dtype == np.int32 and got.device == t.device
        np.testing.assert_array_equal(N(got), np.full((2, 3), value))
    np.testing.assert_array_equal(N(tensor.zeros((2,), device.get_default_device())), [0, 0])
    np.testing.assert_array_equal(N(tensor.ones((2,), device=None)), [1, 1])


def test_placeholder_is_a_tensor():
    x = tensor.PlaceHolder((1, 3, 4, 4), device=device.get_default_device())
    assert isinstance(x, tensor.Tensor) and x.shape == (1, 3, 4, 4)


# ----------------------------------------------------------------- data movement

def test_from_numpy_copies_and_keeps_dtype():
    a = np.array([[1, 0, 0], [0, 1, 0]], np.int64)
    t = tensor.from_numpy(a)
    a[0, 0] = 9
    assert t.dtype == np.int64 and N(t)[0, 0] == 1
    f = np.arange(4, dtype=np.float32)
    t = tensor.from_numpy(f)
    t += 1.0
    np.testing.assert_array_equal(f, np.arange(4))


def test_raw_tensor_helpers():
    arrays = [np.arange(3.0), np.ones((2, 2), np.float32)]
    ts = tensor.from_raw_tensors(arrays)
    for t, a in zip(ts, arrays):
        np.testing.assert_array_equal(N(t), a)
    np.testing.assert_array_equal(N(tensor.from_raw_tensor(arrays[0])), arrays[0])


def test_to_host_function_copies_method_moves():
    t = T(np.arange(3.0))
    h = tensor.to_host(t)
    assert h is not t and h.device == device.get_default_device()
    h += 1.0
    np.testing.assert_array_equal(N(t), [0.0, 1.0, 2.0])
    assert t.to_host() is t


def test_copy_data_to_from_with_size_and_offsets():
    # SINGA's test_copy_data: the first 2 elements of s into t
    t = tensor.Tensor((2, 3)).set_value(1.23)
    s = tensor.Tensor((2, 3)).set_value(5.43)
    tensor.copy_data_to_from(t, s, 2)
    np.testing.assert_allclose(N(t), [[5.43, 5.43, 1.23], [1.23, 1.23, 1.23]], rtol=1e-6)
    dst = tensor.zeros((3, 4), dtype=np.float64)
    src = T(np.arange(10.0))
    tensor.copy_data_to_from(dst, src, 4, dst_offset=5, src_offset=3)
    want = np.zeros(12)
    want[5:9] = np.arange(3.0, 7.0)
    close(dst, want.reshape(3, 4))


def test_copy_data_to_from_writes_through_a_strided_view_tensor():
    a = RNG.normal(size=(3, 4))
    dst = tensor.transpose(T(a))  # (4, 3), not row-major
    tensor.copy_data_to_from(dst, T(np.full(12, 7.0)), 3, dst_offset=3)
    want = a.T.copy().reshape(-1)
    want[3:6] = 7.0
    close(dst, want.reshape(4, 3))


def test_copy_data_to_from_range_errors():
    dst, src = tensor.zeros((4,)), tensor.zeros((3,))
    with pytest.raises(ShapeError, match="offset 2"):
        tensor.copy_data_to_from(dst, src, 3, dst_offset=2)
    with pytest.raises(ShapeError, match="3 elements"):
        tensor.copy_data_to_from(dst, src, 2, src_offset=2)


def test_copy_from_numpy_and_copy_from():
    t = tensor.zeros((2, 3))
    t.copy_from_numpy(np.arange(6))
    np.testing.assert_array_equal(N(t), np.arange(6).reshape(2, 3))
    t.copy_from_numpy(np.array([9, 9]), offset=4)
    np.testing.assert_array_equal(N(t).reshape(-1), [0, 1, 2, 3, 9, 9])
    tensor.copy_from_numpy(t, np.ones(6))
    np.testing.assert_array_equal(N(t), np.ones((2, 3)))
    t.copy_from(T(np.full((3, 2), 4.0)))
    np.testing.assert_array_equal(N(t), np.full((2, 3), 4.0))
    t.copy_from(np.zeros((2, 3)))
    np.testing.assert_array_equal(N(t), np.zeros((2, 3)))
    with pytest.raises(DTypeError):
        t.copy_from([1, 2, 3])


def test_reset_like():
    t = tensor.zeros((2,))
    t.reset_like(tensor.from_numpy(np.ones((3, 4), np.int64)))
    assert t.shape == (3, 4) and t.dtype == np.int64


def test_names_tied_to_the_cpp_core_say_what_to_use():
    for name in ("CTensor", "singa", "_call_singa_func"):
        with pytest.raises(AttributeError, match="not provided"):
            getattr(tensor, name)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        tensor.nonexistent


# ----------------------------------------------------------------- the whole surface

SINGA_31_FUNCTIONS = """
    from_raw_tensor from_raw_tensors zeros_like ones_like product sizeof contiguous reshape
    transpose copy_data_to_from from_numpy to_host to_numpy abs exp ceil log sigmoid sign sqrt
    square tanh sum pow average softmax lt le gt ge eq add sub eltwise_mult mult einsum repeat
    tensordot div axpy bernoulli gaussian uniform add_column add_row sum_columns sum_rows
    copy_from_numpy concatenate random zeros ones Tensor PlaceHolder float32 int32""".split()

SINGA_31_METHODS = """
    is_dummy ndim is_empty is_transpose transpose size memsize contiguous reshape reset_like
    as_type to_device to_host l2 l1 set_value copy_from_numpy copy_data copy_from clone repeat T
    copy deepcopy bernoulli gaussian uniform add_column add_row div_column div_row mult_column
    mult_row __iadd__ __isub__ __imul__ __itruediv__ __add__ __sub__ __mul__ __div__
    __truediv__ __floordiv__ __lt__ __le__ __gt__ __ge__ __eq__ __radd__ __rsub__ __rmul__
    __rdiv__ __rtruediv__ __getitem__""".split()


def test_every_public_name_of_singa_31_is_there():
    assert [n for n in SINGA_31_FUNCTIONS if not hasattr(tensor, n)] == []
    assert [n for n in SINGA_31_METHODS if not hasattr(tensor.Tensor, n)] == []
