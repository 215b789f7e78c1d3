"""plan_memory: slots by liveness; live values never share one; chains reuse."""

import numpy as np
import pytest

from singa.ir import DType, TensorType
from singa.ir.graph import Graph
from singa.passes import PlanMemory
from singa.passes.plan_memory import value_bytes

from ._helpers import run_pass


def _check(g):
    plan = g.memory_plan
    planned = list(plan)
    for v in planned:
        assert plan.slot_bytes[plan[v]] >= value_bytes(v)
    for i, a in enumerate(planned):
        for b in planned[i + 1:]:
            if plan[a] == plan[b]:
                (s1, e1), (s2, e2) = plan.live[a], plan.live[b]
                assert e1 < s2 or e2 < s1, f"{a} and {b} share slot {plan[a]} while both live"
    return plan


def test_a_chain_ping_pongs_between_two_slots():
    _, g = run_pass(PlanMemory(), '''
        graph @g(%x: f32[1000]) -> (f32[1000]) {
          %0 = Relu(%x) : f32[1000]
          %1 = Exp(%0) : f32[1000]
          %2 = Neg(%1) : f32[1000]
          %3 = Relu(%2) : f32[1000]
          %4 = Exp(%3) : f32[1000]
          %5 = Neg(%4) : f32[1000]
          return %5
        }
    ''', expect_changed=False)
    plan = _check(g)
    assert [plan[op.results[0]] for op in g.ops[:-1]] == [0, 1, 0, 1, 0]
    assert g.outputs[0] not in plan and g.inputs[0] not in plan
    assert plan.naive_bytes == 5 * 4000 and plan.peak_bytes == 2 * 4000


def test_values_used_later_keep_their_slot_and_small_values_reuse_big_slots():
    _, g = run_pass(PlanMemory(), '''
        graph @g(%x: f32[100]) -> (f32[110]) {
          %i = const i64[10] {value=[0,1,2,3,4,5,6,7,8,9]}
          %0 = Relu(%x) : f32[100]
          %1 = Exp(%0) : f32[100]
          %2 = Gather(%1, %i) {axis=0} : f32[10]
          %3 = Neg(%2) : f32[10]
          %4 = Relu(%3) : f32[10]
          %5 = Concat(%0, %4) {axis=0} : f32[110]
          return %5
        }
    ''')
    plan = _check(g)
    # %0 lives until the last op, so nothing else may take its slot; %3 reuses the
    # slot %1 freed, %4 the one of %2 (the smallest that fits)
    assert [plan[op.results[0]] for op in g.ops[:-1]] == [0, 1, 2, 1, 2]
    assert plan.slot_bytes == [400, 400, 40] and plan.naive_bytes == 400 * 2 + 40 * 3


def _random_graph(seed, n_ops=30):
    rng = np.random.default_rng(seed)
    g = Graph()
    vals = [g.add_input("x", TensorType(DType.FLOAT, (int(rng.integers(1, 5)), 8)))]
    for _ in range(n_ops):
        a = vals[int(rng.integers(len(vals)))]
        if rng.uniform() < 0.5:
            b = vals[int(rng.integers(len(vals)))]
            shape = (max(a.type.shape[0], b.type.shape[0]) if 1 in (a.type.shape[0],
                     b.type.shape[0]) or a.type.shape[0] == b.type.shape[0] else None, 8)
            if shape[0] is None:
                continue
            op = g.add_op("Add", [a, b], [TensorType(DType.FLOAT, shape)])
        else:
            op = g.add_op(str(rng.choice(["Relu", "Exp", "Neg"])), [a], [a.type])
        vals.append(op.results[0])
    g.set_outputs([vals[-1], vals[len(vals) // 2]])
    return g


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_never_share_a_slot_between_live_values(seed):
    g = _random_graph(seed)
    PlanMemory().run(g)
    plan = _check(g)
    assert plan.peak_bytes <= plan.naive_bytes
    assert set(plan) == {r for op in g.ops for r in op.results} - set(g.outputs)
