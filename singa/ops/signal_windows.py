"""Tensors that signal pipelines multiply with: the cosine windows (Hann, Hamming,
Blackman) and MelWeightMatrix.  Their inputs are integer or float scalars, so
none of them is differentiable; each computes in float64 and casts to
``output_datatype`` (default float32).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError
from ..ir.types import DType, TensorType
from .base import check_int_operand, defop, np_dtype
from .signal import host_array, scalar_operand

# the output types the schemas allow (T2 of the windows, T3 of MelWeightMatrix)
_OUT_TYPES = ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
              "FLOAT16", "FLOAT", "DOUBLE", "BFLOAT16")


def _out_dtype(op, attrs) -> DType:
    """The ``output_datatype`` attribute as a DType; DTypeError outside the schema's."""
    code = int(attrs["output_datatype"])
    try:
        dt = DType(code)
    except ValueError:
        dt = None
    if dt is None or dt.name not in _OUT_TYPES:
        raise DTypeError(f"{op}: output_datatype {code} is not one of "
                         f"{', '.join(DType[n].short for n in _OUT_TYPES)}")
    return dt


# ------------------------------------------------------------------ windows

def _window_infer(op):
    def infer(types, attrs, values):
        check_int_operand(op, "size", types[0])
        dt = _out_dtype(op, attrs)
        size = scalar_operand(op, "size", values[0], 0) if values[0] is not None else None
        return [TensorType(dt, (size,))]

    return infer


def _cosine_window(name, coeffs):
    """Register window op ``name``: sum_k (-1)^k coeffs[k] cos(2 pi k n / N).

    N is the size (``periodic``, the default) or size - 1 (symmetric).
    """

    @defop(name, infer=_window_infer(name), since=17,
           defaults={"periodic": 1, "output_datatype": int(DType.FLOAT.value)})
    def compute(xp, inputs, attrs):
        dt = _out_dtype(name, attrs)
        size = scalar_operand(name, "size", inputs[0], 0)
        period = size if attrs["periodic"] else size - 1
        if period == 0:
            # a symmetric window of one sample has no period: it is the peak, 1
            return [xp.ones(size, np_dtype(dt))]
        phase = xp.arange(size, dtype=np.float64) * (2 * math.pi / period)
        w = xp.zeros(size, np.float64)
        for k, c in enumerate(coeffs):
            w = w + (-1) ** k * c * xp.cos(k * phase)
        return [w.astype(np_dtype(dt))]

    compute.__doc__ = (f"The {name[:-6]} window of ``size`` samples (periodic or symmetric), "
                       "of type ``output_datatype``.")
    return compute


_hann = _cosine_window("HannWindow", (0.5, 0.5))
_hamming = _cosine_window("HammingWindow", (25 / 46, 21 / 46))
_blackman = _cosine_window("BlackmanWindow", (0.42, 0.5, 0.08))


# ------------------------------------------------------------------ MelWeightMatrix

def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def _mel_infer(types, attrs, values):
    for i, what in enumerate(("num_mel_bins", "dft_length", "sample_rate")):
        check_int_operand("MelWeightMatrix", what, types[i])
    for i, what in ((3, "lower_edge_hertz"), (4, "upper_edge_hertz")):
        t = types[i]
        if t is not None and t.dtype is not None and not t.dtype.is_float:
            raise DTypeError(f"MelWeightMatrix: {what} must be a float, got {t.dtype.short}")
    dt = _out_dtype("MelWeightMatrix", attrs)
    mels = scalar_operand("MelWeightMatrix", "num_mel_bins", values[0], 1) \
        if values[0] is not None else None
    bins = scalar_operand("MelWeightMatrix", "dft_length", values[1], 1) // 2 + 1 \
        if values[1] is not None else None
    return [TensorType(dt, (bins, mels))]


@defop("MelWeightMatrix", infer=_mel_infer, since=17,
       defaults={"output_datatype": int(DType.FLOAT.value)})
def _mel_weight_matrix(xp, inputs, attrs):
    """``[dft_length // 2 + 1, num_mel_bins]`` triangular filters, evenly spaced in mel.

    Filter i rises from edge i to a peak of 1 at edge i + 1 and falls to edge i + 2;
    the edges are ``num_mel_bins + 2`` points ``mel_step`` apart from the lower edge,
    where ``mel_step`` is the mel range over ``num_mel_bins + 2`` (as onnxruntime
    and the ONNX reference compute it), mapped to spectrogram bins by
    ``floor((dft_length + 1) * hz / sample_rate)``.
    """
    op = "MelWeightMatrix"
    mels = scalar_operand(op, "num_mel_bins", inputs[0], 1)
    n = scalar_operand(op, "dft_length", inputs[1], 1)
    rate = scalar_operand(op, "sample_rate", inputs[2], 1)
    lo, hi = (float(host_array(v).reshape(())) for v in inputs[3:5])
    dt = _out_dtype(op, attrs)
    lo_mel, hi_mel = _hz_to_mel(lo), _hz_to_mel(hi)
    edges_mel = lo_mel + np.arange(mels + 2) * ((hi_mel - lo_mel) / (mels + 2))
    edges = np.floor((n + 1) * _mel_to_hz(edges_mel) / rate).astype(np.int64)
    left, center, right = (xp.asarray(edges[k:k + mels])[None, :] for k in range(3))
    j = xp.arange(n // 2 + 1)[:, None]
    rise = (j - left) / xp.maximum(center - left, 1)
    fall = (right - j) / xp.maximum(right - center, 1)
    w = xp.where((j >= left) & (j < center), rise, 0.0)
    w = xp.where((j > center) & (j < right), fall, w)
    w = xp.where(j == center, 1.0, w)
    return [w.astype(np_dtype(dt))]
