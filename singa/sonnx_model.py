"""``SONNXModel``: an imported ONNX model as a trainable SINGA model.

SINGA's later API (``sonnx.SONNXModel``) wraps ``prepare`` in a model object::

    class MyModel(sonnx.SONNXModel):
        def __init__(self, onnx_model):
            super().__init__(onnx_model)
            self.linear = autograd.Linear(500, 10)

        def forward(self, x):
            y = super().forward(x, last_layers=-1)
            return self.linear(y)

    m = MyModel(onnx.load("mnist.onnx"))
    m.train()          # autograd.training = True: batch-statistics BN, Dropout drops
    ...                # loss, autograd.backward(loss), optimizer updates get_params()
    m.eval()

The weights are ``SingaRep.tensor_map``'s Tensors; training mode runs the graph
through the autograd tape (:func:`singa.runtime.autograd_runner.run_graph_autograd`),
inference mode through the compiled plan.
"""

from __future__ import annotations

import numpy as np

from . import autograd

__all__ = ["SONNXModel"]

#: Operand positions holding state (running statistics), never trained.
_STATE_OPERANDS = {"BatchNormalization": (3, 4)}


class SONNXModel:
    """An ONNX model prepared for SINGA, with a model-style API.

    ``onnx_model``: a ModelProto, serialized bytes or a path.  With ``trainable``
    (default) the float weights get ``requires_grad`` and ``stores_grad`` so
    ``autograd.backward`` yields them; BatchNormalization running statistics stay
    state (updated by training-mode forward passes, never by gradients).
    """

    def __init__(self, onnx_model, device=None, trainable: bool = True):
        from .sonnx import prepare

        self.sg_ir = prepare(onnx_model, device=device) if device is not None \
            else prepare(onnx_model)
        if trainable:
            state = _state_param_names(getattr(self.sg_ir, "graph", None))
            for name, t in self.sg_ir.tensor_map.items():
                train = t.dtype.kind == "f" and name not in state
                t.requires_grad = t.stores_grad = train

    # ------------------------------------------------------------ running
    def forward(self, *x, last_layers=None):
        """Run the model on ``x`` (Tensors); one output as a Tensor, several as a list."""
        outs = self.sg_ir.run(list(x), last_layers=last_layers)
        return outs[0] if len(outs) == 1 else list(outs)

    def __call__(self, *x, **kwargs):
        return self.forward(*x, **kwargs)

    # ------------------------------------------------------------ mode
    def train(self, mode: bool = True) -> "SONNXModel":
        """Training mode (``autograd.training = mode``); returns self."""
        autograd.training = bool(mode)
        return self

    def eval(self) -> "SONNXModel":
        """Inference mode (``autograd.training = False``); returns self."""
        return self.train(False)

    @property
    def training(self) -> bool:
        return bool(autograd.training)

    # ------------------------------------------------------------ weights
    @property
    def tensor_map(self) -> dict:
        return self.sg_ir.tensor_map

    def get_params(self) -> dict:
        """Weight name -> Tensor (the model's own Tensors, not copies)."""
        return dict(self.sg_ir.tensor_map)

    def set_params(self, params: dict) -> None:
        """Overwrite weights in place from ``params`` (name -> Tensor or array)."""
        unknown = sorted(set(params) - set(self.sg_ir.tensor_map))
        if unknown:
            from .errors import InputError
            raise InputError(f"unknown weights {unknown}")
        for name, v in params.items():
            self.sg_ir.tensor_map[name].copy_from_numpy(np.asarray(v))

    def __repr__(self):
        return f"<SONNXModel {self.sg_ir!r}>"


def _state_param_names(graph) -> set:
    """Names of params used only as running statistics (BN mean/var)."""
    if graph is None:
        return set()
    state, other = set(), set()
    for op in graph.ops:
        for i, v in enumerate(op.operands):
            if v is None or v.kind != "param":
                continue
            (state if i in _STATE_OPERANDS.get(op.name, ()) else other).add(v.name)
    return state - other
