"""SINGA's C++ binding module, as far as Python can stand in for it.

SINGA user code often starts with ``from singa import singa_wrap as singa`` and
then never uses it, or builds the convolution, pooling and BatchNorm handles it
passes to ``autograd.conv2d``/``pooling_2d``/``batchnorm_2d``.  Those handles are
the Python ones of :mod:`singa.operators_nn` (same constructor arguments); any
other attribute names the Python equivalent instead of the C++ object.
"""

from __future__ import annotations

_INSTEAD = {
    "Tensor": "singa.tensor.Tensor",
    "CppCPU": "singa.device.create_cpu_device()",
    "CudaGPU": "singa.device.create_cuda_gpu_on(id)",
    "Device": "singa.device.get_default_device()",
    "NcclIdHolder": "nothing: distributed training is not provided",
    "Communicator": "nothing: distributed training is not provided",
}


_HANDLES = {"ConvHandle": "ConvHandle", "CudnnConvHandle": "ConvHandle",
            "PoolingHandle": "PoolingHandle", "CudnnPoolingHandle": "PoolingHandle",
            "BatchNormHandle": "BatchNormHandle", "CudnnBatchNormHandle": "BatchNormHandle"}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _HANDLES:
        from . import operators_nn

        return getattr(operators_nn, _HANDLES[name])
    instead = _INSTEAD.get(name, "the functions of singa.tensor and singa.autograd")
    raise AttributeError(f"singa.singa_wrap.{name}: singa has no C++ core; use {instead}")
