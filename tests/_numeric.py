"""Central finite differences, the gradient reference the autograd tests share."""

from __future__ import annotations

import numpy as np


def central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x for scalar ``f()`` reading ``x`` (a float64 array changed in place
    and restored), by central differences."""
    g = np.zeros(x.shape)
    flat, out = x.reshape(-1), g.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("central_difference needs a contiguous array it can change in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f()
        flat[i] = old - eps
        lo = f()
        flat[i] = old
        out[i] = (hi - lo) / (2 * eps)
    return g
