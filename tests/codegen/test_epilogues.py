"""codegen.cpu epilogue fusion: a fresh result and the chain of elementwise ops
reading it become one step that works in place.

Reference: ``singa.ir.interpret`` (op by op, every op allocating its result) on
the same graph.  The epilogues repeat the ops' arithmetic in place, so results
must be bitwise equal, not just close.
"""

from __future__ import annotations

import numpy as np
import pytest

from singa import device
from singa.codegen.cpu import lower
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.passes import InferShapes, PlanMemory
from singa.runtime.executor import run_plan

RNG = np.random.default_rng(7)


def _f32(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def _plan(text, data, **kw):
    g = parse_graph(text, data=data)
    InferShapes().run(g)
    PlanMemory().run(g)
    return g, lower(g, device.get_default_device(), live_params=set(data), **kw)


def _check_equal(g, plan, xs, data):
    ref = interpret(g, xs)
    got = run_plan(plan, xs, data)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    return got


RESBLOCK = """
graph @g(%x: f32[2,3,6,6]) -> (f32[2,4,6,6]) {
  %W = param f32[4,3,3,3]
  %scale = param f32[4]
  %B = param f32[4]
  %mean = param f32[4]
  %var = param f32[4]
  %Ws = param f32[4,3,1,1]
  %c = Conv(%x, %W) {kernel_shape=[3,3], pads=[1,1,1,1]}  # conv
  %bn = BatchNormalization(%c, %scale, %B, %mean, %var) {epsilon=0.001}  # bn
  %s = Conv(%x, %Ws)  # shortcut
  %sum = Add(%s, %bn)  # add
  %lo = const f32[] {value=0.0}
  %hi = const f32[] {value=0.5}
  %y = Clip(%sum, %lo, %hi)  # clip
  return %y
}
"""


def _resblock_data():
    return {"W": _f32(4, 3, 3, 3), "scale": _f32(4, low=0.5, high=2), "B": _f32(4),
            "mean": _f32(4), "var": _f32(4, low=0.1, high=2), "Ws": _f32(4, 3, 1, 1)}


def test_conv_bn_add_clip_is_one_step_and_bitwise_equal():
    data = _resblock_data()
    g, plan = _plan(RESBLOCK, data)
    ops = [s.op for s in plan.steps]
    # the shortcut conv runs first: the fused step waits for its operand
    assert ops == ["Conv", "Conv+BatchNormalization+Add+Clip"]
    fused = plan.steps[1]
    assert [e[0] for e in fused.epilogue] == ["BatchNormalization", "Add", "Clip"]
    assert fused.loc == "conv, bn, add, clip"
    # the absorbed intermediates have no buffers; the shortcut dies at the fused step
    names = {b.name for b in plan.buffers}
    assert {"c", "bn", "sum"}.isdisjoint(names) and "y" in names
    assert plan.buffer_of("s").id in fused.frees
    text = str(plan)
    assert "-> BatchNormalization(^, b" in text and "-> Add(b" in text and "in place" in text
    x = _f32(2, 3, 6, 6, low=-2, high=2)
    x0 = x.copy()
    before = {k: v.copy() for k, v in data.items()}
    for _ in range(2):  # a second run sees the same inputs: nothing was overwritten
        _check_equal(g, plan, [x], data)
    np.testing.assert_array_equal(x, x0)
    for k in data:
        np.testing.assert_array_equal(data[k], before[k])


def test_unfused_when_intermediate_is_shared_output_or_collected():
    text = """
graph @g(%x: f32[1,2,4,4]) -> (f32[1,3,4,4], f32[1,3,4,4]) {
  %W = param f32[3,2,1,1]
  %c = Conv(%x, %W)
  %r = Relu(%c)
  %t = Tanh(%c)
  %c2 = Conv(%x, %W)
  %r2 = Relu(%c2)
  %r3 = Relu(%r2)
  return %r, %r2
}"""
    data = {"W": _f32(3, 2, 1, 1)}
    g, plan = _plan(text, data)
    # %c has two readers, %r2 is a graph output: no chain reaches past them
    assert [s.op for s in plan.steps] == ["Conv", "Relu", "Tanh", "Conv+Relu", "Relu"]
    x = _f32(1, 2, 4, 4)
    _check_equal(g, plan, [x], data)
    _, every = _plan(text, data, collect_all=True)
    assert all("+" not in s.op for s in every.steps)
    _, off = _plan(text, data, fuse_epilogues=False)
    assert all("+" not in s.op for s in off.steps)


def test_position_sensitive_epilogues():
    # Sub with the running value second, Sum with it in the middle and last,
    # Mul broadcasting a per-channel factor into it
    text = """
graph @g(%x: f32[2,3,4,5], %z: f32[2,3,4,5], %u: f32[2,3,4,5]) -> (f32[2,3,4,5]) {
  %k = param f32[3,1,1]
  %a = Add(%x, %z)
  %d = Sub(%u, %a)
  %s = Sum(%z, %d, %u)
  %m = Mul(%k, %s)
  %a2 = Add(%x, %u)
  %s2 = Sum(%z, %u, %a2)
  %e = Sub(%s2, %m)
  return %e
}"""
    data = {"k": _f32(3, 1, 1)}
    g, plan = _plan(text, data)
    # the first chain takes the final Sub too, so it runs after the second one
    assert [s.op for s in plan.steps] == ["Add+Sum", "Add+Sub+Sum+Mul+Sub"]
    xs = [_f32(2, 3, 4, 5, low=-3, high=3) for _ in range(3)]
    keep = [a.copy() for a in xs]
    _check_equal(g, plan, xs, data)
    for a, b in zip(xs, keep):
        np.testing.assert_array_equal(a, b)


def test_operands_that_do_not_fit_fall_back_to_the_op():
    # Add broadcasting the conv's (1, ...) result up to batch 3, and a
    # BatchNormalization with float64 statistics on float32 data: the op's own
    # compute runs (new array, its own promotion rules)
    text = """
graph @g(%x: f32[1,2,4,4], %o: f32[3,3,4,4]) -> (f32[3,3,4,4], f32[1,3,4,4]) {
  %W = param f32[3,2,1,1]
  %scale = param f64[3]
  %B = param f64[3]
  %mean = param f64[3]
  %var = param f64[3]
  %c = Conv(%x, %W)
  %y = Add(%c, %o)
  %c2 = Conv(%x, %W)
  %bn = BatchNormalization(%c2, %scale, %B, %mean, %var)
  %r = Relu(%bn)
  return %y, %r
}"""
    data = {"W": _f32(3, 2, 1, 1),
            "scale": RNG.uniform(0.5, 2, 3), "B": RNG.uniform(-1, 1, 3),
            "mean": RNG.uniform(-1, 1, 3), "var": RNG.uniform(0.1, 2, 3)}
    g, plan = _plan(text, data)
    assert [s.op for s in plan.steps] == ["Conv+Add", "Conv+BatchNormalization+Relu"]
    _check_equal(g, plan, [_f32(1, 2, 4, 4), _f32(3, 3, 4, 4)], data)


@pytest.mark.parametrize("n", [1, 9])
def test_depthwise_conv_clip_chain(n):
    # MobileNet's block: depthwise 3x3 (tap-sum path) + Relu6 (Clip), 1x1 + Add
    text = f"""
graph @g(%x: f32[{n},6,7,7]) -> (f32[{n},6,7,7]) {{
  %Wd = param f32[6,1,3,3]
  %bd = param f32[6]
  %Wp = param f32[6,6,1,1]
  %lo = const f32[] {{value=0.0}}
  %hi = const f32[] {{value=6.0}}
  %d = Conv(%x, %Wd, %bd) {{group=6, pads=[1,1,1,1]}}
  %c = Clip(%d, %lo, %hi)
  %p = Conv(%c, %Wp)
  %y = Add(%p, %x)
  return %y
}}"""
    data = {"Wd": _f32(6, 1, 3, 3, low=-3, high=3), "bd": _f32(6), "Wp": _f32(6, 6, 1, 1)}
    g, plan = _plan(text, data)
    assert [s.op for s in plan.steps] == ["Conv+Clip", "Conv+Add"]
    x = _f32(n, 6, 7, 7, low=-2, high=2)
    got = _check_equal(g, plan, [x], data)
    # and against an independent float64 reference of the same block
    xp_ = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    d = np.zeros((n, 6, 7, 7)) + data["bd"].astype(np.float64)[:, None, None]
    for i in range(3):
        for j in range(3):
            d += xp_[:, :, i:i + 7, j:j + 7] * data["Wd"][:, 0, i, j].astype(np.float64)[:, None,
                                                                                          None]
    c = np.clip(d, 0, 6)
    ref = np.einsum("mc,nchw->nmhw", data["Wp"][:, :, 0, 0].astype(np.float64), c) + x
    np.testing.assert_allclose(got[0], ref, rtol=1e-5, atol=1e-5)


def test_absent_operand_and_scalar_chain():
    # Clip without a min keeps its empty operand slot; 0-d arithmetic gives
    # NumPy scalars, which the epilogue hands to the op instead of writing
    text = """
graph @g(%x: f32[2,3,4,4], %a: f32[], %b: f32[]) -> (f32[2,3,4,4], f32[]) {
  %W = param f32[3,3,1,1]
  %hi = const f32[] {value=0.25}
  %c = Conv(%x, %W)
  %y = Clip(%c, _, %hi)
  %d = Sub(%a, %b)
  %e = Mul(%d, %b)
  %f = Add(%e, %a)
  return %y, %f
}"""
    data = {"W": _f32(3, 3, 1, 1)}
    g, plan = _plan(text, data)
    assert [s.op for s in plan.steps] == ["Conv+Clip", "Sub+Mul+Add"]
    assert plan.steps[0].inputs[-2] is None  # Clip's absent min
    got = _check_equal(g, plan, [_f32(2, 3, 4, 4), np.float32(1.5), np.float32(-0.75)], data)
    assert got[0].max() <= np.float32(0.25) and got[0].min() < 0
