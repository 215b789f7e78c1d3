"""Code-generation targets: which plan a model is compiled to.

- ``numpy``: one NumPy (or CuPy) call per op, the reference;
- ``c``: generated kernels in the host-C dialect (system C compiler, ctypes),
  NumPy for what has no kernel (GEMM, convolution);
- ``cuda``: the same kernels in the CUDA dialect (NVRTC, CuPy ``RawKernel``) on a GPU.

The default is ``cuda`` on a GPU and ``c`` on the CPU (faster than ``numpy`` on
every model of ``bench/infer.py``); the environment variable ``SINGA_TARGET``
overrides the default (not an explicit ``target=``), so any test suite runs on
any target.  Without a C compiler (or with one that cannot build the kernels,
e.g. no OpenMP) the ``c`` target warns once and uses ``numpy``.
"""

from __future__ import annotations

import os
import warnings

from ..errors import TargetError

TARGETS = ("numpy", "c", "cuda")
_warned = []


def _fits(target: str, device) -> bool:
    return (target == "cuda") == (device.kind == "cuda") or target == "numpy"


def resolve(target, device) -> str:
    """The target a plan for ``device`` is built for."""
    if target is not None:
        if target not in TARGETS:
            raise TargetError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        if not _fits(target, device):
            raise TargetError(f"target {target!r} cannot run on {device}: "
                              f"{'cuda needs a GPU device' if target == 'cuda' else 'use cuda'}")
        chosen = target
    else:
        env = os.environ.get("SINGA_TARGET", "").strip().lower()
        if env and env not in TARGETS:
            raise TargetError(f"SINGA_TARGET={env!r}; choose one of {', '.join(TARGETS)}")
        default = "cuda" if device.kind == "cuda" else "c"
        chosen = env if env and _fits(env, device) else default
    if chosen == "c":
        from .host import usable

        why = usable()
        if why is not None:
            if not _warned:
                _warned.append(True)
                warnings.warn(f"singa: {why}; the 'c' target runs the NumPy plan",
                              RuntimeWarning, stacklevel=3)
            return "numpy"
    return chosen
