"""ONNX-ML ops (domain ``ai.onnx.ml``): LabelEncoder, Binarizer, ArrayFeatureExtractor.

TreeEnsemble, the other ``ai.onnx.ml`` op of the table, is in ``ml_tree.py``.
``since`` of these ops counts in the ``ai.onnx.ml`` opsets.  String tensors are
object arrays of ``str`` (see ``strings.py``) and never live on a GPU.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ModelError, ShapeError
from ..ir.types import DType, TensorType
from .base import Pattern, check_int_operand, defop, same_as
from .elementwise import _zero_grad
from .index import scatter_add
from .strings import _as_strings

ML = "ai.onnx.ml"

# ------------------------------------------------------------------ LabelEncoder

# keys_*/values_* list attributes and the dtype their elements have; "tensor"
# (opset 4) carries its own dtype
_FORMS = {"strings": np.dtype(object), "int64s": np.dtype(np.int64),
          "floats": np.dtype(np.float32), "tensor": None}
# the schema's default per kind of values: default_string, default_int64, default_float
_DEFAULTS = {"s": ("default_string", "_Unused"), "i": ("default_int64", -1),
             "f": ("default_float", -0.0)}


def _kind(dtype) -> str:
    """'s' (string), 'i' (integer) or 'f' (float) for a NumPy dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OUST":
        return "s"
    if dtype.kind in "iu":
        return "i"
    if dtype.kind == "f":
        return "f"
    raise DTypeError(f"LabelEncoder: {dtype} keys or values are not supported")


def _attr_array(attrs, prefix):
    """The one ``<prefix>_*`` attribute given, as a 1-D array (None: none given)."""
    given = [f for f in _FORMS if attrs.get(f"{prefix}_{f}") is not None]
    if len(given) > 1:
        raise ModelError(f"LabelEncoder: only one {prefix}_* attribute may be set, got "
                         f"{', '.join(f'{prefix}_{f}' for f in given)}")
    if not given:
        return None
    v = attrs[f"{prefix}_{given[0]}"]
    dtype = _FORMS[given[0]]
    arr = np.asarray(v) if dtype is None else np.array(list(v), dtype=dtype)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr.reshape(-1)


def _default(attrs, values):
    """The value of unmapped elements, as a 0-d array of ``values``' dtype."""
    kind = _kind(values.dtype)
    t = attrs.get("default_tensor")
    if t is not None:
        t = np.asarray(t)
        if t.size != 1:
            raise ModelError(f"LabelEncoder: default_tensor must hold one value, has {t.size}")
        if (_kind(t.dtype) != kind or
                (kind != "s" and t.dtype != values.dtype)):
            raise DTypeError(f"LabelEncoder: default_tensor is {t.dtype}, values are "
                             f"{values.dtype}")
        return np.asarray(t.reshape(()), dtype=values.dtype)
    name, fallback = _DEFAULTS[kind]
    v = attrs.get(name)
    return np.asarray(fallback if v is None else v, dtype=values.dtype)


def _label_map(attrs, x_dtype):
    """(keys, values, default) of a LabelEncoder node whose input has ``x_dtype``.

    Opset 1's ``classes_strings`` maps strings to their index (``default_int64``)
    or indices to strings (``default_string``); which way follows the input type.
    """
    keys, values = _attr_array(attrs, "keys"), _attr_array(attrs, "values")
    x_kind = _kind(x_dtype)
    if keys is None and values is None and attrs.get("classes_strings") is not None:
        classes = np.array(list(attrs["classes_strings"]), dtype=object)
        index = np.arange(len(classes), dtype=np.int64)
        if x_kind == "s":
            keys, values = classes, index
        elif np.dtype(x_dtype) == np.int64:
            keys, values = index, classes
        else:
            raise DTypeError(f"LabelEncoder: input is {np.dtype(x_dtype)}; with "
                             "classes_strings it takes strings or int64")
    if keys is None or values is None:
        raise ModelError("LabelEncoder: needs one keys_* and one values_* attribute "
                         "(or classes_strings)")
    if len(keys) != len(values):
        raise ModelError(f"LabelEncoder: {len(keys)} keys but {len(values)} values")
    if x_kind != _kind(keys.dtype) or (x_kind != "s" and np.dtype(x_dtype) != keys.dtype):
        raise DTypeError(f"LabelEncoder: input is {np.dtype(x_dtype)}, keys are "
                         f"{'strings' if _kind(keys.dtype) == 's' else keys.dtype}")
    return keys, values, _default(attrs, values)


def _label_encoder_infer(types, attrs, values):
    x = types[0]
    _, vals, _ = _label_map(attrs, x.dtype.np)
    return [TensorType(DType.from_np(vals.dtype), x.shape)]


@defop("LabelEncoder", pattern=Pattern.OPAQUE, since=1, infer=_label_encoder_infer,
       domain=ML)
def _label_encoder(xp, inputs, attrs):
    """Each element replaced by the value of its key, the default where no key matches.

    A repeated key maps to its last value; a NaN key matches every NaN.  The keys
    are sorted once and every element found by binary search.
    """
    x = inputs[0]
    keys, values, default = _label_map(attrs, x.dtype)
    strings = _kind(keys.dtype) == "s"
    if strings:
        xp = np
        x, keys = _as_strings("LabelEncoder", x), _as_strings("LabelEncoder", keys)
    # unique over the reversed keys keeps each key's first index there: its last one
    uniq, first = np.unique(keys[::-1], return_index=True)
    if uniq.size == 0:
        return [xp.full(x.shape, default, dtype=values.dtype)]
    mapped = values[::-1][first]
    if not strings:
        uniq, mapped = xp.asarray(uniq), xp.asarray(mapped)
    pos = xp.minimum(xp.searchsorted(uniq, x), uniq.size - 1)
    found = uniq[pos]
    hit = found == x
    if not strings and keys.dtype.kind == "f":
        hit = hit | (xp.isnan(found) & xp.isnan(x))  # NaN sorts last, so pos finds it
    out = xp.where(hit, mapped[pos], xp.asarray(default))
    return [xp.asarray(out, dtype=values.dtype)]


# ------------------------------------------------------------------ Binarizer

_BINARIZER_TYPES = ("FLOAT", "DOUBLE", "INT64", "INT32")


def _binarizer_infer(types, attrs, values):
    t = types[0]
    if t.dtype.name not in _BINARIZER_TYPES:
        raise DTypeError(f"Binarizer: input is {t.dtype.short}; it takes f32, f64, i64 or i32")
    return [TensorType(t.dtype, t.shape)]


@defop("Binarizer", pattern=Pattern.ELEMWISE, since=1, infer=_binarizer_infer, domain=ML,
       grad=lambda xp, inputs, outputs, douts, attrs: [_zero_grad(xp, inputs[0], None,
                                                                   None, attrs)],
       # compared in double, as NumPy compares an integer with a float threshold
       cuda="(({T})((double){0} > (double){threshold}))", defaults={"threshold": 0.0})
def _binarizer(xp, inputs, attrs):
    """1 where x > threshold, else 0 (NaN gives 0), in x's dtype."""
    x = inputs[0]
    _binarizer_infer([TensorType.of(x)], attrs, [None])
    return [(x > attrs["threshold"]).astype(x.dtype)]


# ------------------------------------------------------------------ ArrayFeatureExtractor

def _afe_shape(op, x_shape, n):
    if len(x_shape) == 0:
        raise ShapeError(f"{op}: input X must have rank >= 1, got a scalar")
    return (1, n) if len(x_shape) == 1 else tuple(x_shape[:-1]) + (n,)


def _afe_infer(types, attrs, values):
    x, y = types[0], types[1]
    check_int_operand("ArrayFeatureExtractor", "indices Y", y, allowed=("INT64",))
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    n = None
    if values[1] is not None:
        n = int(np.asarray(values[1]).size)
    elif y.shape is not None and all(isinstance(d, int) for d in y.shape):
        n = int(np.prod(y.shape, dtype=np.int64))
    return [TensorType(x.dtype, _afe_shape("ArrayFeatureExtractor", x.shape, n))]


def _afe_indices(xp, x, y):
    d = x.shape[-1]
    idx = y.reshape(-1).astype(np.int64)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= d):
        raise ShapeError(f"ArrayFeatureExtractor: indices must lie in [0, {d}) for input "
                         f"{x.shape}; got min {int(idx.min())}, max {int(idx.max())}")
    return idx


def _afe_grad(xp, inputs, outputs, douts, attrs):
    x, y = inputs[0], inputs[1]
    idx = _afe_indices(xp, x, y)
    d = x.shape[-1]
    rows = x.size // d if d else 0
    flat = (xp.arange(rows, dtype=np.int64)[:, None] * d + idx[None, :])
    g = scatter_add(xp, flat, douts[0].reshape(rows, idx.size), x.size)
    return [g.reshape(x.shape).astype(x.dtype), None]


@defop("ArrayFeatureExtractor", pattern=Pattern.INJECTIVE, since=1, infer=_afe_infer,
       grad=_afe_grad, domain=ML)
def _array_feature_extractor(xp, inputs, attrs):
    """The elements at indices Y (all of them, flattened) along X's last axis; a 1-D
    X gives one row, as onnxruntime does."""
    x, y = inputs[0], inputs[1]
    check_int_operand("ArrayFeatureExtractor", "indices Y", TensorType.of(y), allowed=("INT64",))
    if x.dtype == object:
        xp = np
    shape = _afe_shape("ArrayFeatureExtractor", x.shape, int(y.size))
    return [x[..., _afe_indices(xp, x, y)].reshape(shape)]
