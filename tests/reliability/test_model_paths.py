"""Model and external-data paths must be regular files (issue #11, item 5).

A device (``/dev/zero``, ``/dev/urandom``) would be read until memory runs out,
a FIFO blocks ``open`` for ever, a directory is no model: each must be refused
with a ``ModelError`` naming the path, before the path is ever opened, through
every entry point (``import_model``, ``sonnx.prepare``, ``singa.compile``, the
CLI in-process and as a process).
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

import numpy as np
import pytest

import singa
from singa import sonnx
from singa.cli import main
from singa.errors import ExternalDataError, ModelError
from singa.frontends.onnx_import import import_model

from ._models import W, no_hang, one_error_line, reference, save, tiny, tiny_external

KINDS = {"dev_zero": "character device", "dev_urandom": "character device",
         "fifo": "FIFO", "directory": "directory"}


@pytest.fixture(params=sorted(KINDS))
def special(request, tmp_path):
    """(path, what the error must call it) for each kind of non-regular file."""
    kind = request.param
    if kind == "dev_zero":
        path = "/dev/zero"
    elif kind == "dev_urandom":
        path = "/dev/urandom"
    elif kind == "fifo":
        path = str(tmp_path / "model.onnx")
        os.mkfifo(path)
    else:
        path = str(tmp_path / "model.onnx")
        os.mkdir(path)
    return path, KINDS[kind]


@pytest.fixture
def opened(monkeypatch):
    """Real paths handed to builtins.open or os.open while the test runs."""
    seen = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *a, **kw):
        if isinstance(file, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(file))
        return real_open(file, *a, **kw)

    def spy_os_open(path, *a, **kw):
        seen.append(os.path.realpath(path))
        return real_os_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    return seen


LOADERS = {"import_model": import_model, "prepare": sonnx.prepare, "compile": singa.compile}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_non_regular_model_path_refused_before_opening(special, loader, opened):
    path, what = special
    with no_hang(), pytest.raises(ModelError) as e:
        LOADERS[loader](path)
    msg = str(e.value)
    assert repr(path) in msg and what in msg and "not a regular file" in msg
    assert os.path.realpath(path) not in opened


@pytest.mark.parametrize("command", ["info", "run", "compile"])
def test_cli_refuses_non_regular_model(special, command, capsys, opened):
    path, what = special
    with no_hang():
        assert main([command, path]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("error: ModelError") and repr(path) in line and what in line
    assert os.path.realpath(path) not in opened


@pytest.mark.parametrize("path", ["/dev/zero", "fifo"])
def test_cli_process_exits_1_on_non_regular_model(tmp_path, path):
    if path == "fifo":
        path = str(tmp_path / "m.onnx")
        os.mkfifo(path)
    r = subprocess.run([sys.executable, "-m", "singa", "run", path], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert one_error_line(r.stderr).startswith("error: ModelError") and repr(path) in r.stderr


def test_symlink_to_a_regular_model_still_loads(tmp_path):
    target = save(tiny(), tmp_path / "real.onnx")
    (tmp_path / "link.onnx").symlink_to(target)
    rep = sonnx.prepare(str(tmp_path / "link.onnx"))
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    got = np.asarray(rep.run([x])[0].data)
    np.testing.assert_allclose(got, reference(x), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ external data

@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_external_data_that_is_not_a_regular_file(tmp_path, kind, opened):
    path = tiny_external(str(tmp_path), "weights.bin", write=False)
    data = tmp_path / "weights.bin"
    if kind == "fifo":
        os.mkfifo(data)
    else:
        os.mkdir(data)
    opened.clear()
    with no_hang(), pytest.raises(ExternalDataError) as e:
        import_model(path)
    msg = str(e.value)
    assert "'W'" in msg and KINDS[kind] in msg and "not a regular file" in msg
    assert str(data.resolve()) not in opened


def test_external_data_symlink_to_a_device_is_refused(tmp_path, opened):
    path = tiny_external(str(tmp_path), "weights.bin", write=False)
    (tmp_path / "weights.bin").symlink_to("/dev/zero")
    opened.clear()
    with no_hang(), pytest.raises(ExternalDataError, match="'W'"):
        import_model(path)
    assert "/dev/zero" not in opened


def test_regular_external_data_loads(tmp_path):
    g = import_model(tiny_external(str(tmp_path)))
    np.testing.assert_array_equal(g.params[0].data, W)
    assert g.params[0].data.flags.writeable and g.params[0].data.flags.owndata
