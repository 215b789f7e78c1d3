"""Devices: the host CPU (NumPy) and CUDA GPUs (CuPy).

A Device knows its array module ``xp`` and moves arrays onto itself.
"""

from __future__ import annotations

import numpy as np

from .errors import DeviceError


class Device:
    """Where tensors live and ops run. ``xp`` is the array module (numpy or cupy)."""

    kind = "cpu"
    id = -1

    def __init__(self):
        self.xp = np

    def put(self, array):
        """``array`` (NumPy, CuPy or anything array-like) as an array on this device."""
        if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
            return array.get()
        return np.asarray(array)

    def synchronize(self):
        """Wait for queued work (no-op on the CPU)."""

    def __repr__(self):
        return "Device(cpu)"

    def __eq__(self, other):
        return isinstance(other, Device) and (self.kind, self.id) == (other.kind, other.id)

    def __hash__(self):
        return hash((self.kind, self.id))


class CppCPU(Device):
    """SINGA's name for the host device."""


class CudaGPU(Device):
    """A CUDA GPU driven through CuPy."""

    kind = "cuda"

    def __init__(self, device_id: int = 0):
        try:
            import cupy
        except Exception as e:  # ImportError, or CUDA libraries missing
            raise DeviceError(
                "a CUDA device needs CuPy: pip install 'singa-onnx[cuda12]' or '[cuda13]' "
                f"({type(e).__name__}: {e})") from e
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:
            raise DeviceError(f"no usable CUDA GPU: {e}") from e
        if not 0 <= device_id < count:
            raise DeviceError(f"GPU {device_id} requested, {count} present")
        self.xp = cupy
        self.id = device_id
        self._cuda_device = cupy.cuda.Device(device_id)

    def put(self, array):
        with self._cuda_device:
            return self.xp.asarray(array)

    def synchronize(self):
        self._cuda_device.synchronize()

    def __repr__(self):
        return f"Device(cuda:{self.id})"


_default = CppCPU()


def get_default_device() -> Device:
    """The host CPU device."""
    return _default


def create_cuda_gpu() -> CudaGPU:
    """GPU 0; DeviceError when CuPy or a GPU is missing."""
    return CudaGPU(0)


def create_cuda_gpu_on(device_id: int) -> CudaGPU:
    """GPU ``device_id``; DeviceError when CuPy or that GPU is missing."""
    return CudaGPU(device_id)


def create_cpu_device() -> Device:
    return _default


def resolve(dev) -> Device:
    """A Device from a Device, None, or a string such as 'CPU', 'cuda', 'cuda:1'."""
    if dev is None:
        return _default
    if isinstance(dev, Device):
        return dev
    s = str(dev).lower()
    if s == "cpu":
        return _default
    if s.startswith(("cuda", "gpu")):
        _, _, idx = s.partition(":")
        return CudaGPU(int(idx or 0))
    raise DeviceError(f"unknown device {dev!r}; use 'CPU', 'cuda' or 'cuda:N'")
