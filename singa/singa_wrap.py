"""SINGA's C++ binding module, as far as Python can stand in for it.

SINGA user code often starts with ``from singa import singa_wrap as singa`` and
then never uses it, or builds the convolution, pooling and BatchNorm handles it
passes to ``autograd.conv2d``/``pooling_2d``/``batchnorm_2d``.  Those handles are
the Python ones of :mod:`singa.operators_nn` (same constructor arguments); any
other attribute names the Python equivalent instead of the C++ object.
"""

from __future__ import annotations

_INSTEAD = {
    "CppCPU": "singa.device.create_cpu_device()",
    "CudaGPU": "singa.device.create_cuda_gpu_on(id)",
    "Device": "singa.device.get_default_device()",
    "NcclIdHolder": "nothing: distributed training is not provided",
    "Communicator": "nothing: distributed training is not provided",
}


#: Build flags SINGA code and tests read: no distributed or OpenCL build; CUDA is
#: whether a GPU is usable through CuPy (asked on first read, see ``__getattr__``).
USE_DIST = False
USE_OPENCL = False
USE_DNNL = False


def Tensor(shape, device=None, dtype=None):  # noqa: N802 - SINGA's C++ name
    """A zero float32 array of ``shape``: the Python stand-in for a raw CTensor,
    which SINGA code builds to fill and hand to ``tensor.Tensor(data=...)``."""
    import numpy as np

    return np.zeros(tuple(shape), dtype=dtype or np.float32)


def Gaussian(mean, std, t):  # noqa: N802 - SINGA's C++ name
    """Fill array ``t`` (a stand-in CTensor or ``Tensor.data``) with normal samples
    from singa's seeded generator."""
    from .tensor import rng

    t[...] = rng().normal(mean, std, t.shape)


_HANDLES = {"ConvHandle": "ConvHandle", "CudnnConvHandle": "ConvHandle",
            "PoolingHandle": "PoolingHandle", "CudnnPoolingHandle": "PoolingHandle",
            "BatchNormHandle": "BatchNormHandle", "CudnnBatchNormHandle": "BatchNormHandle"}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name == "USE_CUDA":
        from .device import get_num_gpus

        return get_num_gpus() > 0
    if name in _HANDLES:
        from . import operators_nn

        return getattr(operators_nn, _HANDLES[name])
    instead = _INSTEAD.get(name, "the functions of singa.tensor and singa.autograd")
    raise AttributeError(f"singa.singa_wrap.{name}: singa has no C++ core; use {instead}")
