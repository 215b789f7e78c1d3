"""SINGA's ``layer.CudnnRNN`` on the table's RNN, LSTM and GRU ops.

SINGA 3.1 drives cuDNN's fused kernels through its C++ core; here each layer of
the stack is one table op (so it runs, trains and exports on every device).
The single flat weight ``W`` keeps SINGA's interface, in this layout: for each
layer in turn, the ONNX ``W`` ``(D, G*H, in)``, ``R`` ``(D, G*H, H)`` and ``B``
``(D, 2*G*H)`` flattened, where D is 2 when bidirectional and G the gate count
(LSTM 4 in ONNX order i, o, f, c; GRU 3 with ``linear_before_reset``, as
cuDNN; RNN 1).  cuDNN's own layout differs, so weights saved from SINGA's GPU
layer do not load into this one.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ShapeError
from .layer_base import Layer, float_dtype, new_param
from .recurrent import _apply, _i64, _split, _transpose
from .tensor import Tensor

__all__ = ["CudnnRNN"]

# rnn_mode -> (op, gates, activations)
_MODES = {
    "lstm": ("LSTM", 4, None),
    "gru": ("GRU", 3, None),
    "vanilla": ("RNN", 1, ["Tanh"]),
    "tanh": ("RNN", 1, ["Tanh"]),
    "relu": ("RNN", 1, ["Relu"]),
}


class CudnnRNN(Layer):
    """A stack of recurrent layers over a whole sequence (SINGA's ``CudnnRNN``).

    ``CudnnRNN(hidden_size, activation='tanh', num_layers=1, bias=True,
    batch_first=True, dropout=0, bidirectional=False, rnn_mode='lstm',
    use_mask=False, return_sequences=True)``; ``layer(x, hx=None, cx=None,
    seq_lengths=None)`` takes ``x`` as ``(batch, seq, input)`` (``batch_first``)
    or ``(seq, batch, input)`` and states ``(num_layers * D, batch, hidden)``
    (zeros when omitted).  It returns every step's output ``(..., D * hidden)``
    when ``return_sequences``, else the last step's ``(batch, D * hidden)``.
    With ``use_mask``, ``seq_lengths`` (one int per batch entry) ends each
    sequence early; later steps output zeros.  ``dropout`` drops between layers
    while training.  ``bias=False`` is not supported (SINGA requires it too).
    """

    def __init__(self, hidden_size, activation="tanh", num_layers=1, bias=True,
                 batch_first=True, dropout=0, bidirectional=False, rnn_mode="lstm",
                 use_mask=False, return_sequences=True):
        super().__init__()
        if rnn_mode not in _MODES:
            raise ShapeError(f"CudnnRNN: rnn_mode {rnn_mode!r} must be one of "
                             f"{', '.join(_MODES)}")
        if num_layers < 1:
            raise ShapeError(f"CudnnRNN: num_layers must be at least 1, got {num_layers}")
        if not 0 <= dropout < 1:
            raise ShapeError(f"CudnnRNN: dropout must lie in [0, 1), got {dropout}")
        if not bias:
            raise ShapeError("CudnnRNN: bias=False is not supported")
        self.hidden_size, self.activation = int(hidden_size), activation
        self.num_layers, self.bias, self.batch_first = int(num_layers), bias, batch_first
        self.dropout, self.bidirectional = dropout, 1 if bidirectional else 0
        self.rnn_mode, self.use_mask = rnn_mode, use_mask
        self.return_sequences = return_sequences
        self._op, self._gates, self._acts = _MODES[rnn_mode]

    @property
    def _directions(self):
        return 2 if self.bidirectional else 1

    def _pieces(self):
        """[(shape of W, shape of R, shape of B)] per layer."""
        D, GH, H = self._directions, self._gates * self.hidden_size, self.hidden_size
        out, width = [], self.input_size
        for _ in range(self.num_layers):
            out.append(((D, GH, width), (D, GH, H), (D, 2 * GH)))
            width = D * H
        return out

    def initialize(self, x, hx=None, cx=None, seq_lengths=None):
        self.input_size = int(x.shape[-1])
        self.weights_size = sum(math.prod(s) for layer in self._pieces() for s in layer)
        self.W = new_param((self.weights_size,), x.device, float_dtype(x))
        k = math.sqrt(1.0 / self.hidden_size)
        self.W.uniform(-k, k)

    def forward(self, x, hx=None, cx=None, seq_lengths=None):
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._label()}: input of shape {x.shape}, expected 3-D with "
                             f"{self.input_size} features")
        self.device_check(x, self.W)
        D, H, L = self._directions, self.hidden_size, self.num_layers
        batch = x.shape[0] if self.batch_first else x.shape[1]
        for name, s in (("hx", hx), ("cx", cx)):
            if s is not None and s.shape != (L * D, batch, H):
                raise ShapeError(f"{self._label()}: {name} of shape {s.shape}, expected "
                                 f"{(L * D, batch, H)}")
        lens = None
        if self.use_mask:
            if not isinstance(seq_lengths, Tensor):
                raise ShapeError(f"{self._label()}: use_mask needs seq_lengths as a Tensor")
            lens = _apply("Cast", [seq_lengths], {"to": 6})[0]  # the op wants int32
        # time-major inside (the layout onnxruntime runs, for exported models)
        y = _transpose(x, (1, 0, 2)) if self.batch_first else x
        sizes = [math.prod(s) for layer in self._pieces() for s in layer]
        flat = _split(self.W, 0, sizes)
        for k, shapes in enumerate(self._pieces()):
            W, R, B = (_apply("Reshape", [p, _i64(s, p)])[0]
                       for p, s in zip(flat[3 * k:3 * k + 3], shapes))
            h0 = None if hx is None else self._layer_state(hx, k)
            c0 = None if cx is None else self._layer_state(cx, k)
            if k and self.dropout:
                from . import autograd

                y = _apply("Dropout", [y, np.array(self.dropout, dtype=y.dtype),
                                       np.array(autograd.training)])[0]
            y = self._layer(y, W, R, B, lens, h0, c0)
        if not self.return_sequences:
            # the last time step, as SINGA's GPU layer gives it
            return _apply("Gather", [y, _i64(y.shape[0] - 1, y)], {"axis": 0})[0]
        return _transpose(y, (1, 0, 2)) if self.batch_first else y

    def _layer_state(self, s, k):
        D = self._directions
        return _apply("Slice", [s, _i64([k * D], s), _i64([(k + 1) * D], s), _i64([0], s)])[0]

    def _layer(self, y, W, R, B, lens, h0, c0):
        """One layer of the stack on (seq, batch, features): (seq, batch, D * hidden)."""
        attrs = {"hidden_size": self.hidden_size,
                 "direction": "bidirectional" if self.bidirectional else "forward"}
        if self._acts:
            attrs["activations"] = self._acts * self._directions
        if self._op == "GRU":
            attrs["linear_before_reset"] = 1
        operands = [y, W, R, B, lens, h0] + ([c0] if self._op == "LSTM" else [])
        Y = _transpose(_apply(self._op, operands, attrs)[0], (0, 2, 1, 3))  # (seq, batch, D, H)
        shape = (Y.shape[0], Y.shape[1], self._directions * self.hidden_size)
        return _apply("Reshape", [Y, _i64(shape, Y)])[0]
