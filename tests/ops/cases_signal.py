"""Cases of the signal ops (singa/ops/signal.py, singa/ops/signal_windows.py).

DFT and STFT are checked against onnxruntime forward and by finite differences
(their grads are the adjoint transforms); windows and MelWeightMatrix forward.
"""

import numpy as np
from onnx import TensorProto

from tests.ops.case import Case, rand

I64 = lambda v: np.array(v, np.int64)  # noqa: E731
I32 = lambda v: np.array(v, np.int32)  # noqa: E731

REAL = rand(2, 5, 3, 1)
CPLX = rand(2, 5, 3, 2)
HALF = rand(3, 6, 2, seed=7)  # one-sided spectra: 6 bins along axis 1


def _irfft(x, n, axis, **attrs):
    """NumPy's irfft, as the ONNX reference computes it: the spectrum is cropped or
    zero-padded to n // 2 + 1 bins.  onnxruntime instead mixes the given bins with
    mirrored ones when dft_length does not match the input's length (onnxruntime
    1.32), so those cases check against this."""
    z = x[..., 0] + 1j * x[..., 1]
    return [np.fft.irfft(z, n=int(n), axis=int(axis))[..., None]]


def _whole_signal_stft(signal, step, **attrs):
    """One frame spanning the signal (frame_length defaults to its length, which
    onnxruntime 1.32 does not implement): its one-sided spectrum."""
    y = np.fft.rfft(signal[..., 0], axis=1)
    return [np.stack([y.real, y.imag], -1)[:, None]]


def _hamming(size, output_datatype, **attrs):
    """The periodic Hamming window with ONNX's coefficients (25/46, 21/46) in float64:
    onnxruntime evaluates float16 windows in float16 and is off by more than its
    rounding."""
    n = np.arange(int(size))
    return [25 / 46 - 21 / 46 * np.cos(2 * np.pi * n / int(size))]


CASES = [
    # opset 20: the axis is input 2 (default -2, the last signal axis)
    Case("DFT", [REAL], id="real_default_axis"),
    Case("DFT", [REAL, None, I64(1)], id="real_axis1"),
    Case("DFT", [CPLX, None, I64(-3)], id="complex_neg_axis"),
    Case("DFT", [CPLX, None, I64(1)], {"inverse": 1}, id="inverse"),
    Case("DFT", [REAL, I64(8), I64(1)], {"onesided": 1}, id="rfft_padded"),
    Case("DFT", [REAL, I32(3), I64(1)], {"onesided": 1}, id="rfft_cropped"),
    Case("DFT", [CPLX, I64(7), I64(1)], id="complex_padded"),
    Case("DFT", [CPLX, I64(4), I64(1)], {"inverse": 1}, id="inverse_cropped"),
    Case("DFT", [HALF, None, I64(1)], {"inverse": 1, "onesided": 1}, id="irfft"),
    Case("DFT", [HALF, I64(11), I64(1)], {"inverse": 1, "onesided": 1}, id="irfft_odd"),
    Case("DFT", [HALF, I64(9), I64(1)], {"inverse": 1, "onesided": 1}, reference=_irfft,
         id="irfft_odd_cropped"),
    Case("DFT", [HALF, I64(6), I64(1)], {"inverse": 1, "onesided": 1}, reference=_irfft,
         id="irfft_cropped"),
    Case("DFT", [HALF, I64(14), I64(1)], {"inverse": 1, "onesided": 1}, reference=_irfft,
         id="irfft_padded"),
    Case("DFT", [REAL.astype(np.float64), None, I64(0)], id="f64_axis0"),
    Case("DFT", [rand(4, 1)], id="rank2"),
    # opsets 17-19: the axis is an attribute, default 1
    Case("DFT", [REAL], opset=19, id="opset19_default_axis"),
    Case("DFT", [CPLX], {"axis": -2, "inverse": 1}, opset=19, id="opset19_inverse"),
    Case("DFT", [REAL, I64(4)], {"axis": 2, "onesided": 1}, opset=17, id="opset17_rfft"),

    Case("STFT", [rand(1, 32, 1), I64(4), None, I64(8)], id="frame_length"),
    Case("STFT", [rand(2, 30, 1), I64(5), rand(8, seed=3)], id="window"),
    Case("STFT", [rand(2, 21, 1, dtype=np.float64), I64(3), rand(6, dtype=np.float64, seed=4),
                  I64(6)], {"onesided": 0}, id="f64_window_and_length"),
    Case("STFT", [rand(2, 20, 2), I64(4), rand(7, seed=5)], {"onesided": 0},
         id="complex"),
    Case("STFT", [rand(2, 16, 1, dtype=np.float64), I32(16)], reference=_whole_signal_stft,
         id="f64_whole_signal"),

    Case("HannWindow", [I32(10)], id="periodic"),
    Case("HannWindow", [I64(9)], {"periodic": 0}, id="symmetric"),
    Case("HannWindow", [I64(6)], {"output_datatype": TensorProto.DOUBLE}, id="f64"),
    Case("HannWindow", [I64(0)], id="empty"),
    Case("HammingWindow", [I32(10)], id="periodic"),
    Case("HammingWindow", [I64(7)], {"periodic": 0}, id="symmetric"),
    Case("HammingWindow", [I64(5)], {"output_datatype": TensorProto.FLOAT16}, rtol=1e-3,
         reference=_hamming, id="f16"),
    Case("BlackmanWindow", [I32(10)], id="periodic"),
    Case("BlackmanWindow", [I64(11)], {"periodic": 0}, id="symmetric"),
    Case("BlackmanWindow", [I64(8)], {"output_datatype": TensorProto.DOUBLE, "periodic": 0},
         id="f64"),

    Case("MelWeightMatrix", [I32(8), I32(16), I32(8192), np.float32(0), np.float32(4096)],
         id="suite"),
    Case("MelWeightMatrix", [I64(10), I64(64), I64(16000), np.float32(20),
                             np.float32(8000)], id="speech"),
    Case("MelWeightMatrix", [I64(5), I64(31), I64(1000), np.float64(100), np.float64(400)],
         {"output_datatype": TensorProto.DOUBLE}, id="f64_odd_length"),
]
