"""Schedules for hyper-parameters (SINGA's ``opt.DecayScheduler`` family).

A schedule maps the optimizer's step count to a value.  Called with a number
it returns a float; called with a Tensor (SINGA's way: the optimizer's
``step_counter``) it returns a ``(1,)`` float32 Tensor on that Tensor's device.
Our schedules define ``value(step)``; a subclass written for SINGA that defines
``call(step: Tensor) -> Tensor`` instead works too.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SingaError


class HyperParameterError(SingaError, ValueError):
    """An optimizer or schedule was given a hyper-parameter it cannot use."""


def _step_number(step) -> float:
    from .tensor import Tensor, to_numpy

    if isinstance(step, Tensor):
        return float(to_numpy(step).reshape(-1)[0])
    return float(step)


def _step_tensor(step: float, device=None):
    from .tensor import Tensor

    return Tensor(device=device, data=np.array([step], np.float32), requires_grad=False)


class DecayScheduler:
    """Base of the schedules; ``init_value`` is the value at step 0."""

    def __init__(self, init_value):
        self.init_value = init_value

    def __call__(self, step):
        from .tensor import Tensor

        if isinstance(step, Tensor):
            return self.call(step)
        return self.value(step)

    def value(self, step: float) -> float:
        """The value at ``step`` (a number)."""
        if type(self).call is DecayScheduler.call:
            raise NotImplementedError(f"{type(self).__name__}: define value(step)")
        return _step_number(self.call(_step_tensor(step)))

    def call(self, step):
        """SINGA's form: ``step`` a Tensor holding one number; a ``(1,)`` Tensor back."""
        return _step_tensor(self.value(_step_number(step)), step.device)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(DecayScheduler):
    """``init_value`` at every step."""

    def value(self, step):
        return float(self.init_value)


class ExponentialDecay(DecayScheduler):
    """``init_value * decay_rate ** (step / decay_steps)``; with ``staircase`` the
    exponent is rounded down, so the value drops every ``decay_steps`` steps."""

    def __init__(self, init_value, decay_steps, decay_rate, staircase=False):
        super().__init__(init_value)
        if decay_steps <= 0:
            raise HyperParameterError(f"ExponentialDecay: decay_steps={decay_steps} must be > 0")
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, decay_rate, staircase

    def value(self, step):
        exponent = float(step) / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return float(self.init_value * self.decay_rate ** exponent)


class CosineDecay(DecayScheduler):
    """``init_value`` decayed along half a cosine to ``alpha * init_value`` over
    ``decay_steps`` steps, then held."""

    def __init__(self, init_value: float, decay_steps: int, alpha: float = 0.0):
        super().__init__(init_value)
        if decay_steps <= 0:
            raise HyperParameterError(f"CosineDecay: decay_steps={decay_steps} must be > 0")
        self.decay_steps, self.alpha = decay_steps, alpha

    def value(self, step):
        frac = min(float(step), self.decay_steps) / self.decay_steps
        return float(self.init_value
                     * (self.alpha + (1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * frac))))


class _FromCallable(DecayScheduler):
    """A plain function of the step count used as a schedule."""

    def __init__(self, fn):
        super().__init__(fn(0))
        self.fn = fn

    def value(self, step):
        return float(self.fn(int(step)))


def as_schedule(owner: str, name: str, value, minimum=None) -> DecayScheduler:
    """``value`` (a number, a DecayScheduler or a function of the step) as a schedule.

    ``minimum``: numbers below it are refused, naming ``owner`` and ``name``.
    """
    if isinstance(value, DecayScheduler):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise HyperParameterError(f"{owner}: {name} must be a number or a DecayScheduler, "
                                  f"not {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        if minimum is not None and value < minimum:
            raise HyperParameterError(f"{owner}: invalid {name} {value} (must be >= {minimum})")
        return Constant(float(value))
    if callable(value):
        return _FromCallable(value)
    raise HyperParameterError(f"{owner}: {name} must be a number, a DecayScheduler or a "
                              f"function of the step, not {type(value).__name__}")
