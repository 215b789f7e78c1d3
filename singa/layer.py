"""SINGA's ``singa.layer``: layers whose parameters are created on the first call.

::

    from singa import layer, model

    class MLP(model.Model):
        def __init__(self):
            super().__init__()
            self.linear1 = layer.Linear(100)     # in_features from the first input
            self.relu = layer.ReLU()
            self.linear2 = layer.Linear(10)

        def forward(self, x):
            return self.linear2(self.relu(self.linear1(x)))

Parameters are named by the layer tree (``"linear1.W"``); see
:class:`~singa.layer_base.Layer` for ``get_params``/``set_params``/
``get_states``/``set_states``.  The layers live in :mod:`singa.layer_base`,
:mod:`singa.layer_dense` and :mod:`singa.layer_conv`; this module gathers them
under SINGA's names.
"""

from __future__ import annotations

from .layer_base import Layer
from .layer_conv import (AvgPool1d, AvgPool2d, BatchNorm2d, Conv2d, MaxPool1d, MaxPool2d,
                         Pooling2d, SeparableConv2d)
from .layer_dense import (Add, BinaryCrossEntropy, Cat, CrossEntropy, Dropout, Embedding,
                          Flatten, Gemm, Linear, MeanSquareError, ReLU, Reshape, Sigmoid,
                          SoftMax, SoftMaxCrossEntropy)

__all__ = ["Layer", "Linear", "Gemm", "Embedding", "Conv2d", "SeparableConv2d", "BatchNorm2d",
           "Pooling2d", "MaxPool2d", "AvgPool2d", "MaxPool1d", "AvgPool1d", "ReLU", "Sigmoid",
           "SoftMax", "Add", "Flatten", "Dropout", "Cat", "Reshape", "SoftMaxCrossEntropy",
           "MeanSquareError", "CrossEntropy", "BinaryCrossEntropy"]

# ---------------------------------------------------------------------------
# IMPORT POINT for the recurrent layers: they are defined in singa/recurrent.py
# (RNN_Base, RNN, LSTM, GRU, CudnnRNN) and served from here on first use, so
# that ``layer.LSTM`` works without singa.layer importing them eagerly.
_RECURRENT = ("RNN_Base", "RNN", "LSTM", "GRU", "CudnnRNN")
# ---------------------------------------------------------------------------

_NOT_PROVIDED = {
    "LayerMeta": "layers need no metaclass here: subclass layer.Layer and define "
                 "initialize() and forward()",
}


def __getattr__(name):
    if name in _RECURRENT:
        from . import recurrent

        return getattr(recurrent, name)
    if name in _NOT_PROVIDED:
        raise AttributeError(f"singa.layer.{name} is not provided: {_NOT_PROVIDED[name]}")
    raise AttributeError(f"module 'singa.layer' has no attribute {name!r}")
