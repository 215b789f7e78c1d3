"""Shared by the conformance tests: classify ONNX backend test cases by coverage.

A case is *covered* when every node of its model is an op of the table (or a
Constant, which the importer turns into a constant) whose ``since`` is at most
the model's opset, in the default domain, with tensor-typed graph inputs and
outputs.  Every other case is *not covered*, with the reason, and reported.
"""

from __future__ import annotations

import collections
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


def _tensor_typed(vi) -> bool:
    return vi.type.WhichOneof("value") == "tensor_type"


def not_covered_reason(model: onnx.ModelProto) -> str | None:
    """Why the case cannot run on the table (None when it is covered)."""
    opsets = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    others = sorted({n.domain for n in model.graph.node if n.domain not in DEFAULT_DOMAINS})
    if others:
        return f"domain {others[0]} not supported"
    if not opsets:
        return "no default-domain opset"
    opset = max(opsets)
    for n in model.graph.node:
        if n.op_type == "Constant":
            continue
        d = OPS.get(n.op_type)
        if d is None:
            return f"op {n.op_type} not in table"
        if d.since > opset:
            return f"op {n.op_type} at opset {opset} (table has it from {d.since})"
    for vi in list(model.graph.input) + list(model.graph.output):
        if not _tensor_typed(vi):
            return f"{vi.type.WhichOneof('value')} graph inputs/outputs not supported"
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
        ref = [normalize(x) for x in expected]
        if case.name in STORED_GLOBAL_DRAWS:
            got = [np.asarray(t.data) for t in got]
            assert [(g.shape, g.dtype) for g in got] == [(r.shape, r.dtype) for r in ref]
            assert all(np.isin(g, (0, 1)).all() for g in got)
            continue
        Runner.assert_similar_outputs(ref, [np.asarray(t.data) for t in got],
                                      rtol=case.rtol, atol=case.atol, model_dir=case.name)


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
