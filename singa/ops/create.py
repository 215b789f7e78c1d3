"""Ops that make new tensors: Shape, Size, Constant, ConstantOfShape, Range, EyeLike, OneHot."""

from __future__ import annotations

import math

import numpy as np
from onnx import numpy_helper

from ..errors import ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, as_int_list, check_alloc, defop, norm_axis, np_dtype


def tensor_attr(value) -> np.ndarray:
    """An ONNX tensor attribute (NumPy array or TensorProto) as a NumPy array."""
    if hasattr(value, "dims") and hasattr(value, "data_type"):
        return numpy_helper.to_array(value)
    return np.asarray(value)


# ------------------------------------------------------------------ Shape / Size

def _shape_range(rank, attrs):
    start = attrs.get("start", 0)
    end = attrs.get("end")
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = rank if end is None else min(max(end + rank if end < 0 else end, 0), rank)
    return start, max(end, start)


def _shape_infer(types, attrs, values):
    x = types[0]
    if x.shape is None:
        return [TensorType(DType.INT64, (None,))]
    start, end = _shape_range(len(x.shape), attrs)
    return [TensorType(DType.INT64, (end - start,))]


@defop("Shape", pattern=Pattern.OPAQUE, infer=_shape_infer, since=1)
def _shape(xp, inputs, attrs):
    """The input's dims (int64), ``start``..``end`` of them (opset 15)."""
    x = inputs[0]
    start, end = _shape_range(x.ndim, attrs)
    return [xp.asarray(np.array(x.shape[start:end], np.int64))]


@defop("Size", pattern=Pattern.OPAQUE, infer=lambda t, a, v: [TensorType(DType.INT64, ())],
       since=1)
def _size(xp, inputs, attrs):
    """The input's element count, an int64 scalar."""
    return [xp.asarray(np.array(inputs[0].size, np.int64))]


# ------------------------------------------------------------------ Constant

_CONST_KINDS = {
    "value_float": np.float32, "value_floats": np.float32,
    "value_int": np.int64, "value_ints": np.int64,
    "value_string": object, "value_strings": object,
}


def _constant_value(attrs) -> np.ndarray:
    if attrs.get("value") is not None:
        return tensor_attr(attrs["value"])
    for key, dtype in _CONST_KINDS.items():
        if attrs.get(key) is not None:
            val = attrs[key]
            if dtype is object:
                val = [v.decode() if isinstance(v, bytes) else v for v in
                       (val if key.endswith("s") else [val])]
                return np.array(val if key.endswith("s") else val[0], dtype=object)
            return np.array(val, dtype)
    raise ShapeError("Constant: no value attribute (value, value_float(s), value_int(s), "
                     "value_string(s)); sparse_value is not supported")


@defop("Constant", pattern=Pattern.OPAQUE,
       infer=lambda t, a, v: [TensorType.of(_constant_value(a))], since=1)
def _constant(xp, inputs, attrs):
    """The tensor held in the ``value*`` attribute."""
    val = _constant_value(attrs)
    return [val if val.dtype == object else xp.asarray(val)]


def _cos_value(attrs):
    v = attrs.get("value")
    if v is None:
        return np.zeros(1, np.float32)
    v = tensor_attr(v)
    if v.size != 1:
        raise ShapeError(f"ConstantOfShape: value must hold one element, got shape {v.shape}")
    return v.reshape(1)


def _cos_infer(types, attrs, values):
    dtype = DType.from_np(_cos_value(attrs).dtype)
    if values[0] is not None:
        return [TensorType(dtype, tuple(as_int_list(values[0])))]
    s = types[0].shape
    n = s[0] if s is not None and len(s) == 1 else None
    return [TensorType(dtype, (None,) * n if isinstance(n, int) else None)]


@defop("ConstantOfShape", pattern=Pattern.OPAQUE, infer=_cos_infer, since=9)
def _constant_of_shape(xp, inputs, attrs):
    """A tensor of shape input 0 filled with the one-element ``value`` (default float 0)."""
    shape = as_int_list(inputs[0])
    if any(d < 0 for d in shape):
        raise ShapeError(f"ConstantOfShape: negative dim in {shape}")
    v = _cos_value(attrs)
    check_alloc("ConstantOfShape", shape, v.dtype)
    return [xp.full(shape, v[0], dtype=v.dtype)]


# ------------------------------------------------------------------ Range

def _range_len(start, limit, delta):
    if delta == 0:
        raise ShapeError("Range: delta is 0")
    return max(int(math.ceil((limit - start) / delta)), 0)


def _range_infer(types, attrs, values):
    if any(v is None for v in values[:3]):
        return [TensorType(types[0].dtype, (None,))]
    start, limit, delta = (np.asarray(v).item() for v in values[:3])
    return [TensorType(types[0].dtype, (_range_len(start, limit, delta),))]


def _range_grad(xp, inputs, outputs, douts, attrs):
    # out[i] = start + i * delta; the length is piecewise constant in limit
    dy = douts[0]
    if inputs[0].dtype.kind != "f":
        return [None, None, None]
    i = xp.arange(dy.shape[0], dtype=dy.dtype)
    return [dy.sum().reshape(inputs[0].shape).astype(inputs[0].dtype),
            xp.zeros_like(inputs[1]),
            (dy * i).sum().reshape(inputs[2].shape).astype(inputs[2].dtype)]


@defop("Range", pattern=Pattern.OPAQUE, infer=_range_infer, grad=_range_grad, since=11)
def _range(xp, inputs, attrs):
    """start, start + delta, ... up to (excluding) limit; the dtype of start."""
    start, limit, delta = (x.reshape(()) for x in inputs[:3])
    n = _range_len(start.item(), limit.item(), delta.item())
    dt = start.dtype
    check_alloc("Range", (n,), dt)
    return [(start + xp.arange(n).astype(dt) * delta).astype(dt)]


# ------------------------------------------------------------------ EyeLike

def _eye_dtype(attrs, x_dtype):
    return np_dtype(int(attrs["dtype"])) if attrs.get("dtype") is not None else x_dtype


def _eye_infer(types, attrs, values):
    x = types[0]
    dtype = DType(int(attrs["dtype"])) if attrs.get("dtype") is not None else x.dtype
    return [TensorType(dtype, x.shape if x.shape is not None else (None, None))]


@defop("EyeLike", pattern=Pattern.OPAQUE, infer=_eye_infer, since=9, defaults={"k": 0})
def _eye_like(xp, inputs, attrs):
    """Ones on the ``k``-th diagonal of a matrix shaped like input 0, zeros elsewhere."""
    x = inputs[0]
    if x.ndim != 2:
        raise ShapeError(f"EyeLike: input must be 2-D, got shape {x.shape}")
    return [xp.eye(x.shape[0], x.shape[1], k=attrs["k"], dtype=_eye_dtype(attrs, x.dtype))]


# ------------------------------------------------------------------ OneHot

def _onehot_mask(xp, indices, depth, axis):
    idx = indices.astype(np.int64) if indices.dtype.kind != "f" else \
        xp.trunc(indices).astype(np.int64)
    idx = xp.where(idx < 0, idx + depth, idx)
    classes = xp.arange(depth, dtype=np.int64)
    mask = xp.expand_dims(idx, -1) == classes  # out-of-range rows stay all off
    return xp.moveaxis(mask, -1, axis)


def _onehot_depth(depth):
    d = depth.reshape(-1)[0].item()
    if d < 1:
        raise ShapeError(f"OneHot: depth must be positive, got {d}")
    return int(d)


def _onehot_infer(types, attrs, values):
    ind = types[0]
    dtype = types[2].dtype
    if ind.shape is None:
        return [TensorType(dtype, None)]
    rank = len(ind.shape) + 1
    axis = norm_axis(attrs["axis"], rank, "OneHot")
    depth = _onehot_depth(np.asarray(values[1])) if values[1] is not None else None
    shape = list(ind.shape)
    shape.insert(axis, depth)
    return [TensorType(dtype, tuple(shape))]


def _onehot_grad(xp, inputs, outputs, douts, attrs):
    indices, depth, vals = inputs
    if vals.dtype.kind != "f":
        return [None, None, None]
    axis = norm_axis(attrs["axis"], indices.ndim + 1)
    mask = _onehot_mask(xp, indices, _onehot_depth(depth), axis)
    dy = douts[0]
    return [None, None, xp.stack([(dy * ~mask).sum(), (dy * mask).sum()]).astype(vals.dtype)]


@defop("OneHot", pattern=Pattern.OPAQUE, infer=_onehot_infer, grad=_onehot_grad, since=9,
       defaults={"axis": -1})
def _one_hot(xp, inputs, attrs):
    """values[1] where the index (negative counts from depth) equals the class, else values[0]."""
    indices, depth, vals = inputs
    depth = _onehot_depth(depth)
    axis = norm_axis(attrs["axis"], indices.ndim + 1, "OneHot")
    check_alloc("OneHot", indices.shape + (depth,), vals.dtype)
    mask = _onehot_mask(xp, indices, depth, axis)
    vals = vals.reshape(-1)
    return [xp.where(mask, vals[1], vals[0]).astype(vals.dtype)]
