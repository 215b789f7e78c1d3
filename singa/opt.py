"""Optimizers as SINGA 3.1 defines them: SGD, RMSProp, AdaGrad, Adam.

Use: ``sgd = opt.SGD(lr=0.1, momentum=0.9)``, then per iteration ``sgd(loss)``
(backward, update every parameter, ``step``), or ``sgd.apply(name, p, g)`` /
``sgd.update(p, g)`` per parameter followed by ``sgd.step()``.  Any
hyper-parameter may be a number or a schedule (:class:`DecayScheduler`,
``Constant``, ``ExponentialDecay``, ``CosineDecay``, or a function of the step).

Per-parameter state (momentum buffers, moments) is keyed by the parameter's
name (``param_name``, else ``Tensor.name``; an unnamed tensor gets a key of
its own) and kept in SINGA's attributes (``SGD.moments``,
``RMSProp.running_average``, ``AdaGrad.history``, ``Adam.m`` / ``Adam.v``).
``get_states`` / ``set_states`` carry the step counter and copies of those
buffers.  Updates are in place: every holder of a parameter (a layer,
``SingaRep.tensor_map``) sees the new values.

The update rule (for compiled training)
---------------------------------------
Each optimizer's update of one parameter is a pure function built only from
table ops (``singa.autograd.add``/``mul``/``sub``/``div``/``sqrt``)::

    new_param, new_states = opt.rule(param, grad, states, hyper)

``states`` maps state names (``opt.state_names``) to Tensors shaped like the
parameter (``opt.init_states(param)`` makes zeroed ones); ``hyper`` maps the
names of ``opt.hyper_values()`` to 0-d Tensors of the parameter's dtype.
``hyper_values()`` gives this step's hyper-parameters as floats: the schedules
evaluated at ``step_counter`` and, for Adam, the bias corrections
``1 - beta ** (step + 1)``.  Which terms a rule contains (momentum, weight decay,
Nesterov) is fixed when the optimizer is built, so a traced rule stays valid
while the schedules change.  The eager ``apply`` runs the rule on untracked
views of the parameter and its states and copies the results back in place.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from . import autograd
from .frontends import step_record as _step_record
from .decay import (  # noqa: F401  (SINGA's names, re-exported)
    Constant, CosineDecay, DecayScheduler, ExponentialDecay, HyperParameterError, as_schedule)
from .errors import ShapeError
from .tensor import Tensor, to_numpy

__all__ = ["Optimizer", "SGD", "RMSProp", "AdaGrad", "Adam", "DecayScheduler", "Constant",
           "ExponentialDecay", "CosineDecay", "HyperParameterError"]


class _HyperValue:
    """SINGA's ``<name>_value`` attributes: a hyper-parameter at the current step
    as a ``(1,)`` float32 Tensor (read-only)."""

    def __init__(self, key):
        self.key = key

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.schedules[self.key].value(obj._step)
        return Tensor(data=np.array([value], np.float32), requires_grad=False)


def _untracked(t: Tensor) -> Tensor:
    """A view of ``t``'s array that autograd does not track."""
    return Tensor(device=t.device, data=t.data, requires_grad=False)


class Optimizer:
    """Base optimizer: the learning rate schedule, the step counter, per-parameter states.

    Subclasses define ``state_names``, ``init_states``, ``hyper_values`` (when
    they have more than ``lr``) and ``rule``.
    """

    #: names of the per-parameter state Tensors, each also a dict attribute
    #: (state name -> {param name -> Tensor}) under SINGA's name
    state_names: tuple = ()

    lr_value = _HyperValue("lr")

    def __init__(self, lr):
        self.schedules = {}
        self.lr = self._schedule("lr", lr, minimum=0)
        self._step = 0
        self._keys = {}  # id of an unnamed tensor -> (weak reference, its state key)
        self._key_numbers = itertools.count()
        self._devices = set()  # devices updated since the last step (for the profiler)
        # bumped whenever state Tensors are replaced (not updated in place), so
        # compiled training steps that read them know to re-record
        self.states_version = 0

    def _schedule(self, name, value, minimum=None) -> DecayScheduler:
        sched = as_schedule(type(self).__name__, name, value, minimum)
        self.schedules[name] = sched
        return sched

    def _uses(self, name) -> bool:
        """Whether a term is part of the rule: SINGA decides by the initial value."""
        return self.schedules[name].init_value != 0

    # ------------------------------------------------------------- step counter
    @property
    def step_counter(self) -> Tensor:
        """Steps taken so far, as SINGA's ``(1,)`` float32 Tensor."""
        return Tensor(data=np.array([self._step], np.float32), requires_grad=False)

    @step_counter.setter
    def step_counter(self, value):
        self._step = _as_int_step(value)

    def learning_rate(self) -> float:
        """The learning rate at the current step."""
        return self.schedules["lr"].value(self._step)

    def hyper_values(self) -> dict:
        """This step's hyper-parameters as floats, by name (the keys ``rule`` reads)."""
        return {name: s.value(self._step) for name, s in self.schedules.items()}

    def step(self) -> None:
        """End the iteration: advance the step counter (schedules read it)."""
        self._step += 1
        for dev in self._devices:
            dev.end_iteration()
        self._devices.clear()

    # ------------------------------------------------------------- the rule
    def init_states(self, param: Tensor) -> dict:
        """Zeroed state Tensors for ``param``, by state name."""
        return {name: Tensor(param.shape, param.device, param.dtype, requires_grad=False)
                for name in self.state_names}

    def rule(self, param: Tensor, grad: Tensor, states: dict, hyper: dict):
        """``(new_param, new_states)`` from table ops; see the module docstring."""
        raise NotImplementedError(f"{type(self).__name__} defines no update rule")

    def _decayed(self, param, grad, hyper):
        """L2 weight decay folded into the gradient, as SINGA does."""
        if self._uses("weight_decay"):
            return autograd.add(grad, autograd.mul(hyper["weight_decay"], param))
        return grad

    # ------------------------------------------------------------- updating
    def __call__(self, loss: Tensor) -> None:
        """Back-propagate ``loss``, update every parameter, then step."""
        self.call(loss)
        self.step()

    def call(self, loss: Tensor) -> None:
        """Back-propagate ``loss`` and update every parameter (no step)."""
        profiler = loss.device.profiler
        timing = profiler.active
        pairs, spent = autograd.backward(loss), 0.0
        while True:
            start = profiler.clock() if timing else 0.0
            pair = next(pairs, None)
            if timing:
                spent += profiler.clock() - start
            if pair is None:
                break
            self.apply(None, *pair)
        if timing:
            profiler.add("backward", "autograd.backward", spent)

    def backward_and_update(self, loss: Tensor) -> None:
        """SINGA's older name for ``__call__``."""
        self(loss)

    def update(self, param: Tensor, grad: Tensor) -> None:
        """Update ``param`` in place from ``grad`` (SINGA's older form of ``apply``)."""
        self.apply(None, param, grad)

    def apply(self, param_name, param_value: Tensor, param_grad) -> None:
        """Update ``param_value`` in place from ``param_grad``; its states are kept
        under ``param_name`` (None: the tensor's name, or a key of its own)."""
        key = self._key(param_name, param_value)
        states = self._states_for(key, param_value)
        _step_record.note_update(self, param_value, states)  # Model.compile(use_graph=True)
        hyper = {k: Tensor(device=param_value.device, data=np.asarray(v, param_value.dtype),
                           requires_grad=False) for k, v in self.hyper_values().items()}
        with param_value.device.profiler.in_phase("update"):
            grad = self._grad_for(key, param_value, param_grad)
            new_param, new_states = self.rule(_untracked(param_value), grad,
                                              {k: _untracked(t) for k, t in states.items()}, hyper)
        param_value.data[...] = new_param.data
        for name, t in states.items():
            t.data[...] = new_states[name].data
        self._devices.add(param_value.device)

    def _key(self, param_name, param: Tensor):
        if param_name is not None:
            return param_name
        if param.name is not None:
            return param.name
        # by identity: Tensor == is elementwise, so no WeakKeyDictionary
        entry = self._keys.get(id(param))
        if entry is None or entry[0]() is not param:
            forget = lambda _, i=id(param), keys=self._keys: keys.pop(i, None)  # noqa: E731
            entry = self._keys[id(param)] = (weakref.ref(param, forget),
                                             f"param#{next(self._key_numbers)}")
        return entry[1]

    def _grad_for(self, key, param: Tensor, grad) -> Tensor:
        """``grad`` as an untracked Tensor on the parameter's device and dtype."""
        where = f"{type(self).__name__}.apply({key!r})"
        g = grad if isinstance(grad, Tensor) else Tensor(device=param.device, data=np.asarray(grad))
        if g.shape != param.shape:
            raise ShapeError(f"{where}: gradient shape {g.shape} != parameter shape {param.shape}")
        if g.dtype.kind != "f" or param.dtype.kind != "f":
            raise HyperParameterError(f"{where}: needs float parameter and gradient, got "
                                      f"{param.dtype} and {g.dtype}")
        if g.device != param.device:
            g = Tensor(device=param.device, data=g.data)
        g = _untracked(g)
        return autograd.cast(g, param.dtype) if g.dtype != param.dtype else g

    def _states_for(self, key, param: Tensor) -> dict:
        """The state Tensors of ``key``, made zero on first use, moved/cast to fit ``param``."""
        stores = {name: getattr(self, name) for name in self.state_names}
        if not stores:
            return {}
        if any(key not in s for s in stores.values()):
            for name, t in self.init_states(param).items():
                stores[name].setdefault(key, t)
        found = {}
        for name, store in stores.items():
            t = store[key]
            if t.shape != param.shape:
                raise ShapeError(f"{type(self).__name__}: state {name!r} of {key!r} has shape "
                                 f"{t.shape}, the parameter {param.shape}")
            if t.device != param.device or t.dtype != param.dtype or t.requires_grad:
                self.states_version += 1
                t = store[key] = Tensor(device=param.device, data=to_numpy(t).astype(param.dtype),
                                        requires_grad=False)
            found[name] = t
        return found

    # ------------------------------------------------------------- states
    def get_states(self) -> dict:
        """``{'step_counter': float, <state name>: {param name: Tensor}}``, copies."""
        states = {"step_counter": float(self._step)}
        for name in self.state_names:
            states[name] = {k: t.clone() for k, t in getattr(self, name).items()}
        return states

    def set_states(self, states: dict) -> None:
        """Restore what ``get_states`` returned (Tensors or arrays; copied in)."""
        self.states_version += 1
        if "step_counter" in states:
            self._step = _as_int_step(states["step_counter"])
        for name in self.state_names:
            if name in states:
                setattr(self, name, {k: _state_tensor(v) for k, v in states[name].items()})


def _as_int_step(value) -> int:
    arr = to_numpy(value) if isinstance(value, Tensor) else np.asarray(value)
    return int(round(float(arr.reshape(-1)[0])))


def _state_tensor(v) -> Tensor:
    data = v.data.copy() if isinstance(v, Tensor) else np.array(v)
    return Tensor(device=v.device if isinstance(v, Tensor) else None, data=data,
                  requires_grad=False)


class SGD(Optimizer):
    """Stochastic gradient descent, as SINGA: ``g += weight_decay * p``;
    with momentum ``v = momentum * v + (1 - dampening) * g`` (``v`` starts at 0) and
    ``g = g + momentum * v`` (Nesterov) or ``g = v``; then ``p -= lr * g``."""

    mom_value = _HyperValue("momentum")
    dam_value = _HyperValue("dampening")
    decay_value = _HyperValue("weight_decay")

    def __init__(self, lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        super().__init__(lr)
        self.momentum = self._schedule("momentum", momentum, minimum=0)
        self.dampening = self._schedule("dampening", dampening)
        self.weight_decay = self._schedule("weight_decay", weight_decay, minimum=0)
        self.nesterov = nesterov
        if nesterov and (self.momentum.init_value <= 0 or self.dampening.init_value != 0):
            raise HyperParameterError("SGD: Nesterov momentum needs momentum > 0 and no dampening")
        self.moments = {}

    @property
    def state_names(self):
        return ("moments",) if self._uses("momentum") else ()

    def rule(self, param, grad, states, hyper):
        g = self._decayed(param, grad, hyper)
        new_states = {}
        if self._uses("momentum"):
            mom = hyper["momentum"]
            buf = autograd.add(autograd.mul(mom, states["moments"]),
                               autograd.mul(autograd.sub(1.0, hyper["dampening"]), g))
            new_states["moments"] = buf
            g = autograd.add(g, autograd.mul(mom, buf)) if self.nesterov else buf
        return autograd.sub(param, autograd.mul(hyper["lr"], g)), new_states


class RMSProp(Optimizer):
    """RMSProp, as SINGA: ``g += weight_decay * p``;
    ``r = rho * r + (1 - rho) * g * g``; ``p -= lr * g / sqrt(r + epsilon)``."""

    state_names = ("running_average",)
    rho_value = _HyperValue("rho")
    epsilon_value = _HyperValue("epsilon")
    decay_value = _HyperValue("weight_decay")

    def __init__(self, lr=0.1, rho=0.9, epsilon=1e-8, weight_decay=0):
        super().__init__(lr)
        self.weight_decay = self._schedule("weight_decay", weight_decay, minimum=0)
        self.rho = self._schedule("rho", rho)
        self.epsilon = self._schedule("epsilon", epsilon)
        self.running_average = {}

    def rule(self, param, grad, states, hyper):
        g = self._decayed(param, grad, hyper)
        rho = hyper["rho"]
        avg = autograd.add(autograd.mul(rho, states["running_average"]),
                           autograd.mul(autograd.sub(1.0, rho), autograd.mul(g, g)))
        step = autograd.div(g, autograd.sqrt(autograd.add(avg, hyper["epsilon"])))
        return autograd.sub(param, autograd.mul(hyper["lr"], step)), {"running_average": avg}


class AdaGrad(Optimizer):
    """AdaGrad, as SINGA: ``g += weight_decay * p``; ``h += g * g``;
    ``p -= lr * g / sqrt(h + epsilon)``."""

    state_names = ("history",)
    epsilon_value = _HyperValue("epsilon")
    decay_value = _HyperValue("weight_decay")

    def __init__(self, lr=0.1, epsilon=1e-8, weight_decay=0):
        super().__init__(lr)
        self.weight_decay = self._schedule("weight_decay", weight_decay, minimum=0)
        self.epsilon = self._schedule("epsilon", epsilon)
        self.history = {}

    def rule(self, param, grad, states, hyper):
        g = self._decayed(param, grad, hyper)
        hist = autograd.add(states["history"], autograd.mul(g, g))
        step = autograd.div(g, autograd.sqrt(autograd.add(hist, hyper["epsilon"])))
        return autograd.sub(param, autograd.mul(hyper["lr"], step)), {"history": hist}


class Adam(Optimizer):
    """Adam, as SINGA: ``g += weight_decay * p``; ``m = b1 * m + (1 - b1) * g``;
    ``v = b2 * v + (1 - b2) * g * g``; with ``t = step_counter + 1``,
    ``p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)``."""

    state_names = ("m", "v")
    beta_1_value = _HyperValue("beta_1")
    beta_2_value = _HyperValue("beta_2")
    epsilon_value = _HyperValue("epsilon")
    decay_value = _HyperValue("weight_decay")

    def __init__(self, lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0):
        super().__init__(lr)
        self.weight_decay = self._schedule("weight_decay", weight_decay, minimum=0)
        self.beta_1 = self._schedule("beta_1", beta_1)
        self.beta_2 = self._schedule("beta_2", beta_2)
        self.epsilon = self._schedule("epsilon", epsilon)
        self.m, self.v = {}, {}

    def hyper_values(self) -> dict:
        """The schedules' values plus the bias corrections ``1 - beta ** (step + 1)``."""
        values = super().hyper_values()
        t = self._step + 1
        values["bias_correction_1"] = 1.0 - values["beta_1"] ** t
        values["bias_correction_2"] = 1.0 - values["beta_2"] ** t
        return values

    def rule(self, param, grad, states, hyper):
        g = self._decayed(param, grad, hyper)
        b1, b2 = hyper["beta_1"], hyper["beta_2"]
        m = autograd.add(autograd.mul(b1, states["m"]), autograd.mul(autograd.sub(1.0, b1), g))
        v = autograd.add(autograd.mul(b2, states["v"]),
                         autograd.mul(autograd.sub(1.0, b2), autograd.mul(g, g)))
        m_hat = autograd.div(m, hyper["bias_correction_1"])
        v_hat = autograd.div(v, hyper["bias_correction_2"])
        step = autograd.div(m_hat, autograd.add(autograd.sqrt(v_hat), hyper["epsilon"]))
        return autograd.sub(param, autograd.mul(hyper["lr"], step)), {"m": m, "v": v}


def __getattr__(name):
    if name == "DistOpt":
        raise AttributeError("singa.opt.DistOpt: distributed (NCCL) training is not supported; "
                             "train on one device with the optimizer itself (opt.SGD(...))")
    raise AttributeError(f"module 'singa.opt' has no attribute {name!r}")
