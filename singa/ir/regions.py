"""What the op table sees of a region: a function.

An op with regions (If, Loop, Scan, SequenceMap) is defined once in the op
table like any other; its ``infer`` and ``compute`` find the bodies in
``attrs["_regions"]``, keyed by the region's name, as callables:

- for ``infer``: ``body(types) -> types``, the body's output types for these
  input types (shape inference of the body, which also types the body's values
  for printing and for planning it later);
- for ``compute``: ``body(arrays) -> arrays``, one evaluation of the body, by
  whichever runner the caller has (the reference interpreter, or the body's own
  cached execution plans); ``body.graph`` is the body itself.

So the table does not know how bodies run, and the runners do not know what
the ops do with them.
"""

from __future__ import annotations

from ..errors import DTypeError, ShapeError
from .graph import Graph, Op
from .types import OptionalType, TensorType


def merge_types(a, b):
    """The most specific type both ``a`` and ``b`` are instances of: equal dims
    stay, differing dims become unknown, differing ranks an unknown rank; a type
    and an optional of it give the optional.  None (unknown) absorbs; different
    dtypes (or kinds) are a DTypeError."""
    if a is None or b is None:
        return None
    if a == b:
        return a
    if isinstance(a, OptionalType) != isinstance(b, OptionalType):
        # a value is an instance of the optional of its type (a Loop carry that
        # enters empty and leaves filled)
        opt, other = (a, b) if isinstance(a, OptionalType) else (b, a)
        return OptionalType(merge_types(opt.elem, other))
    if type(a) is not type(b):
        raise DTypeError(f"{a} and {b} are different kinds of value")
    if not isinstance(a, TensorType):  # sequences and optionals: merge the elements
        return type(a)(merge_types(a.elem, b.elem))
    if a.dtype != b.dtype:
        raise DTypeError(f"element types differ: {a} and {b}")
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return TensorType(a.dtype, None)
    return TensorType(a.dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape)))


def infer_body(body: Graph, types, what: str) -> list:
    """Type ``body`` for inputs of ``types`` (None keeps the declared type) and
    return its output types.  The body's input types are set in place."""
    from ..passes.infer_shapes import InferShapes

    if len(types) != len(body.inputs):
        raise ShapeError(f"{what} takes {len(body.inputs)} inputs, given {len(types)}")
    for k, (v, t) in enumerate(zip(body.inputs, types)):
        if t is None:
            continue
        declared = getattr(body, "_declared_inputs", {}).get(k)
        if declared is not None:
            try:
                merge_types(declared, t)
            except DTypeError:
                raise DTypeError(f"{what} input {k} (%{v.name}) is declared {declared}, "
                                 f"given {t}") from None
        v.type = t
    InferShapes().run(body)
    return [v.type for v in body.outputs]


def describe_region(op: Op, key: str) -> str:
    return f"{op.name} ({op.loc}) {key}" if op.loc else f"{op.name} {key}"


def infer_attrs(op: Op, attrs: dict, in_place: bool = True) -> dict:
    """``attrs`` with the regions as type functions (see the module doc).  They type
    the bodies themselves, or with ``in_place=False`` copies (for the verifier,
    which only looks)."""
    if not op.regions:
        return attrs

    def typer(body, key):
        return lambda types: infer_body(body if in_place else body.clone(), types,
                                        describe_region(op, key))

    return dict(attrs, _regions={key: typer(body, key) for key, body in op.regions.items()})


def region_types(op: Op) -> list:
    """The types of every value in ``op``'s regions, nested ones included (to tell
    whether inference changed any)."""
    out = []
    for body in op.regions.values():
        out += [v.type for v in body.values()]
        for inner in body.ops:
            if inner.regions:
                out += region_types(inner)
    return out


class Body:
    """A region as ``compute`` sees it: called with arrays, it returns the body's
    outputs; ``out_types`` are the body's inferred output types (an op needs them
    for results no iteration produced, such as a Loop's scan outputs after zero
    iterations); ``what`` names the region for errors."""

    __slots__ = ("call", "out_types", "what", "graph")

    def __init__(self, call, out_types, what, graph=None):
        self.call, self.out_types, self.what = call, out_types, what
        self.graph = graph  # the body itself, for ops that transform it (Gradient)

    def __call__(self, arrays):
        outs = list(self.call(list(arrays)))
        if len(outs) != len(self.out_types):
            raise ShapeError(f"{self.what} gave {len(outs)} outputs, it has "
                             f"{len(self.out_types)}")
        return outs


def run_attrs(op: Op, attrs: dict, runner) -> dict:
    """``attrs`` with the regions as :class:`Body` callables, each evaluating the
    body with ``runner(body, what)``."""
    if not op.regions:
        return attrs
    bodies = {}
    for key, body in op.regions.items():
        what = describe_region(op, key)
        bodies[key] = Body(runner(body, what), [v.type for v in body.outputs], what, body)
    return dict(attrs, _regions=bodies)


def declare_inputs(body: Graph) -> None:
    """Remember the body's declared input types (what the model said), so a later
    specialisation that contradicts them is an error rather than a silent change."""
    body._declared_inputs = {k: v.type for k, v in enumerate(body.inputs)
                             if v.type is not None}
