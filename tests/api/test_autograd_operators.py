"""SINGA's Operator protocol, losses, helpers and errors of ``singa.autograd``."""

import numpy as np
import pytest

from singa import autograd, tensor
from singa.errors import GradError, ShapeError
from singa.operators_nn import BatchNormHandle
from singa.tensor import Tensor

from tests._numeric import central_difference

rng = np.random.default_rng(11)


def T(a, **kw):
    return tensor.from_numpy(np.asarray(a, np.float64), **kw)


def P(a):
    return T(a, requires_grad=True, stores_grad=True)


def test_operator_call_returns_a_tuple_and_creator_backward_gives_operand_grads():
    a, b = T(rng.normal(size=(2, 3))), T(rng.normal(size=(3,)))
    ys = autograd.Add()(a, b)
    assert isinstance(ys, tuple) and len(ys) == 1
    np.testing.assert_array_equal(ys[0].numpy(), a.numpy() + b.numpy())
    dy = rng.normal(size=(2, 3))
    da, db = ys[0].creator.backward(dy)
    np.testing.assert_allclose(da, dy)
    np.testing.assert_allclose(db, dy.sum(0))
    # one operand: a single array, not a tuple
    dx = autograd.Exp()(a)[0].creator.backward(dy)
    np.testing.assert_allclose(dx, dy * np.exp(a.numpy()))


def test_operator_forward_runs_on_raw_arrays():
    x = rng.normal(size=(2, 3))
    np.testing.assert_allclose(autograd.SoftMax(1).forward(x),
                               np.exp(x) / np.exp(x).sum(1, keepdims=True))
    parts = autograd.Split(1, [1, 2]).forward(x)
    assert [p.shape for p in parts] == [(2, 1), (2, 2)]


def test_operator_backward_after_call_and_names():
    op = autograd.Tanh()
    y = op(T([0.3, -0.2]))[0]
    np.testing.assert_allclose(op.backward(np.ones(2)), 1 - np.tanh([0.3, -0.2]) ** 2)
    assert op.name.startswith("Tanh#") and op.output_name(0) == op.name + ":0"
    assert op.grad_name(0) == op.name + ":0_g" and op.get_params() == []
    assert y.creator.op_name == "Tanh"
    with pytest.raises(GradError, match="has not run"):
        autograd.Tanh().backward(np.ones(2))


class _Cube(autograd.Operator):
    """A user-defined op in SINGA's style: forward and backward on raw arrays."""

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, dy):
        return 3 * self.x ** 2 * dy


def test_user_defined_operator_trains_through_the_tape():
    w = P(rng.normal(size=(3,)))
    x = T(rng.normal(size=(3,)))

    def loss():
        return autograd.reduce_sum(_Cube()(autograd.mul(w, x))[0])

    (p, g), = list(autograd.backward(loss()))
    assert p is w
    want = central_difference(lambda: float(loss().numpy()[0]), w.data)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-6)


def test_user_defined_operator_with_wrong_gradient_count_is_named():
    class Bad(autograd.Operator):
        def forward(self, a, b):
            return a + b

        def backward(self, dy):
            return dy

    y = Bad()(P([1.0]), P([2.0]))[0]
    with pytest.raises(GradError, match="Bad.backward returned 1 gradients for 2 inputs"):
        list(autograd.backward(y))


def test_loss_creator_backward_defaults_to_one_and_skips_the_target():
    x, t = rng.normal(size=(4, 3)), np.eye(3)[[0, 2, 1, 1]]
    loss = autograd.softmax_cross_entropy(T(x), T(t))
    dx = loss.creator.backward()
    assert isinstance(dx, np.ndarray)
    want = central_difference(lambda: float(autograd.softmax_cross_entropy(T(x), T(t)).numpy()[0]), x)
    np.testing.assert_allclose(dx, want, rtol=1e-6, atol=1e-9)


def test_integer_labels_and_one_hot_targets_agree():
    x = rng.normal(size=(5, 4))
    labels = np.array([3, 0, 1, 1, 2])
    for loss_fn, scores in ((autograd.softmax_cross_entropy, x),
                            (autograd.cross_entropy, np.exp(x) / np.exp(x).sum(1, keepdims=True))):
        w1, w2 = P(scores), P(scores)
        by_label = loss_fn(w1, tensor.from_numpy(labels))
        by_onehot = loss_fn(w2, T(np.eye(4)[labels]))
        np.testing.assert_allclose(by_label.numpy(), by_onehot.numpy(), rtol=1e-12)
        g1, g2 = autograd.gradients(by_label), autograd.gradients(by_onehot)
        np.testing.assert_allclose(g1[w1].numpy(), g2[w2].numpy(), rtol=1e-10, atol=1e-14)


def test_split_backward_takes_one_gradient_per_output():
    x = T(np.arange(6.0))
    a, b = autograd.split(x, 0, (2, 4))
    dx = a.creator.backward(np.full(2, 2.0), np.full(4, 3.0))
    np.testing.assert_array_equal(dx, [2, 2, 3, 3, 3, 3])
    with pytest.raises(GradError, match="3 gradients for 2 outputs"):
        a.creator.backward(np.ones(2), np.ones(4), np.ones(1))


def test_batchnorm_2d_training_uses_batch_statistics_and_updates_running_ones():
    x = rng.normal(2.0, 3.0, size=(6, 2, 3, 3))
    mean, var = T(np.zeros(2), requires_grad=False), T(np.ones(2), requires_grad=False)
    handle = BatchNormHandle(0.25, x)
    autograd.training = True
    try:
        y = autograd.batchnorm_2d(handle, T(x), P(np.ones(2)), P(np.zeros(2)), mean, var)
    finally:
        autograd.training = False
    m, v = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    c = (slice(None), None, None)
    np.testing.assert_allclose(y.numpy(), (x - m[c]) / np.sqrt(v[c] + 1e-5), rtol=1e-8)
    # SINGA's factor weighs the batch statistics
    np.testing.assert_allclose(mean.numpy(), 0.25 * m, rtol=1e-10)
    n = x.size // 2
    assert np.allclose(var.numpy(), 0.75 + 0.25 * v) or \
        np.allclose(var.numpy(), 0.75 + 0.25 * v * n / (n - 1))
    dx, ds, db = y.creator.backward(np.ones(y.shape))
    assert dx.shape == x.shape and ds.shape == db.shape == (2,)


def test_dropout_drops_in_training_and_a_seed_repeats_the_mask():
    x = T(np.ones((4000,)))
    autograd.training = True
    try:
        y = autograd.dropout(x, ratio=0.25).numpy()
        a = autograd.dropout(x, seed=5, ratio=0.25).numpy()
        b = autograd.dropout(x, seed=5, ratio=0.25).numpy()
    finally:
        autograd.training = False
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    np.testing.assert_array_equal(a, b)


def test_gradients_answer_singa_id_lookups_and_backward_takes_a_number():
    w = P([2.0, -1.0])
    loss = autograd.reduce_sum(autograd.mul(w, w))
    grads = autograd.gradients(loss)
    np.testing.assert_allclose(grads[w].numpy(), [4.0, -2.0])
    np.testing.assert_allclose(grads[id(w)].numpy(), [4.0, -2.0])
    assert id(w) in grads and w in grads and id(loss) not in grads
    (_, g), = list(autograd.backward(loss, 0.5))
    np.testing.assert_allclose(g.numpy(), [2.0, -1.0])


def test_infer_dependency_counts_uses():
    x = T([1.0, 2.0])
    h = autograd.relu(x)
    y = autograd.add(autograd.mul(h, h), h)
    op_count, tensor_count = autograd.infer_dependency(y.creator)
    assert op_count[h.creator] == 3  # h feeds Mul twice and Add once
    assert tensor_count[id(h)] == 3 and tensor_count[id(x)] == 1


def test_axis_helper_and_back_broadcast():
    assert autograd.axis_helper((2, 3, 4), (3, 1)) == (0, 2)
    g = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(autograd.back_broadcast((2, 3, 4), (3, 1), g),
                               g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(autograd.back_broadcast((3, 4), (3, 4), g[0]), g[0])


def test_ctensor2numpy_copies_raw_arrays():
    t = T([[1.0, 2.0]])
    a = autograd.ctensor2numpy(t.data)
    np.testing.assert_array_equal(a, [[1.0, 2.0]])
    assert isinstance(a, np.ndarray)


@pytest.mark.parametrize("call,error,pattern", [
    (lambda: autograd.add_bias(T(np.ones((2, 3))), T(np.ones(3)), 3), ShapeError, "axis"),
    (lambda: autograd.add_bias(T(np.ones((2, 3, 1))), T(np.ones(3))), ShapeError,
     r"AddBias.*\(2, 3, 1\)"),
    (lambda: autograd.mse_loss(T(np.ones((2, 3))), T(np.ones((3, 2)))), ShapeError,
     r"MeanSquareError.*\(2, 3\).*\(3, 2\)"),
    (lambda: autograd.softmax_cross_entropy(T(np.ones((2, 3))), T(np.ones((2, 3, 1)))),
     ShapeError, "SoftMaxCrossEntropy"),
    (lambda: autograd.ranking_loss(T(np.ones((2, 1))), T(np.ones(2))), ShapeError, "RankingLoss"),
    (lambda: autograd.pad(T(np.ones(2)), "wrap", [1, 1]), ShapeError, "Pad: mode"),
    (lambda: autograd.upsample(T(np.ones((1, 2))), "linear", [1, 2]), ShapeError, "nearest"),
    (lambda: autograd.split(T(np.ones(5)), 0, None, num_output=2), ShapeError, "equal parts"),
    (lambda: autograd.softmax(T(np.ones((2, 3))), 2), ShapeError, "SoftMax: axis 2"),
    (lambda: autograd.cossim(T(np.ones((2, 3))), T(np.ones((2, 4)))), ShapeError, "CosSim"),
    (lambda: autograd.shape(T(np.ones(3))).creator.backward(np.ones(1)), GradError,
     "Shape: no gradient"),
    (lambda: autograd.matmul(T(np.ones((2, 3))), T(np.ones((2, 3)))), ShapeError,
     r"MatMul.*\(2, 3\), \(2, 3\)"),
])
def test_errors_name_the_op(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_names_that_need_singas_core_say_what_to_use():
    with pytest.raises(AttributeError, match="Tensor.data"):
        autograd.CTensor
    with pytest.raises(AttributeError, match="RNN"):
        autograd._RNN
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        autograd.nonsense


def test_comparisons_of_int_tensors_keep_the_int_dtype():
    a, b = tensor.from_numpy(np.array([1, 5, 3])), tensor.from_numpy(np.array([2, 2, 3]))
    y = autograd.less(a, b)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), [1, 0, 0])
    assert autograd.less(a, b).creator.backward(np.ones(3)) == (None, None)


def test_where_with_a_condition_computed_from_an_operand():
    x, y = P([-1.0, 2.0, -3.0]), P([10.0, 20.0, 30.0])
    out = autograd.where(x, y, autograd.greater(x, 0.0))
    np.testing.assert_array_equal(out.numpy(), [10.0, 2.0, 30.0])
    dx, dy = out.creator.backward(np.ones(3))
    np.testing.assert_array_equal(dx, [0, 1, 0])
    np.testing.assert_array_equal(dy, [1, 0, 1])


def test_singa_wrap_imports_gives_the_handles_and_names_the_rest():
    from singa import operators_nn
    from singa import singa_wrap as singa

    assert singa.ConvHandle is operators_nn.ConvHandle
    assert singa.CudnnPoolingHandle is operators_nn.PoolingHandle
    # build flags SINGA code branches on; no GPU is usable here without CuPy devices
    from singa import device
    assert singa.USE_CUDA == (device.get_num_gpus() > 0)
    assert singa.USE_DIST is False and singa.USE_OPENCL is False
    # a raw "CTensor" to fill, then wrap: SINGA's tests build their dy this way
    raw = singa.Tensor([2, 1, 2, 2])
    assert raw.shape == (2, 1, 2, 2) and raw.dtype == np.float32 and not raw.any()
    tensor.seed(5)
    singa.Gaussian(0.0, 2.0, raw)
    tensor.seed(5)
    np.testing.assert_array_equal(raw, tensor.rng().normal(0.0, 2.0, (2, 1, 2, 2)).astype(np.float32))
    with pytest.raises(AttributeError, match="no C.. core"):
        singa.Communicator
