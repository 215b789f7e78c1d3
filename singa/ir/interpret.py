"""A reference interpreter: run a Graph op by op with NumPy through the op table.

It is deliberately plain (no plan, no buffer reuse) so that it can serve as the
reference the passes and the compiled plans are tested against.  With
``check_types`` every computed array is checked against its value's declared
type, symbols bound consistently across the whole graph (``N`` is one size).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, IRError, OpError, SingaError
from .graph import Graph, Value
from .printer import format_type
from .regions import run_attrs
from .types import DType, OptionalType, SequenceType


def _check(v: Value, arr, bindings: dict, what: str, exc=IRError) -> None:
    _check_type(v.type, arr, bindings, what, exc)


def _check_type(t, arr, bindings: dict, what: str, exc=IRError) -> None:
    if t is None:
        return
    if isinstance(t, OptionalType):
        if arr is not None:
            _check_type(t.elem, arr, bindings, what, exc)
        return
    if isinstance(t, SequenceType):
        if not isinstance(arr, (list, tuple)):
            raise exc(f"{what}: got {type(arr).__name__}, expected a list of type "
                      f"{format_type(t)}")
        for k, e in enumerate(arr):  # elements' shapes differ: symbols bind per element
            _check_type(t.elem, e, dict(bindings), f"{what}[{k}]", exc)
        return
    if not hasattr(arr, "dtype") or not hasattr(arr, "shape"):
        raise exc(f"{what}: got {type(arr).__name__}, expected an array of type "
                  f"{format_type(t)}")
    have = DType.from_np(arr.dtype)
    if have != t.dtype:
        raise exc(f"{what}: dtype {have.short}, declared {format_type(t)}")
    if t.shape is None:
        return
    if len(arr.shape) != len(t.shape):
        raise exc(f"{what}: shape {tuple(arr.shape)}, declared {format_type(t)}")
    for d, n in zip(t.shape, arr.shape):
        if isinstance(d, int):
            if d != n:
                raise exc(f"{what}: shape {tuple(arr.shape)}, declared {format_type(t)}")
        elif d is not None:
            if bindings.setdefault(d, n) != n:
                raise exc(f"{what}: shape {tuple(arr.shape)} has {d}={n}, but {d}="
                          f"{bindings[d]} elsewhere (declared {format_type(t)})")


def region_runner(check_types: bool = True):
    """The ``runner`` of :func:`singa.ir.regions.run_attrs` that evaluates bodies here."""
    return lambda body, what: (lambda arrays: interpret(body, arrays, check_types))


def interpret(graph: Graph, inputs, check_types: bool = True,
              return_env: bool = False):
    """Evaluate ``graph`` on ``inputs`` (a list, or a dict by input name).

    Returns the list of output arrays, or with ``return_env`` the dict mapping
    every computed Value to its array.  Op failures raise :class:`OpError`
    naming the op and its source location.
    """
    from ..ops import OPS

    if isinstance(inputs, dict):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise InputError(f"missing inputs {missing}")
        args = [inputs[v.name] for v in graph.inputs]
    else:
        args = list(inputs)
        if len(args) != len(graph.inputs):
            raise InputError(f"graph @{graph.name} takes {len(graph.inputs)} inputs, "
                             f"got {len(args)}")
    env: dict[Value, object] = {}
    bindings: dict[str, int] = {}
    for v, a in zip(graph.inputs, args):
        if a is not None and not isinstance(a, (list, tuple)):  # sequences stay lists
            a = np.asarray(a)
        if check_types:
            _check(v, a, bindings, f"input %{v.name}", InputError)
        env[v] = a
    for v in graph.params + graph.consts:
        env[v] = v.data
    for op in graph.ops:
        opdef = OPS.get(op.name)
        if opdef is None:
            raise IRError(f"{op.name} ({op.loc}): not in the op table")
        xs = [None if v is None else env[v] for v in op.operands]
        where = f"{op.name} ({op.loc})" if op.loc else op.name
        try:
            attrs = run_attrs(op, op.attrs, region_runner(check_types))
            outs = opdef.run(np, xs, attrs)
        except SingaError as e:
            if not op.loc and str(e).startswith(op.name):
                raise
            raise type(e)(f"{where}: {e}") from e
        except Exception as e:
            shapes = ", ".join("_" if x is None else f"{x.dtype}{list(x.shape)}" for x in xs)
            raise OpError(f"{where} on ({shapes}) failed: {type(e).__name__}: {e}") from e
        if len(outs) < len(op.results):
            raise OpError(f"{where}: compute gave {len(outs)} results, the op has "
                          f"{len(op.results)}")
        for k, (r, a) in enumerate(zip(op.results, outs)):
            if check_types:
                _check(r, a, bindings, f"{where} result {k}")
            env[r] = a
    if return_env:
        return env
    return [env[v] for v in graph.outputs]

