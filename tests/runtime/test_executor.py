"""Executor: input checks, plan cache, weights read live or re-folded, errors.

Reference: ``singa.ir.interpret`` on the same graph (with the same weights).
"""

from __future__ import annotations

import numpy as np
import pytest

from singa.errors import InputError, IRError, ShapeError
from singa.ir.interpret import interpret
from singa.ir.parser import parse_graph
from singa.runtime.executor import Executor, check_inputs

RNG = np.random.default_rng(0)

CNN = """
graph @cnn(%x: f32[N,2,6,6]) -> (f32[N,5]) opset 13 {
  %w = param f32[4,2,3,3]
  %b = param f32[4]
  %scale = param f32[4]
  %bias = param f32[4]
  %mean = param f32[4]
  %var = param f32[4]
  %shape = param i64[2]
  %fw = param f32[5,64]
  %c = Conv(%x, %w, %b) {kernel_shape=[3,3]}  # conv
  %n = BatchNormalization(%c, %scale, %bias, %mean, %var)  # bn
  %r = Relu(%n)  # relu
  %f = Reshape(%r, %shape)  # flat
  %y = Gemm(%f, %fw) {transB=1}  # fc
  return %y
}
"""


def weights():
    return {"w": RNG.normal(size=(4, 2, 3, 3)).astype(np.float32),
            "b": RNG.normal(size=4).astype(np.float32),
            "scale": RNG.uniform(0.5, 2, 4).astype(np.float32),
            "bias": RNG.normal(size=4).astype(np.float32),
            "mean": RNG.normal(size=4).astype(np.float32),
            "var": RNG.uniform(0.5, 2, 4).astype(np.float32),
            "shape": np.array([-1, 64], np.int64),
            "fw": RNG.normal(size=(5, 64)).astype(np.float32)}


def cnn(data=None):
    return parse_graph(CNN, data=data or weights())


def x(n=2):
    return RNG.normal(size=(n, 2, 6, 6)).astype(np.float32)


def ref(g, xs, params=None):
    g = g.clone()
    for v in g.params:
        if params is not None:
            v.data = params[v.name]
    return interpret(g, xs)


@pytest.mark.parametrize("fold,fuse", [(False, False), (True, False), (True, True)])
def test_matches_interpreter_any_batch(fold, fuse):
    g = parse_graph(CNN.replace("%r = Relu(%n)", "%e = Elu(%n)\n  %r = Relu(%e)"),
                    data=weights())
    ex = Executor(g, fold_params=fold, fuse=fuse, verify=True, check=True)
    if fuse:
        steps = [s.op for s in ex.plan_for([x(1)]).plan.steps]
        assert any("FusedElementwise" in s for s in steps) and "Elu" not in steps
    for n in (1, 3, 1):
        xs = [x(n)]
        np.testing.assert_allclose(ex.run(xs)[0], ref(g, xs)[0], rtol=1e-5, atol=1e-5)


def test_plan_cache_keys():
    g = cnn()
    ex = Executor(g)
    ex.run([x(2)])
    c2 = ex.plan_for([x(2)])
    assert ex.plan_for([x(2)]) is c2
    assert ex.plan_for([x(3)]) is not c2
    assert ex.plan_for([x(2)], last_layers=2) is not c2
    assert ex.plan_for([x(2)], all_outputs=True) is not c2
    assert ex.plan_for([x(2)]) is c2


def test_fold_params_really_folds_but_sees_weight_changes():
    g = cnn()
    p = {v.name: v.data.copy() for v in g.params}
    ex = Executor(g, fold_params=True)
    xs = [x(2)]
    ex.run(xs, params=p)
    compiled = ex.plan_for(xs, params=p)
    assert "BatchNormalization" not in [s.op for s in compiled.plan.steps]
    p["scale"] *= 2  # in place, as an optimiser does
    np.testing.assert_allclose(ex.run(xs, params=p)[0], ref(g, xs, p)[0], rtol=1e-5, atol=1e-5)
    assert ex.plan_for(xs, params=p) is not compiled  # rebuilt with the new statistics


def test_live_weights_are_read_each_run():
    g = cnn()
    p = {v.name: v.data.copy() for v in g.params}
    ex = Executor(g)
    xs = [x(2)]
    ex.run(xs, params=p)
    compiled = ex.plan_for(xs, params=p)
    p["w"] -= 0.1 * np.sign(p["w"])
    p["fw"] = p["fw"] * 3  # rebound, not in place
    np.testing.assert_allclose(ex.run(xs, params=p)[0], ref(g, xs, p)[0], rtol=1e-5, atol=1e-5)
    assert ex.plan_for(xs, params=p) is compiled  # float weights are read live: no rebuild


def test_weights_read_in_place_are_aligned_and_still_read_live():
    """The executor moves the data of each weight a GEMM reads in place (a
    MatMul's B, a Gemm's untransposed B) to a cache-line boundary; the moved
    arrays are the graph's (and so a SingaRep's tensor_map's), and changes made
    in place reach the kernels.  Other weights stay where they are."""
    from singa.runtime.executor import ALIGN, aligned

    text = """
graph @mm(%x: f32[N,7,64]) -> (f32[N,7,5]) opset 13 {
  %w = param f32[64,5]
  %u = param f32[5,5]
  %b = param f32[7,5]
  %y = MatMul(%x, %w)  # mm
  %z = Gemm(%b, %u) {transB=1}  # gemm
  %o = Add(%y, %z)  # add
  return %o
}
"""

    def odd(shape):  # 4 bytes past a boundary
        a = np.empty(int(np.prod(shape)) + 16, np.float32)
        a = a[(-a.ctypes.data % ALIGN) // 4 + 1:][:int(np.prod(shape))].reshape(shape)
        a[...] = RNG.normal(size=shape)
        return a

    data = {"w": odd((64, 5)), "u": odd((5, 5)), "b": RNG.normal(size=(7, 5)).astype(np.float32)}
    g = parse_graph(text, data=data)
    ex = Executor(g)
    byname = {v.name: v.data for v in g.params}
    assert byname["w"].ctypes.data % ALIGN == 0 and aligned(byname["w"]) is byname["w"]
    np.testing.assert_array_equal(byname["w"], data["w"])
    assert byname["u"] is data["u"]  # transposed: not read in place, not moved
    xs = [RNG.normal(size=(2, 7, 64)).astype(np.float32)]
    ex.run(xs)
    byname["w"] *= -2.0  # in place, as an optimiser does
    np.testing.assert_allclose(ex.run(xs)[0], ref(g, xs)[0], rtol=1e-5, atol=1e-5)


def test_integer_weights_folded_into_shapes_are_checked():
    g = parse_graph("""
graph @g(%x: f32[N,6]) -> (f32[?,?]) {
  %s = param i64[2]
  %0 = Reshape(%x, %s)
  return %0
}""", data={"s": np.array([-1, 3], np.int64)})
    p = {"s": np.array([-1, 3], np.int64)}
    ex = Executor(g)
    xs = [np.arange(12, dtype=np.float32).reshape(2, 6)]
    assert ex.run(xs, params=p)[0].shape == (4, 3)
    p["s"][1] = 2
    assert ex.run(xs, params=p)[0].shape == (6, 2)


def test_last_layers_and_all_outputs():
    g = cnn()
    ex = Executor(g)
    xs = [x(2)]
    env = {v.name: a for v, a in interpret(g, xs, return_env=True).items()}
    np.testing.assert_allclose(ex.run(xs, last_layers=-1)[0], env["f"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.run(xs, last_layers=1)[0], env["c"], rtol=1e-5, atol=1e-6)
    allv = ex.run(xs, all_outputs=True)
    assert list(allv) == ["c", "n", "r", "f", "y"]
    for k, a in allv.items():
        np.testing.assert_allclose(a, env[k], rtol=1e-5, atol=1e-5)
    with pytest.raises(IRError, match="last_layers"):
        ex.run(xs, last_layers=9)


def test_check_inputs_errors_name_the_input():
    g = parse_graph("""
graph @g(%a: f32[N,3,4], %b: i64[N], %c: f32[K,2]) -> (f32[N,3,4]) {
  %0 = Identity(%a)
  return %0
}""")
    a, b, c = np.zeros((2, 3, 4), np.float32), np.zeros(2, np.int64), np.zeros((5, 2), np.float32)
    assert check_inputs(g, [a, b, c]) == [(2, 3, 4), (2,), (5, 2)]
    with pytest.raises(InputError, match="3 input"):
        check_inputs(g, [a, b])
    with pytest.raises(InputError, match=r"'b'.*i64.*int32"):
        check_inputs(g, [a, b.astype(np.int32), c])
    with pytest.raises(InputError, match=r"'a'.*rank 3.*rank 2"):
        check_inputs(g, [a[0], b, c])
    with pytest.raises(InputError, match=r"'a'.*f32\[N,3,4\].*dim 2 is 5"):
        check_inputs(g, [np.zeros((2, 3, 5), np.float32), b, c])
    with pytest.raises(InputError, match=r"'c'.*dim 1"):
        check_inputs(g, [a, b, np.zeros((5, 3), np.float32)])
    # the leading (batch) dim is free, static or symbolic
    check_inputs(g, [np.zeros((7, 3, 4), np.float32), b, c])


def test_symbols_must_agree_beyond_batch():
    g = parse_graph("""
graph @g(%a: f32[N,L], %b: f32[N,L]) -> (f32[N,L]) {
  %0 = Add(%a, %b)
  return %0
}""")
    with pytest.raises(InputError, match=r"'b'.*L.*is 4.*3"):
        check_inputs(g, [np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])


def test_static_batch_dim_respecialises():
    g = parse_graph("""
graph @g(%x: f32[1,3]) -> (f32[1,3]) {
  %0 = Neg(%x)
  return %0
}""")
    xs = [np.arange(15, dtype=np.float32).reshape(5, 3)]
    np.testing.assert_array_equal(Executor(g).run(xs)[0], -xs[0])


def test_runtime_failure_keeps_its_error_class_and_names_the_node():
    g = parse_graph("""
graph @g(%x: f32[6], %s: i64[2]) -> (f32[?,?]) {
  %0 = Reshape(%x, %s)  # my_reshape
  return %0
}""")
    with pytest.raises(ShapeError, match=r"^Reshape \(my_reshape\): cannot reshape \(6,\) to"):
        Executor(g).run([np.zeros(6, np.float32), np.array([4, 4])])


def test_dump_dir_writes_pass_ir_and_plan(tmp_path):
    ex = Executor(cnn(), dump_dir=tmp_path)
    ex.run([x(2)])
    (sub,) = list(tmp_path.iterdir())
    names = sorted(p.name for p in sub.iterdir())
    assert names[0] == "00-input.ir" and "plan.txt" in names
    assert any(n.endswith("-fold_constants.ir") for n in names)
    plan = (sub / "plan.txt").read_text()
    if ex.target == "c":  # the CPU default with a C compiler: the columns' product
        assert "launch conv_gemm" in plan
        assert any(n.endswith("-lower_conv.ir") for n in names)
    else:
        assert "Conv(" in plan


def test_a_replay_leaves_the_buffers_the_steps_would():
    """After a recorded segment replays, the buffers outliving it hold what its
    steps would have put there: arena views, views of fixed memory, in place
    results naming an input made before the segment; buffers the segment frees
    are cleared, and those it makes and frees are not touched."""
    from types import SimpleNamespace as NS

    from singa.runtime.executor import _settling

    kernel = NS(inplace=None, inputs=[0])
    inplace = NS(inplace=0, inputs=[0])
    segment = [
        NS(index=4, kernel=kernel, inputs=[1], outputs=[10], frees=[]),  # view of step 4
        NS(index=5, kernel=None, inputs=[10], outputs=[11], frees=[]),  # a fixed view
        NS(index=6, kernel=inplace, inputs=[2], outputs=[12], frees=[2]),  # over buffer 2
        NS(index=7, kernel=kernel, inputs=[11], outputs=[13], frees=[11, 1]),
        NS(index=8, kernel=inplace, inputs=[13], outputs=[14], frees=[13]),
    ]
    left = {bid: (kind, at) for bid, kind, at in _settling(segment)}
    assert left == {10: (0, 4), 12: (2, 2), 2: (3, None), 1: (3, None), 14: (0, 7)}
