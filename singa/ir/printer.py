"""The IR's text form: one op a line, printable and parseable.

::

    graph @cnn(%x: f32[N,1,28,28]) -> (f32[N,10]) opset 13 {
      %conv1.W = param f32[20,1,5,5]
      %c0 = const i64[2] {value=[1,-1]}
      %big = const f32[1000] {sha1="..."}
      %0 = Conv(%x, %conv1.W) {kernel_shape=[5,5]} : f32[N,20,24,24]  # conv1
      %1, %2 = Split(%0) {axis=1} : f32[N,10,24,24], f32[N,10,24,24]
      %3 = Foo(%1, _, %2)
      return %3
    }

Naming: a value prints as ``%name`` when its name hint is an identifier
(``[A-Za-z_][A-Za-z0-9_.]*``).  Other non-empty names print quoted, ``%"name"``,
for the values whose names matter outside the graph (inputs, params, consts and
graph outputs); an intermediate op result with such a name (ONNX's
``/layer1/Conv_output_0``: the op's loc already says where it comes from)
prints as a number, ``%7``, as does a value without a name or whose name an
earlier value took (the first keeps it).  Numbers never clash with names, which
cannot start with a digit unless quoted.  Parsing gives numbered values no name,
so printing a parsed graph gives the same numbers.

Data: parameters never print their data (weights would drown the text);
constants print it inline when they hold at most :data:`INLINE_LIMIT` elements,
else only a ``sha1`` digest.  :func:`graph_data` collects the arrays the text
leaves out, keyed the way :func:`singa.ir.parser.parse_graph` looks them up, so
``parse_graph(print_graph(g), data=graph_data(g))`` rebuilds ``g`` completely.

Regions (the bodies of If, Loop, Scan) print under their op, indented, each
introduced by its attribute's name::

      %y = If(%c, %x) {captures=1} : f32[2]  # if_1
        then_branch: graph @then(%x: f32[2]) -> (f32[2]) {
          %0 = Neg(%x) : f32[2]
          return %0
        }
        else_branch: graph @else(%x: f32[2]) -> (f32[2]) {
          return %x
        }

Types: ``f32[N,?,3]``; ``?`` is an unknown dim, ``[*]`` an unknown rank, ``[]`` a
scalar; a symbol that is not an identifier is quoted.  A value whose type is not
known at all prints as ``?``; an op whose result types are all unknown prints
without the ``: types`` part.  Attributes print sorted by name so that equal
graphs print equally whatever order their attributes were set in.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from ..errors import IRError
from .graph import Graph, Value
from .types import DType, OptionalType, SequenceType, TensorType

INLINE_LIMIT = 16  # constants with at most this many elements print their data

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_KEYWORDS = {"graph", "param", "const", "return", "opset", "true", "false", "null",
             "inf", "nan", "tensor", "dtype", "_"}


def is_ident(s: str) -> bool:
    """Whether ``s`` prints bare (as a value name, symbol or attribute key)."""
    return bool(_IDENT.match(s)) and s not in _KEYWORDS


def quote(s: str) -> str:
    """``s`` as a double-quoted string literal with JSON escapes."""
    return json.dumps(s, ensure_ascii=False)


def _ident_or_quoted(s: str) -> str:
    return s if is_ident(s) else quote(s)


# ------------------------------------------------------------------- naming

def value_names(graph: Graph) -> dict[Value, str]:
    """The printed name (without ``%``) of every value the graph defines."""
    names: dict[Value, str] = {}
    taken: set[str] = set()
    counter = 0
    outputs = set(graph.outputs)
    for v in graph.values():
        if v in names:  # a value defined twice; the verifier reports it
            continue
        n = v.name
        plain = bool(_IDENT.match(n))
        # Names that matter outside the graph (inputs, weights, constants, outputs)
        # are kept whatever they are; an intermediate's name only when it reads well.
        if n and n not in taken and (plain or v.kind != "op" or v in outputs):
            taken.add(n)
            names[v] = n if plain else quote(n)
        else:
            names[v] = str(counter)
            counter += 1
    return names


def data_key(v: Value, printed: str) -> str:
    """The key under which a param/const's data is found in ``data=``.

    A named value's name; ``"%7"`` for a value printed as ``%7``.
    """
    return "%" + printed if printed.isdigit() else v.name


# ------------------------------------------------------------------- types

def format_dim(d) -> str:
    if d is None:
        return "?"
    if isinstance(d, (int, np.integer)):
        return str(int(d))
    return _ident_or_quoted(str(d))


def format_type(t: TensorType | SequenceType | OptionalType | None) -> str:
    """``f32[N,3]``, ``seq<f32[2,?]>``, ``opt<seq<i64[*]>>``; ``?`` for a value
    (or a container's element) whose type is unknown."""
    if t is None:
        return "?"
    if isinstance(t, SequenceType):
        return f"seq<{format_type(t.elem)}>"
    if isinstance(t, OptionalType):
        return f"opt<{format_type(t.elem)}>"
    if t.shape is None:
        return f"{t.dtype.short}[*]"
    return f"{t.dtype.short}[{','.join(format_dim(d) for d in t.shape)}]"


# ------------------------------------------------------------------- literals

def _format_float(x) -> str:
    """Shortest text that parses back (through a Python float) to exactly ``x``."""
    f = float(x)
    if np.isnan(f):
        # A NaN other than the canonical one (sign bit, payload) is written with its
        # raw bits, so constants round-trip bit for bit.
        a = np.asarray(x)
        uint = np.dtype(f"u{a.dtype.itemsize}")
        bits = int(a.view(uint))
        return "nan" if bits == int(np.asarray(np.nan, a.dtype).view(uint)) else f"nan(0x{bits:x})"
    if np.isinf(f):
        return "inf" if f > 0 else "-inf"
    s = str(x) if not isinstance(x, float) else repr(x)
    try:
        back = np.asarray(float(s)).astype(np.asarray(x).dtype)
        ok = back == x and np.signbit(back) == np.signbit(x)
    except (ValueError, OverflowError):
        ok = False
    if not ok:
        s = repr(f)  # exact: every narrower float is a double
    if not any(c in s for c in ".en"):
        s += ".0"  # keep floats recognisable as floats
    return s


def _inline_ok(arr: np.ndarray) -> bool:
    if arr.dtype == object or arr.dtype.kind in "US":
        return all(isinstance(x, (str, bytes)) for x in arr.reshape(-1))
    if arr.dtype.kind in "biuf":
        return True
    try:
        return DType.from_np(arr.dtype).is_float  # ml_dtypes floats (bf16, f8...)
    except (KeyError, TypeError, ValueError):
        return False


def _format_element(x, dtype: np.dtype) -> str:
    if dtype == object or dtype.kind in "US":
        return quote(x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x))
    if dtype.kind == "b":
        return "true" if bool(x) else "false"
    if dtype.kind in "iu":
        return str(int(x))
    return _format_float(x)


def format_array_data(arr: np.ndarray) -> str:
    """The elements of ``arr`` in C order as a flat list ``[1,2,3]``."""
    arr = np.asarray(arr)
    return "[" + ",".join(_format_element(x, arr.dtype) for x in arr.reshape(-1)) + "]"


def digest(arr: np.ndarray) -> str:
    """sha1 of an array's dtype, shape and contents."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha1(f"{arr.dtype.str}{arr.shape}".encode())
    if arr.dtype == object:
        h.update(json.dumps([str(x) for x in arr.reshape(-1)]).encode())
    else:
        h.update(arr.tobytes())
    return h.hexdigest()


def format_attr(v) -> str:
    """One attribute value: ints, floats, strings, bools, lists, arrays, DTypes."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _format_float(float(v))
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, bytes):
        return "b" + quote(v.decode("latin-1"))
    if v is None:
        return "null"
    if isinstance(v, DType):
        return f"dtype<{v.short}>"
    if isinstance(v, np.ndarray):
        if not _inline_ok(v):
            raise IRError(f"cannot print a {v.dtype} tensor attribute")
        return f"tensor<{format_type(TensorType.of(v))}>{format_array_data(v)}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(format_attr(x) for x in v) + "]"
    raise IRError(f"cannot print attribute value {v!r} of type {type(v).__name__}")


def format_attrs(attrs) -> str:
    if not attrs:
        return ""
    items = ", ".join(f"{_ident_or_quoted(k)}={format_attr(attrs[k])}" for k in sorted(attrs))
    return " {" + items + "}"


def _format_loc(loc: str) -> str:
    # A loc that would not survive "rest of the line" parsing is quoted.
    if (loc != loc.strip() or loc.startswith('"') or any(ord(c) < 32 or c in "\x85\u2028\u2029"
                                                        for c in loc)):
        return quote(loc)
    return loc


# ------------------------------------------------------------------- graph

def _const_digests(graph: Graph) -> dict:
    return getattr(graph, "_text_digests", {})


def print_graph(graph: Graph) -> str:
    """The graph in the IR text form (see the module docstring)."""
    return "\n".join(_graph_lines(graph, "")) + "\n"


def _graph_lines(graph: Graph, indent: str, header: str = "graph") -> list[str]:
    names = value_names(graph)

    def ref(v):
        if v is None:
            return "_"
        if v not in names:
            return f"%<undefined {v.name or hex(id(v))}>"
        return "%" + names[v]

    out = []
    ins = ", ".join(f"{ref(v)}: {format_type(v.type)}" for v in graph.inputs)
    outs = ", ".join(format_type(v.type) for v in graph.outputs)
    opset = f" opset {graph.opset}" if graph.opset is not None else ""
    out.append(f"{indent}{header} @{_ident_or_quoted(graph.name)}({ins}) -> ({outs}){opset} {{")
    for p in graph.params:
        out.append(f"{indent}  {ref(p)} = param {format_type(p.type)}")
    digests = _const_digests(graph)
    for c in graph.consts:
        line = f"{indent}  {ref(c)} = const {format_type(c.type)}"
        if c.data is not None:
            data = np.asarray(c.data)
            if data.size <= INLINE_LIMIT and _inline_ok(data):
                line += f" {{value={format_array_data(data)}}}"
            else:
                known = digests.get(c)
                sha = known[1] if known is not None and known[0] is c.data else digest(data)
                line += f" {{sha1={quote(sha)}}}"
        out.append(line)
    for op in graph.ops:
        lhs = ", ".join(ref(r) for r in op.results)
        line = indent + "  " + (lhs + " = " if op.results else "")
        line += f"{_ident_or_quoted(op.name)}({', '.join(ref(v) for v in op.operands)})"
        line += format_attrs(op.attrs)
        if any(r.type is not None for r in op.results):
            line += " : " + ", ".join(format_type(r.type) for r in op.results)
        if op.loc:
            line += "  # " + _format_loc(op.loc)
        out.append(line)
        # a region prints under its op, introduced by its attribute's name
        for key, body in op.regions.items():
            out += _graph_lines(body, indent + "    ", f"{_ident_or_quoted(key)}: graph")
    out.append(indent + "  return" + ("" if not graph.outputs else " " + ", ".join(
        ref(v) for v in graph.outputs)))
    out.append(indent + "}")
    return out


def graph_data(graph: Graph) -> dict[str, np.ndarray]:
    """The param and const arrays the text form leaves out, keyed for ``parse_graph``.

    A region's arrays are keyed ``<op index>.<region name>/<key>`` (nested
    regions repeat the prefix), so names inside bodies never clash with outer ones.
    """
    names = value_names(graph)
    data = {}
    for v in graph.params:
        if v.data is not None:
            data[data_key(v, names[v])] = v.data
    for v in graph.consts:
        if v.data is not None and (np.asarray(v.data).size > INLINE_LIMIT
                                   or not _inline_ok(np.asarray(v.data))):
            data[data_key(v, names[v])] = v.data
    for k, op in enumerate(graph.ops):
        for key, body in op.regions.items():
            for name, arr in graph_data(body).items():
                data[f"{region_prefix(k, key)}{name}"] = arr
    return data


def region_prefix(op_index: int, key: str) -> str:
    """The prefix of a region's keys in :func:`graph_data`."""
    return f"{op_index}.{key}/"
