"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from singa import autograd, tensor


@pytest.fixture
def inference_mode():
    """autograd in inference mode and the tensor RNG seeded with 0; the mode restored after.

    A module takes it for every test with
    ``pytestmark = pytest.mark.usefixtures("inference_mode")``.
    """
    old = autograd.training
    autograd.training = False
    tensor.seed(0)
    yield
    autograd.training = old
