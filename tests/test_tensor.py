import numpy as np
import pytest

from singa import device, tensor
from singa.errors import DeviceError, DTypeError, ShapeError

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_dtype_round_trips(dt):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dt)
    t = tensor.from_numpy(a)
    assert t.dtype == np.dtype(dt) and t.shape == (3, 4)
    np.testing.assert_array_equal(tensor.to_numpy(t), a)
    np.testing.assert_array_equal(np.asarray(t), a)


def test_constructor_forms():
    t = tensor.Tensor((2, 3))
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.stores_grad and t.requires_grad
    t = tensor.Tensor(data=np.ones((2,), np.int64), dtype=np.float64)
    assert t.dtype == np.float64
    t = tensor.Tensor(shape=4, dtype=tensor.int32)
    assert t.shape == (4,) and t.dtype == np.int32
    zero_d = tensor.from_numpy(np.float32(3.5))
    assert zero_d.shape == () and zero_d.item() == 3.5
    empty = tensor.from_numpy(np.zeros((0, 3), np.float32))
    assert empty.shape == (0, 3) and empty.size == 0


def test_arithmetic_matches_numpy_and_keeps_dtype():
    a = np.array([[1.5, -2.0], [3.0, 4.0]], np.float32)
    b = np.array([0.5, 2.0], np.float32)
    ta, tb = tensor.from_numpy(a), tensor.from_numpy(b)
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
                      (ta * 2, a * 2), (1 - ta, 1 - a), (-ta, -a), (ta @ ta, a @ a),
                      (ta.reshape(4), a.reshape(4)), (ta.T, a.T)]:
        assert got.dtype == np.float32
        np.testing.assert_allclose(tensor.to_numpy(got), want, rtol=1e-6)
    np.testing.assert_array_equal(tensor.to_numpy(ta > tb), a > b)


def test_copy_from_numpy_is_in_place_and_checks_size():
    t = tensor.Tensor((2, 2))
    alias = t.data
    t.copy_from_numpy(np.arange(4))
    np.testing.assert_array_equal(alias, np.arange(4).reshape(2, 2))
    with pytest.raises(ShapeError):
        t.copy_from_numpy(np.arange(5))


def test_to_numpy_rejects_non_tensors():
    with pytest.raises(DTypeError):
        tensor.to_numpy(np.zeros(2))


def test_cpu_device_and_missing_gpu():
    assert tensor.Tensor((1,)).device == device.get_default_device()
    try:
        import cupy  # noqa: F401
        has_cupy = True
    except Exception:
        has_cupy = False
    if not has_cupy:
        with pytest.raises(DeviceError, match="CuPy"):
            device.create_cuda_gpu()
        with pytest.raises(DeviceError):
            device.create_cuda_gpu_on(1)
    with pytest.raises(DeviceError):
        device.resolve("tpu")
