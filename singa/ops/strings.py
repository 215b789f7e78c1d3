"""String ops: StringNormalizer, StringConcat, StringSplit, RegexFullMatch and
TfIdfVectorizer (whose input may also be int32/int64 token ids).

String tensors are NumPy arrays of dtype ``object`` holding Python ``str`` (what
``DType.STRING.np`` is and what onnx's ``numpy_helper`` gives); ``U``/``S`` arrays
are accepted as input too.  Strings never live on a GPU, so these computes use
NumPy whatever ``xp`` is, except TfIdfVectorizer on integer ids.  Element-wise
work goes through NumPy's string ufuncs (``np.strings`` on ``StringDType``, which
keeps embedded NULs that ``U`` arrays would drop) or NumPy's own element loops.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from ..errors import DTypeError, ModelError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, broadcast_shapes, defop

_STR = np.dtypes.StringDType()


def _check_strings(op: str, what: str, t) -> None:
    """DTypeError unless operand type ``t`` (None: absent/unknown) is a string tensor."""
    if t is not None and t.dtype is not None and t.dtype is not DType.STRING:
        raise DTypeError(f"{op}: {what} must be a string tensor, got {t.dtype.short}")


def _map(fn, x, dtype=object) -> np.ndarray:
    """``fn`` of every element of ``x`` (NumPy's element loop), an array of ``x``'s shape."""
    out = np.frompyfunc(fn, 1, 1)(x)
    if not isinstance(out, np.ndarray):  # a 0-d input gives the bare result
        box = np.empty((), object)
        box[()] = out
        out = box
    return out.astype(dtype)


def _as_strings(op: str, x) -> np.ndarray:
    """``x`` as a NumPy StringDType array (bytes decoded as UTF-8)."""
    x = np.asarray(x)
    if x.dtype.kind == "S":
        return np.strings.decode(x, "utf-8")
    if x.dtype.kind not in "OUT":
        raise DTypeError(f"{op}: input must be a string tensor, got {x.dtype}")
    if x.dtype.kind == "O" and x.size:
        # bytes elements would be stored as their repr: decode them first
        if _map(lambda s: isinstance(s, bytes), x, bool).any():
            x = _map(lambda s: s.decode("utf-8") if isinstance(s, bytes) else s, x)
        if not _map(lambda s: isinstance(s, str), x, bool).all():
            raise DTypeError(f"{op}: a string tensor holds an element that is not a string")
    return x.astype(_STR)


def _as_object(x) -> np.ndarray:
    """A string result as the object array DType.STRING stores."""
    return np.asarray(x).astype(object)


# ------------------------------------------------------------------ StringConcat

def _concat_infer(types, attrs, values):
    for i, t in enumerate(types[:2]):
        _check_strings("StringConcat", f"input {i}", t)
    a, b = types[0].shape, types[1].shape
    return [TensorType(DType.STRING, broadcast_shapes("StringConcat", a, b))]


@defop("StringConcat", pattern=Pattern.OPAQUE, since=20, infer=_concat_infer)
def _string_concat(xp, inputs, attrs):
    """Element-wise concatenation of two string tensors (NumPy broadcasting)."""
    a, b = (_as_strings("StringConcat", x) for x in inputs[:2])
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"StringConcat: shapes {a.shape} and {b.shape} do not broadcast") \
            from None
    return [_as_object(np.strings.add(np.broadcast_to(a, shape), np.broadcast_to(b, shape)))]


# ------------------------------------------------------------------ RegexFullMatch

# RE2 (what ONNX names) spells a few things Python's ``re`` does not know or reads
# differently; they are refused rather than silently matched another way.
_RE2_ONLY = re.compile(r"(?:^|[^\\])(?:\\\\)*(?:\\[pPQEzC]|\\x\{)|\[\[:|\(\?U")


@functools.lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern:
    """``pattern`` compiled with RE2's meaning of \\d, \\w, \\s and \\b (ASCII only)."""
    if _RE2_ONLY.search(pattern):
        raise ModelError(f"RegexFullMatch: pattern {pattern!r} uses RE2 syntax Python's re "
                         "lacks (\\p classes, \\Q..\\E, \\z, \\C, [[:class:]], \\x{...}, (?U))")
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as e:
        raise ModelError(f"RegexFullMatch: invalid pattern {pattern!r}: {e}") from None


def _regex_infer(types, attrs, values):
    _check_strings("RegexFullMatch", "input", types[0])
    _regex(attrs.get("pattern", ""))
    return [TensorType(DType.BOOL, types[0].shape)]


@defop("RegexFullMatch", pattern=Pattern.OPAQUE, since=20, infer=_regex_infer,
       defaults={"pattern": ""})
def _regex_full_match(xp, inputs, attrs):
    """True where the whole element matches ``pattern``.

    Python's ``re`` with ``re.ASCII`` stands in for RE2: \\d \\w \\s \\b are
    ASCII-only in both, leftmost-first alternation agrees, and fullmatch makes
    ``$``/``\\Z`` questions moot.  Differences: RE2-only syntax is refused (see
    ``_RE2_ONLY``); Python accepts backreferences and lookaround that RE2 rejects;
    ``(?i)`` folds only ASCII letters under ``re.ASCII`` where RE2 folds Unicode.
    """
    x = _as_strings("RegexFullMatch", inputs[0])
    match = _regex(attrs["pattern"]).fullmatch
    return [_map(lambda s: match(s) is not None, x.astype(object), bool)]


# ------------------------------------------------------------------ StringSplit

def _split(x, delimiter, maxsplit):
    """(padded substrings, counts) of StringDType array ``x``; an empty element has
    no substrings (as onnxruntime), and in whitespace mode (no delimiter) the
    element is stripped first so a ``maxsplit`` remainder keeps no trailing blank."""
    if not delimiter:
        x = np.asarray(np.strings.strip(x), dtype=_STR)  # 0-d ufunc results are scalars
    limit = -1 if maxsplit is None else int(maxsplit)
    lists = _map(lambda s: s.split(delimiter or None, limit), x.astype(object))
    filled = np.strings.str_len(x) > 0
    counts = np.where(filled, _map(len, lists, np.int64), 0)
    width = int(counts.max(initial=0))
    out = np.full(x.shape + (width,), "", dtype=object)
    if width:
        pieces = [p for part in lists[filled] for p in part]
        out[np.arange(width) < counts[..., None]] = pieces
    return out, counts


def _split_check(maxsplit):
    if maxsplit is not None and int(maxsplit) < 0:
        raise ModelError(f"StringSplit: maxsplit must be >= 0, got {maxsplit}")


def _split_infer(types, attrs, values):
    _check_strings("StringSplit", "input", types[0])
    _split_check(attrs.get("maxsplit"))
    if values[0] is not None:
        y, z = _split(_as_strings("StringSplit", values[0]), attrs.get("delimiter"),
                      attrs.get("maxsplit"))
        return [TensorType.of(y), TensorType.of(z)]
    shape = types[0].shape
    y = None if shape is None else tuple(shape) + (None,)
    return [TensorType(DType.STRING, y), TensorType(DType.INT64, shape)]


@defop("StringSplit", pattern=Pattern.OPAQUE, since=20, infer=_split_infer, num_outputs=2)
def _string_split(xp, inputs, attrs):
    """Substrings of each element split at ``delimiter`` (absent or "": runs of
    whitespace, stripped at the ends), at most ``maxsplit`` splits, padded with ""
    to the longest split along a new last axis; and the number of substrings.

    An empty element gives no substring with any delimiter, as in onnxruntime
    (onnx's reference evaluator gives one empty substring when a delimiter is set).
    """
    _split_check(attrs.get("maxsplit"))
    x = _as_strings("StringSplit", inputs[0])
    return list(_split(x, attrs.get("delimiter"), attrs.get("maxsplit")))


# ------------------------------------------------------------------ StringNormalizer

_CASE_ACTIONS = ("NONE", "LOWER", "UPPER")


def _language(locale: str) -> str:
    """The language part of a locale name: "tr" of "tr_TR.UTF-8"."""
    return re.split(r"[_.@-]", locale or "", maxsplit=1)[0].lower()


def _change_case(x, action: str, locale: str):
    """Upper/lower case of StringDType array ``x`` under ``locale``.

    Python's casing is the locale-free Unicode default; Turkish and Azeri dotted
    and dotless i are mapped here first.  Lithuanian's retained dot above (the one
    other locale rule of Unicode's SpecialCasing) is not applied.
    """
    turkic = _language(locale) in ("tr", "az")
    if action == "UPPER":
        return np.strings.upper(np.strings.replace(x, "i", "\u0130") if turkic else x)
    if action == "LOWER":
        if turkic:
            x = np.strings.replace(np.strings.replace(x, "I", "\u0131"), "\u0130", "i")
        return np.strings.lower(x)
    return x


def _normalize(x, attrs):
    """The StringNormalizer result of StringDType array ``x`` ([C] or [1, C])."""
    action, locale = attrs["case_change_action"], attrs.get("locale", "")
    flat = x.reshape(-1)
    stops = list(attrs.get("stopwords") or [])
    if stops:
        keys, stop_keys = flat, np.array(stops, dtype=_STR)
        if not attrs["is_case_sensitive"]:
            keys = _change_case(keys, "LOWER", locale)
            stop_keys = _change_case(stop_keys, "LOWER", locale)
        # object arrays: NumPy's isin on StringDType mishandles embedded NULs
        flat = flat[~np.isin(keys.astype(object), stop_keys.astype(object))]
    flat = _change_case(flat, action, locale)
    if flat.size == 0:
        flat = np.array([""], dtype=_STR)
    return _as_object(flat.reshape(x.shape[:-1] + (flat.size,)))


def _normalizer_check(shape, attrs):
    if attrs.get("case_change_action", "NONE") not in _CASE_ACTIONS:
        raise ModelError(f"StringNormalizer: case_change_action "
                         f"{attrs['case_change_action']!r} is not one of {_CASE_ACTIONS}")
    if shape is None:
        return
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[0] not in (1, None)
                                    and isinstance(shape[0], int)):
        raise ShapeError(f"StringNormalizer: input must be [C] or [1, C], got {shape}")


def _normalizer_infer(types, attrs, values):
    x = types[0]
    _check_strings("StringNormalizer", "input", x)
    _normalizer_check(x.shape, attrs)
    if values[0] is not None:
        return [TensorType.of(_normalize(_as_strings("StringNormalizer", values[0]), attrs))]
    return [TensorType(DType.STRING, None if x.shape is None else x.shape[:-1] + (None,))]


@defop("StringNormalizer", pattern=Pattern.OPAQUE, since=10, infer=_normalizer_infer,
       defaults={"case_change_action": "NONE", "is_case_sensitive": 0})
def _string_normalizer(xp, inputs, attrs):
    """Drops the elements equal to a stop word (compared in lower case unless
    ``is_case_sensitive``), then changes case; all dropped gives [""] ([[""]])."""
    x = _as_strings("StringNormalizer", inputs[0])
    _normalizer_check(x.shape, attrs)
    return [_normalize(x, attrs)]


# ------------------------------------------------------------------ TfIdfVectorizer

_MODES = ("TF", "IDF", "TFIDF")


def _tfidf_pool(attrs):
    """(pool as an array, [(n, pool offset, id of the first n-gram, how many)] per
    n-gram length n, ngram_indexes); ModelError for inconsistent attributes."""
    strings, ints = attrs.get("pool_strings"), attrs.get("pool_int64s")
    if bool(strings) == bool(ints):
        raise ModelError("TfIdfVectorizer: exactly one of pool_strings and pool_int64s "
                         "must be given")
    if attrs.get("mode") not in _MODES:
        raise ModelError(f"TfIdfVectorizer: mode {attrs.get('mode')!r} is not one of {_MODES}")
    pool = np.array(list(strings), dtype=object) if strings else \
        np.asarray(ints, dtype=np.int64)
    starts = [int(s) for s in attrs["ngram_counts"]]
    indexes = [int(i) for i in attrs["ngram_indexes"]]
    if not indexes or min(indexes) < 0:
        raise ModelError("TfIdfVectorizer: ngram_indexes must be non-empty and >= 0")
    levels, first = [], 0  # first: the id of the level's first n-gram
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(pool)
        if not 0 <= start <= end <= len(pool):
            raise ModelError(f"TfIdfVectorizer: ngram_counts {starts} do not index the pool")
        count = (end - start) // (k + 1)
        grams = pool[start:start + count * (k + 1)].reshape(count, k + 1)
        if count and len({tuple(g) for g in grams.tolist()}) < count:
            raise ModelError(f"TfIdfVectorizer: the pool repeats a {k + 1}-gram")
        levels.append((k + 1, start, first, count))
        first += count
    if first > len(indexes):
        raise ModelError(f"TfIdfVectorizer: {first} n-grams in the pool but "
                         f"{len(indexes)} ngram_indexes")
    if attrs.get("weights") and len(attrs["weights"]) < first:
        raise ModelError(f"TfIdfVectorizer: {len(attrs['weights'])} weights for {first} "
                         "n-grams")
    return pool, levels, indexes


def _tfidf_width(attrs) -> int:
    return max(int(i) for i in attrs["ngram_indexes"]) + 1


def _tfidf_infer(types, attrs, values):
    x = types[0]
    _tfidf_pool(attrs)
    if x.dtype is not None:
        want = ("STRING",) if attrs.get("pool_strings") else ("INT32", "INT64")
        if x.dtype.name not in want:
            raise DTypeError(f"TfIdfVectorizer: input is {x.dtype.short} but the pool holds "
                             f"{'strings' if want[0] == 'STRING' else 'int64s'}")
    width = _tfidf_width(attrs)
    if x.shape is None:
        return [TensorType(DType.FLOAT, None)]
    if len(x.shape) > 2:
        raise ShapeError(f"TfIdfVectorizer: input must be [C] or [N, C], got {x.shape}")
    return [TensorType(DType.FLOAT, tuple(x.shape[:-1]) + (width,))]


def _ngram_hits(xp, codes, pool_grams, n, skip, vocab):
    """[N, K] counts of each of the K pool n-grams ``pool_grams`` ([K, n] token
    codes below ``vocab``, no two alike) among the n-grams of ``codes`` ([N, C])
    whose items lie ``skip + 1`` apart."""
    rows, k = codes.shape[0], pool_grams.shape[0]
    step = skip + 1
    starts = codes.shape[1] - (n - 1) * step
    if starts <= 0:
        return xp.zeros((rows, k), np.int64)
    grams = xp.stack([codes[:, j * step:j * step + starts] for j in range(n)], axis=-1)
    both = xp.concatenate([pool_grams, grams.reshape(-1, n)])
    # Fold one item at a time into a code per distinct prefix (renumbered after each
    # item, so key * vocab stays far below 2**63): memory linear in the n-grams.
    key = both[:, 0]
    for j in range(1, n):
        key = xp.unique(key * vocab + both[:, j], return_inverse=True)[1].reshape(-1)
    lookup = xp.full(int(key.max()) + 1, -1, np.int64)
    lookup[key[:k]] = xp.arange(k)
    hit = lookup[key[k:]].reshape(rows, starts)
    flat = (xp.arange(rows)[:, None] * k + hit)[hit >= 0]
    return xp.bincount(flat, minlength=rows * k).reshape(rows, k)


def _ngram_counts(xp, rows, pool, levels, n_ids, attrs):
    """[N, n_ids] int64: how often each pool n-gram occurs in each row of ``rows``."""
    # One integer code per distinct token of pool and input, so strings and ints
    # are matched alike (and on the GPU for int ids).
    if pool.dtype == object:
        both = np.concatenate([pool, rows.reshape(-1).astype(object)])
    else:
        both = xp.concatenate([xp.asarray(pool), rows.reshape(-1).astype(np.int64)])
    vocab, codes = xp.unique(both, return_inverse=True)
    vocab, codes = len(vocab), codes.reshape(-1)
    pool_codes, codes = codes[:len(pool)], codes[len(pool):].reshape(rows.shape)
    counts = xp.zeros((rows.shape[0], n_ids), np.int64)
    lo, hi = int(attrs["min_gram_length"]), int(attrs["max_gram_length"])
    for n, start, first, k in levels:
        if not (lo <= n <= hi and k):
            continue
        grams = pool_codes[start:start + n * k].reshape(k, n)
        # unigrams are the same whatever the skip: count them once
        for skip in range(int(attrs["max_skip_count"]) + 1 if n > 1 else 1):
            counts[:, first:first + k] += _ngram_hits(xp, codes, grams, n, skip, vocab)
    return counts


def _tfidf(xp, x, attrs):
    pool, levels, indexes = _tfidf_pool(attrs)
    n_ids = levels[-1][2] + levels[-1][3] if levels else 0
    rows = x.reshape(1, -1) if x.ndim < 2 else x
    counts = _ngram_counts(xp, rows, pool, levels, n_ids, attrs)
    weights = np.asarray(attrs.get("weights") or np.ones(n_ids), np.float32)[:n_ids]
    mode = attrs["mode"]
    # weights belong to pool n-grams (the i-th n-gram's count), not output columns
    vals = counts.astype(np.float32) if mode == "TF" else \
        xp.asarray(weights) * (counts > 0 if mode == "IDF" else counts)
    out = xp.zeros((rows.shape[0], _tfidf_width(attrs)), np.float32)
    cols = np.asarray(indexes[:n_ids], np.int64)
    uniq, first, seen = np.unique(cols, return_index=True, return_counts=True)
    once = seen == 1
    out[:, xp.asarray(uniq[once])] = vals[:, xp.asarray(first[once])].astype(np.float32)
    # Several n-grams sharing a column (rare) add their values in every mode.  (In
    # IDF mode onnxruntime keeps the weight of the one it met last in the input.)
    for col in uniq[~once]:
        out[:, int(col)] = vals[:, xp.asarray(np.flatnonzero(cols == col))].sum(axis=1)
    return out.reshape(x.shape[:-1] + (out.shape[1],)) if x.ndim else out.reshape(-1)


# No defaults for weights and the pools: exported as empty lists they are errors to
# onnxruntime (weights must match ngram_indexes when present).
@defop("TfIdfVectorizer", pattern=Pattern.OPAQUE, since=9, infer=_tfidf_infer)
def _tfidf_vectorizer(xp, inputs, attrs):
    """Counts of the pool's n-grams (``min_gram_length`` to ``max_gram_length``
    items, up to ``max_skip_count`` tokens skipped between items) in each row of
    the [C] or [N, C] input, at the columns ``ngram_indexes`` gives; ``TF`` the
    counts, ``IDF`` 1 where present, ``TFIDF`` the counts, both scaled by the
    n-gram's entry of ``weights`` when given."""
    x = inputs[0]
    if x.ndim > 2:
        raise ShapeError(f"TfIdfVectorizer: input must be [C] or [N, C], got {x.shape}")
    if x.dtype.kind in "OUST":
        if not attrs.get("pool_strings"):
            raise DTypeError("TfIdfVectorizer: string input needs pool_strings")
        x = _as_object(_as_strings("TfIdfVectorizer", np.asarray(x)))
        xp = np
    elif x.dtype not in (np.int32, np.int64):
        raise DTypeError(f"TfIdfVectorizer: input must be string, int32 or int64, got {x.dtype}")
    elif not attrs.get("pool_int64s"):
        raise DTypeError("TfIdfVectorizer: integer input needs pool_int64s")
    return [_tfidf(xp, x, attrs)]
