"""Every bad ``singa-onnx`` argument: one ``error:`` line, a non-zero exit, no
traceback (issue #11, item 6); outputs written to exactly the paths given.

Exit status 2: the command line itself is wrong (argparse's convention);
1: a file, the model or the device named on it cannot be used.  Most cases run
``singa.cli.main`` in-process; a few run ``python -m singa`` for the real status.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from singa import sonnx
from singa.cli import main

from ._models import no_hang, one_error_line, reference, save, tiny

X = np.random.default_rng(4).normal(size=(2, 3)).astype(np.float32)


@pytest.fixture
def model(tmp_path):
    return save(tiny(), tmp_path / "tiny.onnx")


@pytest.fixture
def x_npy(tmp_path):
    np.save(tmp_path / "x.npy", X)
    return str(tmp_path / "x.npy")


def usage_error(argv, capsys) -> str:
    """The error line of a command line argparse must refuse with status 2."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return one_error_line(capsys.readouterr().err)


def run_error(argv, capsys) -> str:
    """The error line of a command that must fail with status 1."""
    with no_hang():
        assert main(argv) == 1
    return one_error_line(capsys.readouterr().err)


# ------------------------------------------------------------------ status 2

@pytest.mark.parametrize("seed", ["-1", "-7", "abc", "1.5"])
def test_bad_seed(model, seed, capsys):
    line = usage_error(["run", model, "--seed", seed], capsys)
    assert "--seed" in line and repr(seed) in line


@pytest.mark.parametrize("shape", ["x=-2x3", "x=0x3", "x=2.5x3", "x=2xx3", "x=ax3"])
def test_bad_input_shape(model, shape, capsys):
    line = usage_error(["compile", model, "--input-shape", shape], capsys)
    assert "--input-shape" in line and "positive integer" in line


def test_missing_argument_and_unknown_option(model, capsys):
    assert "model" in usage_error(["run"], capsys)
    assert "--frobnicate" in usage_error(["run", model, "--frobnicate"], capsys)


def test_usage_error_exit_status_from_a_process(model):
    r = subprocess.run([sys.executable, "-m", "singa", "run", model, "--seed", "-1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--seed" in one_error_line(r.stderr)


# ------------------------------------------------------------------ status 1

@pytest.mark.parametrize("device", ["cuda:x", "nonsense", "gpu:-1"])
def test_bad_device(model, device, capsys):
    for command in ("run", "compile"):
        line = run_error([command, model, "--device", device], capsys)
        assert line.startswith("error: DeviceError") and repr(device) in line


def test_missing_input_file(model, tmp_path, capsys):
    missing = str(tmp_path / "nope.npy")
    line = run_error(["run", model, "--input", f"x={missing}"], capsys)
    assert "InputError" in line and repr(missing) in line and "No such file" in line


def test_input_file_that_is_not_npy(model, tmp_path, capsys):
    (tmp_path / "text.npy").write_text("1 2 3\n")
    line = run_error(["run", model, "--input", f"x={tmp_path / 'text.npy'}"], capsys)
    assert "InputError" in line and "not a .npy file" in line
    np.savez(tmp_path / "arch.npz", x=X)
    line = run_error(["run", model, "--input", f"x={tmp_path / 'arch.npz'}"], capsys)
    assert "InputError" in line and ".npz archive" in line
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    line = run_error(["run", model, "--input", f"x={tmp_path / 'objects.npy'}"], capsys)
    assert "InputError" in line and "cannot load" in line


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_input_file_that_is_not_a_regular_file(model, tmp_path, kind, capsys):
    path = "/dev/zero" if kind == "device" else str(tmp_path / "x.npy")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    line = run_error(["run", model, "--input", f"x={path}"], capsys)
    assert "InputError" in line and "not a regular file" in line and repr(path) in line


def test_input_name_the_model_lacks(model, x_npy, capsys):
    line = run_error(["run", model, "--input", f"q={x_npy}"], capsys)
    assert "InputError" in line and "['q']" in line and "['x']" in line


@pytest.mark.parametrize("where", ["directory", "missing_folder", "under_a_file", "fifo"])
def test_unwritable_output_refused_before_running(model, tmp_path, where, capsys, monkeypatch):
    target = {"directory": tmp_path, "missing_folder": tmp_path / "no" / "out.npz",
              "under_a_file": tmp_path / "tiny.onnx" / "out.npz",
              "fifo": tmp_path / "pipe.npz"}[where]
    if where == "fifo":
        os.mkfifo(target)

    def must_not_load(*a, **kw):
        raise AssertionError("the model was loaded before --output was checked")

    monkeypatch.setattr(sonnx, "prepare", must_not_load)
    line = run_error(["run", model, "--output", str(target)], capsys)
    assert "--output" in line and repr(str(target)) in line


def test_write_failure_is_one_error_line(model, tmp_path, capsys, monkeypatch):
    def disk_full(file, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    line = run_error(["run", model, "--output", str(tmp_path / "o.npz")], capsys)
    assert "cannot write --output" in line and "No space left" in line


def test_unwritable_compile_outputs(model, tmp_path, capsys):
    line = run_error(["compile", model, "--dot", str(tmp_path)], capsys)
    assert "--dot" in line and "directory" in line
    line = run_error(["compile", model, "--dump-ir", model], capsys)
    assert "--dump-ir" in line and "not a folder" in line
    line = run_error(["compile", model, "--emit-c", str(tmp_path / "tiny.onnx" / "c")], capsys)
    assert "--emit-c" in line and "not a folder" in line


def test_output_errors_from_a_process(model, tmp_path):
    r = subprocess.run([sys.executable, "-m", "singa", "run", model, "--output", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "--output" in one_error_line(r.stderr)


# ------------------------------------------------------------------ exact output paths

@pytest.mark.parametrize("name", ["out", "out.npz", "out.bin", "dir/out.data"])
def test_output_written_at_exactly_the_path_given(model, x_npy, tmp_path, name, capsys):
    (tmp_path / "dir").mkdir()
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path / "dir"))
    assert main(["run", model, "--input", f"x={x_npy}", "--output", str(tmp_path / name)]) == 0
    after = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path / "dir"))
    assert after - before == {os.path.basename(name)}
    with np.load(tmp_path / name) as z:
        np.testing.assert_allclose(z["y"], reference(X), rtol=1e-6, atol=1e-6)
    assert f"wrote {tmp_path / name}" in capsys.readouterr().out


def test_dot_written_at_exactly_the_path_given(model, tmp_path, capsys):
    assert main(["compile", model, "--dot", str(tmp_path / "graph")]) == 0
    assert sorted(os.listdir(tmp_path)) == ["graph", "tiny.onnx"]
    assert (tmp_path / "graph").read_text().startswith("digraph")
