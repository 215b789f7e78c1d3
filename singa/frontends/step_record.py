"""What one eager training step did, recorded for ``Model.compile(use_graph=True)``.

Kept apart from :mod:`singa.frontends.train_step` (which builds the step's graph)
so that ``autograd`` and ``opt``, which report into the active record, import
nothing heavy.  A record is per thread: another thread training eagerly at the
same time is not recorded.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StepRecord:
    """What one eager step did; filled while it runs (see ``singa.model``).

    ``rule(param, grad, states, hyper) -> (new_param, new_states)`` is the
    optimizer's update written with autograd ops; ``states[id(param)]`` the
    optimizer's state Tensors of each parameter by name; ``hyper`` the
    step-dependent hyper-parameters' names.
    """

    inputs: list
    outputs: list = field(default_factory=list)
    loss: object = None
    params: list = field(default_factory=list)
    states: dict = field(default_factory=dict)
    rule: object = None
    hyper: tuple = ()
    optimizer: object = None
    step_before: int = 0
    mixed: bool = False  # two optimizers took part
    seeded: bool = False  # backward was given an explicit dy


_active = threading.local()


@contextmanager
def recording(rec: StepRecord):
    """Record into ``rec`` what the optimizer and ``autograd.backward`` do meanwhile
    (in this thread)."""
    outer = getattr(_active, "rec", None)
    _active.rec = rec
    try:
        yield rec
    finally:
        _active.rec = outer


def note_backward(loss, dy=None) -> None:
    """``autograd.backward`` starts from ``loss`` with seed ``dy`` (called by it)."""
    rec = getattr(_active, "rec", None)
    if rec is not None:
        rec.loss = loss
        rec.seeded = rec.seeded or dy is not None


def note_update(optimizer, param, states: dict) -> None:
    """``optimizer`` updated ``param`` with state Tensors ``states`` (called by it)."""
    rec = getattr(_active, "rec", None)
    if rec is None:
        return
    if rec.optimizer is None:
        rec.optimizer = optimizer
        rec.rule = optimizer.rule
        rec.hyper = tuple(optimizer.hyper_values())
        rec.step_before = getattr(optimizer, "_step", 0)
    elif rec.optimizer is not optimizer:
        rec.mixed = True  # two optimizers in one step: not compiled (see singa.model)
    if id(param) not in rec.states:
        rec.params.append(param)
    rec.states[id(param)] = dict(states)
