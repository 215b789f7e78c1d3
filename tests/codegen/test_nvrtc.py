"""Every kernel the plans emit compiles with NVRTC (the CUDA dialect), without a GPU.

The kernels are those of every covered ONNX conformance case and of the
end-to-end models, rendered in the CUDA dialect and compiled to PTX in a few
large modules, exactly as ``cupy.RawModule`` would before loading them.  The
same kernels run through the host dialect in the conformance and e2e suites.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import pytest

from singa.codegen import nvrtc
from singa.frontends.onnx_import import import_model

from ..conformance._cases import by_coverage, load_model_cases, load_node_cases, normalize
from ._kernels import plan_kernels

pytestmark = pytest.mark.skipif(not nvrtc.available(),
                                reason="NVRTC not installed (pip install '.[test]')")

_E2E = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e", "models")


def _module(name):
    spec = importlib.util.spec_from_file_location(f"singa_nvrtc_{name}",
                                                  os.path.join(_E2E, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _unique(kernels):
    return list({k.name: k for k in kernels}.values())


def _compile_all(kernels, chunk=400):
    for i in range(0, len(kernels), chunk):
        ptx = nvrtc.compile_ptx(kernels[i:i + chunk])
        assert ".entry" in ptx


def _conformance_kernels():
    out = []
    for cases in (load_node_cases(), [c for c in load_model_cases() if c.model is not None]):
        covered, _ = by_coverage(cases)
        for case in covered:
            graph = import_model(case.model)
            inputs, _ = case.data_sets[0]
            if any(x is None or isinstance(x, list) for x in inputs):
                continue  # sequences and optionals: planned at run time, no kernel of theirs
            shapes = [np.shape(normalize(x)) for x in inputs]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    out += plan_kernels(graph, shapes)
                except Exception:  # the case's own test reports any error
                    continue
    return _unique(out)


def test_conformance_kernels_compile_with_nvrtc():
    kernels = _conformance_kernels()
    assert len(kernels) > 300  # the suite's elementwise, cast, logic and copy ops at least
    _compile_all(kernels)


def test_e2e_model_kernels_compile_with_nvrtc():
    weights = _module("weights")
    light = _module("light")
    kernels = []
    for name in weights.MODELS:
        kernels += plan_kernels(import_model(weights.load(name)), [(2, 3, 224, 224)])
    for name in ("squeezenet", "shufflenet", "inception_v1"):
        import onnx

        m = onnx.load(light.path(name))
        shapes = [tuple(d.dim_value for d in x.type.tensor_type.shape.dim)
                  for x in m.graph.input if x.name not in {t.name for t in m.graph.initializer}]
        kernels += plan_kernels(import_model(m), shapes)
    kernels = _unique(kernels)
    assert kernels
    _compile_all(kernels)


def test_compile_error_names_kernel_line_and_group():
    from singa.codegen.render import Kernel, Param
    from singa.errors import KernelCompileError
    from singa.ir.types import DType

    bad = Kernel("broken", "FusedElementwise[Add, Relu]", ("add1", "relu1"),
                 [Param("a0", DType.FLOAT), Param("y", DType.FLOAT, output=True)], [0], 4,
                 ["const float v0 = a0[i];", "y[i] = undefined_name + v0;"])
    with pytest.raises(KernelCompileError) as e:
        nvrtc.compile_ptx([bad])
    msg = str(e.value)
    assert bad.name in msg and "FusedElementwise[Add, Relu]" in msg and "undefined_name" in msg
    line = int(msg.split(" line ")[1].split()[0])
    from singa.codegen.dialect import CUDA
    from singa.codegen.render import render

    assert "undefined_name" in render(bad, CUDA).splitlines()[line - 1]


def test_infinite_literals_compile_in_both_dialects():
    """c_literal(±inf) once spelled __builtin_inf(), which NVRTC does not know."""
    from singa.codegen import host
    from singa.codegen.elementwise import c_literal
    from singa.codegen.kernels import launcher
    from singa.codegen.render import Kernel, Param
    from singa.ir.types import DType

    k = Kernel("signed_inf", "Test", (), [Param("a0", DType.FLOAT),
                                          Param("y", DType.FLOAT, output=True)], [0], 3,
               [f"y[i] = a0[i] < 0 ? {c_literal(float('-inf'))} : {c_literal(float('inf'))};"],
               out_shape=(3,))
    assert ".entry" in nvrtc.compile_ptx([k])
    if host.compiler() is not None:
        fn = host.build([k])[k.name]
        y = launcher(k, host.caller(fn))(np, [np.array([-1.0, 0.0, 2.0], np.float32)], {})[0]
        assert y.tolist() == [-np.inf, np.inf, np.inf]
