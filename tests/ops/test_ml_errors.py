"""Bad nodes and operands of the ai.onnx.ml and ai.onnx.preview.training ops raise
singa's errors naming the op (never a NumPy error from deep inside), from
``infer`` and from ``compute`` alike; and the schema check looks in the op's domain."""

import numpy as np
import pytest
from onnx import helper

from singa.errors import DTypeError, ModelError, ShapeError
from singa.frontends.onnx_schema import check_schema
from singa.ir.types import TensorType
from singa.ops import OPS
from tests.ops.cases_ml import _ROWS, _forest

F32 = np.float32
X = np.ones((2, 3), F32)
LE = {"keys_strings": ["a"], "values_int64s": [1]}
_ORDER = [0, 1, 2, 3, 4, 5, 0]


def _both(op, inputs, attrs, error, match):
    """``infer`` (on the operands' types and values) and ``compute`` both raise."""
    d = OPS[op]
    attrs = d.attrs(attrs)
    types = [None if x is None else TensorType.of(np.asarray(x)) for x in inputs]
    with pytest.raises(error, match=match):
        d.infer(types, attrs, list(inputs))
    with pytest.raises(error, match=match):
        d.compute(np, [np.asarray(x) for x in inputs], attrs)


def _cycle():
    f = _forest(_ORDER)
    f["nodes_falsenodeids"] = [2, 3, 3, 0, 6, 4, 4]  # node 6 -> node 4 -> node 6
    f["nodes_falseleafs"] = [0, 1, 0, 1, 0, 1, 0]
    return f


BAD = [
    ("LabelEncoder", [np.array(["a"], object)], dict(LE, keys_int64s=[1]), ModelError,
     "only one keys_"),
    ("LabelEncoder", [np.array(["a"], object)], {"keys_strings": ["a", "b"],
                                                 "values_int64s": [1]}, ModelError,
     "2 keys but 1 values"),
    ("LabelEncoder", [np.array(["a"], object)], {"keys_strings": ["a"]}, ModelError,
     "needs one keys_"),
    ("LabelEncoder", [np.array([1], np.int32)], LE, DTypeError, "input is int32"),
    ("LabelEncoder", [np.array(["a"], object)], dict(LE, values_int64s=None,
                                                     values_tensor=np.array([1], np.int16),
                                                     default_tensor=np.array([1.0])),
     DTypeError, "default_tensor"),
    ("LabelEncoder", [np.array([1.0], F32)], {"classes_strings": ["a"]}, DTypeError,
     "classes_strings"),
    ("Binarizer", [np.array([True])], {}, DTypeError, "Binarizer"),
    ("ArrayFeatureExtractor", [np.array(1.0, F32), np.array([0])], {}, ShapeError, "rank"),
    ("ArrayFeatureExtractor", [X, np.array([0], np.int32)], {}, DTypeError, "i64"),
    ("TreeEnsemble", [np.ones(3, F32)], _forest(_ORDER), ShapeError, r"\[N, F\]"),
    ("TreeEnsemble", [np.ones((2, 3), np.int64)], _forest(_ORDER), DTypeError, "f32"),
    ("TreeEnsemble", [np.ones((2, 2), F32)], _forest(_ORDER), ShapeError, "feature id 2"),
    ("TreeEnsemble", [_ROWS], _forest(_ORDER, nodes_featureids=[0, 1]), ModelError,
     "nodes_splits has 7 entries"),
    ("TreeEnsemble", [_ROWS], _forest([0, 1, 2, 3, 4, 5, 9]), ModelError, "nodes_modes"),
    ("TreeEnsemble", [_ROWS], _forest([6, 1, 2, 3, 4, 5, 0]), ModelError,
     "no membership_values"),
    ("TreeEnsemble", [_ROWS], _forest([6, 1, 2, 3, 4, 5, 6],
                                      membership_values=np.array([1.0, np.nan], F32)),
     ModelError, "1 set"),
    ("TreeEnsemble", [_ROWS], _cycle(), ModelError, "cycle"),
    ("TreeEnsemble", [_ROWS], _forest(_ORDER, n_targets=2), ModelError, "leaf_targetids"),
    ("TreeEnsemble", [_ROWS], _forest(_ORDER, nodes_truenodeids=[1, 9, 1, 2, 5, 3, 4]),
     ModelError, "nodes_truenodeids"),
    ("TreeEnsemble", [_ROWS], _forest(_ORDER, aggregate=7), ModelError, "aggregate"),
    ("TreeEnsemble", [_ROWS], _forest(_ORDER, post=5), ModelError, "post_transform"),
]

R, T = np.array(0.1, F32), np.array(1, np.int64)
MOM = {"alpha": 0.9, "beta": 0.1, "norm_coefficient": 0.0, "mode": "standard"}
BAD += [
    ("Adagrad", [R, T, X, X], {}, ShapeError, "per optimized tensor"),
    ("Adam", [R, T, X, X, X, X, X], {}, ShapeError, "got 7 inputs"),
    ("Adagrad", [R, np.array(1, np.int32), X, X, X], {}, DTypeError, "update count T"),
    ("Adagrad", [np.ones(2, F32), T, X, X, X], {}, ShapeError, "R must be a scalar"),
    ("Adam", [R, T, X, X, np.ones((3, 2), F32), X], {}, ShapeError, "input 4 has shape"),
    ("Adam", [R, T, X, X, X, X.astype(np.float64)], {}, DTypeError, "input 5 is f64"),
    ("Adagrad", [R, T] + [np.ones(2, np.int64)] * 3, {}, DTypeError, "X0 must be"),
    ("Momentum", [R, T, X, X, X], dict(MOM, mode="heavy"), ModelError, "mode"),
    ("Momentum", [R, T, X, X, X], dict(MOM, alpha=None), ModelError, "alpha is required"),
]


@pytest.mark.parametrize("op,inputs,attrs,error,match", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises(op, inputs, attrs, error, match):
    _both(op, inputs, attrs, error, match)


def test_feature_extractor_index_out_of_range():
    with pytest.raises(ShapeError, match=r"ArrayFeatureExtractor: indices must lie in \[0, 3\)"):
        OPS["ArrayFeatureExtractor"].compute(np, [X, np.array([3])], {})
    with pytest.raises(ShapeError, match="min -1"):
        OPS["ArrayFeatureExtractor"].compute(np, [X, np.array([-1])], {})


def test_schema_is_looked_up_in_the_ops_domain():
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_int=[1])
    attrs = {"keys_int": [1]}
    with pytest.raises(ModelError, match="unknown attribute"):
        check_schema(node, attrs, 4, "node 0", domain="ai.onnx.ml")
    check_schema(node, attrs, 21, "node 0")  # no such op in the default domain: unchecked
    adam = helper.make_node("Adam", ["r", "t"], ["y"], domain="ai.onnx.preview.training")
    with pytest.raises(ModelError, match="takes"):  # no tensor to optimize
        check_schema(adam, {}, 1, "node 1", domain="ai.onnx.preview.training")
