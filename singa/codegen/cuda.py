"""The CUDA dialect's runtime: kernels compiled by NVRTC and launched through CuPy.

All kernels of a plan form one ``cupy.RawModule`` (CuPy compiles it with
NVRTC for the GPU at hand and caches the binary); each kernel is fetched once
at plan time, so ``prepare`` compiles everything and a run only launches.
Not yet run on a GPU in this project's CI: the same sources are compiled by
NVRTC there (:mod:`.nvrtc`) and executed through the host dialect.
"""

from __future__ import annotations

from ..errors import DeviceError
from .dialect import CUDA
from .host import compile_error
from .nvrtc import OPTIONS
from .render import module


def build(kernels) -> dict:
    """Kernel name -> ``cupy.RawKernel`` for ``kernels`` compiled as one module."""
    try:
        import cupy
    except Exception as e:
        raise DeviceError(f"the cuda target needs CuPy: {type(e).__name__}: {e}") from e
    source, spans = module(kernels, CUDA)
    try:
        mod = cupy.RawModule(code=source, options=OPTIONS)
        return {k.name: mod.get_function(k.name) for _, _, k in spans}
    except cupy.cuda.compiler.CompileException as e:
        raise compile_error("nvrtc", str(e), spans) from None


def stream():
    """A non-blocking stream for one arena's runs (capture needs one)."""
    import cupy

    return cupy.cuda.Stream(non_blocking=True)


def record(run, on):
    """Capture what ``run()`` enqueues on stream ``on`` as a CUDA graph, launch
    it once (capture only records), and return the replay."""
    on.begin_capture()
    try:
        run()
    finally:
        graph = on.end_capture()
    graph.launch(stream=on)

    def replay():
        graph.launch(stream=on)

    replay.graph = graph
    return replay
