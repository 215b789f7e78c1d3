"""The operator library: importing this package fills :data:`OPS`.

Files hold one op family each; every op is defined once, by its ONNX name.
"""

import importlib
import pkgutil

from .base import OPS, OpDef, Pattern, defop, get  # noqa: F401

# Each family module registers its ops on import.
for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
