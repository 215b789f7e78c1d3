"""Signal ops beyond the table cases: bad operands, half-precision inputs, the
edges of the windows, and shape inference with unknown operands."""

import numpy as np
import pytest
from onnx import TensorProto

from singa.errors import DTypeError, ShapeError
from singa.ir.types import DType, TensorType
from singa.ops import OPS
from tests.ops.case import rand

I64 = lambda v: np.array(v, np.int64)  # noqa: E731


def run(op, inputs, attrs=None):
    return OPS[op].run(np, inputs, attrs or {})


@pytest.mark.parametrize("inputs, attrs, err, match", [
    ([rand(4, 3)], {}, ShapeError, "last dim"),
    ([rand(4)], {}, ShapeError, "rank"),
    ([np.ones((4, 1), np.int32)], {}, DTypeError, "float"),
    ([rand(4, 2, 1), None, I64(2)], {}, ShapeError, "axis 2 out of range"),
    ([rand(4, 2, 1), None, I64(-1)], {}, ShapeError, "axis -1 out of range"),
    ([rand(4, 1), I64(0)], {}, ShapeError, "dft_length must be >= 1"),
    ([rand(4, 1), I64([3, 4])], {}, ShapeError, "dft_length must be a scalar"),
    ([rand(1, 2)], {"inverse": 1, "onesided": 1}, ShapeError, "needs dft_length"),
    ([rand(4, 1)], {"onesided": 2}, ShapeError, "0 or 1"),
])
def test_dft_rejects(inputs, attrs, err, match):
    with pytest.raises(err, match=f"DFT: .*{match}"):
        run("DFT", inputs, attrs)


@pytest.mark.parametrize("inputs, err, match", [
    ([rand(30, 1), I64(4), None, I64(8)], ShapeError, "signal must be"),
    ([rand(1, 30, 3), I64(4), None, I64(8)], ShapeError, "signal must be"),
    ([rand(1, 30, 1), I64(0), None, I64(8)], ShapeError, "frame_step must be >= 1"),
    ([rand(1, 30, 1), I64(4), rand(6), I64(8)], ShapeError, "window of shape"),
    ([rand(1, 30, 1), I64(4), rand(6, 1)], ShapeError, "window of shape"),
    ([rand(1, 30, 1), I64(4), None, I64(31)], ShapeError, "frame_length 31 out of range"),
    ([rand(1, 30, 1), I64(4), rand(8, dtype=np.float64)], DTypeError, "window dtype"),
    ([np.ones((1, 30, 1), np.int64), I64(4)], DTypeError, "float"),
])
def test_stft_rejects(inputs, err, match):
    with pytest.raises(err, match=f"STFT: .*{match}"):
        run("STFT", inputs)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_windows_reject(op):
    with pytest.raises(ShapeError, match=f"{op}: size must be >= 0"):
        run(op, [I64(-1)])
    with pytest.raises(DTypeError, match=f"{op}: size must be int"):
        run(op, [np.array(4.0, np.float32)])
    with pytest.raises(DTypeError, match=f"{op}: output_datatype 9"):
        run(op, [I64(4)], {"output_datatype": TensorProto.BOOL})
    with pytest.raises(DTypeError, match=f"{op}: size must be i32 or i64"):
        OPS[op].infer([TensorType(DType.FLOAT, ())], OPS[op].attrs({}), [None])


def test_mel_rejects():
    ints = [I64(4), I64(16), I64(8000)]
    with pytest.raises(DTypeError, match="MelWeightMatrix: lower_edge_hertz must be a float"):
        OPS["MelWeightMatrix"].infer([TensorType.of(x) for x in ints + [I64(0), I64(1)]],
                                     OPS["MelWeightMatrix"].attrs({}), [None] * 5)
    with pytest.raises(ShapeError, match="MelWeightMatrix: num_mel_bins must be >= 1"):
        run("MelWeightMatrix", [I64(0)] + ints[1:] + [np.float32(0), np.float32(100)])


@pytest.mark.parametrize("size", [1, 2, 5, 12])
def test_symmetric_windows_match_numpy(size):
    # NumPy's hanning/blackman are the symmetric windows; one sample is the peak, 1
    # (onnxruntime 1.32 returns NaN there, dividing by size - 1 = 0)
    np.testing.assert_allclose(run("HannWindow", [I64(size)], {"periodic": 0})[0],
                               np.hanning(size), atol=1e-7)
    np.testing.assert_allclose(run("BlackmanWindow", [I64(size)], {"periodic": 0})[0],
                               np.blackman(size), atol=1e-7)
    if size == 1:
        assert run("HammingWindow", [I64(1)], {"periodic": 0})[0].tolist() == [1.0]


def test_periodic_window_is_symmetric_one_longer():
    sym = run("HannWindow", [I64(9)], {"periodic": 0, "output_datatype": 11})[0]
    per = run("HannWindow", [I64(8)], {"output_datatype": 11})[0]
    np.testing.assert_allclose(per, sym[:-1], atol=1e-15)


@pytest.mark.parametrize("dt", [TensorProto.INT32, TensorProto.UINT8, TensorProto.BFLOAT16])
def test_window_output_types(dt):
    y = run("BlackmanWindow", [I64(6)], {"output_datatype": dt})[0]
    want = run("BlackmanWindow", [I64(6)], {"output_datatype": TensorProto.DOUBLE})[0]
    assert y.dtype == DType(dt).np
    np.testing.assert_array_equal(y, want.astype(DType(dt).np))


@pytest.mark.parametrize("dtype, rtol", [(np.float16, 2e-3), (DType.BFLOAT16.np, 2e-2)])
def test_dft_half_precision(dtype, rtol):
    x = rand(2, 6, 2).astype(dtype)
    y = run("DFT", [x, None, I64(1)])[0]
    z = x.astype(np.float64)
    want = np.fft.fft(z[..., 0] + 1j * z[..., 1], axis=1)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.astype(np.float64), np.stack([want.real, want.imag], -1),
                               rtol=rtol, atol=rtol * np.abs(want).max())


def test_stft_half_precision():
    x = rand(1, 20, 1).astype(np.float16)
    y = run("STFT", [x, I64(4), None, I64(8)])[0]
    frames = np.stack([x[0, s:s + 8, 0].astype(np.float64) for s in range(0, 13, 4)])
    want = np.fft.rfft(frames, axis=1)
    assert y.dtype == np.float16 and y.shape == (1, 4, 5, 2)
    np.testing.assert_allclose(y[0].astype(np.float64), np.stack([want.real, want.imag], -1),
                               atol=5e-3)


def test_dft_infer_unknown_operands():
    f32 = DType.FLOAT
    attrs = OPS["DFT"].attrs({"onesided": 1})
    x = TensorType(f32, ("N", 10, 3, 1))
    axis = TensorType(DType.INT64, ())
    length = TensorType(DType.INT64, ())
    # axis known, dft_length unknown: only that axis is unknown
    got = OPS["DFT"].infer([x, length, axis], attrs, [None, None, I64(1)])
    assert got == [TensorType(f32, ("N", None, 3, 2))]
    # axis unknown: every signal dim may change
    got = OPS["DFT"].infer([x, None, axis], attrs, [None, None, None])
    assert got == [TensorType(f32, (None, None, None, 2))]
    irfft = OPS["DFT"].attrs({"onesided": 1, "inverse": 1})
    got = OPS["DFT"].infer([x, None, axis], irfft, [None, None, I64(1)])
    assert got == [TensorType(f32, ("N", 18, 3, 1))]


def test_stft_infer_unknown_step():
    sig = TensorType(DType.FLOAT, ("B", 64, 1))
    got = OPS["STFT"].infer([sig, TensorType(DType.INT64, ()), TensorType(DType.FLOAT, (16,))],
                            OPS["STFT"].attrs({}), [None, None, None])
    assert got == [TensorType(DType.FLOAT, ("B", None, 9, 2))]
