"""IR -> ONNX export and sonnx-style ``to_onnx``.

Every exported model must pass ``onnx.checker.check_model(full_check=True)`` and,
run by onnxruntime (onnx's reference evaluator where onnxruntime has no kernel),
reproduce the eager result the tape recorded.  Two parametrisations:

- every case of the op table's test cases (tests/ops/cases_*.py) whose op is an
  ONNX operator with a deterministic eager path: apply it eagerly, trace, export,
  run;
- every function and layer of singa's autograd API, called as users call them.
"""

from __future__ import annotations

import glob
import importlib
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from singa import autograd, functions, layer, tensor
from singa.errors import ExportError
from singa.exporters.onnx_export import DEFAULT_OPSET, MIN_OPSET, export_graph, to_onnx
from singa.frontends.trace import trace
from singa.ir.verifier import verify
from singa.ops import OPS
from singa.tensor import Tensor

from .test_export_containers import CONTAINER_OPS

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("inference_mode")


# ------------------------------------------------------------------ helpers

def _session(model):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_model(model, feeds):
    """onnxruntime's outputs; onnx's reference evaluator where ort has no kernel."""
    try:
        sess = _session(model)
    except Exception as e:  # noqa: BLE001
        msg = str(e).lower()
        if "implementation" not in msg and "not_implemented" not in msg:
            raise
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(model).run(None, feeds)
    return sess.run(None, feeds)


def feeds_of(model, inputs):
    return {vi.name: t.numpy() for vi, t in zip(model.graph.input, inputs)}


def assert_same(got, want, rtol=1e-5, atol=1e-5, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, eager {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, eager {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def roundtrip(inputs, outputs, opset=None, rtol=1e-5, atol=1e-5):
    """Trace (the IR verifies), export, check, run in onnxruntime, compare with the
    eager outputs."""
    verify(trace(inputs, outputs))
    model = to_onnx(inputs, outputs, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    got = run_model(model, feeds_of(model, inputs))
    assert len(got) == len(outputs)
    for k, (a, t) in enumerate(zip(got, outputs)):
        assert_same(a, t.numpy(), rtol, atol, f"output {k}")
    return model


# ------------------------------------------------------------------ op-table cases

def _load_cases():
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops")
    cases = []
    for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        cases.extend(importlib.import_module(f"tests.ops.{name}").CASES)
    return cases


def _exportable(case) -> bool:
    """ONNX ops in their current form with a deterministic eager result."""
    if case.op not in OPS or case.opset is not None or case.reference is not None:
        return False
    if not onnx.defs.has(case.op, OPS[case.op].domain) or all(x is None for x in case.inputs):
        return False
    if case.op in CONTAINER_OPS:  # sequences are no eager Tensors: test_export_containers
        return False  # no operand: no eager (apply) path
    if case.op == "Dropout":  # random only while training with a ratio > 0
        ins = case.inputs
        training = len(ins) > 2 and ins[2] is not None and bool(ins[2])
        ratio = float(ins[1]) if len(ins) > 1 and ins[1] is not None else 0.5
        return not training or ratio == 0.0
    return not OPS[case.op].random


def _case_ids(cases):
    seen, out = {}, []
    for c in cases:
        n = seen.get(c.op, 0)
        seen[c.op] = n + 1
        out.append(f"{c.op}-{c.id or n}")
    return out


ALL_CASES = _load_cases()
CASES = [c for c in ALL_CASES if _exportable(c)]


def _opset_for(case):
    """DEFAULT_OPSET, or the first opset with ``case.op`` and all of its attributes."""
    if OPS[case.op].domain:  # the default opset; the op's own domain at its newest
        return DEFAULT_OPSET
    versions = sorted(s.since_version for s in onnx.defs.get_all_schemas_with_history()
                      if s.name == case.op and s.domain == "")
    names = {k for k in case.attrs if not k.startswith("_")}
    for v in [DEFAULT_OPSET] + [v for v in versions if v > DEFAULT_OPSET]:
        if v >= versions[0] and names <= set(onnx.defs.get_schema(case.op, v).attributes):
            return v
    raise AssertionError(f"{case.op}: no opset has attributes {sorted(names)}")


@pytest.mark.parametrize("case", CASES, ids=_case_ids(CASES))
def test_table_op_roundtrip(case):
    opdef = OPS[case.op]
    attrs = dict(case.attrs)
    n = case.outputs
    if opdef.num_outputs is None:
        attrs.setdefault("_num_outputs", case.outputs)
        n = int(attrs["_num_outputs"])
    ts = [None if x is None else Tensor(data=x.copy(), requires_grad=x.dtype.kind == "f")
          for x in case.inputs]
    floats = [t for t in ts if t is not None and t.dtype.kind == "f"]
    # Float operands are graph inputs; index/shape operands become Constant nodes
    # (where all are non-float, all are inputs).
    graph_inputs = floats or [t for t in ts if t is not None]
    outs = autograd.apply(case.op, ts, attrs)[:n]
    if case.op == "BatchNormalization" and attrs.get("training_mode") and n == 1:
        # an exported BN is an inference BN (see trace): compare with that
        outs = autograd.apply(case.op, ts, dict(attrs, training_mode=0))[:n]
    # Shape-only outputs of a graph input (Shape, Size) are fine; outputs not
    # connected to any input cannot be (nor need to be) exported.
    model = roundtrip(graph_inputs, outs, opset=_opset_for(case), rtol=case.rtol,
                      atol=max(case.atol, 1e-6))
    node_ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    assert node_ops == [case.op]


def test_every_onnx_op_of_the_table_is_exported():
    """Each ONNX op in the table has at least one exported case (or is random-only).

    Constant has no operand (no eager path); Upsample and Scatter only have
    old-opset cases and are tested on their own (they export as Resize and
    ScatterElements)."""
    from tests.ops.test_control import REGION_OPS  # exported in test_control

    covered = {c.op for c in CASES} | set(REGION_OPS) | set(CONTAINER_OPS)
    missing = sorted(op for op, d in OPS.items() if onnx.defs.has(op) and not d.random
                     and op not in ("Constant", "Upsample", "Scatter") and op not in covered)
    assert not missing, f"ONNX ops of the table with no export round trip: {missing}"


@pytest.mark.parametrize("mode,scales", [("nearest", [1, 1, 2, 3]), ("linear", [1, 1, 2, 2.5])])
def test_deprecated_upsample_exports_as_resize(mode, scales):
    x = R(2, 3, 4, 5)
    s = Tensor(data=np.array(scales, np.float32), requires_grad=False)
    y = autograd.apply("Upsample", [x, s], {"mode": mode})[0]
    model = roundtrip([x], [y])
    assert [n.op_type for n in model.graph.node] == ["Constant", "Resize"]


def test_deprecated_scatter_exports_as_scatter_elements():
    x = R(3, 4)
    u = R(2, 2, seed=1)
    i = Tensor(data=np.array([[3, 0], [1, 2]], np.int64), requires_grad=False)
    y = autograd.apply("Scatter", [x, i, u], {"axis": 1})[0]
    model = roundtrip([x, u], [y])
    assert [n.op_type for n in model.graph.node] == ["Constant", "ScatterElements"]


# ------------------------------------------------------------------ the SINGA API

def R(*shape, seed=0, low=-1.0, high=1.0, dtype=np.float32):
    return Tensor(data=np.random.default_rng(seed).uniform(low, high, shape).astype(dtype))


def P(*shape, seed=0):
    return R(*shape, seed=seed, low=0.5, high=2.0)


# name -> (inputs, fn(*inputs) -> output Tensor or list)
API = {
    "add": (lambda: [R(3, 4), R(4, seed=1)], lambda a, b: autograd.add(a, b)),
    "sub": (lambda: [R(3, 4), R(3, 1, seed=1)], lambda a, b: autograd.sub(a, b)),
    "mul": (lambda: [R(3, 4), R(3, 4, seed=1)], lambda a, b: autograd.mul(a, b)),
    "div": (lambda: [R(3, 4), P(3, 4, seed=1)], lambda a, b: autograd.div(a, b)),
    "pow": (lambda: [P(3, 4), R(3, 4, seed=1)], lambda a, b: autograd.pow(a, b)),
    "neg": (lambda: [R(3, 4)], autograd.neg),
    "matmul": (lambda: [R(2, 3, 4), R(4, 5, seed=1)], autograd.matmul),
    "gemm": (lambda: [R(3, 4), R(5, 4, seed=1), R(5, seed=2)],
             lambda a, b, c: autograd.gemm(a, b, c, alpha=0.5, beta=2.0, transB=1)),
    "relu": (lambda: [R(3, 4)], autograd.relu),
    "leakyrelu": (lambda: [R(3, 4)], lambda x: autograd.leakyrelu(x, 0.1)),
    "elu": (lambda: [R(3, 4)], lambda x: autograd.elu(x, 0.7)),
    "selu": (lambda: [R(3, 4)], autograd.selu),
    "sigmoid": (lambda: [R(3, 4)], autograd.sigmoid),
    "hardsigmoid": (lambda: [R(3, 4) * 4.0], autograd.hardsigmoid),
    "tanh": (lambda: [R(3, 4)], autograd.tanh),
    "softplus": (lambda: [R(3, 4)], autograd.softplus),
    "softsign": (lambda: [R(3, 4)], autograd.softsign),
    "exp": (lambda: [R(3, 4)], autograd.exp),
    "log": (lambda: [P(3, 4)], autograd.log),
    "sqrt": (lambda: [P(3, 4)], autograd.sqrt),
    "abs": (lambda: [R(3, 4)], autograd.abs),
    "reciprocal": (lambda: [P(3, 4)], autograd.reciprocal),
    "erf": (lambda: [R(3, 4)], autograd.erf),
    "clip": (lambda: [R(3, 4)], lambda x: autograd.clip(x, -0.3, 0.5)),
    "softmax": (lambda: [R(3, 4)], lambda x: autograd.softmax(x, axis=1)),
    "log_softmax": (lambda: [R(3, 4)], lambda x: autograd.log_softmax(x, axis=-1)),
    "flatten": (lambda: [R(2, 3, 4)], autograd.flatten),
    "reshape": (lambda: [R(2, 3, 4)], lambda x: autograd.reshape(x, (4, -1))),
    "transpose": (lambda: [R(2, 3, 4)], lambda x: autograd.transpose(x, (2, 0, 1))),
    "cat": (lambda: [R(2, 3), R(2, 2, seed=1)], lambda a, b: autograd.cat([a, b], axis=1)),
    "concat": (lambda: [R(2, 3), R(1, 3, seed=1)], lambda a, b: autograd.concat([a, b], 0)),
    "split": (lambda: [R(2, 7)], lambda x: list(autograd.split(x, 1, [2, 4, 1]))),
    "squeeze": (lambda: [R(2, 1, 3)], lambda x: autograd.squeeze(x, 1)),
    "unsqueeze": (lambda: [R(2, 3)], lambda x: autograd.unsqueeze(x, [0, 2])),
    "reduce_mean": (lambda: [R(2, 3, 4)], lambda x: autograd.reduce_mean(x, [1, 2], 0)),
    "reduce_sum": (lambda: [R(2, 3, 4)], lambda x: autograd.reduce_sum(x, 1)),
    "mean": (lambda: [R(3, 4), R(3, 4, seed=1), R(4, seed=2)], autograd.mean),
    "cast": (lambda: [R(3, 4) * 5.0], lambda x: autograd.cast(x, np.int32)),
    "less": (lambda: [R(3, 4), R(3, 4, seed=1)], autograd.less),
    "greater": (lambda: [R(3, 4), R(4, seed=1)], autograd.greater),
    "less_equal": (lambda: [R(3, 4), R(3, 4, seed=1)], autograd.less_equal),
    "greater_equal": (lambda: [R(3, 4), R(3, 4, seed=1)], autograd.greater_equal),
    "equal": (lambda: [R(3, 4), R(3, 4, seed=1)],
              lambda a, b: autograd.equal(autograd.cast(a * 2.0, np.int64),
                                          autograd.cast(b * 2.0, np.int64))),
    "where": (lambda: [R(3, 4), R(3, 4, seed=1)],
              lambda a, b: autograd.where(a, b, autograd.less(a, b))),
    "dropout": (lambda: [R(3, 4)], lambda x: autograd.dropout(x, ratio=0.3)),
    "identity": (lambda: [R(3, 4)], autograd.identity),
    "gather": (lambda: [R(5, 3)], lambda x: autograd.gather(x, 0, [4, 0, 2, 2])),
    "negative": (lambda: [R(3, 4)], autograd.negative),
    "add_bias": (lambda: [R(3, 4), R(4, seed=1)], lambda x, b: autograd.add_bias(x, b)),
    "add_bias_columns": (lambda: [R(3, 4), R(3, seed=1)],
                         lambda x, b: autograd.add_bias(x, b, axis=1)),
    "prelu": (lambda: [R(3, 4), R(4, seed=1)], autograd.prelu),
    "sign": (lambda: [Ints(3, 4, seed=3)], autograd.sign),
    "ceil": (lambda: [R(3, 4) * 3.0], autograd.ceil),
    "floor": (lambda: [R(3, 4) * 3.0], autograd.floor),
    "round": (lambda: [Halves()], autograd.round),
    "rounde": (lambda: [Halves()], autograd.rounde),
    "cos": (lambda: [R(3, 4) * 3.0], autograd.cos),
    "cosh": (lambda: [R(3, 4) * 2.0], autograd.cosh),
    "acos": (lambda: [R(3, 4, low=-0.95, high=0.95)], autograd.acos),
    "acosh": (lambda: [R(3, 4, low=1.05, high=4.0)], autograd.acosh),
    "sin": (lambda: [R(3, 4) * 3.0], autograd.sin),
    "sinh": (lambda: [R(3, 4) * 2.0], autograd.sinh),
    "asin": (lambda: [R(3, 4, low=-0.95, high=0.95)], autograd.asin),
    "asinh": (lambda: [R(3, 4) * 3.0], autograd.asinh),
    "tan": (lambda: [R(3, 4, low=-1.4, high=1.4)], autograd.tan),
    "atan": (lambda: [R(3, 4) * 3.0], autograd.atan),
    "atanh": (lambda: [R(3, 4, low=-0.95, high=0.95)], autograd.atanh),
    "sum": (lambda: [R(3, 4), R(3, 4, seed=1), R(4, seed=2)], autograd.sum),
    "add_all": (lambda: [R(3, 4), R(3, 4, seed=1), R(3, 4, seed=2)], autograd.add_all),
    "max": (lambda: [R(3, 4), R(3, 4, seed=1), R(4, seed=2)], autograd.max),
    "min": (lambda: [R(3, 4), R(3, 4, seed=1), R(4, seed=2)], autograd.min),
    "_and": (lambda: [Ints(3, 4, seed=1), Ints(3, 4, seed=2)], autograd._and),
    "_or": (lambda: [Ints(3, 4, seed=1), Ints(3, 4, seed=2)], autograd._or),
    "_xor": (lambda: [Ints(3, 4, seed=1), Ints(3, 4, seed=2)], autograd._xor),
    "_not": (lambda: [Ints(3, 4, seed=1)], autograd._not),
    "cossim": (lambda: [R(3, 4), R(3, 4, seed=1)], autograd.cossim),
    "slice": (lambda: [R(4, 6)],
              lambda x: autograd.slice(x, [1, 5], [4, 0], axes=[0, 1], steps=[2, -2])),
    "tile": (lambda: [R(2, 3)], lambda x: autograd.tile(x, [2, 1, 3])),
    "expand": (lambda: [R(3, 1)], lambda x: autograd.expand(x, [2, 3, 4])),
    "pad": (lambda: [R(2, 3, 4)],
            lambda x: [autograd.pad(x, "constant", [0, 1, 2, 0, 2, 1], 0.5),
                       autograd.pad(x, "reflect", [0, 1, 2, 0, 2, 1]),
                       autograd.pad(x, "edge", [0, 1, 2, 0, 2, 1])]),
    "upsample": (lambda: [R(1, 2, 3, 4)],
                 lambda x: autograd.upsample(x, "nearest", [1, 2, 3, 2])),
    "depth_to_space": (lambda: [R(2, 8, 3, 4)],
                       lambda x: [autograd.depth_to_space(x, 2),
                                  autograd.depth_to_space(x, 2, "CRD")]),
    "space_to_depth": (lambda: [R(2, 3, 4, 6)],
                       lambda x: [autograd.space_to_depth(x, 2),
                                  autograd.space_to_depth(x, 2, "CRD")]),
    "scatter_elements": (lambda: [R(3, 4), R(2, 3, seed=1)],
                         lambda x, u: autograd.scatter_elements(
                             x, [[1, 0, 3], [2, 3, 0]], u, axis=1)),
    "shape": (lambda: [R(2, 3, 4)], autograd.shape),
    "constant_of_shape": (lambda: [R(2, 3, 4)],
                          lambda x: [autograd.constant_of_shape(autograd.shape(x), 2.5),
                                     autograd.constant_of_shape(autograd.shape(x), 3)]),
    "nonzero": (lambda: [Ints(3, 4, seed=1)], autograd.nonzero),
    "onehot": (lambda: [Tensor(data=np.array([[0, 3], [-1, 2]], np.int64))],
               lambda i: autograd.onehot(-1, i, 4, [-1.0, 2.0])),
    "embedding": (lambda: [Tensor(data=np.array([[0, 2], [3, 0]], np.float32)), R(4, 5)],
                  autograd.embedding),
    "globalaveragepool": (lambda: [R(2, 3, 4, 5)],
                          lambda x: [autograd.globalaveragepool(x),
                                     autograd.globalaveragepool(x, "channels_last")]),
    # the handle-taking functions, with the Python equivalents of SINGA's handles
    "conv2d": (lambda: [R(2, 3, 7, 7)], lambda x: _conv2d(x)),
    "pooling_2d": (lambda: [R(2, 3, 7, 7)],
                   lambda x: [autograd.pooling_2d(autograd.PoolingHandle(x, 3, 2, 1), x,
                                                  odd_padding=(0, 1, 1, 0)),
                              autograd.pooling_2d(autograd.PoolingHandle(x, 2, 2, 1, False), x)]),
    "batchnorm_2d": (lambda: [R(4, 3, 5, 5)], lambda x: _batchnorm_2d(x)),
    # losses built of ONNX ops (class labels for the two cross entropies)
    "mse_loss": (lambda: [R(4, 3)], lambda x: autograd.mse_loss(x, R(4, 3, seed=7))),
    "binary_cross_entropy": (lambda: [R(4, 3, low=0.05, high=0.95)],
                             lambda x: autograd.binary_cross_entropy(x, Ints(4, 3, low=0, high=2))),
    "ranking_loss": (lambda: [R(5, 1), R(5, 1, seed=1)],
                     lambda p, n: autograd.ranking_loss(p, n, M=0.3)),
    "softmax_cross_entropy": (lambda: [R(4, 3)],
                              lambda x: autograd.softmax_cross_entropy(x, Labels())),
    "cross_entropy": (lambda: [R(4, 3)],
                      lambda x: autograd.cross_entropy(autograd.softmax(x), Labels())),
    # layers
    "Conv2d": (lambda: [R(2, 3, 9, 9)],
               lambda x: autograd.Conv2d(3, 4, 3, stride=2, padding=1)(x)),
    "Conv2d_group_dilation": (lambda: [R(2, 4, 9, 9)],
                              lambda x: autograd.Conv2d(4, 4, 3, dilation=2, group=2)(x)),
    "Conv1d": (lambda: [R(2, 3, 10)], lambda x: autograd.Conv1d(3, 2, 3, bias=False)(x)),
    "Linear": (lambda: [R(3, 5)], lambda x: autograd.Linear(5, 2)(x)),
    "MaxPool2d": (lambda: [R(2, 3, 9, 9)], lambda x: autograd.MaxPool2d(3, 2, padding=1)(x)),
    "MaxPool2d_ceil": (lambda: [R(2, 3, 8, 8)],
                       lambda x: autograd.MaxPool2d(3, 2, ceil_mode=True)(x)),
    "AvgPool2d": (lambda: [R(2, 3, 9, 9)],
                  lambda x: autograd.AvgPool2d(3, 2, padding=1, count_include_pad=True)(x)),
    "MaxPool1d": (lambda: [R(2, 3, 9)], lambda x: autograd.MaxPool1d(2)(x)),
    "AvgPool1d": (lambda: [R(2, 3, 9)], lambda x: autograd.AvgPool1d(3, 1)(x)),
    "BatchNorm2d": (lambda: [R(4, 3, 5, 5)], lambda x: _trained_bn(3)(x)),
    "Dropout": (lambda: [R(3, 4)], lambda x: layer.Dropout(0.5)(x)),
    "ReLU": (lambda: [R(3, 4)], lambda x: layer.ReLU()(x)),
    "Flatten": (lambda: [R(2, 3, 4, 5)], lambda x: layer.Flatten(2)(x)),
    # SINGA's Operator classes of the same names (calling one gives a tuple)
    "Dropout_operator": (lambda: [R(3, 4)], lambda x: autograd.Dropout(ratio=0.5)(x)),
    "ReLU_operator": (lambda: [R(3, 4)], lambda x: autograd.ReLU()(x)),
    "Flatten_operator": (lambda: [R(2, 3, 4, 5)], lambda x: autograd.Flatten(2)(x)),
    # Tensor methods and operators
    "Tensor_ops": (lambda: [R(3, 4), P(3, 4, seed=1)],
                   lambda a, b: ((a + b) * 2.0 - b / a ** 2 + (-a) @ b.T @ a)),
    "Tensor_cmp": (lambda: [R(3, 4), R(3, 4, seed=1)], lambda a, b: [a < b, a >= b]),
    "Tensor_shape": (lambda: [R(2, 3, 4)], lambda x: x.reshape(6, 4).transpose()),
    "tensor_sum": (lambda: [R(2, 3, 4)], lambda x: tensor.sum(x, 1)),
    "as_type": (lambda: [R(3, 4) * 9.0], lambda x: x.as_type(tensor.int64)),
}

# Functions of singa.functions.__all__ that cannot have an export round trip, and why.
NOT_EXPORTABLE = {
    # returns a NumPy array, not a Tensor on the autograd tape: there is no graph to trace
    "ctensor2numpy",
}


def Ints(*shape, low=-1, high=2, seed=0):
    """Integral float32 values (zeros included): operands for logic and sign."""
    rng = np.random.default_rng(seed)
    return Tensor(data=rng.integers(low, high, shape).astype(np.float32))


def Halves():
    """Values on and between the halfway points where the rounding rules differ."""
    return Tensor(data=np.arange(-3.0, 3.01, 0.25, dtype=np.float32).reshape(5, 5))


def Labels():
    """Integer class labels for 4 samples of 3 classes (the cross entropies' ONNX form;
    one-hot targets are singa-only ops, see the refusal tests)."""
    return Tensor(data=np.array([0, 2, 1, 2], np.int64))


def _conv2d(x):
    handle = autograd.ConvHandle(x, (3, 2), (2, 1), (1, 0), 3, 4, True)
    w = Tensor(data=np.random.default_rng(3).normal(size=(4, 3, 3, 2)).astype(np.float32),
               stores_grad=True)
    b = Tensor(data=np.linspace(-1, 1, 4, dtype=np.float32), stores_grad=True)
    return [autograd.conv2d(handle, x, w, b, odd_padding=(0, 1, 1, 0)),
            autograd.conv2d(handle, x, w)]


def _batchnorm_2d(x):
    c = x.shape[1]

    def param(values):
        return Tensor(data=np.asarray(values, np.float32), stores_grad=True)

    scale, bias = param(np.linspace(0.5, 2, c)), param(np.linspace(-1, 1, c))
    mean, var = param(np.linspace(-0.3, 0.3, c)), param(np.linspace(0.5, 1.5, c))
    return autograd.batchnorm_2d(autograd.BatchNormHandle(0.1, x), x, scale, bias, mean, var)


def _trained_bn(c):
    """A BatchNorm2d whose running statistics moved away from 0/1."""
    bn = autograd.BatchNorm2d(c)
    autograd.training = True
    bn(R(8, c, 3, 3, seed=5) * 3.0 + 1.0)
    autograd.training = False
    bn.scale.data[...] = np.linspace(0.5, 2, c, dtype=np.float32)
    return bn


@pytest.mark.parametrize("name", sorted(API))
def test_api_roundtrip(name):
    make, fn = API[name]
    xs = make()
    out = fn(*xs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    roundtrip(xs, outs)


def test_api_table_covers_every_function():
    missing = sorted(set(functions.__all__) - set(API) - NOT_EXPORTABLE)
    assert not missing, f"autograd functions without an export test: {missing}"
    from singa import layers
    missing = sorted(set(layers.__all__) - {"Layer"} - {k.split("_")[0] for k in API})
    assert not missing, f"layers without an export test: {missing}"


def test_api_roundtrip_while_training_gives_an_inference_model():
    """Traced in training mode (as the guide does), the export is the inference model."""
    x = R(4, 3, 6, 6)
    conv, bn, drop = autograd.Conv2d(3, 4, 3), autograd.BatchNorm2d(4), layer.Dropout(0.5)
    lin = autograd.Linear(4 * 4 * 4, 3)
    autograd.training = True
    y = lin(drop(autograd.flatten(autograd.relu(bn(conv(x))))))
    autograd.training = False
    model = to_onnx([x], [y])
    want = lin(drop(autograd.flatten(autograd.relu(bn(conv(x))))))  # inference
    got = run_model(model, feeds_of(model, [x]))[0]
    assert_same(got, want.numpy(), what="inference output")


# ------------------------------------------------------------------ types, outputs, names

def test_bool_and_int64_outputs_are_typed():
    x, z = R(3, 4), R(3, 4, seed=1)
    b = autograd.apply("Less", [x, z])[0]  # the table op; autograd.less gives 0/1 floats
    i = autograd.apply("ArgMax", [x], {"axis": 1, "keepdims": 0})[0]
    c = autograd.cast(x * 10.0, np.int64)
    model = roundtrip([x, z], [b, i, c])
    types = [o.type.tensor_type.elem_type for o in model.graph.output]
    assert types == [TensorProto.BOOL, TensorProto.INT64, TensorProto.INT64]
    dims = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output]
    assert dims == [[3, 4], [3], [3, 4]]


def test_multi_output_model():
    x = R(2, 6)
    lin = autograd.Linear(6, 6)
    h = autograd.relu(lin(x))
    a, b = autograd.split(h, 1, [2, 4])
    model = roundtrip([x], [a, autograd.softmax(b), h])
    assert len(model.graph.output) == 3
    assert len({o.name for o in model.graph.output}) == 3


def test_input_and_repeated_outputs_get_identity_nodes():
    x = R(2, 3)
    y = autograd.relu(x)
    model = roundtrip([x], [y, x, y])
    names = [o.name for o in model.graph.output]
    assert len(set(names)) == 3
    assert [n.op_type for n in model.graph.node].count("Identity") == 2


def test_model_layout():
    x = R(2, 1, 6, 6)
    conv = autograd.Conv2d(1, 2, 3)
    y = autograd.reshape(autograd.relu(conv(x)), (2, -1))
    model = roundtrip([x], [y])
    assert model.opset_import[0].domain == "" and model.opset_import[0].version == DEFAULT_OPSET
    assert model.producer_name == "singa"
    assert sorted(t.name for t in model.graph.initializer) == ["Conv_0.B", "Conv_0.W"]
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(
        next(t for t in model.graph.initializer if t.name == "Conv_0.W")), conv.W.numpy())
    nodes = [(n.op_type, n.name) for n in model.graph.node]
    assert nodes == [("Constant", "Constant.Reshape_0.shape"), ("Conv", "Conv_0"),
                     ("Relu", "Relu_0"), ("Reshape", "Reshape_0")]
    conv_node = model.graph.node[1]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv_node.attribute}
    assert attrs["kernel_shape"] == [3, 3] and attrs["pads"] == [0, 0, 0, 0]
    assert [vi.name for vi in model.graph.value_info] == ["Conv_0.Y", "Relu_0.Y"]


def test_float_attribute_given_as_int_is_written_as_float():
    x = R(3, 4)
    y = autograd.leakyrelu(x, 1)  # an int where ONNX wants a float
    model = roundtrip([x], [y])
    (a,) = model.graph.node[0].attribute
    assert a.type == onnx.AttributeProto.FLOAT and a.f == 1.0


def test_float64_model():
    x = R(3, 4, dtype=np.float64)
    w = Tensor(data=np.random.default_rng(1).normal(size=(4, 2)), stores_grad=True)
    model = roundtrip([x], [autograd.tanh(autograd.matmul(x, w))], rtol=1e-12, atol=1e-12)
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.DOUBLE


# ------------------------------------------------------------------ opsets

def test_older_opset_writes_axes_as_attributes():
    x = R(2, 3, 4)
    y = autograd.reduce_mean(x, [2], 0)
    z = autograd.squeeze(autograd.reduce_sum(x, [1]), 1)
    model = roundtrip([x], [y, z], opset=MIN_OPSET)
    rm = next(n for n in model.graph.node if n.op_type == "ReduceMean")
    assert len(rm.input) == 1
    assert [onnx.helper.get_attribute_value(a) for a in rm.attribute if a.name == "axes"] == [[2]]
    rs = next(n for n in model.graph.node if n.op_type == "ReduceSum")
    assert len(rs.input) == 2  # ReduceSum took axes as an input already at 13


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, DEFAULT_OPSET, onnx.defs.onnx_opset_version()])
def test_every_supported_opset_checks(opset):
    x = R(2, 3, 6, 6)
    conv, bn = autograd.Conv2d(3, 2, 3), _trained_bn(2)
    axes = Tensor(data=np.array([2, 3]), requires_grad=False)
    y = autograd.apply("ReduceMax", [autograd.relu(bn(conv(x))), axes], {"keepdims": 0})[0]
    model = to_onnx([x], [y], opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    if opset <= DEFAULT_OPSET:
        assert_same(run_model(model, feeds_of(model, [x]))[0], y.numpy())


def test_unsupported_opsets_are_refused():
    x = R(2, 3)
    y = autograd.relu(x)
    with pytest.raises(ExportError, match="opsets 13"):
        to_onnx([x], [y], opset=12)
    with pytest.raises(ExportError, match="opsets 13"):
        to_onnx([x], [y], opset=onnx.defs.onnx_opset_version() + 1)


def test_op_newer_than_the_opset_is_refused():
    x = R(2, 3)
    y = autograd.apply("Gelu", [x])[0]  # Gelu exists from opset 20
    with pytest.raises(ExportError, match=r"Gelu \(Gelu_0\).*opset 20.*opset 17"):
        to_onnx([x], [y], opset=17)
    roundtrip([x], [y], opset=20)


def test_attribute_the_opset_lacks_is_refused():
    x = R(1, 2, 7, 7)
    y = autograd.apply("AveragePool", [x], {"kernel_shape": [2, 2], "dilations": [2, 2]})[0]
    with pytest.raises(ExportError, match=r"AveragePool.*dilations.*opset 17"):
        to_onnx([x], [y], opset=17)
    roundtrip([x], [y], opset=19)


# ------------------------------------------------------------------ errors

def test_not_connected_output_is_an_export_error():
    x, other = R(2, 3), R(2, 3, seed=1)
    with pytest.raises(ExportError, match="output 0 .*not connected"):
        to_onnx([x], [autograd.relu(other)])


def test_softmax_cross_entropy_is_an_export_error():
    x = R(4, 3)
    t = Tensor(data=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    lin = autograd.Linear(3, 3)
    loss = autograd.softmax_cross_entropy(lin(x), t)
    with pytest.raises(ExportError, match="SoftmaxCrossEntropy.*no ONNX form"):
        to_onnx([x], [loss])


def test_export_graph_refuses_singa_only_ops_in_ir():
    x = R(4, 3)
    t = Tensor(data=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    g = trace([x, t], [autograd.cross_entropy(autograd.softmax(x), t)], onnx_only=False)
    with pytest.raises(ExportError, match="CrossEntropy.*no ONNX form"):
        export_graph(g)


def test_export_of_an_imported_model_roundtrips():
    """IR from the ONNX importer (untyped results) exports back to an equal model."""
    from singa.frontends.onnx_import import import_model

    x = R(2, 3, 8, 8)
    conv, lin = autograd.Conv2d(3, 4, 3), autograd.Linear(4 * 3 * 3, 5)
    y = lin(autograd.flatten(autograd.MaxPool2d(2)(autograd.relu(conv(x)))))
    first = to_onnx([x], [y])
    again = export_graph(import_model(first))
    onnx.checker.check_model(again, full_check=True)
    assert_same(run_model(again, feeds_of(again, [x]))[0], y.numpy())
    assert [n.op_type for n in again.graph.node] == [n.op_type for n in first.graph.node]
