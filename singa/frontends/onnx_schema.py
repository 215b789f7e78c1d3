"""A node checked against its op's ONNX schema at the model's opset.

The op table says how an op computes; ONNX's schema says what a well-formed node
of it looks like.  :func:`check_schema` holds a node to the latter before the
importer builds anything from it, so a malformed node is a :class:`ModelError`
naming it instead of a failure deep inside an op's ``compute``.
"""

from __future__ import annotations

import onnx

from ..errors import ModelError

__all__ = ["check_schema"]


def _schema(op_type: str, opset: int, domain: str = ""):
    try:
        return onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # not an ONNX op (or not at this opset): nothing to check
        return None


_ATTR_KINDS = {
    onnx.AttributeProto.INT: (int, "an int"),
    onnx.AttributeProto.FLOAT: ((int, float), "a float"),
    onnx.AttributeProto.STRING: (str, "a string"),
    onnx.AttributeProto.INTS: (int, "a list of ints"),
    onnx.AttributeProto.FLOATS: ((int, float), "a list of floats"),
    onnx.AttributeProto.STRINGS: (str, "a list of strings"),
}
_LISTS = (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS, onnx.AttributeProto.STRINGS)


def check_schema(node: onnx.NodeProto, attrs: dict, opset: int, where: str,
                 domain: str = "") -> None:
    """What the ONNX schema of the node's op says about its inputs, outputs and
    attributes: the count of inputs and outputs, required inputs present,
    required attributes given, and attributes of the declared kind."""
    schema = _schema(node.op_type, opset, domain)
    if schema is None:
        return
    n_in = len(node.input)
    while n_in and not node.input[n_in - 1]:
        n_in -= 1
    if n_in < schema.min_input or n_in > schema.max_input:
        want = (f"{schema.min_input}" if schema.min_input == schema.max_input
                else f"{schema.min_input} to {schema.max_input}")
        raise ModelError(f"{where}: takes {want} input(s), has {n_in}")
    Option = onnx.defs.OpSchema.FormalParameterOption
    for k, f in enumerate(schema.inputs):
        if f.option == Option.Single and k < n_in and not node.input[k]:
            raise ModelError(f"{where}: required input {k} ({f.name!r}) is missing")
        if f.option == Option.Variadic:  # the last parameter; no gaps in it
            for j in range(k, n_in):
                if not node.input[j]:
                    raise ModelError(f"{where}: input {j} ({f.name!r}) is missing")
    n_out = len(node.output)
    while n_out and not node.output[n_out - 1]:
        n_out -= 1
    if n_out < schema.min_output or n_out > schema.max_output:
        raise ModelError(f"{where}: has {n_out} output(s); the op gives "
                         f"{schema.min_output} to {schema.max_output}")
    for name, a in schema.attributes.items():
        if a.required and name not in attrs:
            raise ModelError(f"{where}: required attribute {name!r} is missing")
    unknown = sorted(set(attrs) - set(schema.attributes))
    if unknown:
        raise ModelError(f"{where}: unknown attribute(s) {unknown}; the op takes "
                         f"{sorted(schema.attributes) or 'none'}")
    for name, v in attrs.items():
        a = schema.attributes.get(name)
        kind = _ATTR_KINDS.get(int(a.type)) if a is not None else None
        if kind is None:
            continue
        types, what = kind
        items = v if isinstance(v, list) else None
        ok = ((items is not None and all(isinstance(x, types) and not isinstance(x, bool)
                                         for x in items))
              if int(a.type) in _LISTS else
              (isinstance(v, types) and not isinstance(v, (bool, list))))
        if not ok:
            raise ModelError(f"{where}: attribute {name!r} must be {what}, got {v!r}")
