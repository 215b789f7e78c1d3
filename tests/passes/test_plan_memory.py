"""plan_memory: slots by liveness; live values never share one; chains reuse."""

import numpy as np
import pytest

from singa.ir import DType, TensorType
from singa.ir.graph import Graph
from singa.passes import PlanMemory
from singa.passes.plan_memory import assign_offsets, assign_slots, value_bytes

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
    order = list(plan)
    lives = [plan.live[v] + (value_bytes(v),) for v in order]
    _no_overlap(lives, [plan.offsets[v] for v in order], plan.peak_bytes)
    assert set(plan) == {r for op in g.ops for r in op.results} - set(g.outputs)


def _no_overlap(lives, offsets, total):
    """Values live at the same position never share a byte; all lie in the arena."""
    for k, ((f1, l1, n1), o1) in enumerate(zip(lives, offsets)):
        assert 0 <= o1 and o1 + n1 <= total
        for (f2, l2, n2), o2 in zip(lives[k + 1:], offsets[k + 1:]):
            if f1 <= l2 and f2 <= l1 and n1 and n2:
                assert o1 + n1 <= o2 or o2 + n2 <= o1, (f1, l1, n1, o1, f2, l2, n2, o2)


def _most_live(lives):
    return max(sum(n for f, l, n in lives if f <= t <= l)
               for t in range(max(l for _, l, _ in lives) + 1))


def test_offsets_share_what_growing_slots_waste():
    """A big value, then a small one that takes its slot while the next big value
    finds only a small slot free, which grows: slots hold 2 x 1000 bytes; in one
    arena the two big values share their bytes and the small ones sit above."""
    lives = [(0, 1, 1000), (1, 2, 10), (2, 3, 10), (3, 4, 1000), (4, 5, 10)]
    _, sizes = assign_slots(lives)
    offsets, total = assign_offsets(lives)
    _no_overlap(lives, offsets, total)
    assert sum(sizes) == 2000 and _most_live(lives) == 1010 and total == 1020
    assert offsets[0] == offsets[3] == 0


@pytest.mark.parametrize("seed", range(6))
def test_offsets_of_random_lives_never_overlap(seed):
    rng = np.random.default_rng(seed)
    lives = []
    for first in sorted(rng.integers(0, 40, 60)):
        lives.append((int(first), int(first + rng.integers(0, 8)),
                      int(rng.choice([0, 4, 64, 1000, 4096]))))
    offsets, total = assign_offsets(lives)
    _no_overlap(lives, offsets, total)
    assert _most_live(lives) <= total <= sum(n for _, _, n in lives)
