"""The memory budget: sizes are checked against a limit before anything is allocated.

The limit is ``prepare(..., max_bytes=)`` while that import and its plans are made,
else ``$SINGA_MAX_BYTES``, else 80% of physical memory.  The importer checks every
array it allocates (sparse and external-data initializers), the executor every
buffer of a plan and the plan's peak (the memory plan knows it), so a 100-byte
model asking for 6 GB is a :class:`~singa.errors.ResourceError` naming the node,
not an out-of-memory kill.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager

from ..errors import ResourceError, SingaError

_override: contextvars.ContextVar = contextvars.ContextVar("singa_max_bytes", default=None)

#: Share of physical memory a model may use when nothing else says.
DEFAULT_SHARE = 0.8


def max_bytes() -> int:
    """The limit in force (see the module docstring)."""
    given = _override.get()
    if given is not None:
        return given
    env = os.environ.get("SINGA_MAX_BYTES", "").strip()
    if env:
        try:
            n = int(float(env))
        except ValueError:
            raise SingaError(f"SINGA_MAX_BYTES={env!r} is not a number of bytes") from None
        if n <= 0:
            raise SingaError(f"SINGA_MAX_BYTES={env!r} must be positive")
        return n
    try:
        return int(DEFAULT_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # no sysconf: no limit of ours
        return 1 << 62


@contextmanager
def limited(n):
    """Use ``n`` bytes (None: the default) as the limit within the block."""
    if n is not None and (not isinstance(n, (int, float)) or n <= 0):
        raise SingaError(f"max_bytes={n!r} must be a positive number of bytes")
    token = _override.set(None if n is None else int(n))
    try:
        yield
    finally:
        _override.reset(token)


def check(nbytes: int, what: str, limit: int | None = None) -> None:
    """ResourceError when ``what`` asks for more than the limit."""
    limit = max_bytes() if limit is None else limit
    if nbytes > limit:
        raise ResourceError(f"{what} asks for {nbytes:,} bytes; the limit is {limit:,} "
                            f"(set SINGA_MAX_BYTES or prepare(..., max_bytes=))")


def check_array(shape, dtype, what: str, limit: int | None = None) -> None:
    """ResourceError when an array of ``shape`` and ``dtype`` (NumPy) would be over the
    limit; sized in Python ints, which never wrap."""
    import math

    import numpy as np

    check(np.dtype(dtype).itemsize * math.prod(int(d) for d in shape), what, limit)
