"""codegen.templated: reductions, ArgMax/ArgMin, Softmax/LogSoftmax, LayerNormalization.

Each case is a one-node ONNX model run with target "c"; the result must equal the
op table's NumPy compute (in float64 for float inputs, so the kernel's accumulation
is checked against an exact-ish value) and the plan must launch the generated
kernel, so a case cannot pass on the NumPy fallback.  The same kernels are
rendered in the CUDA dialect and compiled with NVRTC.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from singa import sonnx
from singa.codegen import nvrtc
from singa.frontends.onnx_import import SINGA_DOMAIN, singa_only
from singa.ops import OPS

RNG = np.random.default_rng(0)
F32, F64, F16 = np.float32, np.float64, np.float16
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
INT_REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceSumSquare"]


def data(shape, dtype, op=""):
    """Values the op is well-defined and well-conditioned on."""
    if np.dtype(dtype).kind in "iu":
        lo, hi = (-4, 5) if op == "ReduceProd" else (-50, 50)
        return RNG.integers(lo, hi, shape).astype(dtype)
    x = RNG.standard_normal(shape)
    if op in ("ReduceLogSum", "ReduceProd"):  # positive sums; products near 1
        x = 0.75 + 0.5 * RNG.random(shape)
    return x.astype(dtype)


def case(op, x, attrs=None, axes=None, opset=18, inits=None, kernel=True, id=None):
    return pytest.param(op, x, attrs or {}, axes, opset, inits or {}, kernel, id=id or op)


def model(op, x, attrs, axes, opset, inits):
    """A one-node model; ``axes`` become the op's input 1 (a Constant) where the
    opset takes them as an input, else its attribute."""
    nodes, names = [], ["x"]
    if axes is not None:
        if opset >= (13 if op == "ReduceSum" else 18):
            nodes.append(helper.make_node("Constant", [], ["axes"], value=helper.make_tensor(
                "a", TensorProto.INT64, [len(axes)], axes)))
            names.append("axes")
        else:
            attrs = {**attrs, "axes": axes}
    names += list(inits)
    nodes.append(helper.make_node(op, names, ["y"], **attrs))
    ids = [helper.make_opsetid("", opset)]
    if singa_only(op):  # singa's own ops (Im2Col, FusedElementwise) live in their domain
        nodes[-1].domain = SINGA_DOMAIN
        ids.append(helper.make_opsetid(SINGA_DOMAIN, 1))
    tp = helper.np_dtype_to_tensor_dtype(x.dtype)
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", tp, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
                          initializer=[helper.make_tensor(n, helper.np_dtype_to_tensor_dtype(
                              a.dtype), a.shape, a.flatten().tolist()) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=ids)


def reference(op, x, attrs, axes, opset, inits):
    """The op table's compute, on float64 for float inputs, with the opset's adapter."""
    d = OPS[op]
    wide = lambda a: a.astype(F64) if a.dtype.kind == "f" else a  # noqa: E731
    a = dict(attrs)
    ins = [wide(x)] + [wide(v) for v in inits.values()]
    extra = {}
    if axes is not None:
        a["axes"] = axes
    if d.adapt is not None:
        a, extra = d.adapt(a, opset)
    for pos, v in extra.items():
        ins += [None] * (pos + 1 - len(ins))
        ins[pos] = v
    return d.compute(np, ins, d.attrs(a))[0]


def run(op, x, attrs, axes, opset, inits):
    """(result, plan) of the model on target "c"."""
    rep = sonnx.prepare(model(op, x, attrs, axes, opset, inits), target="c")
    y = np.asarray(rep.run([x])[0])
    return y, rep.executor.plan_for([x]).plan


def tolerance(dtype):
    return {np.dtype(F16): (2e-3, 2e-3), np.dtype(F32): (1e-5, 1e-6),
            np.dtype(F64): (1e-12, 1e-12)}.get(np.dtype(dtype), (0, 0))


X = (3, 5, 7)
NAN = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, -1.0, 0.0], [np.nan, 1.0, 1.0, 1.0]])
TIES = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, -1, 5, 5]])
CASES = []
for _op in REDUCE:
    CASES += [
        case(_op, data(X, F32, _op), {"keepdims": 0}, [0, 2], id=f"{_op}-f32-axes02"),
        case(_op, data(X, F32, _op), {}, [-2], id=f"{_op}-f32-neg-keep"),
        case(_op, data(X, F64, _op), {"keepdims": 0}, None, id=f"{_op}-f64-all"),
        case(_op, data((2, 3, 4, 5), F16, _op), {}, [0, 2], id=f"{_op}-f16"),
        case(_op, data((4, 3, 2), F32, _op), {"keepdims": 0}, [1], opset=13,
             id=f"{_op}-opset13"),
    ]
for _op in INT_REDUCE:
    CASES += [case(_op, data(X, np.int32, _op), {"keepdims": 0}, [1, 2], id=f"{_op}-i32"),
              case(_op, data((4, 6), np.int64, _op), {}, [0], id=f"{_op}-i64")]
CASES += [
    case("ReduceSumSquare", data(X, F32), {"noop_with_empty_axes": 1}, id="noop-empty-axes"),
    case("ReduceMean", data((), F32), {}, id="scalar"),
    case("ReduceSum", np.zeros((0, 3), F32), {}, [0], id="sum-empty"),
    case("ReduceProd", np.zeros((4, 0), F32), {"keepdims": 0}, [1], id="prod-empty"),
    case("ReduceMax", np.zeros((0, 3), F32), {}, [0], kernel=False, id="max-empty"),
    case("ReduceMean", np.array([-7, -5, 5, 7], np.int32), {"keepdims": 0}, [0],
         id="int-mean-truncates"),
    case("ReduceMax", NAN.astype(F32), {}, [1], id="max-nan"),
    case("ReduceMin", NAN.astype(F16), {"keepdims": 0}, [0], id="min-nan-f16"),
    case("ReduceLogSumExp", np.array([[1000.0, 1000.0], [-np.inf, 0.0], [np.inf, 1.0], [-np.inf, -np.inf]], F32), {}, [1],
         id="logsumexp-stable"),
]
for _op in ("ArgMax", "ArgMin"):
    CASES += [
        case(_op, TIES.astype(F32), {"axis": 1}, opset=13, id=f"{_op}-ties-first"),
        case(_op, TIES.astype(F32), {"axis": -1, "select_last_index": 1, "keepdims": 0},
             opset=13, id=f"{_op}-ties-last"),
        case(_op, data(X, F16), {"axis": 1, "keepdims": 0}, opset=13, id=f"{_op}-f16"),
        case(_op, data(X, np.int64), {"axis": 0}, opset=13, id=f"{_op}-i64"),
        case(_op, data(X, np.int32), {"axis": -1}, opset=13, id=f"{_op}-i32"),
        case(_op, NAN.astype(F32), {"axis": 1}, opset=13, id=f"{_op}-nan-first"),
        case(_op, NAN.astype(F64), {"axis": 1, "select_last_index": 1}, opset=13,
             id=f"{_op}-nan-last"),
        case(_op, data((), F32), {"axis": 0}, opset=13, kernel=False, id=f"{_op}-scalar"),
    ]
for _op in ("Softmax", "LogSoftmax"):
    CASES += [
        case(_op, data(X, F32), {}, opset=13, id=f"{_op}-last"),
        case(_op, data(X, F32), {"axis": 1}, opset=13, id=f"{_op}-middle"),
        case(_op, data(X, F64), {"axis": -3}, opset=13, id=f"{_op}-first"),
        # 16-bit floats stay NumPy steps (NumPy rounds every step of the row)
        case(_op, data(X, F16), {"axis": 1}, opset=13, kernel=False, id=f"{_op}-f16"),
        case(_op, data(X, F32), {"axis": 1}, opset=11, id=f"{_op}-coerce-2d"),
        case(_op, np.array([[1000.0, 0.0, -1000.0], [-np.inf, 1.0, 2.0]], F32), {}, opset=13,
             id=f"{_op}-stable"),
        # rows with values far below their max (masked attention scores), all -inf,
        # a NaN, +inf: the far values count as exp = 0 on their own path
        case(_op, np.array([[0.5, -3.4e38, 2.0, -3.4e38, -800.0, 1.0],
                            [-np.inf] * 6,
                            [1.0, np.nan, -3.4e38, 2.0, 0.0, 1.0],
                            [1.0, np.inf, -3.4e38, 2.0, 0.0, 1.0],
                            [-750.0, -20.0, 0.0, 3.0, -699.0, 1.0]], F32), {}, opset=13,
             id=f"{_op}-far-below-the-max"),
    ]
NAN4 = NAN.astype(F32).reshape(1, 3, 2, 2)
CASES += [
    case("GlobalAveragePool", data((2, 3, 5, 7), F32), {}, opset=13, id="gap-f32"),
    case("GlobalAveragePool", data((2, 4, 9), F64), {}, opset=13, id="gap-1d-f64"),
    case("GlobalMaxPool", data((2, 3, 5, 7), F32), {}, opset=13, id="gmp-f32"),
    case("GlobalMaxPool", NAN4, {}, opset=13, id="gmp-nan"),
    case("GlobalAveragePool", data((2, 3, 4, 4), F16), {}, opset=13, id="gap-f16"),
]
CASES += [
    case("LayerNormalization", data(X, F32), {}, opset=17,
         inits={"s": data((7,), F32), "b": data((7,), F32)}, id="ln-last"),
    case("LayerNormalization", data(X, F64), {"axis": 1, "epsilon": 2.0 ** -10}, opset=17,
         inits={"s": data((5, 7), F64)}, id="ln-tail-no-bias"),
    case("LayerNormalization", data((4, 6), F16), {}, opset=17,
         inits={"s": data((6,), F16), "b": data((6,), F16)}, id="ln-f16"),
]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log(0) = -inf
@pytest.mark.parametrize("op,x,attrs,axes,opset,inits,kernel", CASES)
def test_matches_compute(op, x, attrs, axes, opset, inits, kernel):
    y, plan = run(op, x, attrs, axes, opset, inits)
    assert any(k.group == op for k in plan.kernels) == kernel, str(plan)
    ref = reference(op, x, attrs, axes, opset, inits)
    assert y.shape == ref.shape and y.dtype == (np.int64 if op.startswith("Arg") else x.dtype)
    rtol, atol = tolerance(x.dtype)
    np.testing.assert_allclose(y.astype(F64), ref.astype(F64), rtol=rtol, atol=atol)


def test_big_reduction_uses_double_accumulation():
    # a float accumulator stops at 2**24 (adding 1 no longer changes it)
    x = np.ones(((1 << 24) + 4,), F32)
    y, plan = run("ReduceSum", x, {"keepdims": 0}, None, 18, {})
    assert plan.kernels and y == (1 << 24) + 4


@pytest.mark.skipif(not nvrtc.available(), reason="NVRTC is not available")
def test_cuda_dialect_compiles():
    kernels = {}
    for p in CASES:
        op, x, attrs, axes, opset, inits, _ = p.values
        for k in run(op, x, attrs, axes, opset, inits)[1].kernels:
            kernels[k.name] = k
    assert {k.group for k in kernels.values()} == set(REDUCE) | {
        "ArgMax", "ArgMin", "Softmax", "LogSoftmax", "LayerNormalization",
        "GlobalAveragePool", "GlobalMaxPool"}
    ptx = nvrtc.compile_ptx(list(kernels.values()))
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert all(f".entry {name}" in ptx for name in kernels)
