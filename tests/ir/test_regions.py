"""Regions in the IR text: printed nested, parsed back, cloned, verified."""

from __future__ import annotations

import numpy as np
import pytest

from singa.errors import IRError
from singa.ir.graph import walk
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.ir.printer import graph_data, print_graph
from singa.ir.verifier import verify

from ..passes._helpers import ir

LOOP = ir('''
    graph @m(%M: i64[], %x0: f32[2], %w: f32[2]) -> (f32[2], f32[?,2]) {
      %x, %ys = Loop(%M, _, %x0, %w) {captures=1} : f32[2], f32[?,2]  # loop
        body: graph @body(%i: i64[], %c: bool[], %xi: f32[2], %w: f32[2]) -> (bool[], f32[2], f32[2]) {
          %k = param f32[2]
          %0 = Mul(%xi, %w) : f32[2]
          %1 = Add(%0, %k) : f32[2]
          return %c, %1, %0
        }
      return %x, %ys
    }
''')


def test_print_parse_round_trip_with_nested_data():
    k = np.array([0.5, -1], np.float32)
    g = parse_graph(LOOP, data={"0.body/k": k})
    assert print_graph(g) == LOOP
    verify(g)
    data = graph_data(g)
    assert list(data) == ["0.body/k"] and data["0.body/k"] is g.ops[0].regions["body"].params[0].data
    again = parse_graph(print_graph(g), data=data)
    assert print_graph(again) == LOOP
    np.testing.assert_array_equal(again.ops[0].regions["body"].params[0].data, k)


def test_clone_copies_regions_and_walk_visits_them():
    g = parse_graph(LOOP)
    c = g.clone()
    assert print_graph(c) == LOOP
    assert c.ops[0].regions["body"] is not g.ops[0].regions["body"]
    assert [(op.name, path) for _, op, path in walk(c)] == [
        ("Loop", ""), ("Mul", "loop.body/"), ("Add", "loop.body/")]


def test_interpreter_runs_a_region_against_numpy():
    k = np.array([0.5, -1], np.float32)
    g = parse_graph(LOOP, data={"0.body/k": k})
    x0, w = np.array([1, 2], np.float32), np.array([2, 3], np.float32)
    x, ys = interpret(g, [np.int64(3), x0, w])
    want, rows = x0.astype(np.float64), []
    for _ in range(3):
        rows.append(want * w)
        want = want * w + k
    np.testing.assert_allclose(x, want, rtol=1e-6)
    np.testing.assert_allclose(ys, np.stack(rows), rtol=1e-6)


def test_a_body_reading_an_undefined_value_does_not_parse():
    text = LOOP.replace("%1 = Add(%0, %k)", "%1 = Add(%0, %nowhere)")
    with pytest.raises(IRError, match=r"line 6, column 20: value %nowhere used before its definition"):
        parse_graph(text)


def test_a_body_reading_an_outer_value_is_a_verifier_error():
    g = parse_graph(LOOP)
    body = g.ops[0].regions["body"]
    body.ops[0].set_operand(1, g.inputs[2])  # the outer %w, not the captured one
    with pytest.raises(IRError, match=r"region body: .*Mul.*operand 1 %w belongs to an "
                                      r"enclosing graph"):
        verify(g)


def test_a_loop_carry_changing_type_is_a_verifier_error():
    text = LOOP.replace("%1 = Add(%0, %k) : f32[2]", "%1 = Cast(%0) {to=7} : i64[2]").replace(
        "-> (bool[], f32[2], f32[2])", "-> (bool[], i64[2], f32[2])")
    g = parse_graph(text)
    with pytest.raises(IRError, match=r"Loop \(loop\).*loop-carried value 0 enters the body "
                                      r"as f32\[2\] and leaves it as i64\[2\]"):
        verify(g)


def test_captures_must_match_the_body_inputs():
    text = LOOP.replace("%w: f32[2]) -> (bool[]", "%w: f16[2]) -> (bool[]")
    with pytest.raises(IRError, match=r"region body capture 0 %w is f16\[2\], the captured "
                                      r"value is f32\[2\]"):
        verify(parse_graph(text))
    with pytest.raises(IRError, match=r"captures=5 but the op has 4 operands"):
        verify(parse_graph(LOOP.replace("{captures=1}", "{captures=5}")))


def test_regions_must_be_the_ones_the_op_takes():
    text = LOOP.replace("body: graph", "then_branch: graph")
    with pytest.raises(IRError, match=r"has regions \['then_branch'\], the op takes \['body'\]"):
        verify(parse_graph(text))
