"""TreeEnsemble (domain ``ai.onnx.ml``, opset 5): a forest of decision trees.

The forest is decoded once per call into flat per-node arrays (feature, split,
mode, both children); every (row, tree) pair then walks its tree one level per
step, all pairs at once, for as many steps as the deepest tree has levels.
Leaves point to themselves, so pairs that arrived early simply stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DTypeError, ModelError, ShapeError
from ..ir.types import TensorType
from .base import Pattern, as_int_list, defop
from .elementwise import erf, sigmoid
from .ml import ML

_OP = "TreeEnsemble"
_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER = range(7)
_AVERAGE, _SUM, _MIN, _MAX = range(4)
_NONE, _SOFTMAX, _LOGISTIC, _SOFTMAX_ZERO, _PROBIT = range(5)


@dataclass
class _Forest:
    feature: np.ndarray  # per node, int64
    split: np.ndarray  # per node, float64
    mode: np.ndarray  # per node, int64
    tracks: np.ndarray  # per node: a NaN feature takes the true branch
    true_next: np.ndarray  # per node and leaf (leaf k is n_nodes + k, its own successor)
    false_next: np.ndarray
    member_codes: np.ndarray  # sorted set * (n_values + 1) + rank of each member
    member_values: np.ndarray  # sorted distinct members of all sets
    member_set: np.ndarray  # per node: its set's number (-1: not a member node)
    leaf_weights: np.ndarray  # float64
    leaf_targets: np.ndarray
    roots: np.ndarray
    depth: int  # levels of the deepest tree
    n_targets: int


def _ints(attrs, name, required=True):
    v = attrs.get(name)
    if v is None:
        if required:
            raise ModelError(f"{_OP}: attribute {name} is required")
        return None
    return np.array(as_int_list(v), dtype=np.int64)


def _floats(attrs, name):
    v = attrs.get(name)
    if v is None:
        raise ModelError(f"{_OP}: attribute {name} is required")
    return np.asarray(v, dtype=np.float64).reshape(-1)


def _member_sets(attrs, mode):
    """(codes, values, per-node set number) of the BRANCH_MEMBER nodes: the sets are
    ``membership_values`` cut at its NaNs, in the order those nodes appear."""
    is_member = mode == _MEMBER
    member_set = np.where(is_member, np.cumsum(is_member) - 1, -1)
    n_sets = int(is_member.sum())
    raw = attrs.get("membership_values")
    if raw is None:
        if n_sets:
            raise ModelError(f"{_OP}: {n_sets} BRANCH_MEMBER node(s) but no membership_values")
        return np.zeros(0, np.int64), np.zeros(0), member_set
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    cuts = np.flatnonzero(np.isnan(raw))
    if raw.size and not np.isnan(raw[-1]):
        cuts = np.append(cuts, raw.size)  # a last set without its closing NaN
    if cuts.size != n_sets:
        raise ModelError(f"{_OP}: membership_values holds {cuts.size} set(s) for {n_sets} "
                         "BRANCH_MEMBER node(s)")
    set_of = np.searchsorted(cuts, np.arange(raw.size))  # the set each entry belongs to
    keep = ~np.isnan(raw)
    values = np.unique(raw[keep])
    codes = np.unique(set_of[keep] * (values.size + 1) + np.searchsorted(values, raw[keep]))
    return codes, values, member_set


def _depth(true_next, false_next, roots, n_nodes):
    """Levels of the deepest tree; ModelError when some tree loops."""
    frontier = np.unique(roots)
    for level in range(n_nodes + 1):
        frontier = frontier[frontier < n_nodes]
        if frontier.size == 0:
            return level
        frontier = np.unique(np.concatenate([true_next[frontier], false_next[frontier]]))
    raise ModelError(f"{_OP}: the trees' branches form a cycle")


def _forest(attrs) -> _Forest:
    """The node's attributes decoded and checked (ModelError on any inconsistency)."""
    feature = _ints(attrs, "nodes_featureids")
    n = feature.size
    split = _floats(attrs, "nodes_splits")
    mode = _ints(attrs, "nodes_modes")
    fields = {"nodes_splits": split, "nodes_modes": mode}
    for name in ("nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs",
                 "nodes_falseleafs"):
        fields[name] = _ints(attrs, name)
    tracks = _ints(attrs, "nodes_missing_value_tracks_true", required=False)
    fields["nodes_missing_value_tracks_true"] = tracks if tracks is not None \
        else np.zeros(n, np.int64)
    for name, arr in fields.items():
        if arr.size != n:
            raise ModelError(f"{_OP}: {name} has {arr.size} entries, nodes_featureids {n}")
    if n == 0:
        raise ModelError(f"{_OP}: the ensemble has no nodes")
    if mode.min() < 0 or mode.max() > _MEMBER:
        raise ModelError(f"{_OP}: nodes_modes must lie in [0, 6], got {sorted(set(mode))}")
    if feature.min() < 0:
        raise ModelError(f"{_OP}: negative feature id {int(feature.min())}")
    weights = _floats(attrs, "leaf_weights")
    targets = _ints(attrs, "leaf_targetids")
    if weights.size != targets.size or weights.size == 0:
        raise ModelError(f"{_OP}: {weights.size} leaf_weights and {targets.size} "
                         "leaf_targetids (need as many, at least one)")
    n_targets = attrs.get("n_targets")
    n_targets = int(targets.max()) + 1 if n_targets is None else int(n_targets)
    if targets.min() < 0 or targets.max() >= n_targets:
        raise ModelError(f"{_OP}: leaf_targetids must lie in [0, {n_targets})")
    nexts = []
    for side in ("true", "false"):
        ids, leaf = fields[f"nodes_{side}nodeids"], fields[f"nodes_{side}leafs"] != 0
        bound = np.where(leaf, weights.size, n)
        if ids.min() < 0 or (ids >= bound).any():
            raise ModelError(f"{_OP}: nodes_{side}nodeids out of range of the nodes/leaves")
        nexts.append(np.concatenate([np.where(leaf, n + ids, ids),
                                     n + np.arange(weights.size)]))
    roots = _ints(attrs, "tree_roots")
    if roots.size == 0 or roots.min() < 0 or roots.max() >= n:
        raise ModelError(f"{_OP}: tree_roots must be at least one node id in [0, {n})")
    codes, values, member_set = _member_sets(attrs, mode)
    agg, post = int(attrs["aggregate_function"]), int(attrs["post_transform"])
    if not _AVERAGE <= agg <= _MAX:
        raise ModelError(f"{_OP}: aggregate_function must lie in [0, 3], got {agg}")
    if not _NONE <= post <= _PROBIT:
        raise ModelError(f"{_OP}: post_transform must lie in [0, 4], got {post}")
    return _Forest(feature, split, mode, fields["nodes_missing_value_tracks_true"] != 0,
                   nexts[0], nexts[1], codes, values, member_set, weights, targets, roots,
                   _depth(nexts[0], nexts[1], roots, n), n_targets)


def _check_x(t):
    if t.dtype.name not in ("FLOAT", "DOUBLE", "FLOAT16"):
        raise DTypeError(f"{_OP}: input X is {t.dtype.short}; it takes f32, f64 or f16")
    if t.shape is not None and len(t.shape) != 2:
        raise ShapeError(f"{_OP}: input X must be [N, F], got shape {t.shape}")


def _infer(types, attrs, values):
    x = types[0]
    _check_x(x)
    f = _forest(attrs)
    if x.shape is None:
        return [TensorType(x.dtype, (None, f.n_targets))]
    if isinstance(x.shape[1], int) and f.feature.max() >= x.shape[1]:
        raise ShapeError(f"{_OP}: feature id {int(f.feature.max())} out of range for "
                         f"input X of shape {x.shape}")
    return [TensorType(x.dtype, (x.shape[0], f.n_targets))]


def _branch(xp, f: _Forest, node, v):
    """Whether value ``v`` at ``node`` takes the true branch."""
    s = xp.asarray(f.split)[node]
    mode = xp.asarray(f.mode)[node]
    lt, eq, gt = v < s, v == s, v > s
    go = xp.where(mode == _LEQ, lt | eq,
                  xp.where(mode == _LT, lt,
                           xp.where(mode == _GTE, gt | eq,
                                    xp.where(mode == _GT, gt,
                                             xp.where(mode == _EQ, eq, ~eq)))))
    if f.member_values.size:
        values, codes = xp.asarray(f.member_values), xp.asarray(f.member_codes)
        rank = xp.minimum(xp.searchsorted(values, v), values.size - 1)
        code = xp.asarray(f.member_set)[node] * (values.size + 1) + rank
        at = xp.minimum(xp.searchsorted(codes, code), codes.size - 1)
        member = (values[rank] == v) & (codes[at] == code)
        go = xp.where(mode == _MEMBER, member, go)
    return go | (xp.asarray(f.tracks)[node] & xp.isnan(v))


def _aggregate(xp, f: _Forest, leaf, agg, n_rows):
    """[n_rows, n_targets] float64 scores from each (row, tree) pair's leaf."""
    w = xp.asarray(f.leaf_weights)[leaf].reshape(-1)
    slot = (xp.arange(n_rows, dtype=np.int64)[:, None] * f.n_targets
            + xp.asarray(f.leaf_targets)[leaf]).reshape(-1)
    size = n_rows * f.n_targets
    if agg in (_SUM, _AVERAGE):
        out = xp.bincount(slot, weights=w, minlength=size)
        return (out / f.roots.size if agg == _AVERAGE else out).reshape(n_rows, f.n_targets)
    # MIN/MAX: sort by (slot, weight); each slot's first (MIN) or last (MAX) entry wins
    order = xp.lexsort(xp.stack([w if agg == _MIN else -w, slot]))
    slot, w = slot[order], w[order]
    first = xp.ones(slot.size, dtype=bool)
    first[1:] = slot[1:] != slot[:-1]
    out = xp.zeros(size, dtype=np.float64)  # a target no leaf reaches scores 0
    out[slot[first]] = w[first]
    return out.reshape(n_rows, f.n_targets)


def _softmax(xp, s, keep):
    """Softmax of each row over the entries ``keep`` marks; the others give 0."""
    top = xp.max(xp.where(keep, s, -np.inf), axis=1, keepdims=True)
    e = xp.where(keep, xp.exp(s - xp.where(xp.isfinite(top), top, 0)), 0)
    total = e.sum(axis=1, keepdims=True)
    return e / xp.where(total == 0, 1, total)


def _probit(xp, p):
    """The standard normal quantile of ``p``: Winitzki's closed-form erfinv (about
    1e-3 relative error, what onnxruntime stops at), then Newton steps on the normal
    CDF to float64 precision."""
    with np.errstate(all="ignore"):
        y = 2 * p - 1
        a = 0.147
        ln = xp.log((1 - y) * (1 + y))
        t = 2 / (math.pi * a) + ln / 2
        z = math.sqrt(2) * xp.sign(y) * xp.sqrt(xp.sqrt(t * t - ln / a) - t)
        for _ in range(4):  # quadratic: 1e-3 -> 1e-6 -> 1e-12 -> exact
            cdf = 0.5 * (1 + erf(xp, z / math.sqrt(2)))
            pdf = xp.exp(-z * z / 2) / math.sqrt(2 * math.pi)
            z = xp.where(pdf > 0, z - (cdf - p) / pdf, z)
        z = xp.where(p == 0, -np.inf, xp.where(p == 1, np.inf, z))
        return xp.where((p >= 0) & (p <= 1), z, np.nan)


def _post_transform(xp, s, post):
    if post == _SOFTMAX:
        return _softmax(xp, s, xp.ones(s.shape, dtype=bool))
    if post == _SOFTMAX_ZERO:
        return _softmax(xp, s, s != 0)
    if post == _LOGISTIC:
        return sigmoid(xp, s)
    if post == _PROBIT:
        return _probit(xp, s)
    return s


@defop(_OP, pattern=Pattern.OPAQUE, since=5, infer=_infer, domain=ML,
       defaults={"aggregate_function": _SUM, "post_transform": _NONE})
def _tree_ensemble(xp, inputs, attrs):
    """[N, n_targets] scores: each tree's leaf weight added to (or averaged, min'd or
    max'd into) its target, then the post transform.  Comparisons and scores are
    float64 (the features and splits widened exactly)."""
    x = inputs[0]
    _check_x(TensorType.of(x))
    f = _forest(attrs)
    if f.feature.max() >= x.shape[1]:
        raise ShapeError(f"{_OP}: feature id {int(f.feature.max())} out of range for input "
                         f"X of shape {x.shape}")
    x64 = x.astype(np.float64)
    n_rows = x.shape[0]
    rows = xp.arange(n_rows, dtype=np.int64)[:, None]
    at = xp.broadcast_to(xp.asarray(f.roots), (n_rows, f.roots.size))
    n_nodes = f.feature.size
    feature = xp.asarray(np.append(f.feature, np.zeros(f.leaf_weights.size, np.int64)))
    true_next, false_next = xp.asarray(f.true_next), xp.asarray(f.false_next)
    node_of = lambda a: xp.minimum(a, n_nodes - 1)  # noqa: E731 - leaves ask a dummy node
    for _ in range(f.depth):
        v = x64[rows, feature[at]]
        go = _branch(xp, f, node_of(at), v)
        at = xp.where(go, true_next[at], false_next[at])
    scores = _aggregate(xp, f, at - n_nodes, int(attrs["aggregate_function"]), n_rows)
    return [_post_transform(xp, scores, int(attrs["post_transform"])).astype(x.dtype)]
