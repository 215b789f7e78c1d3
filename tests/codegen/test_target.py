"""Choosing the code-generation target: explicit, environment, default, errors."""

from __future__ import annotations

import pytest

from singa import device
from singa.codegen import target as T
from singa.errors import TargetError

CPU = device.get_default_device()


def test_default_on_the_cpu_is_c(monkeypatch):
    monkeypatch.delenv("SINGA_TARGET", raising=False)
    assert T.resolve(None, CPU) == "c"


def test_environment_overrides_the_default_not_an_explicit_target(monkeypatch):
    monkeypatch.setenv("SINGA_TARGET", "c")
    assert T.resolve(None, CPU) == "c"
    assert T.resolve("numpy", CPU) == "numpy"
    monkeypatch.setenv("SINGA_TARGET", "cuda")  # no GPU here: the device's default
    assert T.resolve(None, CPU) == "c"
    monkeypatch.setenv("SINGA_TARGET", "numpy")
    assert T.resolve(None, CPU) == "numpy"


def test_bad_targets_are_errors(monkeypatch):
    with pytest.raises(TargetError, match="unknown target"):
        T.resolve("opencl", CPU)
    with pytest.raises(TargetError, match="needs a GPU"):
        T.resolve("cuda", CPU)
    monkeypatch.setenv("SINGA_TARGET", "vulkan")
    with pytest.raises(TargetError, match="SINGA_TARGET"):
        T.resolve(None, CPU)


def test_without_a_c_compiler_c_warns_and_runs_numpy(monkeypatch):
    from singa.codegen import host

    monkeypatch.setattr(host, "compiler", lambda: None)
    monkeypatch.setattr(T, "_warned", [])
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        assert T.resolve("c", CPU) == "numpy"


def test_a_compiler_that_cannot_build_the_kernels_warns_and_runs_numpy(monkeypatch, tmp_path):
    """A compiler is found but fails on our flags (here: a script that always fails)."""
    from singa.codegen import host

    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'unsupported option -fopenmp' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(host, "compiler", lambda: str(fake))
    monkeypatch.delenv("SINGA_TARGET", raising=False)
    monkeypatch.setattr(T, "_warned", [])
    with pytest.warns(RuntimeWarning, match="cannot build the kernels.*-fopenmp"):
        assert T.resolve(None, CPU) == "numpy"


def test_kernels_are_cached_under_singa_cache_dir(monkeypatch, tmp_path):
    import numpy as np
    from onnx import TensorProto as P
    from onnx import helper as h

    from singa import sonnx

    monkeypatch.setenv("SINGA_CACHE_DIR", str(tmp_path))
    x = h.make_tensor_value_info("x", P.FLOAT, [5])
    m = h.make_model(h.make_graph([h.make_node("Sigmoid", ["x"], ["y"])], "g", [x],
                                  [h.make_tensor_value_info("y", P.FLOAT, [5])]),
                     opset_imports=[h.make_opsetid("", 17)])
    a = np.linspace(-3, 3, 5, dtype=np.float32)
    y = sonnx.prepare(m, target="c").run([a])[0]
    np.testing.assert_allclose(np.asarray(y.data), 1 / (1 + np.exp(-a.astype(np.float64))),
                               rtol=1e-6)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".so" and p.parent == tmp_path / "kernels" for p in files)


def test_openmp_workers_spin_briefly_from_the_first_library_on():
    """libgomp reads its spin count once, when the first OpenMP library loads; the
    compiler probe loads one before any plan does.  Long-spinning workers made the
    c plans 10-30x slower next to BLAS's threads on two cores; sleeping ones pay
    a wake-up at every parallel loop."""
    import os
    import subprocess
    import sys

    from singa.codegen import host

    if host.compiler() is None:
        pytest.skip("no C compiler")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["OMP_DISPLAY_ENV"] = "VERBOSE"  # libgomp prints its settings when it starts
    r = subprocess.run([sys.executable, "-c", "from singa.codegen import host; "
                        "assert host.usable() is None"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # libgomp's own default spins 300000 times (about a millisecond) first
    assert "GOMP_SPINCOUNT = '100000'" in r.stderr, r.stderr[-2000:]
