"""The CUDA dialect's compile check: NVRTC through CuPy's binding, no GPU or driver needed.

:func:`compile_ptx` compiles CUDA kernels to PTX exactly as CuPy's ``RawModule``
would before loading them; CI runs it on every kernel the plans emit, so CUDA
code is checked on machines without a GPU.  Compile errors name the kernel, the
line in its emitted source and the op group.
"""

from __future__ import annotations

import functools

from ..errors import DeviceError
from .dialect import CUDA
from .host import compile_error
from .render import module

# the oldest architecture NVRTC 12 and 13 both still target; a kernel that
# compiles here compiles for every newer one
DEFAULT_ARCH = "compute_75"
OPTIONS = ("-std=c++17",)


@functools.lru_cache(maxsize=None)
def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as e:  # no CuPy, or CuPy without a loadable libnvrtc
        raise DeviceError(f"NVRTC is not available: {type(e).__name__}: {e}") from e
    return nvrtc


def available() -> bool:
    """Whether NVRTC can be called here."""
    try:
        _nvrtc()
        return True
    except DeviceError:
        return False


def version() -> tuple:
    return tuple(_nvrtc().getVersion())


def compile_ptx(kernels, arch: str = DEFAULT_ARCH) -> str:
    """PTX of one module holding ``kernels``; KernelCompileError on a compile error."""
    nvrtc = _nvrtc()
    source, spans = module(kernels, CUDA)
    prog = nvrtc.createProgram(source, "singa_kernels.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, [f"--gpu-architecture={arch}", *OPTIONS])
        except nvrtc.NVRTCError:
            raise compile_error("nvrtc", nvrtc.getProgramLog(prog), spans) from None
        ptx = nvrtc.getPTX(prog)
        return ptx.decode() if isinstance(ptx, bytes) else ptx
    finally:
        nvrtc.destroyProgram(prog)
