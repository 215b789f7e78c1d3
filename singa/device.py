"""Devices: the host CPU (NumPy) and CUDA GPUs (CuPy), with SINGA's device API.

A Device knows its array module ``xp`` and moves arrays onto itself.  SINGA's
names are all here: ``create_cpu_device``, ``create_cuda_gpu``,
``create_cuda_gpu_on``, ``create_cuda_gpus``, ``create_cuda_gpus_on``,
``get_default_device``, ``get_num_gpus``, ``get_gpu_ids``, ``get_gpu_mem_size``,
``device_query``, ``enable_lazy_alloc``, and the Device methods ``id()``,
``lang()``, ``host()``, ``Sync()``, ``SetRandSeed``, ``EnableGraph`` /
``graph_enabled``, ``ResetGraph``, ``RunGraph``, ``SetVerbosity``,
``SetSkipIteration``, ``PrintTimeProfiling`` and ``Reset``.

Differences from SINGA's C++ devices, on purpose:

* Ops always run at once.  ``EnableGraph`` only records the flag (models read
  it); ``RunGraph`` and ``ResetGraph`` have nothing buffered to run or drop.
* ``PrintTimeProfiling`` reports per table op (see :mod:`singa.profiling`).
* ``get_num_gpus`` returns 0 on a machine without CuPy or a GPU (SINGA's CPU
  build fails an assertion); creating a GPU there raises ``DeviceError``.
* OpenCL devices do not exist here.
"""

from __future__ import annotations

import numpy as np

from .errors import DeviceError
from .profiling import Profiler

# SINGA's LangType values, as ``Device.lang()`` returns them.
kCpp, kCuda, kOpencl = 0, 1, 2

_lazy_alloc = True


class Device:
    """Where tensors live and ops run. ``xp`` is the array module (numpy or cupy)."""

    kind = "cpu"
    _lang = kCpp
    # eager ops through compiled host kernels where they pay (see
    # singa.runtime.eager_kernels); False keeps every eager op in NumPy
    eager_kernels = True

    def __init__(self, device_id: int = -1):
        self.xp = np
        self._id = device_id
        self._graph_enabled = False
        self.profiler = Profiler(self)

    def put(self, array):
        """``array`` (NumPy, CuPy or anything array-like) as an array on this device."""
        if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
            return array.get()
        return np.asarray(array)

    def synchronize(self):
        """Wait for queued work (no-op on the CPU)."""

    # ------------------------------------------------------------- SINGA's methods
    def id(self) -> int:  # noqa: A003 - SINGA's name
        """-1 for the host, the GPU ordinal for a GPU."""
        return self._id

    def lang(self) -> int:
        """``kCpp`` (0) for the host, ``kCuda`` (1) for a GPU."""
        return self._lang

    def host(self) -> "Device":
        """The host device this one copies through."""
        return _default

    def Sync(self) -> None:
        """Wait until every op queued on this device has finished."""
        self.synchronize()

    def SetRandSeed(self, seed: int) -> None:
        """Seed the generator behind weight initialisation and random fills
        (``Tensor.gaussian``/``uniform``/``bernoulli``; see ``singa.tensor.seed``)."""
        from . import tensor

        tensor.seed(int(seed))

    def EnableGraph(self, enable: bool) -> None:
        """Record SINGA's graph flag; ops still run eagerly."""
        self._graph_enabled = bool(enable)

    def graph_enabled(self) -> bool:
        return self._graph_enabled

    def ResetGraph(self) -> None:
        """Nothing is buffered: ops ran when they were called."""

    def RunGraph(self, serial: bool = False) -> None:
        """Nothing is buffered: ops ran when they were called."""

    def SetVerbosity(self, verbosity: int) -> None:
        """0: no profiling; 1: forward/backward/update time per iteration; 2: time
        per table op; 3: SINGA's distributed ops (none here).  Ops are timed once
        ``SetSkipIteration``'s count of training steps has passed."""
        self.profiler.verbosity = int(verbosity)

    def SetSkipIteration(self, skip_iteration: int) -> None:
        """Training steps (``Optimizer.step`` calls) not timed; default 5."""
        if skip_iteration < 0:
            raise DeviceError(f"SetSkipIteration: {skip_iteration} is negative")
        self.profiler.skip_iteration = int(skip_iteration)

    def PrintTimeProfiling(self) -> None:
        """Print the time profile gathered so far (see ``SetVerbosity``)."""
        print(self.profiler.report(), end="")

    def time_profile(self):
        """The profile as a list of ``OpTime(phase, op, calls, total_s)``, costliest first."""
        return self.profiler.records()

    def end_iteration(self) -> None:
        """Mark the end of one training step for the profiler (``Optimizer.step`` does)."""
        self.profiler.end_iteration()

    def Reset(self) -> None:
        """Wait for queued work, switch the graph flag and profiling off, forget the
        profile, and skip 5 iterations again (SINGA's defaults)."""
        self.Sync()
        self._graph_enabled = False
        self.profiler.verbosity = 0
        self.profiler.skip_iteration = 5
        self.profiler.reset()

    @staticmethod
    def EnableLazyAlloc(enable: bool) -> None:
        enable_lazy_alloc(enable)

    # ------------------------------------------------------------- identity
    def __repr__(self):
        return "Device(cpu)"

    def __eq__(self, other):
        return isinstance(other, Device) and (self.kind, self._id) == (other.kind, other._id)

    def __hash__(self):
        return hash((self.kind, self._id))


class CppCPU(Device):
    """SINGA's name for the host device."""


class CudaGPU(Device):
    """A CUDA GPU driven through CuPy."""

    kind = "cuda"
    _lang = kCuda

    def __init__(self, device_id: int = 0):
        cupy = _cupy()
        count = _gpu_count(cupy)
        if not 0 <= device_id < count:
            raise DeviceError(f"GPU {device_id} requested, {count} present")
        super().__init__(device_id)
        self.xp = cupy
        self._cuda_device = cupy.cuda.Device(device_id)

    def put(self, array):
        with self._cuda_device:
            return self.xp.asarray(array)

    def synchronize(self):
        self._cuda_device.synchronize()

    def __repr__(self):
        return f"Device(cuda:{self._id})"


def _cupy():
    try:
        import cupy
    except Exception as e:  # ImportError, or CUDA libraries missing
        raise DeviceError(
            "a CUDA device needs CuPy: pip install 'singa-onnx[cuda12]' or '[cuda13]' "
            f"({type(e).__name__}: {e})") from e
    return cupy


def _gpu_count(cupy) -> int:
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise DeviceError(f"no usable CUDA GPU: {e}") from e


_default = CppCPU()
_gpus: dict[int, CudaGPU] = {}


def get_default_device() -> Device:
    """The host CPU device."""
    return _default


def create_cpu_device() -> Device:
    """The host CPU device (there is one, as in SINGA)."""
    return _default


def create_cuda_gpu_on(device_id: int) -> CudaGPU:
    """GPU ``device_id``; the same Device object every time, as in SINGA.
    DeviceError when CuPy or that GPU is missing."""
    dev = _gpus.get(device_id)
    if dev is None:
        dev = _gpus[device_id] = CudaGPU(device_id)
    return dev


def create_cuda_gpu() -> CudaGPU:
    """GPU 0; DeviceError when CuPy or a GPU is missing."""
    return create_cuda_gpu_on(0)


def create_cuda_gpus_on(device_ids) -> list:
    """One Device per GPU ordinal in ``device_ids``."""
    return [create_cuda_gpu_on(i) for i in device_ids]


def create_cuda_gpus(num: int) -> list:
    """The first ``num`` GPUs; DeviceError when fewer are present."""
    count = get_num_gpus()
    if num > count:
        raise DeviceError(f"create_cuda_gpus({num}): {count} GPU(s) present")
    return create_cuda_gpus_on(range(num))


def get_num_gpus() -> int:
    """How many CUDA GPUs CuPy sees; 0 without CuPy or a driver."""
    try:
        return _gpu_count(_cupy())
    except DeviceError:
        return 0


def get_gpu_ids() -> list:
    """The ordinals of the GPUs present."""
    return list(range(get_num_gpus()))


def get_gpu_mem_size(device_id: int) -> tuple:
    """``(free, total)`` bytes of GPU ``device_id``."""
    dev = create_cuda_gpu_on(device_id)
    with dev._cuda_device:
        free, total = dev.xp.cuda.runtime.memGetInfo()
    return int(free), int(total)


def device_query(device_id: int, verbose: bool = False) -> str:
    """A text description of GPU ``device_id`` (name, memory, multiprocessors...)."""
    dev = create_cuda_gpu_on(device_id)
    props = dev.xp.cuda.runtime.getDeviceProperties(device_id)
    keys = ["totalGlobalMem", "sharedMemPerBlock", "maxThreadsPerBlock", "maxThreadsDim",
            "maxGridSize"]
    if verbose:
        keys += ["major", "minor", "name", "regsPerBlock", "memPitch", "warpSize", "clockRate",
                 "multiProcessorCount"]
    lines = [f"Device id: {device_id}"] + [f"{k}: {_text(props.get(k))}" for k in keys]
    return "\n".join(lines) + "\n"


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def enable_lazy_alloc(enable: bool) -> None:
    """Recorded for SINGA compatibility; arrays are allocated when they are made."""
    global _lazy_alloc
    _lazy_alloc = bool(enable)


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
        if not (idx or "0").isdigit():
            raise DeviceError(f"unknown device {dev!r}; use 'CPU', 'cuda' or 'cuda:N'")
        return create_cuda_gpu_on(int(idx or 0))
    raise DeviceError(f"unknown device {dev!r}; use 'CPU', 'cuda' or 'cuda:N'")


_OPENCL = ("create_opencl_device", "get_num_opencl_platforms", "get_num_opencl_devices")


def __getattr__(name):
    if name in _OPENCL:
        raise AttributeError(f"singa.device.{name}: OpenCL devices are not supported; use "
                             "create_cpu_device() or create_cuda_gpu()")
    raise AttributeError(f"module 'singa.device' has no attribute {name!r}")
