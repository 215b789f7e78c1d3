"""SINGA's ``layer.Layer``: parameters created lazily, named by the layer tree.

A layer's parameters are created by ``initialize(*inputs)`` on its first call,
from the inputs' shapes, on the first input's device.  Every subclass that
defines ``forward`` gets that behaviour (``__init_subclass__`` wraps it), so a
user's own layer needs nothing more than SINGA asks: ``initialize`` and
``forward``.

Names follow SINGA: a layer assigned as an attribute of another becomes its
sublayer, named ``<parent name>.<attribute>``; its tensors are
``<layer name>.<attribute>`` (``"conv1.W"``, ``"block.l1.b"``).  A layer without
a parent prefixes nothing (``"W"``) and leaves its tensors' ``name`` untouched,
so tracing a standalone layer keeps the exporter's generated names.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

from .errors import DTypeError, InputError, ShapeError
from .tensor import Tensor

__all__ = ["Layer"]


def _lazy_forward(forward):
    """``forward`` that initialises the layer first and names it in shape errors."""

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        try:
            if not self._initialized:
                self.initialize(*args, **kwargs)
                self._initialized = True
            return forward(self, *args, **kwargs)
        except ShapeError as e:
            if getattr(e, "layer", None) is not None:
                raise  # an inner layer already said where
            msg = str(e)
            label = self._label()
            err = ShapeError(msg if msg.startswith(label) else f"{label}: {msg}")
            err.layer = self._label()
            raise err from e

    wrapper._lazy = True
    return wrapper


def _marking_initialize(initialize):
    """``initialize`` that records success, so ``forward`` does not run it again."""

    @functools.wraps(initialize)
    def wrapper(self, *args, **kwargs):
        if not args:  # nothing to derive shapes from (SINGA skips it too)
            return
        initialize(self, *args, **kwargs)
        self._initialized = True

    return wrapper


class Layer:
    """Base class of SINGA layers and models.

    Subclasses define ``initialize(*inputs)`` (create parameters from the
    inputs' shapes; run once, before the first ``forward``) and
    ``forward(*inputs)``.  A Tensor attribute created with ``stores_grad=True``
    is a parameter; the attribute names in ``_state_attrs`` are non-trainable
    states (BatchNorm's running statistics).
    """

    sep = "."
    #: attribute names of non-trainable state tensors (saved, never trained)
    _state_attrs: tuple = ()
    # class-level defaults keep a subclass working when its __init__ forgets super()
    _initialized = False
    _parent = None
    name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "initialize" in cls.__dict__:
            cls.initialize = _marking_initialize(cls.__dict__["initialize"])
        fwd = cls.__dict__.get("forward")
        if fwd is not None and not getattr(fwd, "_lazy", False):
            cls.forward = _lazy_forward(fwd)

    def __init__(self):
        object.__setattr__(self, "name", None)
        object.__setattr__(self, "_initialized", False)
        object.__setattr__(self, "_parent", None)
        object.__setattr__(self, "_layers", OrderedDict())

    # ------------------------------------------------------------ protocol
    def initialize(self, *inputs, **options):
        """Create parameters and states from the inputs' shapes (default: nothing);
        it gets the first call's arguments, options included."""

    def forward(self, *inputs):
        """The layer's computation; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ sublayers and names
    def _sublayers(self) -> OrderedDict:
        layers = self.__dict__.get("_layers")
        if layers is None:
            layers = OrderedDict()
            object.__setattr__(self, "_layers", layers)
        return layers

    def _get_name_prefix(self) -> str:
        """What this layer's tensors and sublayers are prefixed with."""
        return self.name + self.sep if self.name and self._parent is not None else ""

    def _label(self) -> str:
        return f"{type(self).__name__} '{self.name}'" if self.name else type(self).__name__

    def _adopt(self, attr: str, layer: "Layer") -> None:
        self._sublayers()[attr] = layer
        # in the instance dict too, so the name wins over class attributes ("sep")
        object.__setattr__(self, attr, layer)
        object.__setattr__(layer, "_parent", self)
        layer._rename(self._get_name_prefix() + attr)

    def _rename(self, name) -> None:
        object.__setattr__(self, "name", name)
        for attr, t in self._own_tensors().items():
            self._name_tensor(attr, t)
        for attr, sub in self._sublayers().items():
            sub._rename(self._get_name_prefix() + attr)

    def _name_tensor(self, attr: str, t: Tensor) -> None:
        if self._parent is None:
            return
        given = self.__dict__.setdefault("_given_names", {})
        # rename only what this layer named itself: a user's own name wins
        if t.name is None or t.name == given.get(attr):
            t.name = self._get_name_prefix() + attr
            given[attr] = t.name

    def __setattr__(self, name, value):
        if isinstance(value, Layer):
            self._adopt(name, value)
            return
        self._sublayers().pop(name, None)
        object.__setattr__(self, name, value)
        if isinstance(value, Tensor):
            if value.stores_grad:
                self.__dict__.setdefault("_param_attrs", OrderedDict())[name] = None
            self._name_tensor(name, value)
        elif name == "name":
            self._rename(value)

    def __delattr__(self, name):
        self._sublayers().pop(name, None)
        object.__delattr__(self, name)

    def register_layers(self, *args):
        """Register sublayers: an OrderedDict name -> layer, or layers named
        ``<ClassName>_<index>``."""
        if len(args) == 1 and isinstance(args[0], (dict, OrderedDict)):
            items = list(args[0].items())
        else:
            items = [(f"{type(v).__name__}_{i}", v) for i, v in enumerate(args)]
        for name, layer in items:
            if isinstance(layer, Layer):
                self._adopt(name, layer)

    # ------------------------------------------------------------ params and states
    def _own_tensors(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, Tensor)}

    def _state(self) -> dict:
        """This layer's own tensors by attribute name (not its sublayers'); the
        older autograd layers' accessor, which existing callers use."""
        return self._own_tensors()

    def _own_params(self) -> dict:
        registered = self.__dict__.get("_param_attrs", ())
        prefix = self._get_name_prefix()
        # a parameter stays one when frozen (stores_grad switched off) after creation
        return {prefix + a: t for a, t in self._own_tensors().items()
                if a in registered or t.stores_grad}

    def get_params(self) -> dict:
        """Trainable tensors of this layer and its sublayers, by hierarchical name."""
        params = self._own_params()
        for sub in self._sublayers().values():
            params.update(sub.get_params())
        return params

    def _own_states(self) -> dict:
        states = self._own_params()
        prefix = self._get_name_prefix()
        for a in self._state_attrs:
            t = self.__dict__.get(a)
            if isinstance(t, Tensor):
                states[prefix + a] = t
        return states

    def get_states(self) -> dict:
        """Parameters plus non-trainable states (running statistics), by name."""
        states = self._own_states()
        for sub in self._sublayers().values():
            states.update(sub.get_states())
        return states

    def set_params(self, parameters: dict) -> None:
        """Overwrite parameters in place from ``parameters`` (name -> Tensor or array)."""
        self._assign(parameters, self.get_params(), "parameter")

    def set_states(self, states: dict) -> None:
        """Overwrite parameters and states in place from ``states`` (name -> Tensor or array)."""
        self._assign(states, self.get_states(), "state")

    def _assign(self, values: dict, targets: dict, what: str) -> None:
        unknown = sorted(set(values) - set(targets))
        if unknown:
            hint = (f"it has {sorted(targets)}" if targets else
                    "it has none yet: parameters are created on the first call, so run "
                    "compile() or forward() once first")
            raise InputError(f"{self._label()}: unknown {what} name(s) {unknown}; {hint}")
        for key, value in values.items():
            _copy_into(targets[key], value, f"{self._label()}: {what} {key!r}")

    # ------------------------------------------------------------ device and dtype
    def device_check(self, *inputs):
        """Move every tensor in ``inputs`` onto the first one's device (in place)."""
        if not isinstance(inputs[0], Tensor):
            raise DTypeError(f"{self._label()}: expects a Tensor input, got "
                             f"{type(inputs[0]).__name__}")
        dev = inputs[0].device
        for t in inputs[1:]:
            if t is not None and t.device != dev:
                t.to_device(dev)

    def dtype_check(self, *inputs):
        """Convert the float tensors in ``inputs`` to the first one's float dtype (in place)."""
        dtype = inputs[0].dtype
        if dtype.kind != "f":
            return
        for t in inputs[1:]:
            if t is not None and t.dtype != dtype and t.dtype.kind == "f":
                t.data = t.data.astype(dtype)

    def __repr__(self):
        subs = "".join(f"\n  {k}: {type(v).__name__}" for k, v in self._sublayers().items())
        return f"<{self._label()}{subs}>"


def _copy_into(target: Tensor, value, where: str) -> None:
    shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    if tuple(shape) != target.shape:
        raise ShapeError(f"{where} has shape {target.shape}, got a value of shape "
                         f"{tuple(shape)}")
    if isinstance(value, Tensor):
        target.copy_data(value)
    else:
        target.copy_from_numpy(np.asarray(value))


def new_param(shape, device=None, dtype=np.float32) -> Tensor:
    """A trainable tensor (``requires_grad`` and ``stores_grad``), zero-filled."""
    return Tensor(shape, device=device, dtype=dtype, requires_grad=True, stores_grad=True)


def new_state(shape, device=None, dtype=np.float32, fill=0.0) -> Tensor:
    """A non-trainable state tensor filled with ``fill``."""
    return Tensor(shape, device=device, dtype=dtype, requires_grad=False).set_value(fill)


def float_dtype(x: Tensor):
    """The dtype parameters created for input ``x`` get: x's own when float, else float32."""
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
