"""Every ``singa.autograd`` function: forward against NumPy float64, and the
gradients ``y.creator.backward(dy)`` returns against central finite differences."""

import numpy as np
import pytest

from singa import (autograd, functions, losses, operators, operators_logic, operators_nn,
                   operators_shape, tensor)
from tests._numeric import central_difference
from tests.api._autograd_cases import CASES


def _tensors(arrays):
    return [tensor.from_numpy(a) for a in arrays]


def _outputs(result):
    return list(result) if isinstance(result, tuple) else [result]


def _numeric_grad(case, arrays, dys, k, eps=1e-6):
    """d sum_j <out_j, dy_j> / d arrays[k], by central differences."""
    def objective():
        outs = _outputs(case.fn(*_tensors(arrays)))
        return sum(float((o.numpy() * dy).sum()) for o, dy in zip(outs, dys))

    return central_difference(objective, arrays[k], eps)


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_forward_matches_numpy(case):
    arrays = [np.array(a, copy=True) for a in case.inputs]
    outs = _outputs(case.fn(*_tensors(arrays)))
    refs = case.ref(*arrays)
    refs = list(refs) if isinstance(refs, tuple) else [refs]
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        got = out.numpy()
        assert got.shape == ref.shape, f"{case.test_id}: shape {got.shape} != {ref.shape}"
        assert got.dtype == ref.dtype, f"{case.test_id}: dtype {got.dtype} != {ref.dtype}"
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.test_id for c in GRAD_CASES])
def test_creator_backward_matches_finite_differences(case):
    arrays = [np.array(a, copy=True) for a in case.inputs]
    outs = _outputs(case.fn(*_tensors(arrays)))
    dys = [np.random.default_rng(3).normal(size=o.shape) for o in outs]
    grads = outs[0].creator.backward(*[dy.copy() for dy in dys])
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k in case.grad:
        want = _numeric_grad(case, arrays, dys, k)
        assert grads[k] is not None, f"{case.test_id}: no gradient for input {k}"
        np.testing.assert_allclose(np.asarray(grads[k]), want, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{case.test_id}: gradient of input {k}")


def test_every_function_has_a_case():
    covered = {c.name for c in CASES}
    assert not sorted(set(functions.__all__) - covered)


def test_every_operator_class_is_an_autograd_name():
    for module in (operators, operators_logic, operators_shape, operators_nn, losses):
        for name in module.__all__:
            assert getattr(autograd, name) is getattr(module, name), name
