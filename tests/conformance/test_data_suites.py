"""The onnx wheel's data-folder suites through SingaBackend.

``onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}``: each case
folder holds ``model.onnx`` and ``test_data_set_*`` with the stored inputs and
outputs.  Covered cases must match those outputs at the tolerances onnx's
runner uses (``data.json``, else rtol 1e-3, atol 1e-7) on the ``numpy`` and
``c`` targets; the rest are listed by reason per suite by ``test_not_covered``
(see ``-rs``).  The ``real`` kind (the light zoo models) is run by
``tests/e2e/test_light_models.py``.
"""

from __future__ import annotations

import pytest

from singa.sonnx import SingaBackend

from ._cases import DATA_SUITES, TARGETS, by_coverage, check_case, load_data_cases, \
    skip_not_covered

SUITES = {kind: load_data_cases(kind) for kind in DATA_SUITES}
COVERAGE = {kind: by_coverage(cases) for kind, cases in SUITES.items()}
COVERED = [(kind, c) for kind, (cov, _) in COVERAGE.items() for c in cov]

# Covered cases that cannot pass, each with the reason ("singa bug: ..." for one
# of ours until it is fixed).
XFAIL: dict[str, str] = {}


def test_suites_present():
    """The wheel ships every suite, each with cases and a data set per case."""
    for kind, cases in SUITES.items():
        assert cases, kind
        assert all(c.data_sets for c in cases), kind


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind,case", COVERED, ids=[f"{k}/{c.name}" for k, c in COVERED])
def test_data_case(kind, case, target):
    check_case(case, SingaBackend, XFAIL, target)


@pytest.mark.parametrize("kind", DATA_SUITES)
def test_not_covered(kind):
    """Reports (as a skip reason, visible with ``-rs``) what the table does not cover."""
    covered, not_covered = COVERAGE[kind]
    skip_not_covered(SUITES[kind], covered, not_covered)
