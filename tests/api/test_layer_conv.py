"""singa.layer's Conv2d, SeparableConv2d, BatchNorm2d and pooling layers against
NumPy float64 loops and finite differences, and SINGA's documented behaviour
(initialisation, padding forms, BatchNorm's momentum)."""

from __future__ import annotations

import numpy as np
import pytest

from singa import autograd, layer, tensor
from singa.errors import ShapeError

from ._layer_helpers import T, check_grads, conv_ref, pool_ref

pytestmark = pytest.mark.usefixtures("inference_mode")


# ------------------------------------------------------------------ Conv2d

@pytest.mark.parametrize("kwargs, pads", [
    (dict(), (0, 0, 0, 0)),
    (dict(stride=2, padding=1), (1, 1, 1, 1)),
    (dict(padding=(1, 2)), (1, 1, 2, 2)),
    (dict(padding=(0, 1, 2, 0)), (0, 1, 2, 0)),  # SINGA's (top, bottom, left, right)
    (dict(dilation=2, padding=2), (2, 2, 2, 2)),
    (dict(group=2, stride=(1, 2)), (0, 0, 0, 0)),
])
def test_conv2d_forward_and_gradients(kwargs, pads):
    conv = layer.Conv2d(4, 3, **kwargs)
    x = T(2, 4, 7, 6, grad=True)
    conv(x)
    conv.b.data[...] = np.random.default_rng(1).normal(size=4)
    want = conv_ref(x.numpy(), conv.W.numpy(), conv.b.numpy(), conv.stride, pads,
                    conv.dilation, conv.group)
    np.testing.assert_allclose(conv(x).numpy(), want, rtol=1e-12, atol=1e-12)
    check_grads(lambda: conv(x), [x, conv.W, conv.b])


def test_conv2d_creation_follows_singa():
    tensor.seed(5)
    conv = layer.Conv2d(64, (3, 5), group=2)
    conv(T(1, 32, 8, 8))
    assert conv.W.shape == (64, 16, 3, 5) and conv.in_channels == 32
    std = np.sqrt(2.0 / (16 * 3 * 5 + 64))  # N(0, 2 / (fan_in + nb_kernels))
    assert conv.W.numpy().std() == pytest.approx(std, rel=0.02)
    np.testing.assert_array_equal(conv.b.numpy(), np.zeros(64))
    assert layer.Conv2d(2, 3, bias=False)(T(1, 1, 4, 4)).shape == (1, 2, 2, 2)
    # SINGA's older form: Conv2d(in_channels, nb_kernels, kernel_size, stride, padding)
    old = layer.Conv2d(3, 5, 3, 2, 1)
    assert (old.in_channels, old.nb_kernels, old.kernel_size, old.stride, old.padding) == \
        (3, 5, (3, 3), (2, 2), (1, 1))
    assert old(T(1, 3, 6, 6)).shape == (1, 5, 3, 3)
    layer.Conv2d(2, 3, cudnn_prefer="fastest", workspace_MB_limit=512)  # accepted
    with pytest.raises(TypeError, match="bogus"):
        layer.Conv2d(2, 3, bogus=1)


def test_conv2d_same_padding_and_relu_activation():
    x = T(1, 2, 7, 7)
    conv = layer.Conv2d(3, 4, stride=2, pad_mode="SAME_UPPER", activation="RELU")
    y = conv(x)
    assert y.shape == (1, 3, 4, 4)  # ceil(7 / 2)
    # total padding (4 - 1) * 2 + 4 - 7 = 3: one before, two after (UPPER)
    want = conv_ref(x.numpy(), conv.W.numpy(), conv.b.numpy(), (2, 2), (1, 2, 1, 2))
    np.testing.assert_allclose(y.numpy(), np.maximum(want, 0), rtol=1e-12, atol=1e-12)
    lower = layer.Conv2d(3, 4, stride=2, pad_mode="SAME_LOWER")
    lower(x)
    want = conv_ref(x.numpy(), lower.W.numpy(), None, (2, 2), (2, 1, 2, 1))
    np.testing.assert_allclose(lower(x).numpy(), want, rtol=1e-12, atol=1e-12)


def test_conv2d_shape_errors_name_the_layer():
    holder = layer.Layer()
    holder.conv1 = layer.Conv2d(4, 3)
    with pytest.raises(ShapeError, match=r"Conv2d 'conv1'.*4-d.*\(2, 3, 5\)"):
        holder.conv1(T(2, 3, 5))
    holder.conv1(T(1, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"Conv2d 'conv1'.*3 input channels.*\(1, 2, 5, 5\)"):
        holder.conv1(T(1, 2, 5, 5))
    with pytest.raises(ShapeError, match="groups"):
        layer.Conv2d(4, 3, group=2)(T(1, 3, 5, 5))
    with pytest.raises(ShapeError, match="groups"):
        layer.Conv2d(3, 3, group=2)
    with pytest.raises(ShapeError, match=r"Conv2d.*2 input channels"):
        layer.Conv2d(2, 4, 3)(T(1, 3, 5, 5))
    with pytest.raises(ValueError, match="activation"):
        layer.Conv2d(2, 3, activation="TANH")
    with pytest.raises(ValueError, match="kernel_size"):
        layer.Conv2d(2, (3, 3, 3))


def test_separable_conv2d():
    holder = layer.Layer()
    holder.sep = layer.SeparableConv2d(5, 3, padding=1, bias=True)
    x = T(2, 3, 6, 6, grad=True)
    y = holder.sep(x)
    dw, pw = holder.sep.depthwise_conv, holder.sep.point_conv
    assert dw.W.shape == (3, 1, 3, 3) and pw.W.shape == (5, 3, 1, 1)
    assert sorted(holder.get_params()) == ["sep.depthwise_conv.W", "sep.depthwise_conv.b",
                                           "sep.point_conv.W", "sep.point_conv.b"]
    mid = conv_ref(x.numpy(), dw.W.numpy(), dw.b.numpy(), pads=(1, 1, 1, 1), group=3)
    np.testing.assert_allclose(y.numpy(), conv_ref(mid, pw.W.numpy(), pw.b.numpy()),
                               rtol=1e-12, atol=1e-12)
    check_grads(lambda: holder.sep(x), [x, dw.W, pw.W])


# ------------------------------------------------------------------ BatchNorm2d

def test_batchnorm2d_training_running_statistics_and_evaluation():
    holder = layer.Layer()
    holder.bn = layer.BatchNorm2d(3, momentum=0.8)
    x = T(6, 3, 4, 4, scale=2.0)
    a = x.numpy()
    holder.bn(x)  # evaluation mode: creates, and uses mean 0 / var 1
    bn = holder.bn
    assert sorted(holder.get_params()) == ["bn.bias", "bn.scale"]
    assert sorted(holder.get_states()) == ["bn.bias", "bn.running_mean", "bn.running_var",
                                           "bn.scale"]
    bn.scale.data[...] = [0.5, 1.0, 2.0]
    bn.bias.data[...] = [0.1, -0.2, 0.3]
    s, b = bn.scale.numpy().reshape(1, 3, 1, 1), bn.bias.numpy().reshape(1, 3, 1, 1)
    autograd.training = True
    y = bn(x).numpy()
    mean, var = a.mean(axis=(0, 2, 3)), a.var(axis=(0, 2, 3))
    norm = (a - mean.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y, norm * s + b, rtol=1e-10, atol=1e-12)
    # SINGA: running = (1 - momentum) * running + momentum * batch
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.8 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.2 + 0.8 * var, rtol=1e-12)
    autograd.training = False
    rm, rv = bn.running_mean.numpy().reshape(1, 3, 1, 1), bn.running_var.numpy().reshape(
        1, 3, 1, 1)
    np.testing.assert_allclose(bn(x).numpy(), (a - rm) / np.sqrt(rv + 1e-5) * s + b,
                               rtol=1e-10, atol=1e-12)


def test_batchnorm2d_gradients_in_training_mode():
    bn = layer.BatchNorm2d()
    x = T(4, 2, 3, 3, grad=True)
    bn(x)
    bn.scale.data[...] = [1.5, -0.5]
    autograd.training = True
    check_grads(lambda: bn(x), [x, bn.scale, bn.bias], rtol=1e-5, atol=1e-7)


def test_batchnorm2d_errors_and_initial_values():
    bn = layer.BatchNorm2d(4)
    with pytest.raises(ShapeError, match=r"BatchNorm2d.*4 channels.*\(2, 3, 2, 2\)"):
        bn(T(2, 3, 2, 2))
    bn(T(2, 4, 2, 2))
    for t, v in ((bn.scale, 1.0), (bn.bias, 0.0), (bn.running_mean, 0.0), (bn.running_var, 1.0)):
        np.testing.assert_array_equal(t.numpy(), np.full(4, v))
    with pytest.raises(ValueError, match="momentum"):
        layer.BatchNorm2d(momentum=1.5)
    # the older autograd form keeps ONNX's momentum meaning
    old = autograd.BatchNorm2d(2, momentum=0.8)
    x = T(5, 2, 3, 3)
    autograd.training = True
    old(x)
    np.testing.assert_allclose(old.running_mean.numpy(), 0.2 * x.numpy().mean(axis=(0, 2, 3)),
                               rtol=1e-6)


# ------------------------------------------------------------------ pooling

@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("kernel, stride, padding, pads", [
    (2, None, 0, (0, 0, 0, 0)),
    (3, 2, 1, (1, 1, 1, 1)),
    ((3, 2), (1, 2), (1, 0), (1, 1, 0, 0)),
    (3, 2, (0, 1, 1, 0), (0, 1, 1, 0)),
])
def test_pooling2d_forward_and_gradients(is_max, kernel, stride, padding, pads):
    cls = layer.MaxPool2d if is_max else layer.AvgPool2d
    pool = cls(kernel, stride, padding)
    x = T(2, 3, 7, 6, grad=True)
    k = pool.kernel_size
    want = pool_ref(x.numpy(), k, pool.stride, pads, is_max)
    np.testing.assert_allclose(pool(x).numpy(), want, rtol=1e-12)
    same = layer.Pooling2d(kernel, stride, padding, is_max=is_max)(x)
    np.testing.assert_array_equal(same.numpy(), pool(x).numpy())
    check_grads(lambda: pool(x), [x])


def test_pooling1d_on_three_and_four_dim_inputs():
    x3 = T(2, 3, 9)
    a = x3.numpy()
    y = layer.MaxPool1d(3, 2, 1)(x3)
    want = pool_ref(a[:, :, None, :], (1, 3), (1, 2), (0, 0, 1, 1), True)[:, :, 0]
    np.testing.assert_array_equal(y.numpy(), want)
    avg = layer.AvgPool1d(2)(x3)
    np.testing.assert_allclose(avg.numpy(), (a[..., 0:8:2] + a[..., 1:8:2]) / 2, rtol=1e-12)
    x4 = T(2, 3, 2, 9)  # SINGA's 1-d pools run on (N, C, H, W) along W
    np.testing.assert_array_equal(layer.MaxPool1d(3)(x4).numpy(),
                                  pool_ref(x4.numpy(), (1, 3), (1, 3)))
    with pytest.raises(ShapeError, match=r"MaxPool2d.*4-d.*\(2, 3, 9\)"):
        layer.MaxPool2d(2)(x3)


def test_pooling_same_padding_shape():
    y = layer.MaxPool2d(3, 2, pad_mode="SAME_UPPER")(T(1, 1, 7, 8))
    assert y.shape == (1, 1, 4, 4)
