"""String ops: bad operands and attributes give singa errors naming the op, from
``compute`` and from ``infer`` alike; and string tensors travel through an imported
graph (with bool and int64 results feeding other ops) on both CPU targets."""

import numpy as np
import pytest
from onnx import helper

from singa.errors import DTypeError, ModelError, ShapeError
from singa.ir.types import TensorType
from singa.ops import OPS
from singa.sonnx import SingaBackend

S2 = np.array([["a", "b"], ["c", "d"]], dtype=object)
S1 = np.array(["a", "b"], dtype=object)
TFIDF = {"min_gram_length": 1, "max_gram_length": 1, "max_skip_count": 0, "mode": "TF",
         "ngram_counts": [0], "ngram_indexes": [0, 1]}

BAD = [
    ("StringConcat", [S1, np.zeros(2, np.float32)], {}, DTypeError),
    ("StringConcat", [S1, np.array(["x", "y", "z"], dtype=object)], {}, ShapeError),
    ("StringSplit", [np.arange(3)], {}, DTypeError),
    ("StringSplit", [S1], {"maxsplit": -1}, ModelError),
    ("RegexFullMatch", [np.ones(2, bool)], {"pattern": "a"}, DTypeError),
    ("RegexFullMatch", [S1], {"pattern": "(a"}, ModelError),
    ("RegexFullMatch", [S1], {"pattern": r"\p{Greek}+"}, ModelError),
    ("RegexFullMatch", [S1], {"pattern": r"[[:alpha:]]"}, ModelError),
    ("StringNormalizer", [S2], {}, ShapeError),
    ("StringNormalizer", [np.array("a", dtype=object)], {}, ShapeError),
    ("StringNormalizer", [S1], {"case_change_action": "TITLE"}, ModelError),
    ("StringNormalizer", [np.zeros(2, np.int64)], {}, DTypeError),
    ("TfIdfVectorizer", [np.zeros((2, 2, 2), np.int64)], {**TFIDF, "pool_int64s": [1, 2]},
     ShapeError),
    ("TfIdfVectorizer", [S1], {**TFIDF, "pool_int64s": [1, 2]}, DTypeError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_strings": ["a", "b"]},
     DTypeError),
    ("TfIdfVectorizer", [np.zeros(2, np.float32)], {**TFIDF, "pool_int64s": [1, 2]},
     DTypeError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_int64s": [1, 2],
                                                  "pool_strings": ["a", "b"]}, ModelError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_int64s": [1, 2],
                                                  "mode": "BM25"}, ModelError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_int64s": [1, 2],
                                                  "ngram_indexes": [0]}, ModelError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_int64s": [1, 2],
                                                  "ngram_counts": [3]}, ModelError),
    ("TfIdfVectorizer", [np.zeros(2, np.int64)], {**TFIDF, "pool_int64s": [1, 2],
                                                  "mode": "TFIDF", "weights": [1.0]},
     ModelError),
    # a repeated pool n-gram (onnxruntime refuses it as well)
    ("TfIdfVectorizer", [np.zeros(2, np.int64)],
     {**TFIDF, "max_gram_length": 2, "ngram_counts": [0, 1], "ngram_indexes": [0, 1, 2],
      "pool_int64s": [1, 3, 4, 3, 4]}, ModelError),
]


@pytest.mark.parametrize("op,inputs,attrs,err", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_operands(op, inputs, attrs, err):
    opdef = OPS[op]
    with pytest.raises(err, match=op):
        opdef.run(np, inputs, attrs)
    with pytest.raises(err, match=op):
        opdef.infer([TensorType.of(x) for x in inputs], opdef.attrs(attrs),
                    [None] * len(inputs))


def _graph_model():
    """x (strings) -> normalized, split; regex match -> Not; counts + 1."""
    n = [
        helper.make_node("StringNormalizer", ["x"], ["norm"], case_change_action="LOWER",
                         stopwords=["the"]),
        helper.make_node("StringSplit", ["norm"], ["parts", "counts"], delimiter="-"),
        helper.make_node("RegexFullMatch", ["norm"], ["match"], pattern=r"[a-z]+(-[a-z]+)*"),
        helper.make_node("Not", ["match"], ["nomatch"]),
        helper.make_node("Constant", [], ["one"], value_int=1),
        helper.make_node("Add", ["counts", "one"], ["counts1"]),
        helper.make_node("StringConcat", ["parts", "suffix"], ["tagged"]),
    ]
    str_t = helper.make_tensor_value_info
    graph = helper.make_graph(
        n, "strings",
        [str_t("x", 8, ["C"]), str_t("suffix", 8, [1])],
        [str_t("tagged", 8, None), str_t("nomatch", 9, None), str_t("counts1", 7, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_graph_of_string_ops(target):
    rep = SingaBackend.prepare(_graph_model(), "CPU", target=target)
    x = np.array(["New-York", "THE", "a--b", "Oslo"], dtype=object)
    tagged, nomatch, counts1 = (np.asarray(t.data) for t in
                                rep.run([x, np.array(["!"], dtype=object)]))
    want = np.array([["new!", "york!", "!"], ["a!", "!", "b!"], ["oslo!", "!", "!"]],
                    dtype=object)
    np.testing.assert_array_equal(tagged, want)
    assert tagged.dtype == object
    np.testing.assert_array_equal(nomatch, [False, True, False])
    assert nomatch.dtype == bool
    np.testing.assert_array_equal(counts1, [3, 4, 2])
    assert counts1.dtype == np.int64
