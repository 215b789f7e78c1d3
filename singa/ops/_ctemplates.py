"""Scalar C templates that depend on operand dtypes or arity (``OpDef.cuda`` callables).

A template is C expression text over ``{0}``, ``{1}``.. (the operands, always
plain names), ``{T}`` (the result's compute type) and ``{attr}`` (attribute
literals).  Most ops have a fixed string; these functions return one per
case, or None where no kernel reproduces the op's NumPy semantics.  They
follow NumPy, the reference of every compute: NaN propagates through max/min,
integer division truncates and division by zero gives 0, shifts past the
width give 0.
"""

from __future__ import annotations


def _signed(dt) -> bool:
    return dt.is_int and not dt.name.startswith("UINT")


def variadic(op: str, max_arity: int = 8):
    """Left fold of binary ``op`` (e.g. '+') over all present operands."""

    def template(dts, out, attrs):
        n = len(dts)
        if not 1 <= n <= max_arity or None in dts:
            return None
        expr = "{0}"
        for k in range(1, n):
            expr = f"(({{T}})({expr} {op} {{{k}}}))"
        return f"({expr})"

    return template


def mean(dts, out, attrs):
    s = variadic("+")(dts, out, attrs)
    return None if s is None else f"({s} / ({{T}}){len(dts)})"


def extreme(cmp: str):
    """NumPy's maximum (cmp '>') / minimum ('<') folded over the operands: NaN wins."""

    def template(dts, out, attrs):
        if not 1 <= len(dts) <= 4 or None in dts:  # each level triples the text
            return None
        expr = "{0}"
        for k in range(1, len(dts)):
            expr = f"(({expr}) {cmp} {{{k}}} || ({expr}) != ({expr}) ? ({expr}) : {{{k}}})"
        return expr

    return template


def div(dts, out, attrs):
    if out.is_float:
        return "({0} / {1})"
    if _signed(out):  # x / -1 by negation: INT_MIN / -1 traps on x86
        return ("({1} == ({T})0 ? ({T})0 : {1} == ({T})-1 ? ({T})(-{0}) "
                ": ({T})({0} / {1}))")
    return "({1} == ({T})0 ? ({T})0 : ({T})({0} / {1}))"


def mod(dts, out, attrs):
    if out.is_float:
        if attrs.get("fmod"):
            return "fmod({0}, {1})"
        r = "fmod({0}, {1})"  # then NumPy's fix-up: the divisor's sign, also on a zero
        return (f"({r} != ({{T}})0 ? ((({r} < ({{T}})0) != ({{1}} < ({{T}})0)) ? {r} + {{1}} "
                f": {r}) : copysign(({{T}})0, {{1}}))")
    r = "({0} % {1})"
    if not _signed(out):
        return f"({{1}} == ({{T}})0 ? ({{T}})0 : ({{T}}){r})"
    if attrs.get("fmod"):
        inner = f"({{T}}){r}"
    else:  # Python's %: the remainder takes the divisor's sign
        inner = (f"({{T}})({r} != 0 && (({r} < 0) != ({{1}} < ({{T}})0)) ? {r} + {{1}} "
                 f": {r})")
    return f"(({{1}} == ({{T}})0 || {{1}} == ({{T}})-1) ? ({{T}})0 : {inner})"


def bit_shift(dts, out, attrs):
    # NumPy: a shift by a negative amount or the width or more shifts everything out
    bits = 8 * out.np.itemsize
    out_of_range = f"({{1}} < ({{T}})0 || {{1}} >= ({{T}}){bits})"
    if attrs.get("direction", "LEFT") == "LEFT":
        return f"({out_of_range} ? ({{T}})0 : ({{T}})({{0}} << {{1}}))"
    return (f"({out_of_range} ? ({{0}} < ({{T}})0 ? ({{T}})-1 : ({{T}})0) "
            f": ({{T}})({{0}} >> {{1}}))")


def pow_(dts, out, attrs):
    if out.is_float:
        return "pow({0}, ({T}){1})"
    return "(({T})pow((double){0}, (double){1}))"


def cast(dts, out, attrs):
    src = dts[0]
    if src is not None and src.is_float and out.is_int:
        return "({0} != {0} ? ({T})0 : ({T}){0})"  # NaN -> 0, as the compute does
    return "(({T}){0})"


def abs_(dts, out, attrs):
    return "fabs({0})" if out.is_float else "({0} < ({T})0 ? ({T})(-{0}) : {0})"


def clip(dts, out, attrs):
    expr = "{0}"
    if len(dts) > 1 and dts[1] is not None:
        expr = f"({expr} < ({{T}}){{1}} ? ({{T}}){{1}} : {expr})"
    if len(dts) > 2 and dts[2] is not None:
        expr = f"({expr} > ({{T}}){{2}} ? ({{T}}){{2}} : {expr})"
    return expr


def is_inf(dts, out, attrs):
    parts = []
    if attrs.get("detect_positive", 1):
        parts.append("(isinf({0}) && {0} > 0)")
    if attrs.get("detect_negative", 1):
        parts.append("(isinf({0}) && {0} < 0)")
    return "(" + (" || ".join(parts) or "0") + ")"


def gelu(dts, out, attrs):
    if attrs.get("approximate", "none") == "tanh":
        return ("(({T})0.5 * {0} * (({T})1 + tanh(({T})0.7978845608028654 * "
                "({0} + ({T})0.044715 * {0} * {0} * {0}))))")
    return "(({T})0.5 * {0} * (({T})1 + erf({0} * ({T})0.7071067811865476)))"
