"""One sample of one op, shared by the table-wide forward and gradient tests.

Each family file ``tests/ops/cases_<family>.py`` defines ``CASES: list[Case]``;
``tests/ops/test_table.py`` runs every case against onnxruntime (forward) and
float64 finite differences (grad), and fails for any op in the table that has
no case at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    op: str
    inputs: list  # NumPy arrays (a list of them: a sequence); None for an absent input
    attrs: dict = field(default_factory=dict)
    id: str = ""
    opset: int | None = None  # opset of the reference model; None: newest ort supports
    grad: bool = True  # finite-difference check of the grad (float inputs only)
    grad_inputs: tuple | None = None  # which inputs to check; None: all float inputs
    rtol: float = 1e-5
    atol: float = 1e-6
    # ONNX-reference-free ops (singa's own, e.g. losses): a NumPy float64 reference
    reference: object = None  # callable(*inputs, **attrs) -> list of arrays
    outputs: int = 1  # how many outputs to compare
    seed: int = 0

    def __post_init__(self):
        self.inputs = [as_value(x) for x in self.inputs]


def as_value(x):
    """A case input as ops see it: an array, a list of arrays (a sequence), None."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)) and any(isinstance(e, np.ndarray) for e in x):
        return [as_value(e) for e in x]
    return np.asarray(x)


def rand(*shape, dtype=np.float32, low=-1.0, high=1.0, seed=None):
    """Reproducible uniform samples (seeded from the shape unless ``seed`` given)."""
    rng = np.random.default_rng(seed if seed is not None else hash(shape) & 0xFFFF)
    return rng.uniform(low, high, size=shape).astype(dtype)
