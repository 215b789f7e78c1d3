"""Cases of strings.py: StringNormalizer, StringConcat, StringSplit, RegexFullMatch,
TfIdfVectorizer.

Most run against onnxruntime (RE2 for the regexes, its own casing and n-gram
counting).  Where onnxruntime cannot serve as the reference (a locale this
machine lacks, strings with embedded NULs, which its Python binding cuts) the
expected output is written out by hand as ``reference=``.
"""

import numpy as np

from tests.ops.case import Case


def S(*v):
    """A string tensor as onnx's numpy_helper gives one: object array of str."""
    return np.array(v, dtype=object)


def expect(*outs):
    """A ``Case.reference`` returning these literal outputs."""
    return lambda *inputs, **attrs: [np.asarray(o) for o in outs]


I64 = lambda *v: np.array(v, np.int64)  # noqa: E731
I32 = lambda *v: np.array(v, np.int32)  # noqa: E731

WEEK = S("monday", "Tuesday", "MONDAY", "wednesday", "thursday")
# onnxruntime builds a C++ std::locale of the attribute's name, and this machine has
# no en_US.UTF-8 (the default); C.UTF-8 exists everywhere.
C = {"locale": "C.UTF-8"}

NORMALIZER = [
    Case("StringNormalizer", [WEEK], {}, id="defaults"),
    Case("StringNormalizer", [WEEK], {"case_change_action": "LOWER", **C}, id="lower"),
    Case("StringNormalizer", [WEEK], {"case_change_action": "UPPER", "stopwords": ["monday"],
                                      **C}, id="upper_stop_insensitive"),
    Case("StringNormalizer", [WEEK], {"case_change_action": "LOWER", "stopwords": ["monday"],
                                      "is_case_sensitive": 1, **C}, id="lower_stop_sensitive"),
    Case("StringNormalizer", [WEEK.reshape(1, -1)],
         {"case_change_action": "UPPER", "stopwords": ["Tuesday", "thursday"], **C}, id="row"),
    Case("StringNormalizer", [S("a", "A")], {"stopwords": ["a"], **C}, id="all_dropped"),
    Case("StringNormalizer", [S("a", "A").reshape(1, 2)], {"stopwords": ["A"], **C},
         id="all_dropped_row"),
    Case("StringNormalizer", [S("Élan", "ǅemal", "", "ünï")],
         {"case_change_action": "UPPER", **C}, id="unicode_upper"),
    Case("StringNormalizer", [S("ÀÉÎ", "Ǆ", "ΣΑ", "Ωmega")],
         {"case_change_action": "LOWER", **C}, id="unicode_lower"),
    # Full Unicode case mappings (Python's, as scikit-learn's lowercase= applies them
    # before export); onnxruntime maps one character at a time (towupper), which
    # keeps "ß" and has no final sigma.
    Case("StringNormalizer", [S("straße", "ﬁx")], {"case_change_action": "UPPER"},
         reference=expect(S("STRASSE", "FIX")), id="full_upper"),
    Case("StringNormalizer", [S("ΟΔΟΣ", "ΣΑΣ Α")], {"case_change_action": "LOWER"},
         reference=expect(S("οδος", "σας α")), id="final_sigma"),
    # Turkish dotted/dotless i: Python's default casing would give "I"/"i"
    Case("StringNormalizer", [S("istanbul", "Irmak", "İzmir")],
         {"case_change_action": "UPPER", "locale": "tr_TR.UTF-8"},
         reference=expect(S("İSTANBUL", "IRMAK", "İZMİR")), id="tr_upper"),
    Case("StringNormalizer", [S("istanbul", "Irmak", "İzmir")],
         {"case_change_action": "LOWER", "locale": "tr_TR"},
         reference=expect(S("istanbul", "ırmak", "izmir")), id="tr_lower"),
    Case("StringNormalizer", [S("Irmak", "dağ")],
         {"stopwords": ["ırmak"], "locale": "az_AZ"},
         reference=expect(S("dağ")), id="az_stop_insensitive"),
]

CONCAT = [
    Case("StringConcat", [S("abc", "def"), S(".com", ".net")], id="basic"),
    Case("StringConcat", [S("cat", "dog", "snake").reshape(3, 1), S("s", "z")], id="outer"),
    Case("StringConcat", [np.array("cat", dtype=object), S("s", "", "的")], id="scalar_bcast"),
    Case("StringConcat", [np.empty((0, 2), dtype=object), S("x", "y")], id="empty"),
    Case("StringConcat", [S("a\x00b", "\x00"), S("\x00c", "")],
         reference=expect(S("a\x00b\x00c", "\x00")), id="embedded_nul"),
]

_WORDS = S(["hello world", "def.net"], ["o n  n x ", "the quick brown fox"])
SPLIT = [
    Case("StringSplit", [S("abc.com", "def.net", "x")], {"delimiter": "."}, outputs=2,
         id="basic"),
    Case("StringSplit", [_WORDS], {"maxsplit": 2}, outputs=2, id="whitespace_maxsplit"),
    Case("StringSplit", [_WORDS], {"delimiter": " "}, outputs=2, id="space_runs_kept"),
    Case("StringSplit", [S("a::b:::c", "::", "")], {"delimiter": "::"}, outputs=2,
         id="multichar"),
    Case("StringSplit", [S("o-n-n--x-", "o-n----nx")], {"delimiter": "-", "maxsplit": 3},
         outputs=2, id="consecutive_maxsplit"),
    Case("StringSplit", [S("  ", "", "a")], {"delimiter": ""}, outputs=2, id="blank"),
    Case("StringSplit", [S("甲，乙，丙", "丁")], {"delimiter": "，"}, outputs=2, id="utf8"),
    Case("StringSplit", [np.array("x y", dtype=object)], outputs=2, id="scalar"),
    Case("StringSplit", [np.empty((0,), dtype=object)], outputs=2, id="empty"),
    Case("StringSplit", [S("a,b", "c")], {"delimiter": ",", "maxsplit": 0}, outputs=2,
         id="maxsplit0"),
]

_EMAILS = S(["account@gmail.com", "account@hotmail.com"], ["not email", " me@yahoo.com "])
REGEX = [
    Case("RegexFullMatch", [S("www.google.com", "www.facebook.com", "www.bbc.co.uk")],
         {"pattern": r"www\.[\w.-]+\.\bcom\b"}, id="basic"),
    Case("RegexFullMatch", [_EMAILS],
         {"pattern": r"(\W|^)[\w.\-]{0,25}@(yahoo|gmail)\.com(\W|$)"}, id="email"),
    # RE2's \d, \w, \s are ASCII: the Arabic-Indic digit, é and the no-break space fail
    Case("RegexFullMatch", [S("123", "١٢٣", "café", "cafe", "a\u00a0b", "a b")],
         {"pattern": r"\d+|\w+|a\sb"}, id="ascii_classes"),
    Case("RegexFullMatch", [S("的的", "的", "ab", "", "a\nb")],
         {"pattern": r"(?:的|ab)+|."}, id="utf8_dot"),
    Case("RegexFullMatch", [S("ab", "aB", "AB")], {"pattern": r"(?i)ab"}, id="ignorecase"),
    Case("RegexFullMatch", [S("x1", "xyz", "x")], {"pattern": r"x[0-9]?|x{3}|xy{1,}z"},
         id="repeats"),
    Case("RegexFullMatch", [np.empty((2, 0), dtype=object)], {"pattern": "a"}, id="empty"),
    Case("RegexFullMatch", [np.array("abc", dtype=object)], {"pattern": "a.c"}, id="scalar"),
]

_POOL = {"ngram_counts": [0, 4], "ngram_indexes": [0, 1, 2, 3, 4, 5, 6],
         "pool_int64s": [2, 3, 5, 4, 5, 6, 7, 8, 6, 7]}
_TOKENS = I32(1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8)
_WEIGHTS = [0.5, 2.0, 1.5, 1.0, 0.25, 3.0, 4.0]
_SPOOL = {"ngram_counts": [0, 3], "ngram_indexes": [3, 0, 2, 1, 4],
          "pool_strings": ["cat", "dog", "的", "the", "cat", "a", "dog"]}
_STEXT = S(["the", "cat", "a", "dog", "cat"], ["dog", "the", "cat", "的", "x"])


def _random_pool(seed=0):
    """Unique random uni-, bi- and trigrams over tokens 0..5, shuffled output columns."""
    rng = np.random.default_rng(seed)
    levels = [rng.permutation(6)[:4].reshape(-1, 1)]
    for n, k in ((2, 12), (3, 20)):
        levels.append(np.unique(rng.integers(0, 6, (40, n)), axis=0)[:k])
    starts = np.cumsum([0] + [lv.size for lv in levels[:-1]]).tolist()
    ids = sum(len(lv) for lv in levels)
    return {"ngram_counts": starts, "pool_int64s": np.concatenate(
        [lv.reshape(-1) for lv in levels]).tolist(),
        "ngram_indexes": rng.permutation(ids + 3)[:ids].tolist(),
        "weights": rng.uniform(0.5, 2, ids).round(2).tolist()}


def _tfidf(**attrs):
    base = {"min_gram_length": 1, "max_gram_length": 2, "max_skip_count": 0, "mode": "TF"}
    return {**base, **attrs}


TFIDF = [
    Case("TfIdfVectorizer", [_TOKENS], _tfidf(**_POOL), id="i32_uni_bi"),
    Case("TfIdfVectorizer", [_TOKENS.astype(np.int64).reshape(2, 6)],
         _tfidf(max_skip_count=5, **_POOL), id="i64_batch_skip5"),
    Case("TfIdfVectorizer", [_TOKENS], _tfidf(min_gram_length=2, max_skip_count=3, **_POOL),
         id="bigrams_skip3"),
    Case("TfIdfVectorizer", [_TOKENS], _tfidf(max_gram_length=1, max_skip_count=4, **_POOL),
         id="unigrams_skip_ignored"),
    Case("TfIdfVectorizer", [_TOKENS.reshape(3, 4)],
         _tfidf(mode="IDF", weights=_WEIGHTS, max_skip_count=1, **_POOL), id="idf_weights"),
    Case("TfIdfVectorizer", [_TOKENS], _tfidf(mode="IDF", max_skip_count=2, **_POOL),
         id="idf_no_weights"),
    Case("TfIdfVectorizer", [_TOKENS.reshape(2, 6)],
         _tfidf(mode="TFIDF", weights=_WEIGHTS, max_skip_count=2, **_POOL), id="tfidf"),
    Case("TfIdfVectorizer", [_TOKENS], _tfidf(mode="TFIDF", **_POOL), id="tfidf_no_weights"),
    Case("TfIdfVectorizer", [_TOKENS],
         _tfidf(min_gram_length=2, ngram_counts=[0, 0], ngram_indexes=[0, 1, 2],
                pool_int64s=[5, 6, 7, 8, 6, 7]), id="level_empty"),
    # two pool n-grams feed output column 1, which stays the sum; column 2 no n-gram
    Case("TfIdfVectorizer", [_TOKENS],
         _tfidf(ngram_counts=[0, 2], ngram_indexes=[1, 0, 1, 3],
                pool_int64s=[3, 7, 8, 6, 6, 7]), id="shared_column"),
    Case("TfIdfVectorizer", [I64(1, 1, 3, 8, 6, 3).reshape(3, 2)],
         _tfidf(mode="TFIDF", weights=[10.0, 100.0, 1000.0, 5.0], ngram_counts=[0, 2],
                ngram_indexes=[2, 2, 0, 2], pool_int64s=[1, 3, 8, 6, 6, 3]),
         id="shared_column_tfidf"),
    # IDF on a shared column: the weights of the n-grams present add up (onnxruntime
    # keeps whichever it met last while scanning, 100 in row 1 here)
    Case("TfIdfVectorizer", [I64(1, 1, 3, 8, 6, 3).reshape(2, 3)],
         _tfidf(mode="IDF", weights=[10.0, 100.0, 1000.0, 5.0], ngram_counts=[0, 2],
                ngram_indexes=[1, 1, 0, 1], pool_int64s=[1, 3, 8, 6, 6, 3]),
         reference=expect(np.array([[0, 110], [1000, 105]], np.float32)),
         id="shared_column_idf"),
    Case("TfIdfVectorizer", [np.random.default_rng(1).integers(0, 7, (4, 40))],
         _tfidf(mode="TFIDF", max_gram_length=3, max_skip_count=2, **_random_pool()),
         id="random_trigrams"),
    Case("TfIdfVectorizer", [np.random.default_rng(2).integers(0, 7, (3, 25)).astype(np.int32)],
         _tfidf(mode="IDF", min_gram_length=2, max_gram_length=3, max_skip_count=3,
                **_random_pool(1)), id="random_idf"),
    Case("TfIdfVectorizer", [_STEXT], _tfidf(**_SPOOL), id="strings"),
    Case("TfIdfVectorizer", [_STEXT[0]], _tfidf(mode="TFIDF", weights=[1.0, 2.0, 3.0, 4.0, 5.0],
                                                max_skip_count=1, **_SPOOL), id="strings_1d"),
    Case("TfIdfVectorizer", [np.zeros((2, 0), np.int64)], _tfidf(**_POOL), id="empty_rows"),
]

CASES = NORMALIZER + CONCAT + SPLIT + REGEX + TFIDF
