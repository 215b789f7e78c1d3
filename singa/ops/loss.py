"""Losses: singa's own SoftmaxCrossEntropy and CrossEntropy (outside the
ONNX standard, used by the SINGA autograd API) and ONNX's SoftmaxCrossEntropyLoss
and NegativeLogLikelihoodLoss.

singa's own losses return a tensor of shape (1,) in the dtype of the scores:

- ``SoftmaxCrossEntropy(x, t)``: x logits [N, C], t one-hot or probabilities
  [N, C]; loss = mean over n of -sum_c t * log_softmax(x).
- ``CrossEntropy(x, t)``: x probabilities [N, C]; loss = mean over n of
  -sum_c t * log(x).

SINGA 3.1's mean square error is a mean over every element, standard ops
composed by ``singa.losses``, so it needs no op of its own.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.types import TensorType
from .activation import log_softmax
from .base import Pattern, defop


def _scalar_loss_infer(types, attrs, values):
    return [TensorType(types[0].dtype, (1,))]


def _same_shape(op, x, t):
    if x.shape != t.shape:
        raise ShapeError(f"{op}: input {x.shape} and target {t.shape} differ")
    if x.ndim < 1:
        raise ShapeError(f"{op}: input must have a batch axis, got shape {x.shape}")


def _as_loss(xp, value, dtype):
    return xp.asarray(value, dtype=dtype).reshape(1)


# ------------------------------------------------------------------ singa's own

def _sce_grad(xp, inputs, outputs, douts, attrs):
    x, t = inputs
    n = x.shape[0]
    dy = douts[0].reshape(())
    logp = log_softmax(xp, x, -1)
    # d/dx of -sum t * log_softmax = softmax * sum(t) - t  (= softmax - t for a distribution)
    dx = (xp.exp(logp) * t.sum(axis=-1, keepdims=True) - t) * (dy / n)
    dt = -logp * (dy / n) if t.dtype.kind == "f" else None
    return [dx.astype(x.dtype), None if dt is None else dt.astype(t.dtype)]


@defop("SoftmaxCrossEntropy", pattern=Pattern.OPAQUE, infer=_scalar_loss_infer, grad=_sce_grad)
def _softmax_cross_entropy(xp, inputs, attrs):
    """mean over the batch of -sum_c t * log_softmax(x); shape (1,)."""
    x, t = inputs
    _same_shape("SoftmaxCrossEntropy", x, t)
    loss = -(t * log_softmax(xp, x, -1)).sum() / x.shape[0]
    return [_as_loss(xp, loss, x.dtype)]


def _ce_grad(xp, inputs, outputs, douts, attrs):
    x, t = inputs
    n = x.shape[0]
    dy = douts[0].reshape(())
    dx = -t / x * (dy / n)
    dt = -xp.log(x) * (dy / n) if t.dtype.kind == "f" else None
    return [dx.astype(x.dtype), None if dt is None else dt.astype(t.dtype)]


@defop("CrossEntropy", pattern=Pattern.OPAQUE, infer=_scalar_loss_infer, grad=_ce_grad)
def _cross_entropy(xp, inputs, attrs):
    """mean over the batch of -sum_c t * log(x), x probabilities; shape (1,)."""
    x, t = inputs
    _same_shape("CrossEntropy", x, t)
    return [_as_loss(xp, -(t * xp.log(x)).sum() / x.shape[0], x.dtype)]


# ------------------------------------------------------------------ ONNX losses

def _class_terms(xp, op, scores, labels, weights, ignore_index):
    """(picked one-hot mask over axis 1, per-element weight) for class-indexed losses.

    Ignored elements (label == ignore_index) get weight 0 and an all-False mask row.
    """
    if scores.ndim < 2 or labels.shape != scores.shape[:1] + scores.shape[2:]:
        raise ShapeError(f"{op}: scores {scores.shape} and labels {labels.shape} do not fit "
                         "([N, C, d...] and [N, d...])")
    c = scores.shape[1]
    labels = labels.astype(np.int64)
    valid = xp.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = xp.where(valid, labels, 0)
    if safe.size and (int(safe.min()) < 0 or int(safe.max()) >= c):
        raise ShapeError(f"{op}: labels out of range [0, {c - 1}]")
    classes = xp.arange(c).reshape((1, c) + (1,) * (scores.ndim - 2))
    mask = (xp.expand_dims(safe, 1) == classes) & xp.expand_dims(valid, 1)
    w = valid.astype(scores.dtype)
    if weights is not None:
        w = w * weights.astype(scores.dtype)[safe]
    return mask, w


def _reduce_loss(xp, per, w, reduction):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if reduction == "mean":
        return per.sum() / w.sum()
    raise ShapeError(f"unknown reduction {reduction!r}")


def _loss_scale(xp, dy, w, reduction):
    """d loss / d per-element loss, shaped like the per-element loss."""
    if reduction == "none":
        return dy
    if reduction == "sum":
        return xp.broadcast_to(dy.reshape(()), w.shape)
    return xp.broadcast_to(dy.reshape(()) / w.sum(), w.shape)


def _weights_grad(xp, nll, mask, w, weights, dy, reduction):
    """Grad of the reduced loss wrt the class weights; ``nll`` is the unweighted loss."""
    if weights is None or weights.dtype.kind != "f":
        return None
    axes = (0,) + tuple(range(2, mask.ndim))
    if reduction == "none":
        q = dy * nll
        return (mask * xp.expand_dims(q, 1)).sum(axis=axes).astype(weights.dtype)
    per_class = (mask * xp.expand_dims(nll, 1)).sum(axis=axes)
    if reduction == "sum":
        return (dy.reshape(()) * per_class).astype(weights.dtype)
    # mean = sum(nll * w) / sum(w): quotient rule
    total_w = w.sum()
    loss = (nll * w).sum() / total_w
    counts = mask.sum(axis=axes)
    return (dy.reshape(()) * (per_class - loss * counts) / total_w).astype(weights.dtype)


def _ignore(attrs):
    return attrs.get("ignore_index")


def _nll_infer(types, attrs, values):
    x, labels = types[0], types[1]
    shape = () if attrs["reduction"] != "none" else labels.shape
    return [TensorType(x.dtype, shape)]


def _nll_grad(xp, inputs, outputs, douts, attrs):
    x, labels = inputs[0], inputs[1]
    weights = inputs[2] if len(inputs) > 2 else None
    mask, w = _class_terms(xp, "NegativeLogLikelihoodLoss", x, labels, weights, _ignore(attrs))
    g = _loss_scale(xp, douts[0], w, attrs["reduction"]) * w
    dx = -(mask * xp.expand_dims(g, 1))
    nll = -(x * mask).sum(axis=1)
    return [dx.astype(x.dtype), None,
            _weights_grad(xp, nll, mask, w, weights, douts[0], attrs["reduction"])][:len(inputs)]


@defop("NegativeLogLikelihoodLoss", pattern=Pattern.OPAQUE, infer=_nll_infer, grad=_nll_grad,
       since=12, defaults={"reduction": "mean"})
def _nll_loss(xp, inputs, attrs):
    """-input[n, label[n], d...] * weight[label], reduced (none / sum / weighted mean)."""
    x, labels = inputs[0], inputs[1]
    weights = inputs[2] if len(inputs) > 2 else None
    mask, w = _class_terms(xp, "NegativeLogLikelihoodLoss", x, labels, weights, _ignore(attrs))
    per = -(x * mask).sum(axis=1) * w
    return [xp.asarray(_reduce_loss(xp, per, w, attrs["reduction"])).astype(x.dtype)]


def _sce_loss_infer(types, attrs, values):
    return _nll_infer(types, attrs, values) + [types[0]]


def _sce_loss_grad(xp, inputs, outputs, douts, attrs):
    x, labels = inputs[0], inputs[1]
    weights = inputs[2] if len(inputs) > 2 else None
    mask, w = _class_terms(xp, "SoftmaxCrossEntropyLoss", x, labels, weights, _ignore(attrs))
    g = xp.expand_dims(_loss_scale(xp, douts[0], w, attrs["reduction"]) * w, 1)
    p = xp.exp(outputs[1])
    dx = (p - mask) * g
    if len(douts) > 1:
        # through the optional log_prob output
        dlp = douts[1]
        dx = dx + dlp - p * dlp.sum(axis=1, keepdims=True)
    nll = -(outputs[1] * mask).sum(axis=1)
    return [dx.astype(x.dtype), None,
            _weights_grad(xp, nll, mask, w, weights, douts[0], attrs["reduction"])][:len(inputs)]


@defop("SoftmaxCrossEntropyLoss", pattern=Pattern.OPAQUE, infer=_sce_loss_infer,
       grad=_sce_loss_grad, since=12, num_outputs=2, defaults={"reduction": "mean"})
def _sce_loss(xp, inputs, attrs):
    """NegativeLogLikelihoodLoss of LogSoftmax(scores, axis=1); outputs (loss, log_prob)."""
    x, labels = inputs[0], inputs[1]
    weights = inputs[2] if len(inputs) > 2 else None
    logp = log_softmax(xp, x, 1).astype(x.dtype, copy=False)
    mask, w = _class_terms(xp, "SoftmaxCrossEntropyLoss", x, labels, weights, _ignore(attrs))
    per = -(logp * mask).sum(axis=1) * w
    return [xp.asarray(_reduce_loss(xp, per, w, attrs["reduction"])).astype(x.dtype), logp]
