"""Reading an ONNX model's bytes and tensors safely (the importer's I/O half).

What a hostile or careless file can do here, and what each becomes:

- a model or external-data path that is a directory, a device (``/dev/zero``,
  ``/dev/urandom``), a FIFO or a socket -> :class:`ModelError` /
  :class:`ExternalDataError` naming the path, raised after a ``stat`` and before
  anything is opened (a FIFO would block ``open`` forever, a device would be read
  until memory runs out);
- a name (node, value, initializer, graph input or output, attribute, dim
  parameter, external-data key...) whose bytes are not valid UTF-8 ->
  :class:`ModelError` naming the field, the bytes shown escaped (protobuf hands
  such proto2 strings back as ``bytes``, which would otherwise fail much later);
- a tensor with a negative dim -> :class:`ModelError`;
- an array that cannot be allocated -> :class:`ResourceError` naming the tensor,
  its type and its size in bytes.

External data is read straight into one array of the tensor's final dtype
(``readinto`` on its buffer), so importing a tensor costs its own size, not the
several copies a bytes -> proto -> ``frombuffer`` -> copy chain takes.  Only the
packed sub-byte types (int4, float4...) still go through ``numpy_helper``.
"""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ExternalDataError, ModelError, ResourceError
from ..ir.types import DType

__all__ = ["allocate", "check_utf8", "load_proto", "open_regular", "sparse_to_array",
           "tensor_to_array"]


# ------------------------------------------------------------------ files

def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def _require_regular(st: os.stat_result, path, what: str, error: type) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {os.fsdecode(path)!r} is {_kind(st.st_mode)}, not a regular "
                    f"file; refusing to read it")


def _nonblocking(path, flags):
    # Only matters if a FIFO is swapped in between the stat and the open: the open
    # then returns at once instead of waiting for a writer, and fstat refuses it.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def open_regular(path, what: str = "model", error: type = ModelError):
    """``path`` opened for binary reading, refused with ``error`` unless it is a
    regular file (symlinks followed).  The check is a ``stat`` before the open,
    so devices and FIFOs are never opened."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(f"cannot read {what} {os.fsdecode(path)!r}: {e.strerror or e}") from e
    _require_regular(st, path, what, error)
    try:
        f = open(path, "rb", opener=_nonblocking)
    except OSError as e:
        raise error(f"cannot read {what} {os.fsdecode(path)!r}: {e.strerror or e}") from e
    try:
        _require_regular(os.fstat(f.fileno()), path, what, error)
    except BaseException:
        f.close()
        raise
    return f


# ------------------------------------------------------------------ the proto

def load_proto(model, base_dir=None) -> tuple[onnx.ModelProto, str | None]:
    """``model`` (ModelProto, serialized bytes, or a path) as a ModelProto, plus
    the folder external data is resolved against (None when there is none).

    Paths must name regular files; every name in the model must be valid UTF-8.
    External data is not loaded here; :func:`tensor_to_array` reads it safely.
    """
    folder = None if base_dir is None else os.fspath(base_dir)
    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto = _parse(bytes(model), "<bytes>")
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open_regular(path, "model") as f:
            try:
                data = f.read()
            except MemoryError:
                raise ResourceError(f"model {os.fsdecode(path)!r}: not enough memory to "
                                    f"read its {os.fstat(f.fileno()).st_size:,} bytes") from None
            except OSError as e:
                raise ModelError(f"cannot read model {os.fsdecode(path)!r}: "
                                 f"{e.strerror or e}") from e
        proto = _parse(data, os.fsdecode(path))
        if folder is None:
            folder = os.path.dirname(os.path.abspath(path))
    else:
        raise ModelError(f"expected an onnx.ModelProto, bytes or a path, got "
                         f"{type(model).__name__}")
    check_utf8(proto)
    return proto, folder


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    if not data:
        raise ModelError(f"{where}: empty file, not an ONNX model")
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except MemoryError:
        raise ResourceError(f"{where}: not enough memory to parse {len(data):,} bytes "
                            f"of model") from None
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise ModelError(f"{where}: not a valid ONNX protobuf (truncated or corrupt): {e}") from e
    return m


# Free text nobody resolves: bad bytes there are harmless and stay accepted.
_FREE_TEXT = frozenset({"doc_string"})


def check_utf8(proto) -> None:
    """ModelError naming the first string field of ``proto`` (nested messages
    included, tensor payloads never touched) whose bytes are not valid UTF-8."""
    bad = _first_non_utf8(proto, "model")
    if bad is not None:
        where, raw = bad
        raise ModelError(f"{where} is not valid UTF-8: {raw!r}; names must be UTF-8 text")


def _first_non_utf8(msg, where: str):
    for f in msg.DESCRIPTOR.fields:
        if f.name in _FREE_TEXT:
            continue
        if f.type == f.TYPE_STRING:
            values = getattr(msg, f.name)
            items = enumerate(values) if f.is_repeated else ((None, values),)
            for k, v in items:
                if isinstance(v, bytes):  # protobuf's answer for invalid UTF-8 in proto2
                    return f"{where}.{f.name}" + ("" if k is None else f"[{k}]"), v
        elif f.type == f.TYPE_MESSAGE:
            if f.is_repeated:
                for k, sub in enumerate(getattr(msg, f.name)):
                    bad = _first_non_utf8(sub, f"{where}.{f.name}[{k}]")
                    if bad is not None:
                        return bad
            elif msg.HasField(f.name):
                bad = _first_non_utf8(getattr(msg, f.name), f"{where}.{f.name}")
                if bad is not None:
                    return bad
    return None


# ------------------------------------------------------------------ tensors

def _dims(dims, name: str) -> tuple[int, ...]:
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise ModelError(f"tensor {name!r}: negative dim in dims {list(shape)}")
    return shape


def _nbytes(shape, dtype: np.dtype) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * dtype.itemsize


def _no_memory(name: str, dt: DType, shape, detail: str = "") -> ResourceError:
    return ResourceError(f"tensor {name!r} ({dt.short}{list(shape)}, "
                         f"{_nbytes(shape, dt.np):,} bytes): cannot allocate its array"
                         + (f": {detail}" if detail else ""))


def allocate(shape, dt: DType, name: str, zero: bool = False) -> np.ndarray:
    """A new array for tensor ``name``; ResourceError when it cannot be had or is
    over the memory budget (checked before allocating)."""
    from ..runtime import budget

    budget.check_array(shape, dt.np, f"tensor {name!r} ({dt.short}{list(shape)})")
    try:
        return (np.zeros if zero else np.empty)(shape, dt.np)
    except MemoryError:
        raise _no_memory(name, dt, shape) from None
    except ValueError as e:  # NumPy's "array is too big" for sizes past the address space
        raise _no_memory(name, dt, shape, str(e)) from None


# Sub-byte element types are packed in the file; numpy_helper unpacks them.
_PACKED = frozenset(getattr(DType, n) for n in ("UINT4", "INT4", "FLOAT4E2M1", "UINT2", "INT2",
                                                 "FLOAT6E2M3", "FLOAT6E3M2") if hasattr(DType, n))


def _dtype_of(t: onnx.TensorProto, name: str) -> DType:
    if t.data_type == onnx.TensorProto.UNDEFINED:
        raise ModelError(f"tensor {name!r} has no data type")
    try:
        return DType(t.data_type)
    except ValueError:
        raise ModelError(f"tensor {name!r}: unknown data type {t.data_type}") from None


def tensor_to_array(t: onnx.TensorProto, base_dir: str | None = None) -> np.ndarray:
    """An ONNX TensorProto as a NumPy array that owns its (writable) data.

    External data is read only from inside ``base_dir`` and straight into place.
    """
    name = t.name or "<unnamed tensor>"
    dt = _dtype_of(t, name)
    shape = _dims(t.dims, name)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        if dt is not DType.STRING and dt not in _PACKED:
            return _read_external_into(t, base_dir, name, dt, shape)
        t = _inline_external(t, base_dir, name)
    try:
        arr = numpy_helper.to_array(t)
    except MemoryError:
        raise _no_memory(name, dt, shape) from None
    except Exception as e:
        raise ModelError(f"tensor {name!r} ({dt.short}{list(shape)}): "
                         f"data does not fit its type and dims: {e}") from e
    if arr.dtype == object:
        arr = np.array([x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else x
                        for x in arr.reshape(-1)], dtype=object).reshape(arr.shape)
    elif not arr.flags.writeable or not arr.flags.c_contiguous:
        try:
            arr = np.array(arr, order="C")  # weights are trained in place: own, writable data
        except MemoryError:
            raise _no_memory(name, dt, shape) from None
    return arr


def _external_file(t: onnx.TensorProto, base_dir, name: str):
    """(resolved path, location as written, offset, length or None) of an
    external tensor, refused when the path leaves the model's folder."""
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location")
    if not loc:
        raise ExternalDataError(f"tensor {name!r}: external data without a location")
    if base_dir is None:
        raise ExternalDataError(
            f"tensor {name!r}: stored in external file {loc!r} but the model was given "
            f"without a folder; load it from a path or pass base_dir")
    if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
        raise ExternalDataError(f"tensor {name!r}: external data path {loc!r} is absolute; "
                                f"only paths inside the model's folder are read")
    root = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(root, loc))
    if os.path.commonpath([root, path]) != root or path == root:
        raise ExternalDataError(f"tensor {name!r}: external data path {loc!r} leaves the "
                                f"model's folder {base_dir!r}")
    if not os.path.lexists(path):
        raise ExternalDataError(f"tensor {name!r}: external data file {loc!r} not found "
                                f"in {base_dir!r}")
    try:
        offset = int(info.get("offset", 0) or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        raise ExternalDataError(f"tensor {name!r}: bad offset/length in external data "
                                f"{info}") from None
    return path, loc, offset, length


def _check_bounds(name, loc, offset, length, size) -> None:
    end = offset if length is None else offset + length
    if offset < 0 or offset > size or (length is not None and (length < 0 or end > size)):
        raise ExternalDataError(f"tensor {name!r}: external data [{offset}, "
                                f"{'' if length is None else end}) is outside "
                                f"{loc!r} ({size} bytes)")


def _read_external_into(t, base_dir, name: str, dt: DType, shape) -> np.ndarray:
    path, loc, offset, length = _external_file(t, base_dir, name)
    want = _nbytes(shape, dt.np)
    with open_regular(path, f"tensor {name!r}: external data file", ExternalDataError) as f:
        size = os.fstat(f.fileno()).st_size
        _check_bounds(name, loc, offset, length, size)
        have = size - offset if length is None else length
        if have != want:
            raise ExternalDataError(f"tensor {name!r} ({dt.short}{list(shape)}) needs {want} "
                                    f"bytes of external data, {loc!r} "
                                    f"gives {have} from offset {offset}")
        arr = allocate(shape, dt, name)
        buf = memoryview(arr.reshape(-1).view(np.uint8))
        f.seek(offset)
        got = 0
        while got < want:
            k = f.readinto(buf[got:])
            if not k:
                raise ExternalDataError(f"tensor {name!r}: external data file {loc!r} "
                                        f"ended after {got} of {want} bytes")
            got += k
    if sys.byteorder == "big":  # ONNX stores little-endian
        arr.byteswap(inplace=True)
    return arr


def _inline_external(t: onnx.TensorProto, base_dir, name: str) -> onnx.TensorProto:
    """A copy of ``t`` with its external bytes inline (for the packed types)."""
    path, loc, offset, length = _external_file(t, base_dir, name)
    with open_regular(path, f"tensor {name!r}: external data file", ExternalDataError) as f:
        _check_bounds(name, loc, offset, length, os.fstat(f.fileno()).st_size)
        f.seek(offset)
        data = f.read(-1 if length is None else length)
    t2 = onnx.TensorProto()
    t2.CopyFrom(t)
    del t2.external_data[:]
    t2.data_location = onnx.TensorProto.DEFAULT
    t2.raw_data = data
    return t2


def sparse_to_array(s: onnx.SparseTensorProto, base_dir=None) -> np.ndarray:
    """A SparseTensorProto as a dense array (indices checked against its dims)."""
    name = s.values.name or "<unnamed sparse tensor>"
    values = tensor_to_array(s.values, base_dir)
    indices = tensor_to_array(s.indices, base_dir).astype(np.int64)
    dims = _dims(s.dims, name)
    dense = allocate(dims, _dtype_of(s.values, name), name, zero=True)
    flat = dense.reshape(-1)
    if indices.ndim == 1:  # linearised indices
        if indices.size and (indices.min() < 0 or indices.max() >= flat.size):
            raise ModelError(f"sparse tensor {name!r}: an index lies outside its "
                             f"{flat.size} elements (dims {list(dims)})")
        flat[indices] = values
    else:  # [nnz, rank] coordinates
        flat[np.ravel_multi_index(tuple(indices.T), dims)] = values
    return dense
