"""SINGA's shape, indexing, reduction and tensor-creation operators.

Each is a thin :class:`~singa.operators.Operator` over table ops; shapes, axes
and indices travel as int64 constants so a traced graph exports to ONNX.
Where SINGA's own code differs from the ONNX op of the same name, the
docstring says whose semantics apply.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .operators import Operator, as_ints, const, i64, run
from .tensor import Tensor

__all__ = [
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
    "Gather", "Tile", "Expand", "Pad", "UpSample", "DepthToSpace", "SpaceToDepth",
    "ScatterElements", "Shape", "NonZero", "OneHot", "ConstantOfShape", "Embedding",
    "ReduceSum", "ReduceMean", "GlobalAveragePool",
]


def _axes_or_none(axes, like):
    """None, an int or a sequence of axes as an int64 constant (None stays None)."""
    if axes is None:
        return None
    axes = as_ints(axes)
    return i64(axes, like) if axes else None


def _indices(v, like):
    """Indices (list, array or Tensor) as an integer Tensor."""
    if isinstance(v, Tensor) and v.dtype.kind in "iu":
        return v
    return i64(np.asarray(v.numpy() if isinstance(v, Tensor) else v).astype(np.int64), like)


class Reshape(Operator):
    """x with a new shape; 0 keeps the input's dim, one -1 is inferred."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def _forward(self, x):
        return run("Reshape", [x, i64(as_ints(self.shape), x)])


class Flatten(Operator):
    """x as a matrix: dims before ``axis`` form the rows, the rest the columns."""

    def __init__(self, axis=1):
        super().__init__()
        self.axis = axis

    def _forward(self, x):
        return run("Flatten", [x], {"axis": self.axis})


class Transpose(Operator):
    """x with its axes permuted by ``perm`` (None: reversed)."""

    def __init__(self, perm=None):
        super().__init__()
        self.perm = None if perm is None else as_ints(perm)

    def _forward(self, x):
        return run("Transpose", [x], None if self.perm is None else {"perm": self.perm})


class Squeeze(Operator):
    """x without the size-1 dims in ``axis`` (an int or a list; [] or None: all of them)."""

    def __init__(self, axis=None):
        super().__init__()
        self.axis = axis

    def _forward(self, x):
        return run("Squeeze", [x, _axes_or_none(self.axis, x)])


class Unsqueeze(Operator):
    """x with size-1 dims inserted at ``axis`` (an int or a list, positions in the output)."""

    def __init__(self, axis):
        super().__init__()
        self.axis = axis

    def _forward(self, x):
        return run("Unsqueeze", [x, i64(as_ints(self.axis), x)])


class Concat(Operator):
    """The inputs joined along ``axis``."""

    def __init__(self, axis=0):
        super().__init__()
        self.axis = axis

    def _forward(self, *xs):
        return run("Concat", list(xs), {"axis": self.axis})


class Split(Operator):
    """x cut along ``axis`` into pieces of sizes ``parts`` or, when ``parts`` is
    None, into ``num_output`` equal pieces."""

    def __init__(self, axis, parts, num_output=None):
        super().__init__()
        if parts is None and num_output is None:
            raise ShapeError("Split: give parts or num_output")
        self.axis, self.parts, self.num_output = axis, parts, num_output

    def _forward(self, x):
        parts = self.parts
        if parts is None:
            dim = x.shape[self.axis % x.ndim]
            if dim % self.num_output:
                raise ShapeError(f"Split: dim {dim} of {x.shape} does not split into "
                                 f"{self.num_output} equal parts")
            parts = [dim // self.num_output] * self.num_output
        parts = as_ints(parts)
        return run("Split", [x, i64(parts, x)], {"axis": self.axis, "_num_outputs": len(parts)})


class Slice(Operator):
    """x[starts:ends:steps] on ``axes`` (default: the first len(starts) axes)."""

    def __init__(self, starts, ends, axes=None, steps=None):
        super().__init__()
        self.starts, self.ends, self.axes, self.steps = starts, ends, axes, steps

    def _forward(self, x):
        opt = [None if v is None else i64(as_ints(v), x) for v in (self.axes, self.steps)]
        return run("Slice", [x, i64(as_ints(self.starts), x), i64(as_ints(self.ends), x)] + opt)


class Gather(Operator):
    """x[..., indices, ...] along ``axis``; ``indices`` nested lists, an array or a Tensor."""

    def __init__(self, axis, indices):
        super().__init__()
        self.axis, self.indices = axis, indices

    def _forward(self, x):
        return run("Gather", [x, _indices(self.indices, x)], {"axis": self.axis})


class Tile(Operator):
    """x repeated ``repeats`` times per axis.  As in SINGA, ``repeats`` counts from
    the first axis (missing trailing ones are 1) and extra leading repeats add axes."""

    def __init__(self, repeats):
        super().__init__()
        self.repeats = as_ints(repeats)

    def _forward(self, x):
        reps = self.repeats
        if len(reps) > x.ndim:
            x = run("Reshape", [x, i64((1,) * (len(reps) - x.ndim) + x.shape, x)])[0]
        reps = reps + [1] * (x.ndim - len(reps))
        return run("Tile", [x, i64(reps, x)])


class Expand(Operator):
    """x broadcast to ``shape`` (NumPy rules, as ONNX Expand)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = as_ints(shape)

    def _forward(self, x):
        return run("Expand", [x, i64(self.shape, x)])


class Pad(Operator):
    """x padded by ``pads`` (all begins, then all ends) in ``mode`` 'constant',
    'reflect' or 'edge' (ONNX semantics: 'reflect' mirrors without the edge)."""

    def __init__(self, mode, pads, constant=0.0):
        super().__init__()
        if mode not in ("constant", "reflect", "edge"):
            raise ShapeError(f"Pad: mode {mode!r} is not one of constant, reflect, edge")
        self.mode, self.pads, self.constant = mode, as_ints(pads), constant

    def _forward(self, x):
        value = const(self.constant, x, x.dtype) if self.mode == "constant" else None
        return run("Pad", [x, i64(self.pads, x), value], {"mode": self.mode})


class UpSample(Operator):
    """Nearest-neighbour upsampling by an integer scale per axis (SINGA's ``UpSample``)."""

    def __init__(self, mode, scales):
        super().__init__()
        if mode.lower() != "nearest":
            raise ShapeError(f"UpSample: only mode 'nearest' is supported, got {mode!r}")
        self.mode = "nearest"
        self.scales = [int(s) for s in np.asarray(scales).reshape(-1)]

    def _forward(self, x):
        if len(self.scales) != x.ndim:
            raise ShapeError(f"UpSample: {len(self.scales)} scales for input shape {x.shape}")
        # each element repeated s times along its axis: (d, 1) -> (d, s) -> d * s
        spread = [v for d in x.shape for v in (d, 1)]
        grown = [v for d, s in zip(x.shape, self.scales) for v in (d, s)]
        y = run("Reshape", [x, i64(spread, x)])[0]
        y = run("Expand", [y, i64(grown, x)])[0]
        return run("Reshape", [y, i64([d * s for d, s in zip(x.shape, self.scales)], x)])


def _block_mode(op, mode):
    mode = mode.upper()
    if mode not in ("DCR", "CRD"):
        raise ShapeError(f"{op}: mode must be DCR or CRD, got {mode!r}")
    return mode


class DepthToSpace(Operator):
    """NCHW channels moved into blocksize x blocksize spatial blocks (ONNX DepthToSpace)."""

    def __init__(self, blocksize, mode="DCR"):
        super().__init__()
        self.blocksize, self.mode = int(blocksize), _block_mode("DepthToSpace", mode)

    def _forward(self, x):
        return run("DepthToSpace", [x], {"blocksize": self.blocksize, "mode": self.mode})


class SpaceToDepth(Operator):
    """The inverse of :class:`DepthToSpace` with the same ``mode`` (SINGA allows CRD too)."""

    def __init__(self, blocksize, mode="DCR"):
        super().__init__()
        self.blocksize, self.mode = int(blocksize), _block_mode("SpaceToDepth", mode)

    def _forward(self, x):
        if self.mode == "DCR":
            return run("SpaceToDepth", [x], {"blocksize": self.blocksize})
        if x.ndim != 4 or x.shape[2] % self.blocksize or x.shape[3] % self.blocksize:
            raise ShapeError(f"SpaceToDepth: input {x.shape} is not NCHW with H and W "
                             f"divisible by {self.blocksize}")
        b, c, h, w = x.shape
        k = self.blocksize
        y = run("Reshape", [x, i64([b, c, h // k, k, w // k, k], x)])[0]
        y = run("Transpose", [y], {"perm": [0, 1, 3, 5, 2, 4]})[0]
        return run("Reshape", [y, i64([b, c * k * k, h // k, w // k], x)])


class ScatterElements(Operator):
    """x with ``updates`` written at ``indices`` along ``axis`` (ONNX ScatterElements).
    ``indices`` and ``updates`` are constants: the gradient reaches x only."""

    def __init__(self, indices, updates, axis=0):
        super().__init__()
        self.indices, self.updates, self.axis = indices, updates, axis

    def _forward(self, x):
        updates = self.updates
        if not isinstance(updates, Tensor):
            updates = const(updates, x, x.dtype)
        return run("ScatterElements", [x, _indices(self.indices, x), updates],
                   {"axis": self.axis})


class Shape(Operator):
    """The shape of x as an int64 vector."""

    def _forward(self, x):
        return run("Shape", [x])


class NonZero(Operator):
    """Indices of the nonzero elements, shape (rank, count), int64."""

    def _forward(self, x):
        return run("NonZero", [x])


class OneHot(Operator):
    """One-hot over ``depth`` classes inserted at ``axis``; ``values`` = (off, on).
    Indices wrap modulo depth; the result has ``values``' dtype (float32 for lists)."""

    def __init__(self, axis, depth, values):
        super().__init__()
        self.axis, self.depth = axis, depth
        self.values = values if isinstance(values, (np.ndarray, Tensor)) else \
            np.asarray(values, np.float32)

    def _forward(self, indices):
        depth = self.depth if isinstance(self.depth, Tensor) else const(self.depth, indices)
        values = self.values if isinstance(self.values, Tensor) else const(self.values, indices)
        return run("OneHot", [indices, depth, values], {"axis": self.axis})


class ConstantOfShape(Operator):
    """A tensor of the shape held by x filled with ``value`` (float32 for a float,
    int32 for an int, as SINGA)."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def _forward(self, x):
        v = np.asarray(self.value)
        dtype = v.dtype if isinstance(self.value, np.ndarray) else \
            (np.int32 if v.dtype.kind in "iu" else np.bool_ if v.dtype.kind == "b" else np.float32)
        shape = x if x.dtype == np.int64 else run("Cast", [x], {"to": 7})[0]
        return run("ConstantOfShape", [shape], {"value": v.reshape(1).astype(dtype)})


class Embedding(Operator):
    """Rows of ``w`` picked by the integer ids in x: shape x.shape + (w.shape[1],)."""

    def _forward(self, x, w):
        ids = x if x.dtype.kind in "iu" else run("Cast", [x], {"to": 7})[0]
        return run("Gather", [w, ids], {"axis": 0})


class _Reduce(Operator):
    _op = ""

    def __init__(self, axes=None, keepdims=1):
        super().__init__()
        self.axes, self.keepdims = axes, keepdims

    def _forward(self, x):
        return run(self._op, [x, _axes_or_none(self.axes, x)], {"keepdims": int(self.keepdims)})


class ReduceSum(_Reduce):
    """Sum over ``axes`` (an int or a list; None: all)."""

    _op = "ReduceSum"


class ReduceMean(_Reduce):
    """Mean over ``axes`` (an int or a list; None: all)."""

    _op = "ReduceMean"


class GlobalAveragePool(Operator):
    """Mean over the spatial axes, kept as size 1; ``data_format`` 'channels_first'
    (NCHW...) or 'channels_last' (NHWC...)."""

    def __init__(self, data_format="channels_first"):
        super().__init__()
        if data_format not in ("channels_first", "channels_last"):
            raise ShapeError(f"GlobalAveragePool: unknown data_format {data_format!r}")
        self.data_format = data_format

    def _forward(self, x):
        if self.data_format == "channels_first":
            return run("GlobalAveragePool", [x])
        return run("ReduceMean", [x, i64(list(range(1, x.ndim - 1)), x)], {"keepdims": 1})
