"""ONNX node conformance: every ``onnx.backend.test`` node case through SingaBackend.

Cases whose ops are all in the table must match the stored outputs at the
case's tolerances (onnx defaults rtol 1e-3, atol 1e-7).  The rest are not
silently dropped: ``test_not_covered`` lists them by reason (see ``-rs``).
"""

from __future__ import annotations

import pytest

from singa.sonnx import SingaBackend

from ._cases import TARGETS, by_coverage, check_case, load_node_cases, skip_not_covered

CASES = load_node_cases()
COVERED, NOT_COVERED = by_coverage(CASES)

# Cases whose ops are in the table but which need a feature singa lacks; each
# entry names the feature.
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", COVERED, ids=[c.name for c in COVERED])
def test_node_case(case, target):
    check_case(case, SingaBackend, XFAIL, target)


def test_not_covered():
    """Reports (as a skip reason, visible with ``-rs``) what the table does not cover."""
    skip_not_covered(CASES, COVERED, NOT_COVERED)
