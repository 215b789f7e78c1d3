"""Shared by the conformance tests: classify ONNX backend test cases by coverage.

A case is *covered* when every node of its model is an op of the table (or a
Constant, which the importer turns into a constant) whose ``since`` is at most
the model's opset for the op's domain, in the main graph and in every body.  Every other case is *not covered*, with the reason, and reported.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import warnings

import numpy as np
import onnx
import pytest
from onnx.backend.test.runner import Runner

from singa.ops import OPS

DEFAULT_DOMAINS = ("", "ai.onnx")


def _load(module):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return sorted(module.collect_testcases(), key=lambda c: c.name)


def load_node_cases():
    from onnx.backend.test.case import node

    return _load(node)


def load_model_cases():
    from onnx.backend.test.case import model

    return _load(model)



def _nodes(graph):
    """Every node of ``graph`` and, recursively, of the graphs its nodes hold."""
    for n in graph.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(a.g)


def not_covered_reason(model: onnx.ModelProto) -> str | None:
    """Why the case cannot run on the table (None when it is covered)."""
    versions = {("" if o.domain in DEFAULT_DOMAINS else o.domain): o.version
                for o in model.opset_import}
    if not versions:
        return "no opset imported"
    for n in _nodes(model.graph):
        domain = "" if n.domain in DEFAULT_DOMAINS else n.domain
        if domain == "" and n.op_type == "Constant":
            continue
        d = OPS.get(n.op_type)
        if d is None or d.domain != domain:
            return (f"op {n.op_type} not in table" if domain == "" else
                    f"domain {domain} op {n.op_type} not in table")
        if d.since > versions.get(domain, 0):
            return (f"op {n.op_type} at opset {versions.get(domain, 0)} (table has it from "
                    f"{d.since})")
    return None


def by_coverage(cases):
    """``(covered cases, {name: why not covered} for the rest)``."""
    covered = [c for c in cases if not_covered_reason(c.model) is None]
    not_covered = {c.name: not_covered_reason(c.model) for c in cases
                   if not_covered_reason(c.model) is not None}
    return covered, not_covered


def normalize(x):
    return onnx.numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x


# Every case runs on each CPU target: the NumPy plan and the generated host-C kernels.
TARGETS = ("numpy", "c")


# Cases whose stored outputs are one draw of NumPy's global generator when onnx made
# them (the seed attribute never reached it): no implementation reproduces them, onnx's
# own reference evaluator neither, so shapes, dtypes and the 0/1 support are compared.
STORED_GLOBAL_DRAWS = frozenset(
    f"test_bernoulli{s}" for s in ("", "_expanded", "_double", "_double_expanded", "_seed",
                                   "_seed_expanded"))


def check_case(case, backend, xfail=None, target=None):
    """Prepare ``case.model`` on ``backend`` (for ``target``) once and compare every
    data set.

    A case named in ``xfail`` (name -> the feature it needs) is an expected failure.
    """
    if xfail and case.name in xfail:
        pytest.xfail(xfail[case.name])
    rep = backend.prepare(case.model, "CPU", target=target)
    for inputs, expected in case.data_sets:
        got = rep.run([normalize(x) for x in inputs])
        compare_outputs(case, [as_numpy(t) for t in got], expected)


def as_numpy(out):
    """A result of ``SingaRep.run`` as onnx's runner compares it: Tensors as arrays,
    sequences (lists) element by element, an empty optional as None."""
    if out is None:
        return None
    if isinstance(out, list):
        return [as_numpy(x) for x in out]
    return np.asarray(out.data)


def skip_not_covered(cases, covered, not_covered: dict[str, str]) -> None:
    """Every case is covered or has a reason; the reasons, counted, as a skip (``-rs``)."""
    assert len(covered) + len(not_covered) == len(cases)
    if not_covered:
        pytest.skip(report(not_covered))


def report(not_covered: dict[str, str]) -> str:
    """Counts of not-covered cases by reason, most frequent first."""
    by = collections.Counter(not_covered.values())
    lines = [f"{len(not_covered)} cases not covered by the op table:"]
    lines += [f"  {n:4d}  {why}" for why, n in by.most_common()]
    return "\n".join(lines)


# --- The onnx wheel's data-folder suites (``onnx/backend/test/data/<kind>``) ------------
# Added for the data-suite tests and ``tools/conformance_report.py``; the cases are
# ``TestCase``s with their model and data sets loaded, so ``by_coverage`` and
# ``check_case`` take them as they take the node cases.

DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")

# The kinds whose case folders hold ``model.onnx`` and ``test_data_set_*``.
DATA_SUITES = ("simple", "pytorch-converted", "pytorch-operator")


def read_value(path: str, type_proto: onnx.TypeProto):
    """A stored input or output: a tensor, a sequence (list) or an optional (None or
    its element), read as ``onnx.backend.test.runner`` reads it for ``type_proto``."""
    with open(path, "rb") as f:
        raw = f.read()
    kind = type_proto.WhichOneof("value")
    if kind == "sequence_type":
        proto = onnx.SequenceProto()
        proto.ParseFromString(raw)
        return onnx.numpy_helper.to_list(proto)
    if kind == "optional_type":
        proto = onnx.OptionalProto()
        proto.ParseFromString(raw)
        return onnx.numpy_helper.to_optional(proto)
    if kind != "tensor_type":
        raise ValueError(f"{path}: stored {kind} values are not readable")
    proto = onnx.TensorProto()
    proto.ParseFromString(raw)
    return onnx.numpy_helper.to_array(proto)


def _read_data_sets(case_dir: str, model: onnx.ModelProto) -> list:
    sets = []
    for d in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        ins = [read_value(os.path.join(d, f"input_{i}.pb"), model.graph.input[i].type)
               for i in range(n_in)]
        outs = [read_value(os.path.join(d, f"output_{i}.pb"), model.graph.output[i].type)
                for i in range(n_out)]
        sets.append((ins, outs))
    return sets


def load_data_cases(kind: str) -> list:
    """The cases of ``DATA_DIR/<kind>`` with model and data sets loaded, sorted by name;
    rtol/atol as onnx's runner takes them (``data.json``, else 1e-3 / 1e-7)."""
    from onnx.backend.test.loader import load_model_tests

    cases = []
    for c in sorted(load_model_tests(DATA_DIR, kind=kind), key=lambda c: c.name):
        if c.model_dir is None:  # a zoo model by URL: see load_light_cases
            continue
        model = onnx.load(os.path.join(c.model_dir, "model.onnx"))
        cases.append(dataclasses.replace(c, model=model,
                                         data_sets=_read_data_sets(c.model_dir, model)))
    return cases


def load_light_cases() -> list:
    """The ``real`` kind: the light zoo models of ``DATA_DIR/light`` with the inputs
    onnx's runner generates (``generate_dummy_data(seed=0, random=False)``) and the
    stored ``light_<name>_output_<i>.pb`` as expected outputs."""
    from onnx.backend.test.loader import load_model_tests

    root = os.path.dirname(os.path.dirname(onnx.__file__))
    cases = []
    for c in sorted(load_model_tests(DATA_DIR, kind="real"), key=lambda c: c.name):
        path = os.path.join(root, c.url)
        model = onnx.load(path)
        inits = {t.name for t in model.graph.initializer}
        ins = [Runner.generate_dummy_data(x, seed=0, name=c.model_name, random=False)
               for x in model.graph.input if x.name not in inits]
        prefix = os.path.splitext(path)[0]
        outs = [read_value(f"{prefix}_output_{i}.pb", o.type)
                for i, o in enumerate(model.graph.output)]
        cases.append(dataclasses.replace(c, model=model, data_sets=[(ins, outs)]))
    return cases


def compare_outputs(case, got: list, expected: list) -> None:
    """``got`` (arrays, lists for sequences) against one stored data set, as
    ``check_case`` compares SingaBackend's results; for other runtimes (onnxruntime,
    onnx.reference) in the conformance report."""
    ref = [normalize(x) for x in expected]
    if case.name in STORED_GLOBAL_DRAWS:
        got = [np.asarray(g) for g in got]
        assert [(g.shape, g.dtype) for g in got] == [(r.shape, r.dtype) for r in ref]
        assert all(np.isin(g, (0, 1)).all() for g in got)
        return
    ref, got = _flatten(ref, got, case.name)
    Runner.assert_similar_outputs(ref, got, rtol=case.rtol, atol=case.atol,
                                  model_dir=case.name)


def _flatten(ref: list, got: list, name: str) -> tuple[list, list]:
    """Sequences and optionals unpacked into paired tensors: onnx's runner compares
    a sequence by recursing into its elements as if each were a list of outputs,
    which fails for 0-d elements."""
    assert len(ref) == len(got), f"{name}: {len(got)} outputs, expected {len(ref)}"
    out_ref, out_got = [], []
    for r, g in zip(ref, got):
        if r is None or g is None:
            assert r is None and g is None, f"{name}: got {g!r}, expected {r!r}"
        elif isinstance(r, list):
            assert isinstance(g, list) and len(g) == len(r), \
                f"{name}: got {type(g).__name__} of {len(g) if isinstance(g, list) else '-'}" \
                f", expected a sequence of {len(r)}"
            a, b = _flatten(r, g, name)
            out_ref += a
            out_got += b
        else:
            out_ref.append(normalize(r))
            out_got.append(g)
    return out_ref, out_got
