"""Per-device time profile of table ops, SINGA's ``Device.SetVerbosity`` /
``PrintTimeProfiling``.

Every eager op runs through ``autograd.apply``; while a device profiles, apply
times the op's ``compute`` (the device synchronised before and after, so GPU
kernels are counted whole) and adds it to that device's :class:`Profiler`
under the current phase: ``forward`` by default, ``update`` while an optimizer
applies its rule, and one ``backward`` entry per backward walk the optimizer
drives.

As in SINGA, an *iteration* is one training step (``Optimizer.step``), and the
first ``skip_iteration`` iterations (default 5) are not timed, so warm-up
(allocation, kernel compilation) stays out of the figures.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import NamedTuple


class OpTime(NamedTuple):
    """Time spent in one table op (``op``) during one ``phase``."""

    phase: str
    op: str
    calls: int
    total_s: float

    @property
    def mean_s(self) -> float:
        return self.total_s / self.calls if self.calls else 0.0


class Profiler:
    """The timing state of one device: verbosity, iterations to skip, the records."""

    def __init__(self, device):
        self.device = device
        self.verbosity = 0
        self.skip_iteration = 5
        self.iteration = 0          # training steps seen since the last reset
        self.timed_iterations = 0   # of those, the ones that were profiled
        self.phase = "forward"
        self._records: dict[tuple[str, str], list] = {}

    # ------------------------------------------------------------- switches
    @property
    def active(self) -> bool:
        """Whether ops run now are timed."""
        return self.verbosity > 0 and self.iteration >= self.skip_iteration

    def reset(self) -> None:
        """Forget every record and the iteration count (verbosity is kept)."""
        self._records.clear()
        self.iteration = self.timed_iterations = 0

    def end_iteration(self) -> None:
        """One training step is over (called by ``Optimizer.step``)."""
        if self.active:
            self.timed_iterations += 1
        self.iteration += 1

    @contextmanager
    def in_phase(self, phase: str):
        """Attribute the ops run inside the block to ``phase``."""
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous

    # ------------------------------------------------------------- timing
    def timed(self, op_name: str, compute):
        """``compute`` itself when not profiling; else the same call, timed."""
        if not self.active:
            return compute

        def timed_compute(*args):
            start = self.clock()
            out = compute(*args)
            self.add(self.phase, op_name, self.clock() - start)
            return out

        return timed_compute

    def clock(self) -> float:
        """Seconds, after the device's queued work is done."""
        self.device.Sync()
        return time.perf_counter()

    def add(self, phase: str, op_name: str, seconds: float, calls: int = 1) -> None:
        rec = self._records.setdefault((phase, op_name), [0, 0.0])
        rec[0] += calls
        rec[1] += seconds

    def records(self) -> list[OpTime]:
        """Every (phase, op) timed, the most expensive first."""
        rows = [OpTime(ph, op, c, s) for (ph, op), (c, s) in self._records.items()]
        return sorted(rows, key=lambda r: -r.total_s)

    def phase_totals(self) -> dict[str, float]:
        totals = {"forward": 0.0, "backward": 0.0, "update": 0.0}
        for r in self.records():
            totals[r.phase] = totals.get(r.phase, 0.0) + r.total_s
        return totals

    # ------------------------------------------------------------- report
    def report(self) -> str:
        """The text ``PrintTimeProfiling`` prints for the current verbosity.

        1: forward, backward and update time per iteration; 2: one row per
        (phase, op) with calls, total and mean time; 3: SINGA's distributed
        ops (there are none here: the line says so).  0: nothing.
        """
        if self.verbosity <= 0:
            return ""
        per_iter = max(self.timed_iterations, 1)
        head = (f"Time Profiling ({self.device}): {self.timed_iterations} iteration(s) timed, "
                f"{min(self.iteration, self.skip_iteration)} skipped\n")
        if self.verbosity == 1:
            t = self.phase_totals()
            return head + "".join(f"{name} time per iteration: {t[key] / per_iter:.6f} sec\n"
                                  for name, key in (("Forward propagation", "forward"),
                                                    ("Backward propagation", "backward"),
                                                    ("Parameter update", "update")))
        if self.verbosity == 2:
            lines = [f"{'phase':<9} {'op':<24} {'calls':>8} {'total (s)':>12} {'mean (ms)':>11}"]
            lines += [f"{r.phase:<9} {r.op:<24} {r.calls:>8} {r.total_s:>12.6f} "
                      f"{r.mean_s * 1e3:>11.4f}" for r in self.records()]
            return head + "\n".join(lines) + "\n"
        return head + "no distributed operations: singa runs on one device\n"
