"""ONNX model conformance: ``onnx.backend.test.case.model`` cases through SingaBackend.

The cases that carry an in-memory model run here against their stored
outputs; the nine ``light_*`` zoo models (no in-memory model, files in the
onnx wheel) are run by ``tests/e2e/test_light_models.py``.  Cases outside
the table are listed by ``test_not_covered`` (see ``-rs``).
"""

from __future__ import annotations

import pytest

from singa.sonnx import SingaBackend

from ._cases import TARGETS, by_coverage, check_case, load_model_cases, skip_not_covered

CASES = [c for c in load_model_cases() if c.model is not None]
COVERED, NOT_COVERED = by_coverage(CASES)

XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", COVERED, ids=[c.name for c in COVERED])
def test_model_case(case, target):
    check_case(case, SingaBackend, XFAIL, target)


def test_not_covered():
    """Reports (as a skip reason, visible with ``-rs``) what the table does not cover."""
    skip_not_covered(CASES, COVERED, NOT_COVERED)
