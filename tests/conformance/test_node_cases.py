"""ONNX node conformance: every ``onnx.backend.test`` node case through SingaBackend.

Cases whose ops are all in the table must match the stored outputs at the
case's tolerances (onnx defaults rtol 1e-3, atol 1e-7).  The rest are not
silently dropped: ``test_not_covered`` lists them by reason (see ``-rs``).
"""

from __future__ import annotations

import pytest

from singa.sonnx import SingaBackend

from ._cases import check_case, load_node_cases, not_covered_reason, report

CASES = load_node_cases()
COVERED = [c for c in CASES if not_covered_reason(c.model) is None]
NOT_COVERED = {c.name: not_covered_reason(c.model) for c in CASES
               if not_covered_reason(c.model) is not None}

# Cases whose ops are in the table but which need a feature singa lacks; each
# entry names the feature.
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", COVERED, ids=[c.name for c in COVERED])
def test_node_case(case):
    if case.name in XFAIL:
        pytest.xfail(XFAIL[case.name])
    check_case(case, SingaBackend)


def test_not_covered():
    """Reports (as a skip reason, visible with ``-rs``) what the table does not cover."""
    assert len(COVERED) + len(NOT_COVERED) == len(CASES)
    if NOT_COVERED:
        pytest.skip(report(NOT_COVERED))
