"""fuse: elementwise trees become FusedElementwise ops with identical results."""

import numpy as np
import pytest

from singa.ir import DType, TensorType
from singa.ir.graph import Graph
from singa.ir.verifier import verify
from singa.ops import OPS
from singa.passes import Fuse

from ._helpers import assert_ir, assert_same_outputs, run_pass

RNG = np.random.default_rng(4)


def test_a_tree_with_a_shared_value_fuses_up_to_a_multi_use_boundary():
    before, g = run_pass(Fuse(), '''
        graph @g(%x: f32[N,3], %b: f32[3]) -> (f32[N,3], f32[N,3]) {
          %0 = Mul(%x, %x) : f32[N,3]  # mul
          %1 = Sigmoid(%0) : f32[N,3]  # sig
          %2 = Mul(%1, %0) : f32[N,3]  # swish
          %3 = Add(%2, %b) : f32[N,3]  # bias
          %h = Relu(%3) : f32[N,3]  # relu
          %5 = Exp(%h) : f32[N,3]
          %6 = Neg(%h) : f32[N,3]
          return %5, %6
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[N,3], %b: f32[3]) -> (f32[N,3], f32[N,3]) {
          %h = FusedElementwise(%x, %b) {body_args=[[0,0],[2],[3,2],[4,1],[5]], body_attrs=[[],[],[],[],[]], body_ops=["Mul","Sigmoid","Mul","Add","Relu"]} : f32[N,3]  # mul + sig + swish + bias + relu
          %0 = Exp(%h) : f32[N,3]
          %1 = Neg(%h) : f32[N,3]
          return %0, %1
        }
    ''')
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    assert_same_outputs(before, g, [x, x[0]])
    assert Fuse().run(g) is False  # nothing left to fuse


def test_outputs_opaque_ops_and_attributes():
    before, g = run_pass(Fuse(), '''
        graph @g(%x: f32[2,3], %y: f32[2,3]) -> (f32[1,1], i32[2,3]) {
          %c = const f32[] {value=[0.5]}
          %0 = Add(%x, %c) : f32[2,3]
          %1 = LeakyRelu(%0) {alpha=0.2} : f32[2,3]
          %2 = Less(%1, %y) : bool[2,3]
          %3 = Where(%2, %1, %y) : f32[2,3]
          %4 = Cast(%2) {to=6} : i32[2,3]
          %5 = ReduceSum(%3) {keepdims=1} : f32[1,1]
          %6 = Relu(%5) : f32[1,1]
          %7 = Exp(%6) : f32[1,1]
          return %7, %4
        }
    ''')
    text = str(g)
    # %1 and %2 are read by two ops each, %4 is an output: only Add+LeakyRelu fuse
    # before the reduction, Relu+Exp after it
    assert [op.name for op in g.ops] == ["FusedElementwise", "Less", "Where", "Cast",
                                        "ReduceSum", "FusedElementwise"], text
    assert 'body_attrs=[[],["alpha",0.2]]' in text
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    assert_same_outputs(before, g, [x, x[::-1].copy()])


def test_every_fusible_op_has_a_template():
    from singa.ops.base import Pattern

    missing = [n for n, d in OPS.items()
               if d.pattern <= Pattern.BROADCAST and d.cuda is None and n != "FusedElementwise"]
    assert missing == []


def test_ops_without_a_cuda_template_are_fused_only_when_allowed(monkeypatch):
    monkeypatch.setattr(OPS["IsInf"], "cuda", None)
    text = '''
        graph @g(%x: f32[3]) -> (bool[3]) {
          %0 = Relu(%x) : f32[3]
          %1 = IsInf(%0) : bool[3]
          %2 = Not(%1) : bool[3]
          return %2
        }
    '''
    assert OPS["IsInf"].cuda is None
    _, g = run_pass(Fuse(), text)
    assert [op.name for op in g.ops] == ["Relu", "IsInf", "Not"]
    before, g = run_pass(Fuse(require_cuda=False), text)
    assert [op.name for op in g.ops] == ["FusedElementwise"]
    assert_same_outputs(before, g, [np.array([np.inf, -1, 2], np.float32)])


UNARY = ["Relu", "Exp", "Neg", "Sigmoid", "Tanh", "Abs"]
BINARY = ["Add", "Mul", "Sub", "Max"]


def _random_graph(seed):
    rng = np.random.default_rng(seed)
    g = Graph()
    vals = [g.add_input("x", TensorType(DType.FLOAT, ("N", 4))),
            g.add_input("y", TensorType(DType.FLOAT, (4,))),
            g.add_const(rng.standard_normal(4).astype(np.float32), "c")]
    for _ in range(25):
        if rng.uniform() < 0.15:
            a = vals[int(rng.integers(len(vals)))]
            op = g.add_op("MatMul", [a, g.add_const(np.eye(4, dtype=np.float32))], [a.type])
        elif rng.uniform() < 0.5:
            a = vals[int(rng.integers(len(vals)))]
            op = g.add_op(str(rng.choice(UNARY)), [a], [a.type])
        else:
            a, b = (vals[int(i)] for i in rng.integers(len(vals), size=2))
            shape = a.type.shape if len(a.type.shape) >= len(b.type.shape) else b.type.shape
            op = g.add_op(str(rng.choice(BINARY)), [a, b], [TensorType(DType.FLOAT, shape)])
        vals.append(op.results[0])
    g.set_outputs([vals[-1], vals[len(vals) // 2], vals[-3]])
    return g


@pytest.mark.parametrize("seed", range(10))
def test_random_graphs_compute_the_same_after_fusion(seed):
    g = _random_graph(seed)
    before = g.clone()
    Fuse().run(g)
    verify(g)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    assert_same_outputs(before, g, [x, x[0]])
