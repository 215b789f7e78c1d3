"""Cases of ml.py and ml_tree.py (domain ai.onnx.ml): LabelEncoder, Binarizer,
ArrayFeatureExtractor, TreeEnsemble.

They run against onnxruntime at the case's ai.onnx.ml opset (onnx's reference
evaluator where onnxruntime has no kernel for the node, e.g. LabelEncoder on
int32 keys).  TreeEnsemble's PROBIT transform is the exact normal quantile here,
where onnxruntime stops at an approximation of about 1e-3: its reference is onnx's
evaluator for the forest (which ignores post transforms) and Python's
``statistics.NormalDist`` for the quantile.
"""

import statistics

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.ops.case import Case, rand


def S(*v):
    """A string tensor as onnx's numpy_helper gives one: object array of str."""
    return np.array(v, dtype=object)


F32 = lambda *v: np.array(v, np.float32)  # noqa: E731
I64 = lambda *v: np.array(v, np.int64)  # noqa: E731
T = np.asarray  # a TENSOR attribute (the table's tests write arrays as tensors)
NAN = float("nan")

def onnx_reference(op, opset, post=None):
    """A ``Case.reference``: onnx's evaluator on the one-node model (then ``post`` of
    its outputs), for cases where onnxruntime departs from the spec."""

    def run(*inputs, **attrs):
        from onnx.reference import ReferenceEvaluator

        names = [f"in{i}" for i in range(len(inputs))]
        node = helper.make_node(op, names, ["y"], domain="ai.onnx.ml", **{
            k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
            for k, v in attrs.items()})
        g = helper.make_graph([node], op, [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape) for n, x in zip(names, inputs)],
            [onnx.ValueInfoProto(name="y")])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("ai.onnx.ml", opset)])
        out = [o.astype(object) if o.dtype.kind == "U" else o  # strings as the table's
               for o in ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))]
        return out if post is None else [post(o) for o in out]

    return run


NAMES = S("Amy", "Sally", "Dori", "Amy", "Bob", "Sally")

LABEL_ENCODER = [
    Case("LabelEncoder", [NAMES], {"keys_strings": ["Amy", "Sally"], "values_int64s": [5, 6],
                                   "default_int64": -7}, id="str_int"),
    Case("LabelEncoder", [NAMES.reshape(2, 3)], {"keys_strings": ["Amy", "Sally"],
                                                 "values_int64s": [5, 6]},
         id="str_int_default_2d"),
    # the spec's last key wins; onnxruntime keeps the first
    Case("LabelEncoder", [NAMES], {"keys_strings": ["Amy", "Bob", "Amy"],
                                   "values_strings": ["a", "b", "c"]},
         reference=onnx_reference("LabelEncoder", 4), id="str_str_last_key_wins_default"),
    Case("LabelEncoder", [NAMES], {"keys_strings": ["Dori"], "values_floats": [2.5],
                                   "default_float": 0.5}, id="str_float"),
    Case("LabelEncoder", [I64(3, 1, 2, 9, -4)], {"keys_int64s": [1, 2, 3, -4],
                                                 "values_strings": ["one", "two", "3", "m"],
                                                 "default_string": "?"}, id="int_str"),
    Case("LabelEncoder", [I64(3, 1, 2, 9)], {"keys_int64s": [1, 2, 3], "values_floats":
                                             [0.5, 1.5, 2.5]}, id="int_float_default"),
    Case("LabelEncoder", [I64(3, 1, 9)], {"keys_int64s": [1, 3], "values_int64s": [10, 30]},
         id="int_int"),
    Case("LabelEncoder", [F32(1.5, NAN, -2.0, 7.0, 0.0)],
         {"keys_floats": [1.5, NAN, -2.0, 0.0], "values_int64s": [1, 2, 3, 4],
          "default_int64": 99}, id="float_int_nan_key"),
    Case("LabelEncoder", [F32(1.5, 3.0)], {"keys_floats": [1.5], "values_strings": ["x"]},
         id="float_str"),
    Case("LabelEncoder", [F32(1.5, 3.0, -1.0)], {"keys_floats": [1.5, -1.0],
                                                 "values_floats": [10.0, 20.0]},
         id="float_float"),
    # opset 4's tensor forms (onnxruntime refuses default_tensor: onnx's evaluator decides)
    Case("LabelEncoder", [np.array([1, 5, 2, 1], np.int32)],
         {"keys_tensor": T(np.array([1, 2], np.int32)),
          "values_tensor": T(np.array([0.25, 0.75])),
          "default_tensor": T(np.array([-1.0]))}, reference=onnx_reference("LabelEncoder", 4), id="tensor_i32_f64"),
    Case("LabelEncoder", [S("a", "b", "d")],
         {"keys_tensor": T(S("a", "b")), "values_tensor": T(np.array([3, 4], np.int16)),
          "default_tensor": T(np.array([42], np.int16))}, reference=onnx_reference("LabelEncoder", 4), id="tensor_str_i16"),
    Case("LabelEncoder", [np.array([2.5, 9.0])],
         {"keys_tensor": T(np.array([2.5, 9.0])),
          "values_tensor": T(np.array([7, 8], np.int16)),
          "default_tensor": T(np.array([0], np.int16))}, reference=onnx_reference("LabelEncoder", 4), id="tensor_f64_i16"),
    # opset 1: classes_strings, the direction by the input type
    Case("LabelEncoder", [S("b", "z", "a")], {"classes_strings": ["a", "b", "c"],
                                              "default_int64": -5}, opset=1,
         id="v1_str_to_index"),
    Case("LabelEncoder", [I64(0, 2, 7)], {"classes_strings": ["a", "b", "c"],
                                          "default_string": "none"}, opset=1,
         id="v1_index_to_str"),
]

BINARIZER = [
    Case("Binarizer", [F32(-1.0, 0.2, 0.31, 2.0, 0.29)], {"threshold": 0.3}, id="f32"),
    Case("Binarizer", [rand(3, 4, dtype=np.float64)], {}, id="f64_default"),
    Case("Binarizer", [np.array([-2, 0, 1, 5], np.int32)], {"threshold": -0.5}, id="i32"),
    Case("Binarizer", [I64(-2, 0, 1, 5)], {"threshold": 1.0}, id="i64"),
]

_X = np.arange(30, dtype=np.float32).reshape(2, 3, 5) / 7
AFE = [
    Case("ArrayFeatureExtractor", [_X[0], I64(4, 0, 4)], id="2d_repeat"),
    Case("ArrayFeatureExtractor", [_X, I64(2, 1).reshape(1, 2)], id="3d"),
    Case("ArrayFeatureExtractor", [_X[0, 0], I64(1, 3)], id="1d_gives_a_row"),
    Case("ArrayFeatureExtractor", [_X[0].astype(np.float64), I64(0, 1, 2, 3).reshape(2, 2)],
         id="f64_2d_indices"),
    Case("ArrayFeatureExtractor", [np.arange(12, dtype=np.int64).reshape(3, 4), I64(3)],
         id="i64"),
    Case("ArrayFeatureExtractor", [np.arange(12, dtype=np.int32).reshape(4, 3), I64(2, 0)],
         id="i32"),
    Case("ArrayFeatureExtractor", [S("a", "b", "c", "d").reshape(2, 2), I64(1)], id="str"),
]


# ------------------------------------------------------------------ TreeEnsemble

def _forest(modes, aggregate=1, post=0, n_targets=3, **extra):
    """Two trees over 3 features that use every node mode in ``modes`` (7 entries):
    tree 0 = nodes 0-3, tree 1 = nodes 4-6; six leaves over ``n_targets`` targets."""
    attrs = {
        "tree_roots": [0, 4],
        "nodes_featureids": [0, 1, 2, 0, 2, 1, 0],
        "nodes_splits": T(np.array([0.5, -0.25, 0.0, 0.75, 0.3, 0.1, -0.5], np.float32)),
        "nodes_modes": T(np.array(modes, np.uint8)),
        "nodes_truenodeids": [1, 0, 1, 2, 5, 3, 4],
        "nodes_trueleafs": [0, 1, 1, 1, 0, 1, 1],
        "nodes_falsenodeids": [2, 3, 3, 0, 6, 4, 5],
        "nodes_falseleafs": [0, 1, 0, 1, 0, 1, 1],
        "nodes_missing_value_tracks_true": [1, 0, 0, 1, 0, 1, 0],
        "leaf_targetids": [0, 1, 2, 0, 1, n_targets - 1],
        "leaf_weights": T(np.array([1.5, -2.0, 0.25, 3.0, 0.5, -1.0], np.float32)),
        "aggregate_function": aggregate,
        "post_transform": post,
        "n_targets": n_targets,
    }
    attrs.update(extra)
    return attrs


_ROWS = np.array([[0.1, -0.5, 0.3], [0.9, 0.2, -0.1], [0.5, 0.1, 0.0], [NAN, NAN, 0.3],
                  [-0.5, 0.1, 0.3], [0.75, -0.25, 2.0], [2.0, 3.0, NAN], [-3.0, -0.1, 0.31]],
                 np.float32)
_ORDER = [0, 1, 2, 3, 4, 5, 0]  # LEQ LT GTE GT EQ NEQ LEQ
_MEMBERS = {"membership_values": T(np.array([0.1, 0.75, NAN, -0.5, 2.0, 0.3, NAN],
                                            np.float32))}


# The forest by onnx's evaluator (which ignores post transforms), then the transform
# as the spec defines it: onnxruntime swaps SOFTMAX (1) and LOGISTIC (2), and its
# PROBIT is an approximation; here the exact normal quantile.
_probit_reference = onnx_reference(
    "TreeEnsemble", 5, np.vectorize(statistics.NormalDist().inv_cdf, otypes=[np.float64]))
_logistic_reference = onnx_reference("TreeEnsemble", 5, lambda s: 1 / (1 + np.exp(-s)))
_softmax_reference = onnx_reference(
    "TreeEnsemble", 5, lambda s: np.exp(s) / np.exp(s).sum(axis=1, keepdims=True))


TREE = [
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER), id="sum_modes"),
    Case("TreeEnsemble", [_ROWS], _forest([5, 4, 3, 2, 1, 0, 1], aggregate=0),
         id="average_modes_reversed"),
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER, aggregate=2, n_targets=4), id="min"),
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER, aggregate=3, n_targets=4), id="max"),
    # onnxruntime takes integer members only
    Case("TreeEnsemble", [_ROWS], _forest([6, 0, 6, 1, 2, 3, 4], **_MEMBERS),
         reference=onnx_reference("TreeEnsemble", 5), id="set_membership"),
    Case("TreeEnsemble", [_ROWS.astype(np.float64)],
         _forest(_ORDER, nodes_splits=np.array([0.5, -0.25, 0.0, 0.75, 0.3, 0.1, -0.5]),
                 leaf_weights=np.array([1.5, -2.0, 0.25, 3.0, 0.5, -1.0])),
         id="f64"),
    Case("TreeEnsemble", [_ROWS.astype(np.float16)], _forest(_ORDER),
         reference=onnx_reference("TreeEnsemble", 5), id="f16"),
    Case("TreeEnsemble", [_ROWS[:0]], _forest(_ORDER, aggregate=2), id="no_rows"),
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER, post=1), reference=_softmax_reference,
         id="softmax"),
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER, post=2), reference=_logistic_reference,
         id="logistic"),
    Case("TreeEnsemble", [_ROWS], _forest(_ORDER, post=3, n_targets=4), id="softmax_zero"),
    Case("TreeEnsemble", [rand(9, 3)],
         _forest(_ORDER, aggregate=0, post=4, n_targets=1, leaf_targetids=[0] * 6,
                 leaf_weights=F32(.1, .35, .5, .75, .9, .6)),
         reference=_probit_reference, id="probit"),
    # a tree that is a single leaf: both branches of its root name the same leaf
    Case("TreeEnsemble", [_ROWS], {"tree_roots": [0], "nodes_featureids": [2],
                                   "nodes_splits": T(F32(0.0)),
                                   "nodes_modes": T(np.array([0], np.uint8)),
                                   "nodes_truenodeids": [0], "nodes_trueleafs": [1],
                                   "nodes_falsenodeids": [0], "nodes_falseleafs": [1],
                                   "leaf_targetids": [1], "leaf_weights": T(F32(4.0)),
                                   "n_targets": 2}, id="leaf_only_tree"),
]

CASES = LABEL_ENCODER + BINARIZER + AFE + TREE
