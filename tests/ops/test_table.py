"""Table-wide op tests: every ``Case`` of every ``tests/ops/cases_*.py`` module.

For each case:

- ``test_forward``: singa's ``compute`` (after the op's ``adapt`` for the model's
  opset) against onnxruntime running a one-node ONNX model built from the same
  inputs and attributes (at ``case.opset``, else the newest opset where
  onnxruntime implements the node; where it has no kernel at all, e.g. Erf on
  float64, onnx's reference evaluator stands in), or against ``Case.reference``
  (NumPy float64) for ops outside the ONNX standard.  An op of another ONNX
  domain (``OpDef.domain``, e.g. ai.onnx.ml) is a node of that domain, and
  ``case.opset`` then counts in that domain's opsets.  Float outputs are compared
  in float64 at the case's rtol/atol; integer and bool outputs exactly; dtypes and
  shapes must match.  The compute must not modify its inputs.
- ``test_infer``: the op's ``infer`` on the concrete input types (with all values
  known) must give exactly the computed types; on symbolic shapes (every size
  ``d != 1`` becomes the symbol ``"d<d>"``), on unknown dims and on unknown ranks
  (values unknown) it must not crash, and whatever it claims must agree with the
  computed result.
- ``test_grad`` (cases with ``grad=True`` of ops that have a grad): in float64
  (float inputs cast up), the analytic grad of ``L = sum_k <dy_k, y_k>`` (random
  ``dy`` for the first ``case.outputs`` float outputs, zeros for the rest) along a
  random direction ``v`` of each checked input must match the central finite
  difference ``(L(x + eps v) - L(x - eps v)) / (2 eps)``.  A grad of None for a
  float input claims the output does not depend on it: the difference must be 0.
  A case whose output shape changes under the perturbation sits on a
  discontinuity and fails with that message.

Sequence and optional values (ops/sequence.py, ops/optional.py) are Python lists
of arrays and None: case inputs that are lists of arrays are sequence inputs of
the model, sequence outputs compare element by element, and ``infer`` must give a
SequenceType (OptionalType) whose element type admits every computed element.

``test_every_op_has_a_case`` fails listing the ops of ``singa.ops.OPS`` that no case
exercises.  Ops whose node output count varies (``OpDef.num_outputs`` None) get
``attrs["_num_outputs"] = case.outputs`` unless the case sets it; attributes whose
name starts with ``_`` are singa-internal and never reach the ONNX model.  NumPy's
global generator is seeded with ``case.seed`` before every compute, so random ops
repeat themselves.
"""

from __future__ import annotations

import functools
import glob
import importlib
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from singa.frontends.onnx_import import SINGA_DOMAIN, singa_only
from singa.ir.types import DType, OptionalType, SequenceType, TensorType
from singa.ops import OPS

import onnxruntime as ort

GRAD_EPS = 1e-6
GRAD_RTOL = 1e-5


# ------------------------------------------------------------------ collection

def _load_cases():
    here = os.path.dirname(os.path.abspath(__file__))
    cases = []
    for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        module = importlib.import_module(f"tests.ops.{name}")
        cases.extend(getattr(module, "CASES"))
    return cases


CASES = _load_cases()


def _ids(cases):
    seen, per_op, out = set(), {}, []
    for c in cases:
        n = per_op.get(c.op, 0)
        per_op[c.op] = n + 1
        base = f"{c.op}-{c.id}" if c.id else f"{c.op}-{n}"
        ident, k = base, 1
        while ident in seen:
            k += 1
            ident = f"{base}~{k}"
        seen.add(ident)
        out.append(ident)
    return out


IDS = _ids(CASES)


def _is_float(a) -> bool:
    return a is not None and not isinstance(a, list) and np.asarray(a).dtype.kind == "f"


def _as_output(o):
    """A computed result as compared: an array, a list (sequence), None (empty optional)."""
    if o is None:
        return None
    if isinstance(o, (list, tuple)):
        return [_as_output(e) for e in o]
    return np.asarray(o)


def _copy(x):
    return None if x is None else [_copy(e) for e in x] if isinstance(x, list) else x.copy()


def _grad_inputs(case):
    if case.grad_inputs is not None:
        return list(case.grad_inputs)
    return [i for i, x in enumerate(case.inputs) if _is_float(x)]


def _grad_eligible(case) -> bool:
    opdef = OPS.get(case.op)
    return bool(case.grad and opdef is not None and opdef.grad is not None
                and _grad_inputs(case))


GRAD_CASES = [(c, i) for c, i in zip(CASES, IDS) if _grad_eligible(c)]


# ------------------------------------------------------------------ running singa

def _onnx_attrs(attrs: dict) -> dict:
    """The attributes an ONNX node gets: no internal ``_`` ones, no None values."""
    out = {}
    for k, v in attrs.items():
        if k.startswith("_") or v is None:
            continue
        if isinstance(v, np.ndarray):
            v = numpy_helper.from_array(v)
        out[k] = v
    return out


def _prepare(case, opset, inputs):
    """(attrs, inputs) singa computes with: defaults, ``adapt`` for ``opset``."""
    opdef = OPS[case.op]
    attrs = dict(case.attrs)
    if opdef.num_outputs is None and "_num_outputs" not in attrs:
        attrs["_num_outputs"] = case.outputs
    inputs = list(inputs)
    if opdef.adapt is not None and opset is not None:
        attrs, extra = opdef.adapt(dict(attrs), opset)
        for idx, val in extra.items():
            while len(inputs) <= idx:
                inputs.append(None)
            inputs[idx] = np.asarray(val)
    return opdef.attrs(attrs), inputs


def _run_singa(case, opset, inputs, seed=None):
    attrs, inputs = _prepare(case, opset, inputs)
    # Random ops draw from NumPy's global generator: one seed per call keeps a case
    # reproducible and finite differences meaningful.
    np.random.seed(case.seed if seed is None else seed)
    out = OPS[case.op].compute(np, inputs, attrs)
    assert isinstance(out, (list, tuple)), f"{case.op}: compute must return a list"
    return [_as_output(o) for o in out], attrs, inputs


def _n_outputs(case, attrs=None):
    """How many outputs the node has and the test compares."""
    if OPS[case.op].num_outputs is None:
        return int((attrs or case.attrs).get("_num_outputs", case.outputs))
    return case.outputs


# ------------------------------------------------------------------ onnxruntime

def _model(case, opset, outputs):
    """A one-node model; ``outputs`` is a list of (dtype, shape) or None (untyped)."""
    in_names, graph_inputs = [], []
    for i, x in enumerate(case.inputs):
        if x is None:
            in_names.append("")
            continue
        name = f"in{i}"
        in_names.append(name)
        if isinstance(x, list):  # a sequence input: its elements' dtype, shapes free
            graph_inputs.append(helper.make_tensor_sequence_value_info(
                name, helper.np_dtype_to_tensor_dtype(x[0].dtype), None))
            continue
        graph_inputs.append(helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(x.dtype), list(x.shape)))
    while in_names and in_names[-1] == "":
        in_names.pop()
    out_names = [f"out{k}" for k in range(len(outputs))]
    graph_outputs = []
    for name, t in zip(out_names, outputs):
        if t is None:
            graph_outputs.append(onnx.ValueInfoProto(name=name))
        else:
            graph_outputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(t[0]), list(t[1])))
    node = helper.make_node(case.op, in_names, out_names, **_onnx_attrs(case.attrs))
    domain = OPS[case.op].domain
    if domain:  # an op of another ONNX domain (ai.onnx.ml...): ``opset`` counts there
        node.domain = domain
        ids = [helper.make_opsetid("", _newest_ort_opset()), helper.make_opsetid(domain, opset)]
    else:
        ids = [helper.make_opsetid("", opset)]
    if singa_only(case.op):  # singa's own ops live in their own domain
        node.domain = SINGA_DOMAIN
        ids.append(helper.make_opsetid(SINGA_DOMAIN, 1))
    graph = helper.make_graph([node], f"case_{case.op}", graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=ids)
    model.ir_version = helper.find_min_ir_version_for(ids)
    return model


def _session(model):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=None)
def _newest_ort_opset() -> int:
    """The newest default-domain opset onnxruntime loads at all."""
    for opset in range(onnx.defs.onnx_opset_version(), 6, -1):
        g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", 1, [1])],
                              [helper.make_tensor_value_info("y", 1, [1])])
        ids = [helper.make_opsetid("", opset)]
        m = helper.make_model(g, opset_imports=ids)
        m.ir_version = helper.find_min_ir_version_for(ids)
        try:
            _session(m)
            return opset
        except Exception:
            continue
    raise RuntimeError("onnxruntime loads no opset")


@functools.lru_cache(maxsize=None)
def _newest_opset(domain: str) -> int:
    """The newest opset onnx knows of ``domain`` ("" the default one)."""
    if not domain:
        return onnx.defs.onnx_opset_version()
    return max(s.since_version for s in onnx.defs.get_all_schemas_with_history()
               if s.domain == domain)


def _schema_opsets(op):
    """One opset per version of ``op``'s schema that onnxruntime may load, newest first
    (in the op's own domain)."""
    domain = OPS[op].domain
    opset = _newest_opset(domain) if domain else _newest_ort_opset()
    out = []
    while opset >= 1:
        try:
            since = onnx.defs.get_schema(op, opset, domain).since_version
        except Exception:  # noqa: BLE001 - no version of the op at or below opset
            break
        out.append(opset)
        opset = since - 1
    return out


def _reference_backend(case):
    """(backend, opset) that the case's forward result is checked against.

    onnxruntime at case.opset, else at the newest opset where it implements the
    node (it may lag behind onnx for single ops).  Where onnxruntime has no kernel
    at all (e.g. Erf on float64), onnx's own reference evaluator stands in.
    """
    opsets = [case.opset] if case.opset is not None else _schema_opsets(case.op)
    for opset in opsets:
        try:
            _session(_model(case, opset, [None] * _n_outputs(case)))
            return "onnxruntime", opset
        except Exception as e:  # noqa: BLE001 - any load failure: try an older opset
            msg = str(e).lower()
            if "implementation" not in msg and "not_implemented" not in msg:
                pytest.fail(f"onnxruntime cannot load the {case.op} node: {e}")
    return "onnx.reference", case.opset or _newest_opset(OPS[case.op].domain)


def _run_reference(case, backend, opset, singa_out, n):
    feeds = {f"in{i}": x for i, x in enumerate(case.inputs) if x is not None}
    if backend == "onnx.reference":
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(_model(case, opset, [None] * n)).run(None, feeds)
    typed = [(o.dtype, o.shape) if isinstance(o, np.ndarray) else None
             for o in singa_out[:n]]
    try:
        sess = _session(_model(case, opset, typed))
    except Exception:
        # singa's declared types may be what is wrong; let onnxruntime type the
        # outputs and let the comparison below say what differs.
        sess = _session(_model(case, opset, [None] * n))
    return sess.run(None, feeds)


# ------------------------------------------------------------------ comparison

def _compare(op, k, got, want, rtol, atol, check_dtype=True):
    if want is None or isinstance(want, list):  # an empty optional; a sequence
        assert (got is None) == (want is None), f"{op} output {k}: {got!r}, reference None"
        if want is not None:
            assert isinstance(got, list) and len(got) == len(want), \
                f"{op} output {k}: {got!r}, reference a sequence of {len(want)}"
            for j, (g, w) in enumerate(zip(got, want)):
                _compare(op, f"{k}[{j}]", g, w, rtol, atol, check_dtype)
        return
    got, want = np.asarray(got), np.asarray(want)
    if check_dtype:
        assert got.dtype == want.dtype, \
            f"{op} output {k}: dtype {got.dtype}, reference {want.dtype}"
    assert got.shape == want.shape, \
        f"{op} output {k}: shape {got.shape}, reference {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{op} output {k}")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{op} output {k}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward(case):
    assert case.op in OPS, f"no op {case.op} in singa.ops.OPS"
    backend, opset = ("reference", case.opset) if case.reference is not None \
        else _reference_backend(case)
    before = [_copy(x) for x in case.inputs]
    out, attrs, _ = _run_singa(case, opset, case.inputs)
    for i, (x, b) in enumerate(zip(case.inputs, before)):
        if isinstance(x, list):
            assert len(x) == len(b), f"{case.op} modified sequence input {i}"
            for e, eb in zip(x, b):
                np.testing.assert_array_equal(e, eb, err_msg=f"{case.op} modified input {i}")
        elif x is not None:
            np.testing.assert_array_equal(x, b, err_msg=f"{case.op} modified input {i}")
    n = _n_outputs(case, attrs)
    assert len(out) >= n, f"{case.op}: {len(out)} outputs, case compares {n}"
    if case.reference is not None:
        ins = [x.astype(np.float64) if _is_float(x) else x for x in case.inputs]
        want = case.reference(*ins, **case.attrs)
        floats = [x.dtype for x in case.inputs if _is_float(x)]
        for k in range(n):
            want_k = np.asarray(want[k])
            _compare(case.op, k, out[k], want_k, case.rtol, case.atol, check_dtype=False)
            if want_k.dtype == np.float64 and floats:
                # a float64 reference says nothing of dtypes: float outputs follow
                # the float inputs (float32 in, float32 out)
                assert out[k].dtype == np.result_type(*floats), \
                    f"{case.op} output {k}: dtype {out[k].dtype} for inputs of {floats}"
            elif want_k.dtype != np.float64:
                assert out[k].dtype == want_k.dtype, \
                    f"{case.op} output {k}: dtype {out[k].dtype}, reference {want_k.dtype}"
        return
    want = _run_reference(case, backend, opset, out, n)
    for k in range(n):
        _compare(case.op, k, out[k], want[k], case.rtol, case.atol)


# ------------------------------------------------------------------ infer

def _symbolic(shape):
    return tuple(d if d == 1 else f"d{d}" for d in shape)


def _check_claim(op, variant, k, claimed, actual):
    if isinstance(actual, list) or actual is None or isinstance(claimed, OptionalType):
        if isinstance(claimed, OptionalType):
            if actual is not None and claimed.elem is not None:
                _check_claim(op, variant, k, claimed.elem, actual)
            return
        assert isinstance(claimed, SequenceType) and isinstance(actual, list), \
            f"{op} infer ({variant}): output {k} is {claimed!r} for {type(actual).__name__}"
        for e in actual:
            if claimed.elem is not None:
                _check_claim(op, variant, f"{k} element", claimed.elem, e)
        return
    assert isinstance(claimed, TensorType), f"{op} infer ({variant}): output {k} is {claimed!r}"
    assert claimed.dtype == DType.from_np(actual.dtype), \
        f"{op} infer ({variant}) output {k}: dtype {claimed.dtype}, computed {actual.dtype}"
    if claimed.shape is None:
        return
    assert len(claimed.shape) == actual.ndim, \
        f"{op} infer ({variant}) output {k}: shape {claimed.shape}, computed {actual.shape}"
    for d, a in zip(claimed.shape, actual.shape):
        ok = d is None or d == a or (isinstance(d, str) and d == f"d{a}")
        assert ok, (f"{op} infer ({variant}) output {k}: shape {claimed.shape}, "
                    f"computed {actual.shape}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_infer(case):
    assert case.op in OPS, f"no op {case.op} in singa.ops.OPS"
    opdef = OPS[case.op]
    opset = case.opset if case.opset is not None else (
        None if case.reference is not None else _newest_ort_opset())
    out, attrs, inputs = _run_singa(case, opset, case.inputs)
    n = len([o for o in out if o is not None])
    types = [_type_of(x) for x in inputs]
    values = [None if x is None or isinstance(x, list) else x for x in inputs]
    got = opdef.infer(types, attrs, values)
    assert len(got) >= n, f"{case.op} infer: {len(got)} outputs, compute gave {n}"
    # a sequence operand's length and elements are run-time facts: what infer
    # says of results computed from one need only admit them
    from_seq = any(isinstance(x, list) for x in inputs)
    for k, o in enumerate(out):
        if o is None or isinstance(o, list) or from_seq or not isinstance(got[k], TensorType):
            _check_claim(case.op, "static", k, got[k], o)
            continue
        assert got[k] == TensorType.of(o), \
            f"{case.op} infer (static) output {k}: {got[k]}, computed {TensorType.of(o)}"
    variants = {
        "symbolic dims": [_type_of(x, lambda a: _symbolic(a.shape)) for x in inputs],
        "unknown dims": [_type_of(x, lambda a: (None,) * a.ndim) for x in inputs],
        "unknown rank": [_type_of(x, lambda a: None) for x in inputs],
    }
    for variant, vtypes in variants.items():
        got = opdef.infer(vtypes, attrs, [None] * len(inputs))
        for k, o in enumerate(out[:len(got)]):
            if o is not None and got[k] is not None:
                _check_claim(case.op, variant, k, got[k], o)


def _type_of(x, shape=lambda a: tuple(a.shape)):
    """The type of a case input, its shape(s) as ``shape`` says; a sequence's
    element type keeps the dims all its elements share (others unknown)."""
    if x is None:
        return None
    if isinstance(x, list):
        if not x:
            return SequenceType(None)
        ts = [_type_of(e, shape) for e in x]
        dims = {t.shape for t in ts}
        if len(dims) == 1:
            return SequenceType(ts[0])
        ranks = {None if d is None else len(d) for d in dims}
        if len(ranks) != 1 or None in ranks:
            return SequenceType(TensorType(ts[0].dtype, None))
        common = tuple(d[0] if len(set(d)) == 1 else None for d in zip(*dims))
        return SequenceType(TensorType(ts[0].dtype, common))
    return TensorType(DType.from_np(x.dtype), shape(x))


# ------------------------------------------------------------------ grad

def _objective(case, opset, inputs, dys):
    out, _, _ = _run_singa(case, opset, inputs)
    total = 0.0
    for k, (o, dy) in enumerate(zip(out, dys)):
        if o is not None and dy is not None and o.shape != dy.shape:
            pytest.fail(f"{case.op}: output {k} changes shape {dy.shape} -> {o.shape} under a "
                        "tiny perturbation: the case sits on a discontinuity")
        if o is not None and dy is not None and o.dtype.kind == "f":
            total += float(np.sum(o.astype(np.float64) * dy))
    return total


@pytest.mark.parametrize("case", [c for c, _ in GRAD_CASES], ids=[i for _, i in GRAD_CASES])
def test_grad(case):
    opdef = OPS[case.op]
    opset = case.opset if case.opset is not None else (
        None if case.reference is not None else _newest_ort_opset())
    x64 = [x.astype(np.float64) if _is_float(x) else x for x in case.inputs]
    out, attrs, full_inputs = _run_singa(case, opset, x64)
    rng = np.random.default_rng(1234 + case.seed)
    n = _n_outputs(case, attrs)
    dys = []
    for k, o in enumerate(out):
        if o is None:
            dys.append(None)
        elif k < n and o.dtype.kind == "f":
            dys.append(rng.standard_normal(o.shape))
        else:
            dys.append(np.zeros(o.shape, o.dtype))
    douts = [None if d is None else d.astype(o.dtype) if o.dtype.kind == "f" else d
             for d, o in zip(dys, out)]
    np.random.seed(case.seed)
    grads = opdef.grad(np, full_inputs, out, douts, attrs)
    assert len(grads) >= len(case.inputs), \
        f"{case.op} grad: {len(grads)} entries for {len(case.inputs)} inputs"
    scale = sum(float(np.sum(np.abs(o.astype(np.float64) * d)))
                for o, d in zip(out, dys)
                if o is not None and d is not None and o.dtype.kind == "f")
    for i in _grad_inputs(case):
        # None declares the output constant in this input: finite differences must agree
        g = np.zeros_like(x64[i]) if grads[i] is None else np.asarray(grads[i])
        assert g.shape == x64[i].shape, \
            f"{case.op} grad of input {i}: shape {g.shape}, input {x64[i].shape}"
        assert g.dtype == np.float64, \
            f"{case.op} grad of input {i}: dtype {g.dtype} for a float64 input"
        v = rng.standard_normal(x64[i].shape)
        plus = list(x64)
        minus = list(x64)
        plus[i] = x64[i] + GRAD_EPS * v
        minus[i] = x64[i] - GRAD_EPS * v
        fd = (_objective(case, opset, plus, dys)
              - _objective(case, opset, minus, dys)) / (2 * GRAD_EPS)
        an = float(np.sum(g * v))
        # Round-off of the difference quotient grows like |L| * 1e-16 / eps.
        tol = GRAD_RTOL * max(abs(fd), abs(an)) + 1e-8 * (1.0 + scale)
        assert abs(fd - an) <= tol, \
            f"{case.op} grad of input {i}: analytic {an!r}, finite difference {fd!r}"


def test_every_op_has_a_case():
    from .test_control import REGION_OPS  # ops with bodies: tested on whole models

    covered = {c.op for c in CASES} | set(REGION_OPS)
    missing = sorted(set(OPS) - covered)
    assert not missing, f"ops without a test case: {', '.join(missing)}"
