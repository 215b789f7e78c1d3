"""SINGA's ONNX API: ``prepare`` / ``SingaRep`` / ``SingaBackend`` / ``to_onnx``.

``prepare(model, device)`` imports the model into the IR and returns a
:class:`SingaRep`; ``rep.run([x])`` runs it.  In inference mode run() goes
through compiled, cached execution plans (one per input shapes, so any batch
size works); with ``autograd.training`` set it evaluates the IR op by op
through ``autograd.apply`` so gradients reach ``rep.tensor_map``.

:class:`SingaBackend` is the ``onnx.backend.base.Backend`` over the same
machinery, so ``onnx.backend.test`` can run against it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, namedtupledict

from . import device as _device
from .errors import DeviceError, InputError, SingaError
from .ir.graph import Graph
from .ir.types import OptionalType, SequenceType
from .runtime.executor import Executor, check_inputs
from .tensor import Tensor

__all__ = ["prepare", "SingaRep", "SingaBackend", "to_onnx", "run_model", "run_node",
           "supports_device", "OnnxNode", "OnnxAttributes"]


def to_onnx(inputs, outputs, model_name: str = "sonnx", opset: int | None = None):
    """Trace ``outputs`` back to ``inputs`` into an ONNX model.

    The Tensors among ``inputs`` become the graph inputs, in order; other entries
    (numbers, shapes) are passed over, as SINGA does: its users list every
    argument of the ops they called, as in ``to_onnx([x, -0.5, 0.5], [clip(x)])``.
    """
    from .exporters.onnx_export import to_onnx as _to_onnx

    inputs = [t for t in inputs if isinstance(t, Tensor)]
    return _to_onnx(inputs, outputs, model_name=model_name, opset=opset)


class SingaRep(BackendRep):
    """A prepared model: ``run(inputs)`` and ``tensor_map`` (weight name -> Tensor).

    The weights in ``tensor_map`` are the ones every run reads (their current
    ``.data``), so training them in place, or rebinding ``.data``, takes effect
    on the next run.  ``graph`` is the imported IR.
    """

    def __init__(self, graph: Graph, device=None, *, fold_params: bool = False,
                 fuse: bool = False, passes=None, verify: bool = False, check: bool = False,
                 dump_dir=None, target: str | None = None, max_bytes=None):
        self.graph = graph
        self.device = _device.resolve(device)
        # the executor first: it aligns the weights' data, which the tensors then wrap
        self._executor = Executor(graph, self.device, fold_params=fold_params, fuse=fuse,
                                  passes=passes, verify=verify, check=check, dump_dir=dump_dir,
                                  target=target, max_bytes=max_bytes)
        self.tensor_map: OrderedDict = OrderedDict(
            (v.name, Tensor(device=self.device, data=v.data, requires_grad=True,
                            stores_grad=False, name=v.name))
            for v in graph.params)

    # ------------------------------------------------------------ description
    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]

    @property
    def executor(self) -> Executor:
        return self._executor

    def __repr__(self):
        ins = ", ".join(f"{v.name}: {v.type}" for v in self.graph.inputs)
        return (f"<SingaRep @{self.graph.name}({ins}) on {self.device}: {len(self.graph.ops)} "
                f"ops, {len(self.tensor_map)} weights>")

    # ------------------------------------------------------------ running
    def run(self, inputs, last_layers=None, all_outputs: bool = False, **kwargs):
        """Run the model on ``inputs`` (a list of NumPy arrays or Tensors, in the
        model's input order; a dict by input name; or one array).

        ``last_layers``: keep only ``ops[:last_layers]`` (Python slice semantics:
        -1 drops the last op) and return that op's results.  Returns a list of
        Tensors, or with ``all_outputs`` an OrderedDict name -> Tensor of every
        op result in order.
        """
        from . import autograd

        if autograd.training:
            return self._run_autograd(inputs, last_layers, all_outputs)
        arrays = self._arrays(inputs)
        params = {n: t.data for n, t in self.tensor_map.items()}
        try:
            out = self._executor.run(arrays, last_layers=last_layers, all_outputs=all_outputs,
                                     params=params)
        except KeyError as e:  # a weight removed from tensor_map
            raise InputError(f"tensor_map lacks weight {e.args[0]!r}") from None
        wrap = self._wrap
        if all_outputs:
            return OrderedDict((k, wrap(a)) for k, a in out.items())
        return [wrap(a) for a in out]

    def _wrap(self, a):
        """An output as the user gets it: a Tensor; a list of them for a sequence;
        None for an empty optional."""
        if a is None:
            return None
        if isinstance(a, (list, tuple)):
            return [self._wrap(e) for e in a]
        return Tensor(device=self.device, data=a, requires_grad=False)

    def _arrays(self, inputs) -> list:
        """The caller's inputs as device arrays in graph-input order (a list of
        them for a sequence input, None for an empty optional)."""
        names = self.input_names
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(names))
            if unknown:
                raise InputError(f"unknown input name(s) {unknown}; the model's inputs are "
                                 f"{names}")
            missing = [n for n in names if n not in inputs]
            if missing:
                raise InputError(f"missing input(s) {missing}")
            inputs = [inputs[n] for n in names]
        elif isinstance(inputs, (np.ndarray, Tensor)) or np.isscalar(inputs):
            inputs = [inputs]
        elif not isinstance(inputs, (list, tuple)):
            raise InputError(f"inputs must be a list of arrays/Tensors, a dict or one array, "
                             f"not {type(inputs).__name__}")
        ins = self.graph.inputs
        out = []
        for k, x in enumerate(inputs):
            t = ins[k].type if k < len(ins) else None
            name = names[k] if k < len(names) else k
            if x is None and not isinstance(t, OptionalType):
                raise InputError(f"input {name!r} is None")
            if isinstance(t, (SequenceType, OptionalType)):
                out.append(self._value(name, x))
                continue
            out.append(self._as_declared(k, self._array(name, x)))
        return out

    def _array(self, name, x):
        """One array (Tensor, array, nested Python list of numbers) on the device."""
        if isinstance(x, Tensor):
            x = x.data
        elif not hasattr(x, "dtype") or not hasattr(x, "shape"):
            x = np.asarray(x)
        try:
            return self.device.put(x)
        except Exception as e:
            raise InputError(f"input {name!r}: cannot place on {self.device}: {e}") from e

    def _value(self, name, x):
        """A sequence (a list of arrays/Tensors, kept a list) or optional (None or
        its value) input on the device; check_inputs holds it to the declared type."""
        if x is None:
            return None
        if isinstance(x, (list, tuple)):
            return [self._value(name, e) for e in x]
        return self._array(name, x)

    def _as_declared(self, k: int, x):
        """``x`` cast to input ``k``'s declared integer type when that loses nothing.

        SINGA's tensors are float32 or int32, so SINGA users feed token ids as those
        to models declaring int64 ids (the BERT, RoBERTa and GPT-2 examples); any other
        mismatch is left to the input check, which names it.
        """
        ins = self.graph.inputs
        t = ins[k].type if k < len(ins) else None
        if t is None or t.dtype is None or x.dtype == t.dtype.np:
            return x
        want = t.dtype.np
        if want.kind not in "iu" or x.dtype.kind not in "iuf" or x.size == 0:
            return x
        xp = self.device.xp
        info = np.iinfo(want)
        lo, hi = xp.min(x), xp.max(x)
        integral = x.dtype.kind != "f" or bool(xp.all(xp.trunc(x) == x))
        if not (integral and info.min <= lo and hi <= info.max):
            raise InputError(f"input {ins[k].name!r}: declared {t.dtype.short}, given "
                             f"{x.dtype} values that are not all {t.dtype.short} "
                             f"(range {lo}..{hi}{'' if integral else ', fractions'})")
        return x.astype(want)

    def _run_autograd(self, inputs, last_layers=None, all_outputs: bool = False):
        """Training mode: evaluate the IR op by op through ``autograd.apply``.

        The weights are the ``tensor_map`` Tensors themselves, so
        ``autograd.backward`` reaches them; input Tensors are used as given, so a
        tape upstream of the model continues through it.
        """
        from .runtime.autograd_runner import run_graph_autograd

        if isinstance(inputs, dict):
            self._arrays(inputs)  # name checks
            inputs = [inputs[n] for n in self.input_names]
        elif isinstance(inputs, (np.ndarray, Tensor)) or np.isscalar(inputs):
            inputs = [inputs]
        arrays = self._arrays(list(inputs))
        check_inputs(self.graph, arrays)
        xs = [x if isinstance(x, Tensor) and x.device == self.device
              else Tensor(device=self.device, data=a, requires_grad=False)
              for x, a in zip(inputs, arrays)]
        return run_graph_autograd(self.graph, xs, self.tensor_map, last_layers,
                                  all_outputs=all_outputs, device=self.device)


def _device_of(device):
    if isinstance(device, str) and device.upper().startswith("CUDA"):
        device = "cuda" + device[4:]
    return _device.resolve(device)


def prepare(model, device="CPU", **kwargs) -> SingaRep:
    """Import ``model`` (ModelProto, path or bytes) and prepare it on ``device``.

    ``device``: a Device, or 'CPU' / 'CUDA' / 'CUDA:1'.  Options: ``base_dir``
    (external data folder), ``fold_params`` (let passes fold float weights:
    BatchNorm into Conv; changed weights are still noticed and re-folded),
    ``fuse`` (elementwise chains as one step), ``verify``, ``check``, ``dump_dir``
    (see :class:`~singa.runtime.executor.Executor`), ``target`` ('numpy', 'c' or
    'cuda'; default ``$SINGA_TARGET``, else 'cuda' on a GPU and 'c' on the CPU),
    ``max_bytes`` (the memory budget of this model's import and plans; default
    ``$SINGA_MAX_BYTES``, else 80% of physical memory: :mod:`singa.runtime.budget`).
    Unknown options are ignored (the ONNX backend test passes its own).
    Raises ModelError / UnsupportedOpError / ExternalDataError for bad models.
    """
    from .frontends.onnx_import import import_model

    from .runtime import budget

    dev = _device_of(device)
    with budget.limited(kwargs.get("max_bytes")):
        graph = import_model(model, base_dir=kwargs.get("base_dir"))
    opts = {k: kwargs[k] for k in ("fold_params", "fuse", "passes", "verify", "check",
                                   "dump_dir", "target", "max_bytes") if k in kwargs}
    return SingaRep(graph, dev, **opts)


def _numpy(t) -> np.ndarray:
    from .tensor import to_numpy

    return to_numpy(t) if isinstance(t, Tensor) else np.asarray(t)


class SingaBackend(Backend):
    """``onnx.backend.base.Backend`` for singa: prepare, run_model, run_node."""

    @classmethod
    def is_compatible(cls, model, device: str = "CPU", **kwargs) -> bool:
        """Whether every op of ``model`` is in the table at the model's opset."""
        from .frontends.onnx_import import load_proto, unsupported_ops

        try:
            return not unsupported_ops(load_proto(model)[0])
        except SingaError:
            return False

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> SingaRep:
        return prepare(model, device, **kwargs)

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        """Outputs (NumPy arrays, by output name) of ``model`` on ``inputs``."""
        rep = cls.prepare(model, device, **kwargs)
        outs = rep.run(inputs)
        return namedtupledict("Outputs", rep.output_names)(*[_numpy(t) for t in outs])

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        """Outputs of one ONNX node on ``inputs`` (a list in node-input order, or a
        dict by input name); ``opset_version`` picks the opset (default newest)."""
        opset = kwargs.pop("opset_version", None) or onnx.defs.onnx_opset_version()
        names, outs = _run_one_node(node, inputs, device, opset, **kwargs)
        return namedtupledict("Outputs", names)(*[_numpy(t) for t in outs])

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """'CPU' always; 'CUDA' when CuPy and a GPU are present."""
        d = str(device).upper()
        if d == "CPU":
            return True
        if d.startswith("CUDA"):
            try:
                _device_of(d)
                return True
            except (DeviceError, SingaError, ValueError):
                return False
        return False


def _run_one_node(node, inputs, device, opset: int, **kwargs):
    """Run NodeProto ``node`` as a one-node model: (output names, output Tensors)."""
    from onnx import helper

    names = [n for n in node.input if n]
    if isinstance(inputs, dict):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InputError(f"node {node.op_type}: missing input(s) {missing}")
        arrays = [np.asarray(_numpy(inputs[n])) for n in names]
    else:
        arrays = [np.asarray(_numpy(x)) for x in inputs]
    if len(arrays) != len(names):
        raise InputError(f"node {node.op_type} has {len(names)} inputs, got {len(arrays)}")
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                         a.shape) for n, a in zip(names, arrays)]
    outs = [helper.make_value_info(n, onnx.TypeProto()) for n in node.output if n]
    g = helper.make_graph([node], "run_node", vis, outs)
    opsets = [helper.make_opsetid("", opset)]
    if node.domain not in ("", "ai.onnx"):
        opsets.append(helper.make_opsetid(node.domain, 1))
    model = helper.make_model(g, opset_imports=opsets)
    rep = prepare(model, device, **kwargs)
    return rep.output_names, rep.run(arrays)


class OnnxAttributes(dict):
    """A node's attributes as Python values, by name (SINGA's ``OnnxAttributes``)."""

    @staticmethod
    def from_onnx(attributes) -> "OnnxAttributes":
        from onnx import helper

        return OnnxAttributes((a.name, helper.get_attribute_value(a)) for a in attributes)


class OnnxNode:
    """An ONNX NodeProto as plain Python fields (SINGA's ``OnnxNode``): ``name``
    (dots replaced by underscores, as SINGA does), ``op_type``, ``domain``, ``attrs``,
    ``inputs``, ``outputs``.

    ``attr_inputs`` and ``weight_inputs`` are SINGA's bookkeeping of inputs its
    layers took as attributes or weights; they are kept for code that sets them,
    and ``run_node`` passes every input as data whatever they say.
    """

    def __init__(self, node: onnx.NodeProto):
        self.name = str(node.name).replace(".", "_")
        self.op_type = str(node.op_type)
        self.domain = str(node.domain)
        self.attrs = OnnxAttributes.from_onnx(node.attribute)
        self.attr_inputs: dict = {}
        self.weight_inputs: dict = {}
        self.inputs = list(node.input)
        self.outputs = list(node.output)

    def getattr(self, key, default=None):
        """Attribute ``key``, or ``default`` when the node does not set it."""
        return self.attrs.get(key, default)

    def set_attr_inputs(self, key, name):
        self.attr_inputs[key] = name

    def del_attr_inputs(self, key):
        del self.attr_inputs[key]

    def set_weight_inputs(self, key, name):
        self.weight_inputs[key] = name

    def del_weight_inputs(self, key):
        del self.weight_inputs[key]

    def to_proto(self) -> onnx.NodeProto:
        """The NodeProto these fields describe now."""
        from onnx import helper

        return helper.make_node(self.op_type, self.inputs, self.outputs, name=self.name,
                                domain=self.domain or None, **self.attrs)

    def __repr__(self):
        return f"<OnnxNode {self.op_type} {self.name!r}: {self.inputs} -> {self.outputs}>"


#: the opset SINGA 3.1's ``run_node`` assumes when none is given
SINGA_RUN_NODE_OPSET = 11


def run_node(node, inputs, device="CPU", opset_version: int = SINGA_RUN_NODE_OPSET, **kwargs):
    """Run one ONNX node (a NodeProto or an :class:`OnnxNode`) on ``inputs`` (arrays or
    Tensors in the node's input order, or a dict by input name).

    Returns an OrderedDict output name -> Tensor on ``device``, as SINGA 3.1 does.
    The node is read at ``opset_version`` (SINGA's default 11: pass a newer one for
    ops or op forms introduced later).
    """
    proto = node.to_proto() if isinstance(node, OnnxNode) else node
    names, outs = _run_one_node(proto, inputs, device, opset_version, **kwargs)
    return OrderedDict(zip(names, outs))


def run_model(model, inputs, device="CPU", **kwargs) -> list:
    """``prepare(model, device, **kwargs).run(inputs)``: the outputs as a list of
    Tensors (``SingaBackend.run_model`` gives NumPy arrays by name instead)."""
    return prepare(model, device, **kwargs).run(inputs)


supports_device = SingaBackend.supports_device

from .sonnx_model import SONNXModel  # noqa: E402  (SINGA's later, Module-like API)
