"""PassManager and the default pipeline: order, verification, dumps, timings."""

import numpy as np
import pytest

from singa.errors import IRError
from singa.ir.parser import parse_graph
from singa.ir.printer import print_graph
from singa.passes import Pass, PassManager, default_pipeline

from ._helpers import assert_ir, assert_same_outputs, ir

RNG = np.random.default_rng(2)
MODEL = '''
    graph @m(%x: f32[N,1,6,6]) -> (?) {
      %W = param f32[2,1,3,3]
      %scale = param f32[2]
      %B = param f32[2]
      %mean = param f32[2]
      %var = param f32[2]
      %fc = param f32[32,3]
      %a = const i64[1] {value=[-1]}
      %b = const i64[1] {value=[32]}
      %0 = Conv(%x, %W) {kernel_shape=[3,3]}  # conv1
      %1 = BatchNormalization(%0, %scale, %B, %mean, %var)  # bn1
      %2 = Relu(%1)  # relu1
      %3 = Concat(%a, %b) {axis=0}  # shape
      %4 = Reshape(%2, %3)  # flatten
      %5 = Exp(%4)  # unused
      %6 = MatMul(%4, %fc)  # fc
      return %6
    }
'''
DATA = {"W": RNG.standard_normal((2, 1, 3, 3)).astype(np.float32),
        "scale": np.array([1.5, 0.5], np.float32), "B": np.array([0.1, -0.2], np.float32),
        "mean": np.array([0.3, -0.1], np.float32), "var": np.array([2.0, 0.5], np.float32),
        "fc": RNG.standard_normal((32, 3)).astype(np.float32)}
X = RNG.standard_normal((2, 1, 6, 6)).astype(np.float32)


def test_default_pipeline_end_to_end_with_dumps(tmp_path):
    g = parse_graph(ir(MODEL), data=DATA)
    before = g.clone()
    pm = default_pipeline(dump_dir=tmp_path)
    names = ["infer_shapes", "fold_constants", "fold_batchnorm", "eliminate_dead_code",
             "infer_shapes"]
    assert [p.name for p in pm.passes] == names
    assert pm.run(g) is True
    assert_ir(g, '''
        graph @m(%x: f32[N,1,6,6]) -> (f32[N,3]) {
          %fc = param f32[32,3]
          %W_bnfold = param f32[2,1,3,3]
          %W_bias_bnfold = param f32[2]
          %0 = const i64[2] {value=[-1,32]}
          %1 = Conv(%x, %W_bnfold, %W_bias_bnfold) {kernel_shape=[3,3]} : f32[N,2,4,4]  # conv1
          %2 = Relu(%1) : f32[N,2,4,4]  # relu1
          %3 = Reshape(%2, %0) : f32[N,32]  # flatten
          %4 = MatMul(%3, %fc) : f32[N,3]  # fc
          return %4
        }
    ''')
    assert_same_outputs(before, g, [X], rtol=1e-5, atol=1e-5)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00-input.ir"] + [f"{k:02d}-{n}.ir" for k, n in enumerate(names, 1)]
    assert (tmp_path / "05-infer_shapes.ir").read_text() == print_graph(g)
    assert parse_graph((tmp_path / "00-input.ir").read_text())  # dumps parse back
    assert [n for n, _ in pm.timings] == names and all(t >= 0 for _, t in pm.timings)


def test_pipeline_options():
    names = lambda pm: [p.name for p in pm.passes]  # noqa: E731
    assert names(default_pipeline(last_layers=-1, training=True, bool_to_int32=True)) == [
        "infer_shapes", "truncate", "fold_constants", "bool_to_int32", "eliminate_dead_code",
        "infer_shapes"]
    assert names(default_pipeline(plan_memory=True))[-1] == "plan_memory"


def test_truncating_pipeline_matches_the_intermediate_value():
    g = parse_graph(ir(MODEL), data=DATA)
    before = g.clone()
    default_pipeline(last_layers=3).run(g)  # conv, bn, relu
    assert [op.name for op in g.ops] == ["Conv", "Relu"]
    from singa.ir.interpret import interpret
    want = interpret(before, [X], return_env=True)[before.ops[2].results[0]]
    np.testing.assert_allclose(interpret(g, [X])[0], want, rtol=1e-5, atol=1e-5)


class _Breaker(Pass):
    name = "breaker"

    def run(self, graph):
        graph.ops.reverse()  # operands now used before their definitions
        return True


def test_verification_failure_names_the_pass_and_dumps_the_broken_ir(tmp_path):
    g = parse_graph(ir(MODEL), data=DATA)
    with pytest.raises(IRError, match="(?s)after pass breaker: .*used before its definition"):
        PassManager([_Breaker()], dump_dir=tmp_path).run(g)
    assert (tmp_path / "01-breaker.ir").exists()
    g = parse_graph(ir(MODEL), data=DATA)
    assert PassManager([_Breaker()], verify=False).run(g) is True


def test_nothing_to_do_reports_unchanged():
    g = parse_graph(ir('''
        graph @g(%x: f32[3]) -> (f32[3]) {
          %0 = Relu(%x) : f32[3]
          return %0
        }
    '''))
    assert default_pipeline().run(g) is False
