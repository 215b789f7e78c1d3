"""SINGA's recurrent layers and the functional forms of ONNX's RNN, LSTM and GRU.

Layers (served as ``singa.layer.RNN`` ...):

- :class:`RNN`, :class:`LSTM` (SINGA 3.1's step-list layers) and :class:`GRU`
  (the same convention): ``layer(xs, h0)`` / ``layer(xs, (h0, c0))`` on a list
  of per-step ``(batch, input_size)`` tensors, returning the per-step hidden
  states and the final state(s).  Parameters keep SINGA's names and shapes
  (``Wx`` ``(input_size, hidden_size)``, ``Wx_i``, ``Bh_f`` ...).
- :class:`CudnnRNN`: SINGA's fused multi-layer layer, ``layer(x, hx, cx,
  seq_lengths)``, on the table ops instead of cuDNN.  Its flat weight ``W``
  uses this module's layout (per layer, per direction: ONNX W, R, B), not
  cuDNN's, so cuDNN-trained checkpoints do not load into it.

Functions :func:`rnn`, :func:`lstm`, :func:`gru` are the ONNX ops on tensors.
Every computation is one call of the table op through ``autograd.apply`` (plus
the concatenations, transposes and splits that arrange SINGA's tensors into the
op's operands), so gradients, tracing and ONNX export come from the table.
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import ShapeError
from .layer_base import Layer, float_dtype, new_param
from .tensor import Tensor

__all__ = ["rnn", "lstm", "gru", "RNN_Base", "RNN", "LSTM", "GRU", "CudnnRNN"]


def _apply(op, inputs, attrs=None):
    from .autograd import apply

    return apply(op, inputs, attrs)


def _i64(values, like: Tensor) -> Tensor:
    return Tensor(device=like.device, data=np.asarray(values, dtype=np.int64),
                  requires_grad=False)


def _unsqueeze(x, axis):
    return _apply("Unsqueeze", [x, _i64([axis], x)])[0]


def _squeeze(x, axis):
    return _apply("Squeeze", [x, _i64([axis], x)])[0]


def _concat(xs, axis):
    return xs[0] if len(xs) == 1 else _apply("Concat", list(xs), {"axis": axis})[0]


def _transpose(x, perm):
    return _apply("Transpose", [x], {"perm": list(perm)})[0]


def _split(x, axis, sizes):
    return _apply("Split", [x, _i64(sizes, x)], {"axis": axis, "_num_outputs": len(sizes)})


# ------------------------------------------------------------------ functional forms

def _attrs(hidden_size, direction, layout, activations, activation_alpha, activation_beta,
           clip, **extra):
    attrs = {"direction": direction, "layout": int(layout)}
    if hidden_size is not None:
        attrs["hidden_size"] = int(hidden_size)
    if activations is not None:
        attrs["activations"] = list(activations)
    if activation_alpha is not None:
        attrs["activation_alpha"] = [float(a) for a in activation_alpha]
    if activation_beta is not None:
        attrs["activation_beta"] = [float(b) for b in activation_beta]
    if clip is not None:
        attrs["clip"] = float(clip)
    attrs.update({k: int(v) for k, v in extra.items()})
    return attrs


def rnn(x, W, R, B=None, initial_h=None, sequence_lens=None, *, hidden_size=None,
        direction="forward", layout=0, activations=None, activation_alpha=None,
        activation_beta=None, clip=None):
    """ONNX RNN on tensors: ``(Y, Y_h)``.  ``x`` is ``(seq, batch, input)`` (``layout``
    1: ``(batch, seq, input)``); see the ONNX operator for the other operands."""
    attrs = _attrs(hidden_size, direction, layout, activations, activation_alpha,
                   activation_beta, clip)
    return tuple(_apply("RNN", [x, W, R, B, sequence_lens, initial_h], attrs))


def lstm(x, W, R, B=None, initial_h=None, initial_c=None, P=None, sequence_lens=None, *,
         hidden_size=None, direction="forward", layout=0, activations=None,
         activation_alpha=None, activation_beta=None, clip=None, input_forget=0):
    """ONNX LSTM on tensors: ``(Y, Y_h, Y_c)``; gates in ONNX order i, o, f, c."""
    attrs = _attrs(hidden_size, direction, layout, activations, activation_alpha,
                   activation_beta, clip, input_forget=input_forget)
    return tuple(_apply("LSTM", [x, W, R, B, sequence_lens, initial_h, initial_c, P], attrs))


def gru(x, W, R, B=None, initial_h=None, sequence_lens=None, *, hidden_size=None,
        direction="forward", layout=0, activations=None, activation_alpha=None,
        activation_beta=None, clip=None, linear_before_reset=0):
    """ONNX GRU on tensors: ``(Y, Y_h)``; gates in ONNX order z, r, h."""
    attrs = _attrs(hidden_size, direction, layout, activations, activation_alpha,
                   activation_beta, clip, linear_before_reset=linear_before_reset)
    return tuple(_apply("GRU", [x, W, R, B, sequence_lens, initial_h], attrs))


# ------------------------------------------------------------------ SINGA 3.1's step-list layers

_NONLINEARITY = {"tanh": "Tanh", "relu": "Relu"}


class RNN_Base(Layer):
    """Base of the layers run over a list of time steps (SINGA 3.1's ``RNN_Base``).

    A subclass names its ONNX op, its gates in the op's order and the
    activations; parameters are SINGA's per-gate tensors ``Wx<g>`` (input x
    hidden), ``Wh<g>`` (hidden x hidden) and biases, stacked into the op's
    ``W``, ``R``, ``B`` on every call so that their gradients reach them.
    """

    _op = None
    _gates: tuple = ()  # parameter name suffixes, in the ONNX gate order
    _std = 1.0  # std of the Gaussian the weights start from
    _states = 1  # (h,) or (h, c)

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0, bidirectional=False):
        super().__init__()
        if nonlinearity not in _NONLINEARITY:
            raise ShapeError(f"{type(self).__name__}: nonlinearity {nonlinearity!r} must be "
                             f"'tanh' or 'relu'")
        ignored = [n for n, v, d in (("num_layers", num_layers, 1), ("dropout", dropout, 0),
                                     ("bidirectional", bidirectional, False)) if v != d]
        if ignored:
            # SINGA 3.1 stores these and runs one forward layer all the same
            warnings.warn(f"{type(self).__name__}: {', '.join(ignored)} ignored as in SINGA "
                          f"3.1; layer.CudnnRNN stacks layers and runs both directions",
                          stacklevel=2)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.nonlinearity, self.bias = num_layers, nonlinearity, bias
        self.batch_first, self.dropout, self.bidirectional = batch_first, dropout, bidirectional

    # names of the parameters, per gate
    def _weight_names(self):
        return [f"Wx{g}" for g in self._gates], [f"Wh{g}" for g in self._gates]

    def _bias_names(self):
        return [f"Bx{g}" for g in self._gates] + [f"Bh{g}" for g in self._gates]

    def initialize(self, xs, states=None):
        x0 = xs if isinstance(xs, Tensor) else xs[0]
        dtype, dev = float_dtype(x0), x0.device
        wx, wh = self._weight_names()
        for name in wx:
            setattr(self, name, new_param((self.input_size, self.hidden_size), dev, dtype)
                    .gaussian(0.0, self._std))
        for name in wh:
            setattr(self, name, new_param((self.hidden_size, self.hidden_size), dev, dtype)
                    .gaussian(0.0, self._std))
        if self.bias:
            for name in self._bias_names():
                setattr(self, name, new_param((self.hidden_size,), dev, dtype))

    def _operands(self):
        """(W, R, B) of the ONNX op, assembled from the per-gate parameters."""
        wx, wh = self._weight_names()

        def stacked(names):  # (in, H) per gate -> (1, gates*H, in)
            return _unsqueeze(_transpose(_concat([getattr(self, n) for n in names], 1),
                                         (1, 0)), 0)

        B = None
        if self.bias:
            B = _unsqueeze(_concat([getattr(self, n) for n in self._bias_names()], 0), 0)
        return stacked(wx), stacked(wh), B

    def _activations(self):
        raise NotImplementedError

    def _sequence(self, xs):
        """The steps as one (seq, batch, input) tensor."""
        if isinstance(xs, Tensor):
            if xs.ndim != 3:
                raise ShapeError(f"{self._label()}: a tensor input must be 3-D, got {xs.shape}")
            return _transpose(xs, (1, 0, 2)) if self.batch_first else xs
        xs = list(xs)
        if not xs:
            raise ShapeError(f"{self._label()}: no time steps given")
        for t, x in enumerate(xs):
            if x.ndim != 2 or x.shape != (xs[0].shape[0], self.input_size):
                raise ShapeError(f"{self._label()}: step {t} has shape {x.shape}, expected "
                                 f"(batch, {self.input_size}) with the batch of step 0")
        return _concat([_unsqueeze(x, 0) for x in xs], 0)

    def _run(self, X, states):
        """The op on X (seq, batch, input) from states (batch, hidden) each:
        (per-step outputs, final states), all SINGA-shaped."""
        batch = X.shape[1]
        for s in states:
            if s is not None and s.shape != (batch, self.hidden_size):
                raise ShapeError(f"{self._label()}: state of shape {s.shape}, expected "
                                 f"({batch}, {self.hidden_size})")
        self.device_check(X, *[s for s in states if s is not None],
                          *self.get_params().values())
        W, R, B = self._operands()
        inits = [None if s is None else _unsqueeze(s, 0) for s in states]
        attrs = {"hidden_size": self.hidden_size, "activations": self._activations(),
                 **self._extra_attrs()}
        if self._op == "LSTM":
            operands = [X, W, R, B, None, inits[0], inits[1]]
        else:
            operands = [X, W, R, B, None, inits[0]]
        outs = _apply(self._op, operands, attrs)
        Y = _squeeze(outs[0], 1)  # (seq, 1, batch, H) -> (seq, batch, H)
        steps = [_squeeze(y, 0) for y in _split(Y, 0, [1] * Y.shape[0])]
        return steps, [_squeeze(s, 0) for s in outs[1:1 + self._states]]

    def _extra_attrs(self):
        return {}

    def step_forward(self, x, *states):
        """One time step: ``x`` (batch, input) and the state(s) -> the new state(s)."""
        if not self._initialized:
            self.initialize([x])
        _, finals = self._run(_unsqueeze(x, 0), list(states))
        return finals[0] if len(finals) == 1 else tuple(finals)


class RNN(RNN_Base):
    """SINGA 3.1's vanilla RNN: ``h_t = act(x_t Wx + h_{t-1} Wh + b)``.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0, bidirectional=False)``; ``rnn(xs, h0)`` returns
    ``(list of h_t, h_last)``.  Weights start from N(0, 1), the bias at 0.
    """

    _op = "RNN"
    _gates = ("",)

    def _bias_names(self):
        return ["b"]

    def _operands(self):
        W, R, _ = super()._operands()
        if not self.bias:
            return W, R, None
        # ONNX splits the bias into W's and R's halves; SINGA has one
        zeros = Tensor(device=self.b.device, dtype=self.b.dtype,
                       data=np.zeros(self.b.shape, self.b.dtype), requires_grad=False)
        return W, R, _unsqueeze(_concat([self.b, zeros], 0), 0)

    def _activations(self):
        return [_NONLINEARITY[self.nonlinearity]]

    def forward(self, xs, h0):
        outs, (h,) = self._run(self._sequence(xs), [h0])
        return outs, h


class LSTM(RNN_Base):
    """SINGA 3.1's LSTM: gates i, f, o and candidate g from ``x Wx_* + Bx_* + h Wh_* + Bh_*``.

    ``LSTM(input_size, hidden_size, nonlinearity='tanh', num_layers=1, bias=True,
    batch_first=False, dropout=0, bidirectional=False)`` (argument order as in
    SINGA); ``lstm(xs, (h0, c0))`` returns ``(list of h_t, h_last, c_last)``.
    Weights start from N(0, 0.01), biases at 0.
    """

    _op = "LSTM"
    _gates = ("_i", "_o", "_f", "_g")  # ONNX order i, o, f, c
    _std = 0.01
    _states = 2

    def __init__(self, input_size, hidden_size, nonlinearity="tanh", num_layers=1, bias=True,
                 batch_first=False, dropout=0, bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
                         dropout, bidirectional)

    def _activations(self):
        act = _NONLINEARITY[self.nonlinearity]
        return ["Sigmoid", act, act]

    def forward(self, xs, h0_c0):
        h0, c0 = h0_c0
        outs, (h, c) = self._run(self._sequence(xs), [h0, c0])
        return outs, h, c


class GRU(RNN_Base):
    """A GRU in the convention of SINGA's RNN and LSTM (SINGA 3.1 has none):
    gates z (update), r (reset) and candidate h, parameters ``Wx_z`` ... ``Bh_h``.

    ``gru(xs, h0)`` returns ``(list of h_t, h_last)``.  ``linear_before_reset``
    (default True, as cuDNN and PyTorch) applies the reset gate after the
    candidate's recurrent product.
    """

    _op = "GRU"
    _gates = ("_z", "_r", "_h")
    _std = 0.01

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0, bidirectional=False, linear_before_reset=True):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
                         dropout, bidirectional)
        self.linear_before_reset = bool(linear_before_reset)

    def _activations(self):
        return ["Sigmoid", _NONLINEARITY[self.nonlinearity]]

    def _extra_attrs(self):
        return {"linear_before_reset": int(self.linear_before_reset)}

    def forward(self, xs, h0):
        outs, (h,) = self._run(self._sequence(xs), [h0])
        return outs, h


from .recurrent_fused import CudnnRNN  # noqa: E402  (one layer per module family)
