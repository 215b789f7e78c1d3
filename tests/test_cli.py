"""The ``singa-onnx`` command (in-process through ``singa.cli.main``, once as ``python -m``).

References: onnxruntime for the outputs of ``run``; the model's own proto for ``info``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa.cli import main

RNG = np.random.default_rng(0)
W = RNG.normal(size=(3, 4)).astype(np.float32)


@pytest.fixture
def model_path(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="fc"),
             helper.make_node("Relu", ["h"], ["y"], name="act"),
             helper.make_node("Relu", ["y"], ["z"], name="act2")]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TP.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("z", TP.FLOAT, ["N", 4])],
                          [numpy_helper.from_array(W, "W")])
    p = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(p))
    return p


def test_info(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "opset: 13" in out
    assert "x: f32[N,3]" in out and "z: f32[N,4]" in out
    assert "parameters: 12" in out
    assert re.search(r"Relu +2\n", out) and re.search(r"MatMul +1\n", out)


def test_info_lists_unsupported(model_path, capsys):
    m = onnx.load(str(model_path))
    m.graph.node[1].op_type = "Frobnicate"
    onnx.save(m, str(model_path))
    assert main(["info", str(model_path)]) == 0
    assert "Frobnicate (opset 13): 1 node" in capsys.readouterr().out


def test_run_random_seeded_and_saved(model_path, tmp_path, capsys):
    out = tmp_path / "out.npz"
    assert main(["run", str(model_path), "--seed", "3", "--output", str(out)]) == 0
    got = np.load(out)["z"]
    x = np.random.default_rng(3).standard_normal((1, 3)).astype(np.float32)  # N -> 1
    np.testing.assert_allclose(got, np.maximum(x @ W, 0), rtol=1e-6)
    assert "output z: float32[1, 4]" in capsys.readouterr().out


def test_run_with_input_file(model_path, tmp_path):
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o.npz"
    assert main(["run", str(model_path), "--input", f"x={tmp_path / 'x.npy'}",
                 "--output", str(out)]) == 0
    np.testing.assert_allclose(np.load(out)["z"], np.maximum(x @ W, 0), rtol=1e-6)


def test_run_errors(model_path, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    assert main(["run", str(model_path), "--input", f"x={tmp_path / 'bad.npy'}"]) == 1
    assert "InputError" in capsys.readouterr().err
    assert main(["run", str(model_path), "--input", f"q={tmp_path / 'bad.npy'}"]) == 1
    assert "['q']" in capsys.readouterr().err
    (tmp_path / "broken.onnx").write_bytes(model_path.read_bytes()[:40])
    assert main(["run", str(tmp_path / "broken.onnx")]) == 1
    assert "ModelError" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2


def test_compile_outputs(model_path, tmp_path, capsys):
    dump, dot = tmp_path / "ir", tmp_path / "g.dot"
    assert main(["compile", str(model_path), "--dump-ir", str(dump), "--print-plan",
                 "--dot", str(dot), "--last-layers", "2"]) == 0
    out = capsys.readouterr().out
    assert "steps:" in out and "MatMul(b0, b1)" in out and "act2" not in out
    names = sorted(p.name for p in dump.iterdir())
    assert names[0] == "00-input.ir" and "plan.txt" in names
    text = dot.read_text()
    assert text.startswith("digraph") and "MatMul" in text and "->" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "ir", "tiny.onnx"]


def test_compile_prints_ir_with_shapes(model_path, capsys):
    assert main(["compile", str(model_path), "--input-shape", "x=2x3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graph @tiny") and "f32[2,4]" in out


def test_python_dash_m(model_path):
    r = subprocess.run([sys.executable, "-m", "singa", "info", str(model_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "opset: 13" in r.stdout


def test_compile_emits_kernels_in_both_dialects(tmp_path, capsys):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    from singa.cli import main

    x = h.make_tensor_value_info("x", T.FLOAT, [2, 3])
    y = h.make_tensor_value_info("y", T.FLOAT, [2, 3])
    nodes = [h.make_node("Add", ["x", "x"], ["s"], name="add1"),
             h.make_node("Relu", ["s"], ["y"], name="relu1")]
    m = h.make_model(h.make_graph(nodes, "g", [x], [y]), opset_imports=[h.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    assert main(["compile", str(path), "--target", "cuda", "--emit-cuda", str(tmp_path / "cu"),
                 "--emit-c", str(tmp_path / "c"), "--print-plan"]) == 0
    out = capsys.readouterr().out
    assert "launch fused_add_relu_f32_" in out and "1 generated kernels" in out
    (cu,) = list((tmp_path / "cu").iterdir())
    (c,) = list((tmp_path / "c").iterdir())
    assert cu.suffix == ".cu" and c.suffix == ".c" and cu.stem == c.stem
    src = cu.read_text()
    assert 'extern "C" __global__' in src and "op group: FusedElementwise[Add, Relu]" in src
    assert "source nodes: add1, relu1" in src
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "cu", "m.onnx"]


def test_compile_rejects_unknown_target(tmp_path, capsys):
    import pytest

    from singa.cli import main

    with pytest.raises(SystemExit) as e:
        main(["compile", str(tmp_path / "m.onnx"), "--target", "opencl"])
    assert e.value.code == 2
