"""SINGA's ``singa.model.Model``: a layer tree with a training step.

::

    class MLP(model.Model):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = layer.Linear(32), layer.Linear(10)
            self.loss = layer.SoftMaxCrossEntropy()

        def forward(self, x):
            return self.l2(autograd.relu(self.l1(x)))

        def train_one_batch(self, x, y):
            out = self.forward(x)
            loss = self.loss(out, y)
            self.optimizer(loss)
            return out, loss

    m = MLP()
    m.set_optimizer(opt.SGD(lr=0.05))
    m.compile([x], is_train=True, use_graph=True)   # creates the parameters
    out, loss = m(x, y)      # training mode: train_one_batch
    m.eval(); y = m(x)       # evaluation mode: forward

``use_graph=True`` is compiled training: the first step for each input
signature runs eagerly while it is recorded, and is then traced into one IR
graph (forward, backward, optimizer update), optimised and planned; later
steps run the plan (:mod:`singa.runtime.graph_training`).

``save_states`` writes SINGA's checkpoint format: a zip holding
``tensor_dict.npz`` (every state by name) and ``states_attr.json`` (per name:
``state_type`` 0 for the model's states, 1 for auxiliary ones; ``shape``;
``dtype`` as SINGA's type code where it has one).
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from . import autograd
from . import tensor as _tensor
from .errors import InputError, SingaError
from .layer_base import Layer
from .tensor import Tensor

__all__ = ["Model"]

# SINGA's DataType codes (core.proto); other dtypes are written by NumPy name.
_SINGA_DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1,
                      np.dtype(np.int32): 2, np.dtype(np.int8): 3,
                      np.dtype(np.float64): 4, np.dtype(np.uint8): 5}


class Model(Layer):
    """Base class of SINGA models: define ``forward`` and ``train_one_batch``.

    Calling the model runs ``train_one_batch`` in training mode and ``forward``
    in evaluation mode (``train()`` / ``eval()``, or ``compile(is_train=...)``).
    """

    TENSOR_DICT_FILENAME = "/tensor_dict.npz"
    STATES_ATTR_FILENAME = "/states_attr.json"
    MODEL_STATE_TYPE = 0
    AUX_STATE_TYPE = 1

    def __init__(self):
        super().__init__()
        self.training = True
        self.graph_mode = True
        self.sequential = False
        # The compiled-training runner (a GraphTrainer) while graph mode is on
        # (set by ``graph``; None: train eagerly).  Consulted only in __call__.
        self._compiled_step = None

    # ------------------------------------------------------------ setup
    def compile(self, inputs, is_train=True, use_graph=False, sequential=False):
        """Create every parameter by running ``forward`` once on ``inputs`` (a list
        of Tensors or placeholders), then set the mode: ``is_train`` (training or
        evaluation), ``use_graph`` (train through the computational graph),
        ``sequential`` (run the graph's ops in the order they were added)."""
        if (not isinstance(inputs, (list, tuple)) or not inputs
                or not all(isinstance(t, Tensor) for t in inputs)):
            raise InputError(f"{self._label()}.compile expects a non-empty list of Tensors, "
                             f"got {_describe(inputs)}")
        was_training = autograd.training
        # Inference mode, so this shape-finding pass moves no running statistics.
        autograd.training = False
        try:
            self.forward(*inputs)
        finally:
            autograd.training = was_training
        self.train(is_train)
        self.graph(use_graph, sequential)
        return self

    def set_optimizer(self, optimizer):
        """Use ``optimizer`` (``self.optimizer``) in ``train_one_batch``."""
        self.optimizer = optimizer

    # ------------------------------------------------------------ running
    def forward(self, *inputs):
        """The model's computation; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def train_one_batch(self, *inputs, **kwargs):
        """One training iteration (forward, loss, optimizer); subclasses override it."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define train_one_batch(); define it, or call "
            "eval() (or compile(..., is_train=False)) so that calling the model runs forward()")

    def __call__(self, *inputs, **kwargs):
        if not self.training:
            return self.forward(*inputs, **kwargs)
        if self.graph_mode and self._compiled_step is not None:  # compiled training
            return self._compiled_step(*inputs, **kwargs)
        return self.train_one_batch(*inputs, **kwargs)

    # ------------------------------------------------------------ modes
    def train(self, mode=True):
        """Training mode (``mode``) or evaluation mode; sets ``autograd.training``."""
        self.training = bool(mode)
        autograd.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses running statistics, Dropout passes through."""
        return self.train(False)

    def graph(self, mode=True, sequential=False):
        """Train through the computational graph (``mode``); ``sequential`` runs its
        ops in the order they were added."""
        self.graph_mode = bool(mode)
        self.sequential = bool(sequential)
        if self.graph_mode:
            from .runtime.graph_training import GraphTrainer

            if not isinstance(self._compiled_step, GraphTrainer):
                self._compiled_step = GraphTrainer(self)
        else:
            self._compiled_step = None

    def __get_name__(self):
        return type(self).__name__

    # ------------------------------------------------------------ checkpoints
    def save_states(self, fpath, aux_states=None):
        """Write the model's states, and ``aux_states`` (name -> Tensor, array or
        number: epoch, optimizer state...), to the zip file ``fpath``."""
        if os.path.exists(fpath):
            raise FileExistsError(f"save_states: {fpath} already exists")
        arrays, attrs = {}, {}
        for kind, states in ((self.MODEL_STATE_TYPE, self.get_states()),
                             (self.AUX_STATE_TYPE, aux_states or {})):
            for name, value in states.items():
                if name in arrays:
                    raise InputError(f"save_states: aux state {name!r} has the name of a "
                                     "model state")
                a = _tensor.to_numpy(value) if isinstance(value, Tensor) else np.asarray(value)
                if a.dtype == object:
                    raise InputError(f"save_states: state {name!r} is not numeric "
                                     f"({type(value).__name__})")
                arrays[name] = a
                attrs[name] = {"state_type": kind, "shape": list(a.shape),
                               "dtype": _SINGA_DTYPE_CODES.get(a.dtype, a.dtype.name)}
        with zipfile.ZipFile(fpath, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(self.TENSOR_DICT_FILENAME.lstrip("/"), _npz_bytes(arrays))
            zf.writestr(self.STATES_ATTR_FILENAME.lstrip("/"), json.dumps(attrs))

    def load_states(self, fpath):
        """Restore the model's states from ``fpath`` (written by ``save_states``)
        and return the auxiliary states as a dict name -> Tensor."""
        if not os.path.isfile(fpath):
            raise FileNotFoundError(f"load_states: {fpath} does not exist")
        arrays, attrs = _read_states_file(fpath, self.TENSOR_DICT_FILENAME.lstrip("/"),
                                          self.STATES_ATTR_FILENAME.lstrip("/"))
        model_states, aux = {}, {}
        for name, a in arrays.items():
            kind = attrs.get(name, {}).get("state_type")
            if kind == self.MODEL_STATE_TYPE:
                model_states[name] = a
            elif kind == self.AUX_STATE_TYPE:
                aux[name] = _tensor.from_numpy(a)
            else:
                raise SingaError(f"load_states: {fpath}: state {name!r} has state_type "
                                 f"{kind!r} (expected 0 or 1)")
        self.set_states(model_states)
        return aux


def _npz_bytes(arrays: dict) -> bytes:
    """``arrays`` as a .npz file (what ``np.savez`` writes, for any state name)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, mode="w") as npz:
        for name, a in arrays.items():
            with npz.open(name + ".npy", mode="w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _read_states_file(fpath, tensors_name, attrs_name):
    try:
        with zipfile.ZipFile(fpath) as zf:
            attrs = json.loads(zf.read(attrs_name))
            with np.load(io.BytesIO(zf.read(tensors_name)), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise SingaError(f"load_states: {fpath} is not a SINGA states file "
                         f"({type(e).__name__}: {e})") from e
    if not isinstance(attrs, dict) or not all(isinstance(v, dict) for v in attrs.values()):
        raise SingaError(f"load_states: {fpath}: {attrs_name} is not a dict of per-state "
                         "attributes")
    return arrays, attrs


def _describe(x) -> str:
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of {[type(v).__name__ for v in x]}"
    return type(x).__name__
