"""Parse the IR text form (see :mod:`singa.ir.printer`) back into a :class:`Graph`.

``parse_graph(print_graph(g))`` prints identically to ``g``; with
``data=graph_data(g)`` it also carries ``g``'s weights and large constants.

Beyond what the printer writes, hand-written text may:

- omit an op's ``: types`` (they stay unknown until ``infer_shapes``);
- give a param's data inline, ``%w = param f32[2] {value=[1.5,2]}``;
- write value literals as nested lists;
- put ``# comments`` on lines of their own (ignored) or after an op (its loc).

A region's text has names of its own: it sees none of the enclosing graph's
(regions are isolated from above; see :class:`singa.ir.graph.Op`).

Params whose data is neither inline nor in ``data`` are zeros of their type.
A large const printed as ``{sha1=...}`` takes its data from ``data``; without it
the const holds zeros (and remembers the digest, so it prints back unchanged),
and with data that does not match the digest parsing fails.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ..errors import IRError
from .graph import Graph, Op
from .printer import digest, region_prefix
from .types import DType, OptionalType, SequenceType, TensorType

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*)
  | (?P<value>%(?:[A-Za-z_][A-Za-z0-9_.]*|\d+|"(?:[^"\\\n]|\\.)*"))
  | (?P<global>@(?:[A-Za-z_][A-Za-z0-9_.]*|"(?:[^"\\\n]|\\.)*"))
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<arrow>->)
  | (?P<number>[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+
                    |inf\b|nan\b(?:\(0x[0-9a-fA-F]+\))?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[(){}\[\]<>,:=*?])
""", re.VERBOSE)


class _NaNBits(float):
    """A NaN literal written with its raw bits (sign, payload) in the element's width."""

    def __new__(cls, bits: int):
        self = super().__new__(cls, "nan")
        self.bits = bits
        return self


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col

    def __repr__(self):
        return f"{self.kind}:{self.text!r}@{self.line}:{self.col}"


def _tokenize(text: str) -> list[_Tok]:
    toks = []
    pos, line, line_start = 0, 1, 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise IRError(f"line {line}, column {pos - line_start + 1}: unexpected character "
                          f"{text[pos]!r}\n{_context(text, line, pos - line_start + 1)}")
        kind = m.lastgroup
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), line, pos - line_start + 1))
        chunk = m.group()
        nl = chunk.count("\n")
        if nl:
            line += nl
            line_start = pos + chunk.rfind("\n") + 1
        pos = m.end()
    toks.append(_Tok("eof", "", line, pos - line_start + 1))
    return toks


def _context(text: str, line: int, col: int) -> str:
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return f"  {lines[line - 1]}\n  {' ' * (col - 1)}^"
    return ""


def _unquote(s: str) -> str:
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise IRError(f"bad string literal {s}: {e}") from None


class _Parser:
    def __init__(self, text: str, data):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.data = dict(data or {})
        self.g = Graph()
        self.env: dict[str, object] = {}  # printed name -> Value

    # ------------------------------------------------------------ token helpers
    def error(self, msg: str, tok: _Tok | None = None):
        tok = tok or self.peek()
        return IRError(f"line {tok.line}, column {tok.col}: {msg}\n"
                       f"{_context(self.text, tok.line, tok.col)}")

    def _skip(self) -> int:
        """Index of the next non-comment token (comments stay unread until consumed)."""
        j = self.i
        while self.toks[j].kind == "comment":
            j += 1
        return j

    def peek(self) -> _Tok:
        return self.toks[self._skip()]

    def next(self) -> _Tok:
        j = self._skip()
        self.i = j + 1
        return self.toks[j]

    def at(self, text: str, kind: str | None = None) -> bool:
        t = self.peek()
        return t.text == text and (kind is None or t.kind == kind) and t.kind != "string"

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.next()
            return True
        return False

    def expect(self, text: str) -> _Tok:
        t = self.peek()
        if t.text != text or t.kind == "string":
            raise self.error(f"expected '{text}', got {self.describe(t)}", t)
        return self.next()

    def expect_kind(self, kind: str, what: str) -> _Tok:
        t = self.peek()
        if t.kind != kind:
            raise self.error(f"expected {what}, got {self.describe(t)}", t)
        return self.next()

    @staticmethod
    def describe(t: _Tok) -> str:
        return "end of text" if t.kind == "eof" else f"'{t.text}'"

    def trailing_comment(self, last: _Tok) -> str:
        """The comment right after ``last`` on its line (an op's loc), else ''."""
        t = self.toks[self.i]
        if t.kind != "comment" or t.line != last.line:
            return ""
        self.i += 1
        body = t.text[1:].strip()
        if body.startswith('"'):
            return _unquote(body)
        return body

    # ------------------------------------------------------------ pieces
    def name_of(self, tok: _Tok) -> str:
        """The name hint a %value token gives ('' for a number)."""
        s = tok.text[1:]
        if s.isdigit():
            return ""
        return _unquote(s) if s.startswith('"') else s

    def define(self, tok: _Tok, value) -> None:
        key = tok.text[1:]
        if key in self.env:
            raise self.error(f"value %{key} defined twice", tok)
        self.env[key] = value

    def use(self) -> object:
        t = self.peek()
        if t.kind == "ident" and t.text == "_":
            self.next()
            return None
        t = self.expect_kind("value", "a %value")
        try:
            return self.env[t.text[1:]]
        except KeyError:
            raise self.error(f"value {t.text} used before its definition", t) from None

    def parse_dtype(self) -> DType:
        t = self.expect_kind("ident", "an element type such as f32")
        try:
            return DType.from_short(t.text)
        except KeyError:
            raise self.error(f"unknown element type '{t.text}'", t) from None

    def parse_type(self) -> TensorType | SequenceType | OptionalType | None:
        if self.accept("?"):
            return None
        for word, kind in (("seq", SequenceType), ("opt", OptionalType)):
            if self.peek().kind == "ident" and self.peek().text == word:
                self.next()
                self.expect("<")
                elem = self.parse_type()
                self.expect(">")
                return kind(elem)
        dt = self.parse_dtype()
        self.expect("[")
        if self.accept("*"):
            self.expect("]")
            return TensorType(dt, None)
        dims = []
        while not self.at("]"):
            t = self.next()
            if t.kind == "number" and re.fullmatch(r"\d+", t.text):
                dims.append(int(t.text))
            elif t.text == "?" and t.kind == "punct":
                dims.append(None)
            elif t.kind == "ident":
                dims.append(t.text)
            elif t.kind == "string":
                dims.append(_unquote(t.text))
            else:
                raise self.error(f"expected a dim (size, symbol or ?), got {self.describe(t)}", t)
            if not self.at("]"):
                self.expect(",")
        self.expect("]")
        return TensorType(dt, tuple(dims))

    def parse_scalar(self):
        t = self.next()
        if t.kind == "number":
            if re.fullmatch(r"[-+]?\d+", t.text):
                return int(t.text)
            if t.text.endswith(")"):  # nan(0x...): a NaN given by its bits
                return _NaNBits(int(t.text[t.text.index("(") + 1:-1], 16))
            return float(t.text)
        if t.kind == "string":
            return _unquote(t.text)
        if t.kind == "ident":
            if t.text == "true":
                return True
            if t.text == "false":
                return False
            if t.text == "null":
                return None
            if t.text == "b" and self.peek().kind == "string":
                st = self.next()
                try:
                    return _unquote(st.text).encode("latin-1")
                except UnicodeEncodeError:
                    raise self.error("a bytes literal holds characters up to \\xff only",
                                     st) from None
            if t.text == "tensor":
                self.expect("<")
                ty_tok = self.peek()
                ty = self.parse_type()
                self.expect(">")
                return self.make_array(ty, self.parse_attr_value(), ty_tok)
            if t.text == "dtype":
                self.expect("<")
                dt = self.parse_dtype()
                self.expect(">")
                return dt
        raise self.error(f"expected a value, got {self.describe(t)}", t)

    def parse_attr_value(self):
        if self.accept("["):
            items = []
            while not self.at("]"):
                items.append(self.parse_attr_value())
                if not self.at("]"):
                    self.expect(",")
            self.expect("]")
            return items
        return self.parse_scalar()

    def parse_attrs(self) -> dict:
        attrs = {}
        if not self.accept("{"):
            return attrs
        while not self.at("}"):
            k = self.next()
            if k.kind == "ident":
                key = k.text
            elif k.kind == "string":
                key = _unquote(k.text)
            else:
                raise self.error(f"expected an attribute name, got {self.describe(k)}", k)
            if key in attrs:
                raise self.error(f"attribute '{key}' given twice", k)
            self.expect("=")
            attrs[key] = self.parse_attr_value()
            if not self.at("}"):
                self.expect(",")
        self.expect("}")
        return attrs

    def make_array(self, ty: TensorType | None, value, tok: _Tok) -> np.ndarray:
        """An array of type ``ty`` from a (possibly nested) literal list."""
        if ty is None or not ty.is_static:
            raise self.error("a literal needs a static type", tok)
        flat = []

        def walk(x):
            if isinstance(x, list):
                for y in x:
                    walk(y)
            else:
                flat.append(x)

        walk(value)
        n = int(np.prod(ty.shape, dtype=np.int64))
        if len(flat) != n:
            raise self.error(f"{len(flat)} elements given for {ty} ({n} expected)", tok)
        dt = ty.dtype.np
        try:
            if ty.dtype is DType.STRING:
                if not all(isinstance(x, (str, bytes)) for x in flat):
                    raise ValueError("non-string element")
                arr = np.empty(n, dtype=object)
                arr[:] = [x.decode("latin-1") if isinstance(x, bytes) else x for x in flat]
            elif dt.kind in "biu":
                if not all(isinstance(x, (bool, int)) for x in flat):
                    raise ValueError("non-integer element")
                arr = np.array(flat, dtype=dt)
            else:
                with np.errstate(over="raise"):
                    arr = np.array([float(x) for x in flat], dtype=np.float64).astype(dt)
                uint = np.dtype(f"u{dt.itemsize}")
                for i, x in enumerate(flat):
                    if isinstance(x, _NaNBits):
                        arr.view(uint)[i] = x.bits
        except FloatingPointError:
            raise self.error(f"a literal is out of range for {ty}", tok) from None
        except (TypeError, ValueError, OverflowError) as e:
            raise self.error(f"bad literal for {ty}: {e}", tok) from None
        return arr.reshape(ty.shape)

    def check_data(self, arr, ty: TensorType | None, what: str, tok: _Tok) -> np.ndarray:
        arr = np.asarray(arr)
        if ty is not None:
            have = TensorType.of(arr)
            if have.dtype != ty.dtype or (ty.shape is not None and have.shape != tuple(ty.shape)):
                raise self.error(f"data for {what} is {have}, the text says {ty}", tok)
        return arr

    # ------------------------------------------------------------ statements
    def parse(self) -> Graph:
        g = self.parse_graph()
        if self.peek().kind != "eof":
            raise self.error("text after the end of the graph")
        return g

    def region_ahead(self) -> bool:
        """Whether a region (``name: graph @...``) starts at the next token."""
        j = self._skip()
        t = self.toks[j]
        return (t.kind in ("ident", "string") and j + 2 < len(self.toks)
                and self.toks[j + 1].text == ":" and self.toks[j + 2].text == "graph")

    def region(self, op_index: int):
        """``name: graph @... {...}``: a nested graph, parsed with its own names."""
        kt = self.next()
        key = _unquote(kt.text) if kt.kind == "string" else kt.text
        self.expect(":")
        prefix = region_prefix(op_index, key)
        sub = _Parser.__new__(_Parser)
        sub.text, sub.toks, sub.i = self.text, self.toks, self.i
        sub.data = {k[len(prefix):]: v for k, v in self.data.items() if k.startswith(prefix)}
        sub.g, sub.env = Graph(), {}
        body = sub.parse_graph()
        self.i = sub.i
        return key, body, kt

    def parse_graph(self) -> Graph:
        g = self.g
        self.expect("graph")
        gname = self.expect_kind("global", "@name").text[1:]
        g.name = _unquote(gname) if gname.startswith('"') else gname
        self.expect("(")
        while not self.at(")"):
            vt = self.expect_kind("value", "an input %name")
            self.expect(":")
            v = g.add_input(self.name_of(vt), self.parse_type())
            self.define(vt, v)
            if not self.at(")"):
                self.expect(",")
        self.expect(")")
        self.expect("->")
        self.expect("(")
        out_types = []
        header_tok = self.peek()
        while not self.at(")"):
            out_types.append(self.parse_type())
            if not self.at(")"):
                self.expect(",")
        self.expect(")")
        if self.accept("opset"):
            t = self.expect_kind("number", "an opset number")
            if not t.text.isdigit():
                raise self.error("opset must be an integer", t)
            g.opset = int(t.text)
        self.expect("{")
        while True:
            t = self.peek()
            if t.kind == "ident" and t.text == "return":
                self.next()
                outs = []
                if self.peek().kind == "value":
                    outs.append(self.use())
                    while self.accept(","):
                        outs.append(self.use())
                self.expect("}")
                self.finish_outputs(outs, out_types, header_tok)
                return g
            if t.kind == "value":
                self.statement()
            elif t.kind in ("ident", "string"):
                self.op_call([])
            else:
                raise self.error(f"expected a statement or 'return', got {self.describe(t)}", t)

    def statement(self):
        lhs = [self.expect_kind("value", "a %value")]
        while self.accept(","):
            lhs.append(self.expect_kind("value", "a %value"))
        self.expect("=")
        t = self.peek()
        if t.kind == "ident" and t.text in ("param", "const") and len(lhs) == 1 \
                and self.toks[self._skip() + 1].text != "(":
            self.next()
            self.value_def(lhs[0], t.text)
        else:
            self.op_call(lhs)

    def value_def(self, vt: _Tok, kind: str):
        ty_tok = self.peek()
        ty = self.parse_type()
        attrs_tok = self.peek()
        attrs = self.parse_attrs()
        unknown = set(attrs) - {"value", "sha1"}
        if unknown:
            raise self.error(f"unknown {kind} attribute(s) {sorted(unknown)}", attrs_tok)
        name = self.name_of(vt)
        key = data_key_from_token(vt.text[1:], name)
        what = f"{kind} {vt.text}"
        if "value" in attrs:
            arr = self.make_array(ty, attrs["value"], attrs_tok)
        elif key in self.data:
            arr = self.check_data(self.data[key], ty, what, vt)
            if "sha1" in attrs and digest(arr) != attrs["sha1"]:
                raise self.error(f"data for {what} does not match its sha1", vt)
        elif kind == "param" or "sha1" in attrs:
            if ty is None or not ty.is_static:
                raise self.error(f"{what} has no data and no static type to make zeros of",
                                 ty_tok)
            arr = np.zeros(ty.shape, dtype=ty.dtype.np)
        else:
            raise self.error(f"{what} has no value (give {{value=[...]}} or data=)", vt)
        if kind == "param":
            v = self.g.add_param(name, arr)
        else:
            v = self.g.add_const(arr, name)
            if "sha1" in attrs and key not in self.data:
                # Zeros stand in for data the text only names; keep the digest so the
                # graph prints back as it was read.
                if not hasattr(self.g, "_text_digests"):
                    self.g._text_digests = {}
                self.g._text_digests[v] = (v.data, attrs["sha1"])
        if ty is not None and v.type != ty:
            raise self.error(f"{what}: value is {v.type}, the text says {ty}", ty_tok)
        self.define(vt, v)

    def op_call(self, lhs: list[_Tok]):
        nt = self.next()
        if nt.kind == "string":
            opname = _unquote(nt.text)
        elif nt.kind == "ident":
            opname = nt.text
        else:
            raise self.error(f"expected an op name, got {self.describe(nt)}", nt)
        self.expect("(")
        operands = []
        while not self.at(")"):
            operands.append(self.use())
            if not self.at(")"):
                self.expect(",")
        last = self.expect(")")
        if self.at("{"):
            attrs = self.parse_attrs()
            last = self.toks[self.i - 1]
        else:
            attrs = {}
        types = [None] * len(lhs)
        if self.at(":"):
            colon = self.next()
            types = [self.parse_type()]
            while self.accept(","):
                types.append(self.parse_type())
            last = self.toks[self.i - 1]
            if len(types) != len(lhs):
                raise self.error(f"{opname}: {len(lhs)} results but {len(types)} types", colon)
        loc = self.trailing_comment(last)
        regions = {}
        while self.region_ahead():
            key, body, kt = self.region(len(self.g.ops))
            if key in regions:
                raise self.error(f"{opname}: region {key!r} given twice", kt)
            regions[key] = body
        op = Op(opname, operands, types, attrs, loc, [self.name_of(t) for t in lhs], regions)
        self.g.ops.append(op)
        for t, r in zip(lhs, op.results):
            self.define(t, r)

    def finish_outputs(self, outs, out_types, tok):
        if len(outs) != len(out_types):
            raise self.error(f"the header declares {len(out_types)} outputs, return gives "
                             f"{len(outs)}", tok)
        for k, (v, ty) in enumerate(zip(outs, out_types)):
            if v is None:
                raise self.error(f"output {k} is '_'", tok)
            if v.type is None:
                v.type = ty
            elif ty is not None and v.type != ty:
                raise self.error(f"output {k} is declared {ty} but the value is {v.type}", tok)
        self.g.set_outputs(outs)


def data_key_from_token(token: str, name: str) -> str:
    """:func:`singa.ir.printer.data_key` for a parsed ``%token`` giving ``name``."""
    return "%" + token if token.isdigit() else name


def parse_graph(text: str, data: dict | None = None) -> Graph:
    """Parse IR text into a Graph; ``data`` maps param/const names to arrays.

    Raises :class:`singa.errors.IRError` with line and column on malformed text.
    """
    return _Parser(text, data).parse()


def parse_type(text: str):
    """One type in the text form (``f32[N,3]``, ``seq<i64[*]>``, ``?``: None), as
    :func:`singa.ir.printer.format_type` writes it."""
    p = _Parser(text, None)
    t = p.parse_type()
    if p.peek().kind != "eof":
        raise p.error(f"unexpected {p.describe(p.peek())} after the type")
    return t
