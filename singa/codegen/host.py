"""The host dialect's toolchain: kernels compiled by the system C compiler, run through ctypes.

All kernels of a plan go into one C file and one shared library, cached on disk
under ``$SINGA_CACHE_DIR/kernels`` (default ``~/.cache/singa/kernels``) by a hash
of the source, the compiler and its flags, so a model compiles once per machine.
Libraries are written to a temporary name and renamed into place: concurrent
processes never load a half-written file.  Nothing is written outside the cache.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading

from ..errors import KernelCompileError
from .dialect import HOST
from .render import locate, module

FLAGS = ("-O3", "-march=native", "-std=c11", "-fPIC", "-shared", "-fopenmp", "-fwrapv",
         "-fno-math-errno", "-w")
_loaded: dict[str, ctypes.CDLL] = {}

# OpenMP workers that spin long after a parallel loop took the cores BLAS's
# threads needed next (plans 2x to 30x slower on two cores); workers that sleep
# at once pay a wake-up at every loop (small products 1.5x slower).  Matrix
# products are our own kernels now (codegen/gemm.py), so a short spin (tens of
# microseconds) serves both.  libgomp reads this once, when the first library
# using it loads (a probe here, or a plan's kernels), so it is set before any.
os.environ.setdefault("GOMP_SPINCOUNT", "100000")
_lock = threading.Lock()


def cache_dir() -> str:
    """Where compiled kernels are kept (created on first use)."""
    root = os.environ.get("SINGA_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "singa")
    return os.path.join(root, "kernels")


@functools.lru_cache(maxsize=None)
def compiler() -> str | None:
    """The C compiler (``$CC``, else cc, gcc or clang on PATH), or None."""
    for c in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def usable() -> str | None:
    """Why the host dialect cannot run here (no compiler, or one that cannot
    build an OpenMP shared library with our flags, e.g. clang without libomp),
    or None when it can."""
    cc = compiler()
    if cc is None:
        return "no C compiler found"
    return _builds(cc)


@functools.lru_cache(maxsize=None)
def _builds(cc: str) -> str | None:
    return _probe(cc, "void singa_probe(const float* a, float* y, long long n) {\n"
                      "#pragma omp parallel for simd\n"
                      "  for (long long i = 0; i < n; ++i) y[i] = a[i] + 1.0f;\n}\n")


def _probe(cc: str, source: str) -> str | None:
    """Build ``source`` into a shared library with the kernels' flags and load it:
    None when that works, else why not."""
    why = f"{os.path.basename(cc)} cannot build the kernels: "
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, out = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe.so")
            with open(src, "w", encoding="utf-8") as f:
                f.write(source)
            r = subprocess.run([cc, *FLAGS, src, "-o", out, "-lm"], capture_output=True,
                               text=True, timeout=120)
            if r.returncode != 0:
                return why + r.stderr.strip()[:200]
            ctypes.CDLL(out)
    except Exception as e:
        return why + f"{type(e).__name__}: {e}"
    return None


@functools.lru_cache(maxsize=None)
def _compiler_id(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else cc
    except (OSError, subprocess.SubprocessError):
        return cc


def compile_error(compiler_name, log, spans) -> KernelCompileError:
    """The first error of a compiler log, mapped to its kernel and line."""
    # gcc/clang: "file.c:42:13: error: ..."; NVRTC: "file.cu(42): error: ..."
    first = re.search(r"(?:\((\d+)\)|:(\d+)(?::\d+)?):\s*(?:fatal )?error:?\s*(.*)", log)
    if first is None:
        return KernelCompileError(f"{compiler_name} failed:\n{log.strip()[:2000]}")
    k, line = locate(spans, int(first.group(1) or first.group(2)))
    if k is None:
        where = f"preamble line {line}"
    else:
        where = f"kernel {k.name} line {line} (op group {k.group}"
        where += f"; source nodes {', '.join(k.sources)})" if k.sources else ")"
    return KernelCompileError(f"{compiler_name}: {where}: {first.group(3).strip()}\n"
                              f"{log.strip()[:2000]}")


def build(kernels) -> dict:
    """Compile ``kernels`` into one library; kernel name -> ctypes function taking
    one pointer (int) per parameter."""
    cc = compiler()
    if cc is None:
        raise KernelCompileError("no C compiler found (set CC or install gcc)")
    source, spans = module(kernels, HOST if _vector_math_links(cc) else _SCALAR_HOST)
    key = hashlib.sha256("\n".join([source, cc, _compiler_id(cc), *FLAGS]).encode())
    folder = cache_dir()
    path = os.path.join(folder, key.hexdigest()[:24] + ".so")
    with _lock:
        lib = _loaded.get(path)
        if lib is None:
            if not os.path.exists(path):
                _compile(cc, source, spans, folder, path)
            lib = _loaded[path] = ctypes.CDLL(path)
    fns = {}
    for _, _, k in spans:
        f = getattr(lib, k.name)
        f.argtypes = [ctypes.c_void_p] * len(k.params)
        f.restype = None
        fns[k.name] = f
    return fns


_SCALAR_HOST = dataclasses.replace(HOST, declarations="")


@functools.lru_cache(maxsize=None)
def _vector_math_links(cc: str) -> bool:
    """Whether a library calling every vector libm function the host dialect
    declares links and loads (glibc 2.35 or later has them all in libmvec)."""
    body = []
    for line in HOST.declarations.splitlines():
        if "(" in line and not line.startswith("#"):
            name = line.split("(")[1].rstrip(")")
            n_args = line.count(",") + 1
            t = line.split()[0]
            args = ", ".join(["a[i]"] * n_args)
            body.append(f"void call_{name}(const {t}* restrict a, {t}* restrict y) "
                        f"{{ for (int i = 0; i < 64; ++i) y[i] = ({name})({args}); }}")
    return _probe(cc, HOST.preamble() + "\n".join(body) + "\n") is None


def _compile(cc, source, spans, folder, path) -> None:
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        src = os.path.join(tmp, "kernels.c")
        out = os.path.join(tmp, "kernels.so")
        with open(src, "w", encoding="utf-8") as f:
            f.write(source)
        r = subprocess.run([cc, *FLAGS, src, "-o", out, "-lm"], capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise compile_error(os.path.basename(cc), r.stderr, spans)
        os.replace(out, path)


_recording = threading.local()


def caller(fn):
    """call(ins, y): run host kernel ``fn`` on NumPy arrays (noting the call
    when a :func:`record` is under way in this thread)."""

    def call(ins, y):
        ptrs = tuple(a.ctypes.data for a in ins) + (y.ctypes.data,)
        calls = getattr(_recording, "calls", None)
        if calls is not None:
            calls.append((fn, ptrs))
        fn(*ptrs)

    return call


# kernels of at most this many pointers replay from C (see _replayer)
REPLAY_ARITY = 24


@functools.lru_cache(maxsize=None)
def _replayer():
    """``singa_replay(n, fns, args, counts)``: calls ``fns[c]`` with the next
    ``counts[c]`` pointers of ``args``, for each of the n calls, from C.  One
    ctypes call per recorded segment instead of one per kernel (0.5-0.7 us each,
    a few percent of a plan of small kernels).  Each call goes through a pointer
    of its own arity (kernels take pointers only).  None where it cannot be built."""
    cc = compiler()
    if cc is None:
        return None
    cases = []
    for k in range(1, REPLAY_ARITY + 1):
        params = ", ".join(["void *"] * k)
        args = ", ".join(f"a[{i}]" for i in range(k))
        cases.append(f"      case {k}: ((void (*)({params}))fns[c])({args}); break;")
    source = ("void singa_replay(long long n, void *const *fns, void *const *args, "
              "const int *counts) {\n  void *const *a = args;\n"
              "  for (long long c = 0; c < n; a += counts[c], ++c) {\n"
              "    switch (counts[c]) {\n" + "\n".join(cases) + "\n    }\n  }\n}\n")
    key = hashlib.sha256("\n".join([source, cc, _compiler_id(cc), *FLAGS]).encode())
    folder = cache_dir()
    path = os.path.join(folder, "replay-" + key.hexdigest()[:24] + ".so")
    try:
        with _lock:
            if not os.path.exists(path):
                _compile(cc, source, [], folder, path)
        fn = ctypes.CDLL(path).singa_replay
    except (OSError, KernelCompileError):
        return None
    fn.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = None
    return fn


def record(run):
    """Run ``run()`` and return a function that makes the same kernel calls
    again, with the same pointers, without it (the host's CUDA graph): one call
    into C that makes them all, where they all fit it."""
    _recording.calls = calls = []
    try:
        run()
    finally:
        _recording.calls = None
    runner = _replayer() if calls else None
    if runner is None or any(not 0 < len(p) <= REPLAY_ARITY for _, p in calls):
        def replay():
            for fn, ptrs in calls:
                fn(*ptrs)
    else:
        flat = [a for _, p in calls for a in p]
        fns = (ctypes.c_void_p * len(calls))(*(ctypes.cast(f, ctypes.c_void_p).value
                                               for f, _ in calls))
        args = (ctypes.c_void_p * len(flat))(*flat)
        counts = (ctypes.c_int * len(calls))(*(len(p) for _, p in calls))

        def replay():
            runner(len(calls), fns, args, counts)

    replay.calls = calls  # keeps the libraries of the functions loaded
    return replay
