"""``sonnx.SONNXModel``: an imported ONNX model as a SINGA :class:`~singa.model.Model`.

SINGA's pattern (transfer learning)::

    class MyModel(sonnx.SONNXModel):
        def __init__(self, onnx_model):
            super().__init__(onnx_model)
            self.linear = layer.Linear(10)

        def forward(self, *x):
            y = super().forward(*x, last_layers=-1)[0]
            return self.linear(y)

        def train_one_batch(self, x, y):
            out = self.forward(x)
            loss = autograd.softmax_cross_entropy(out, y)
            self.optimizer(loss)
            return out, loss

    m = MyModel(onnx.load("resnet18.onnx"))
    m.set_optimizer(opt.SGD(lr=0.01))
    m.compile([x], is_train=True, use_graph=True)
    out, loss = m(x, y)

``forward`` returns the list ``SingaRep.run`` returns.  The ONNX weights are
``SingaRep.tensor_map``'s Tensors: training mode runs the graph through the
autograd tape (:func:`singa.runtime.autograd_runner.run_graph_autograd`), so
the optimizer reaches them; evaluation mode runs the compiled plan.
"""

from __future__ import annotations

from .errors import InputError
from .model import Model

__all__ = ["SONNXModel"]

#: Operand positions holding state (running statistics), never trained.
_STATE_OPERANDS = {"BatchNormalization": (3, 4)}


class SONNXModel(Model):
    """An ONNX model prepared for SINGA, as a :class:`~singa.model.Model`.

    ``onnx_model``: a ModelProto, serialized bytes or a path.  With ``trainable``
    (default) the float weights get ``requires_grad`` and ``stores_grad`` (they
    are ``get_params()``); BatchNormalization running statistics stay states
    (``get_states()``), moved by training-mode passes, never by gradients.
    """

    def __init__(self, onnx_model, device=None, trainable: bool = True):
        from .sonnx import prepare

        super().__init__()
        self.sg_ir = prepare(onnx_model, device=device) if device is not None \
            else prepare(onnx_model)
        if trainable:
            state = _state_param_names(getattr(self.sg_ir, "graph", None))
            for name, t in self.sg_ir.tensor_map.items():
                train = t.dtype.kind == "f" and name not in state
                t.requires_grad = t.stores_grad = train

    def forward(self, *inputs, aux_output=(), **kwargs):
        """Run the ONNX graph on ``inputs``; returns the list of its outputs, then
        the intermediate results named in ``aux_output``.  ``last_layers=k``
        stops after ``ops[:k]`` and returns that op's results."""
        last_layers = kwargs.pop("last_layers", None)
        if not aux_output:
            return list(self.sg_ir.run(list(inputs), last_layers=last_layers, **kwargs))
        every = self.sg_ir.run(list(inputs), last_layers=last_layers, all_outputs=True)
        names = self._output_names(last_layers) + list(aux_output)
        missing = [n for n in names if n not in every]
        if missing:
            raise InputError(f"SONNXModel.forward: no op result named {missing} "
                             f"(last_layers={last_layers}); the results are {list(every)}")
        return [every[n] for n in names]

    def _output_names(self, last_layers) -> list:
        if last_layers is None:
            return list(self.sg_ir.output_names)
        return [r.name for r in self.sg_ir.graph.ops[:last_layers][-1].results]

    # ------------------------------------------------------------ weights
    @property
    def tensor_map(self) -> dict:
        """ONNX weight name -> Tensor (the model's own Tensors)."""
        return self.sg_ir.tensor_map

    def _own_params(self) -> dict:
        params = {k: t for k, t in self.sg_ir.tensor_map.items() if t.stores_grad}
        params.update(super()._own_params())
        return params

    def _own_states(self) -> dict:
        states = dict(self.sg_ir.tensor_map)
        states.update(super()._own_states())
        return states

    def __repr__(self):
        return f"<{type(self).__name__} {self.sg_ir!r}>"


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
