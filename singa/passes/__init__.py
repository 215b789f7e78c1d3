"""Graph-to-graph passes over the IR, one per module, run by a PassManager.

``default_pipeline()`` builds the standard inference pipeline; each pass can also
be run on its own (``InferShapes().run(graph)``).
"""

from .manager import Pass, PassManager, default_pipeline  # noqa: F401
from .infer_shapes import InferShapes  # noqa: F401
from .truncate import Truncate  # noqa: F401
from .fold_constants import FoldConstants  # noqa: F401
from .eliminate_dead_code import EliminateDeadCode  # noqa: F401
from .fold_batchnorm import FoldBatchNorm  # noqa: F401
from .bool_to_int32 import BoolToInt32  # noqa: F401
from .plan_memory import PlanMemory, MemoryPlan  # noqa: F401
from .fuse import Fuse  # noqa: F401
from .lower_conv import LowerConv  # noqa: F401
from .lower_batchnorm import LowerBatchNorm  # noqa: F401
from .strength_reduce import StrengthReduce  # noqa: F401
from .drop_identities import DropIdentities  # noqa: F401
