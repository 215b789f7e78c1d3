"""IR-text-in / IR-text-out helpers for the pass tests."""

from __future__ import annotations

import textwrap

import numpy as np

from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.ir.printer import print_graph
from singa.ir.verifier import verify


def ir(text: str) -> str:
    """Dedented IR text with one trailing newline (as print_graph writes it)."""
    return textwrap.dedent(text).strip("\n") + "\n"


def run_pass(p, text: str, data=None, expect_changed=None):
    """Parse ``text``, verify, run pass ``p``, verify; return (graph before, graph after)."""
    g = parse_graph(ir(text), data=data)
    verify(g)
    before = g.clone()
    changed = p.run(g)
    verify(g)
    if expect_changed is not None:
        assert changed is expect_changed
    return before, g


def assert_ir(graph, expected: str) -> None:
    got = print_graph(graph)
    want = ir(expected)
    assert got == want, f"\n--- got\n{got}--- want\n{want}"
    # the expected text is itself valid IR that prints back unchanged
    assert print_graph(parse_graph(want)) == want


def assert_same_outputs(before, after, inputs, rtol=0.0, atol=0.0) -> None:
    """Both graphs give the same outputs (same dtypes and shapes) on ``inputs``."""
    a = interpret(before, inputs)
    b = interpret(after, inputs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape, (x.dtype, x.shape, y.dtype, y.shape)
        if rtol == 0 and atol == 0:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)
