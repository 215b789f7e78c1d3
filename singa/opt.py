"""Optimizers: SGD (momentum, dampening, weight decay, Nesterov) and Adam.

State (momentum buffers, moments) is kept per parameter tensor and persists for
as long as the optimizer object is reused.  Updates are in place, so every
holder of a parameter (a layer, ``SingaRep.tensor_map``) sees the new values.
"""

from __future__ import annotations

import math
import weakref

from .tensor import Tensor


class CosineDecay:
    """Learning rate ``init_value`` decayed along half a cosine to ``alpha * init_value``
    over ``decay_steps`` steps, then held; pass it as an optimizer's ``lr``."""

    def __init__(self, init_value: float, decay_steps: int, alpha: float = 0.0):
        self.init_value, self.decay_steps, self.alpha = init_value, decay_steps, alpha

    def __call__(self, step: int) -> float:
        frac = min(step, self.decay_steps) / self.decay_steps
        return self.init_value * (self.alpha + (1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * frac)))


class Optimizer:
    """Base: ``update(param, grad)`` per parameter, ``step()`` once per iteration."""

    def __init__(self, lr):
        self.lr = lr
        self.step_counter = 0
        self.state = weakref.WeakKeyDictionary()

    def learning_rate(self) -> float:
        """The current rate; ``lr`` may be a number or a callable of the step count."""
        return float(self.lr(self.step_counter) if callable(self.lr) else self.lr)

    def update(self, param: Tensor, grad: Tensor) -> None:
        raise NotImplementedError

    def step(self) -> None:
        """Advance the iteration counter (learning-rate schedules read it)."""
        self.step_counter += 1

    def __call__(self, loss: Tensor) -> None:
        """Back-propagate ``loss``, update every parameter, then step."""
        from .autograd import backward
        for p, g in backward(loss):
            self.update(p, g)
        self.step()

    def _grad(self, grad):
        return grad.data if isinstance(grad, Tensor) else grad


class SGD(Optimizer):
    """Stochastic gradient descent as in SINGA/PyTorch:
    ``v = momentum * v + (1 - dampening) * g``; ``p -= lr * (g + momentum * v if nesterov else v)``,
    with ``g += weight_decay * p`` first."""

    def __init__(self, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and no dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def update(self, param, grad):
        g = self._grad(grad)
        if self.weight_decay:
            g = g + self.weight_decay * param.data
        if self.momentum:
            buf = self.state.get(param)
            if buf is None:
                buf = g.copy()
                self.state[param] = buf
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        param.data -= param.dtype.type(self.learning_rate()) * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and optional L2 weight decay."""

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(lr)
        self.b1, self.b2, self.eps, self.weight_decay = beta_1, beta_2, epsilon, weight_decay

    def update(self, param, grad):
        g = self._grad(grad)
        if self.weight_decay:
            g = g + self.weight_decay * param.data
        st = self.state.get(param)
        if st is None:
            xp = param.device.xp
            st = self.state[param] = [xp.zeros_like(param.data), xp.zeros_like(param.data), 0]
        m, v, t = st
        t += 1
        st[2] = t
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        v += (1 - self.b2) * g * g
        mhat = m / (1 - self.b1 ** t)
        vhat = v / (1 - self.b2 ** t)
        xp = param.device.xp
        param.data -= (self.learning_rate() * mhat / (xp.sqrt(vhat) + self.eps)).astype(param.dtype)
