"""Every exception singa raises on purpose derives from :class:`SingaError`."""


class SingaError(Exception):
    """Base class of singa's errors."""


class DeviceError(SingaError):
    """A device was asked for that this machine cannot provide (no CuPy, no GPU)."""


class ShapeError(SingaError, ValueError):
    """Operand shapes do not fit the op; the message names the op and the shapes."""


class DTypeError(SingaError, TypeError):
    """An operand's dtype is not accepted by the op."""


class GradError(SingaError):
    """Backward cannot run: non-scalar output without dy, or an op without a grad."""


class UnsupportedOpError(SingaError):
    """One or more ops of a model are not supported; the message lists all of them."""


class ModelError(SingaError):
    """A model is malformed: corrupt protobuf, missing initializer, a cycle, bad attributes."""


class ExternalDataError(ModelError):
    """An external-data path leaves the model's folder or cannot be read."""


class InputError(SingaError, ValueError):
    """Inputs given to ``run`` do not match the model: count, shape or dtype."""


class IRError(SingaError):
    """The IR failed verification or could not be parsed."""


class ExportError(SingaError):
    """A traced graph cannot be exported to ONNX."""


class OpError(SingaError):
    """An op failed while computing; the message names the op and its source node."""


class KernelCompileError(SingaError):
    """A generated kernel did not compile (NVRTC or the host C compiler); the message
    names the kernel, the line in its emitted source and its op group."""


class TargetError(SingaError, ValueError):
    """An unknown code-generation target was asked for."""


class ResourceError(SingaError, MemoryError):
    """More memory was asked for than is allowed, or an allocation failed; the message
    names the tensor, node or output that asked and how much."""
