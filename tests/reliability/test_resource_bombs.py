"""Resource bombs: tiny models whose ops would allocate gigabytes.

Each model asks for about 10 GB (or more) somewhere; with ``max_bytes=50 MB`` the
memory budget must refuse it with a ``singa.errors`` exception naming the node or
tensor, quickly and before the array exists.  "Before" is measured three ways:
the budget's own message (``... asks for N bytes; the limit is 50,000,000``, not
the "cannot allocate" of an allocation that was tried and failed), NumPy's
allocations seen by ``tracemalloc`` (it records untouched ``np.zeros`` pages too),
and the growth of the process's peak RSS.  An address-space limit a few GB above
the current size guards the machine: an unchecked bomb fails there instead of
being killed by the OS (and the message check above still tells it apart).
"""

from __future__ import annotations

import resource
import time
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from singa import sonnx
from singa.errors import ModelError, ResourceError, ShapeError, SingaError

from ._models import external

LIMIT = 50_000_000
LIMIT_TEXT = "the limit is 50,000,000"
MB = 1 << 20
BIG = 50_000  # BIG x BIG float32 = 10 GB

pytestmark = pytest.mark.usefixtures("inference_mode")


# ---------------------------------------------------------------- measuring


@dataclass
class Outcome:
    error: BaseException | None
    seconds: float
    traced_peak: int  # bytes, tracemalloc (NumPy reports its data buffers)
    rss_growth: int  # bytes, growth of ru_maxrss


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _attempt(fn) -> Outcome:
    """Run ``fn`` under an address-space guard and measure what it allocated."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    guard = _vm_size() + 4 * (1 << 30)
    if hard != resource.RLIM_INFINITY:
        guard = min(guard, hard)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    resource.setrlimit(resource.RLIMIT_AS, (guard, hard))
    err = None
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except BaseException as e:  # noqa: BLE001 -- judged by the caller
        err = e
    finally:
        seconds = time.perf_counter() - t0
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Outcome(err, seconds, peak, rss1 - rss0)


def assert_refused(fn, names, kinds=(ResourceError,), budget_message=True,
                   max_traced=100 * MB):
    """``fn`` raises one of ``kinds`` (singa errors) naming one of ``names``, within
    2 s, without NumPy allocating more than ``max_traced`` bytes nor RSS growing 100 MB."""
    out = _attempt(fn)
    e = out.error
    assert e is not None, "the bomb ran to completion"
    assert isinstance(e, SingaError) and isinstance(e, kinds), \
        f"{type(e).__module__}.{type(e).__name__}: {e}"
    msg = str(e)
    assert any(n in msg for n in names), f"message names none of {names}: {msg}"
    if budget_message and isinstance(e, ResourceError):
        assert LIMIT_TEXT in msg, f"not refused by the budget (allocation tried?): {msg}"
    assert out.seconds < 2.0, f"took {out.seconds:.2f} s"
    assert out.traced_peak < max_traced, f"NumPy allocated {out.traced_peak / MB:.0f} MB"
    assert out.rss_growth < 100 * MB, f"peak RSS grew by {out.rss_growth / MB:.0f} MB"
    return e


# ---------------------------------------------------------------- models


def _model(nodes, inputs, outputs=("y",), inits=(), sparse=(), opset=17):
    g = helper.make_graph(nodes, "bomb",
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, TP.FLOAT, None) for n in outputs],
                          [numpy_helper.from_array(np.asarray(a), n) for n, a in inits],
                          sparse_initializer=list(sparse))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _i64(*v):
    return np.array(v, np.int64)


def _f32(*v):
    return np.array(v, np.float32)


def _run(m, *xs, max_bytes=LIMIT):
    return lambda: sonnx.prepare(m, max_bytes=max_bytes).run(list(xs))


X1 = [("x", TP.FLOAT, [1])]
ONE = np.ones(1, np.float32)


def _plus_x(node):
    """``node`` (producing ``b``) then ``y = b + x``: the bomb feeds the output."""
    return [node, helper.make_node("Add", ["b", "x"], ["y"], name="plus")]


# ---------------------------------------------------------------- the bombs


def test_constant_of_shape_of_a_constant_shape():
    m = _model(_plus_x(helper.make_node("ConstantOfShape", ["s"], ["b"], name="cos_bomb")),
               X1, inits=[("s", _i64(BIG, BIG))])
    assert_refused(_run(m, ONE), ["cos_bomb"])


def test_constant_of_shape_of_a_shape_given_at_run_time():
    m = _model(_plus_x(helper.make_node("ConstantOfShape", ["s"], ["b"], name="cos_bomb",
                                        value=numpy_helper.from_array(_f32(1.0)))),
               X1 + [("s", TP.INT64, [2])])
    assert_refused(_run(m, ONE, _i64(BIG, BIG)), ["cos_bomb"])


@pytest.mark.parametrize("dims", [[2 ** 32, 2 ** 32], [2 ** 31, 2 ** 31, 4], [2 ** 62, 4]],
                         ids=["2^64", "2^64-3d", "2^64-overflow"])
def test_constant_of_shape_whose_size_overflows_int64(dims):
    # the element count wraps to 0 in int64 arithmetic: it must not look small
    m = _model(_plus_x(helper.make_node("ConstantOfShape", ["s"], ["b"], name="cos_bomb")),
               X1, inits=[("s", _i64(*dims))])
    assert_refused(_run(m, ONE), ["cos_bomb"], (ResourceError, ShapeError))


def test_pad_with_huge_pads():
    m = _model([helper.make_node("Pad", ["x", "p"], ["y"], name="pad_bomb")],
               [("x", TP.FLOAT, [1, 1])], inits=[("p", _i64(0, 0, BIG, BIG))])
    assert_refused(_run(m, np.ones((1, 1), np.float32)), ["pad_bomb"])


def test_expand_to_a_huge_shape():
    m = _model([helper.make_node("Expand", ["x", "s"], ["y"], name="expand_bomb")], X1,
               inits=[("s", _i64(BIG, BIG))])
    assert_refused(_run(m, ONE), ["expand_bomb"])


def test_tile_with_huge_repeats():
    m = _model([helper.make_node("Tile", ["x", "r"], ["y"], name="tile_bomb")],
               [("x", TP.FLOAT, [1, 1])], inits=[("r", _i64(BIG, BIG))])
    assert_refused(_run(m, np.ones((1, 1), np.float32)), ["tile_bomb"])


def test_resize_with_huge_scales():
    m = _model([helper.make_node("Resize", ["x", "", "sc"], ["y"], name="resize_bomb",
                                 mode="nearest")],
               [("x", TP.FLOAT, [1, 1, 1, 1])], inits=[("sc", _f32(1, 1, BIG, BIG))])
    assert_refused(_run(m, np.ones((1, 1, 1, 1), np.float32)), ["resize_bomb"])


def test_resize_to_huge_sizes():
    m = _model([helper.make_node("Resize", ["x", "", "", "sz"], ["y"], name="resize_bomb",
                                 mode="nearest")],
               [("x", TP.FLOAT, [1, 1, 1, 1])], inits=[("sz", _i64(1, 1, BIG, BIG))])
    assert_refused(_run(m, np.ones((1, 1, 1, 1), np.float32)), ["resize_bomb"])


def test_upsample_with_huge_scales():
    m = _model([helper.make_node("Upsample", ["x", "sc"], ["y"], name="upsample_bomb",
                                 mode="nearest")],
               [("x", TP.FLOAT, [1, 1, 1, 1])], inits=[("sc", _f32(1, 1, BIG, BIG))], opset=9)
    assert_refused(_run(m, np.ones((1, 1, 1, 1), np.float32)), ["upsample_bomb"])


def test_range_with_a_tiny_delta_of_constants():
    m = _model([helper.make_node("Range", ["a", "b", "d"], ["y"], name="range_bomb")], [],
               inits=[("a", np.float32(0)), ("b", np.float32(1)), ("d", np.float32(1e-10))])
    assert_refused(_run(m), ["range_bomb"])


def test_range_with_a_tiny_delta_given_at_run_time():
    # float operands are not constants of the plan: the size is known only when it runs
    m = _model([helper.make_node("Range", ["a", "b", "d"], ["y"], name="range_bomb")],
               [("a", TP.FLOAT, []), ("b", TP.FLOAT, []), ("d", TP.FLOAT, [])])
    assert_refused(_run(m, np.float32(0), np.float32(1), np.float32(1e-10)), ["range_bomb"])


def test_concat_doubling_forty_times():
    nodes, prev = [], "x"
    for i in range(40):
        nodes.append(helper.make_node("Concat", [prev, prev], [f"c{i}"], name=f"double{i}",
                                      axis=0))
        prev = f"c{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="out"))
    m = _model(nodes, [("x", TP.FLOAT, [1000])])
    assert_refused(_run(m, np.ones(1000, np.float32)), ["double"])


def test_concat_doubling_of_a_constant():
    nodes, prev = [], "k"
    for i in range(40):
        nodes.append(helper.make_node("Concat", [prev, prev], [f"c{i}"], name=f"double{i}",
                                      axis=0))
        prev = f"c{i}"
    nodes.append(helper.make_node("Add", [prev, "x"], ["y"], name="plus"))
    m = _model(nodes, X1, inits=[("k", np.ones(1000, np.float32))])
    assert_refused(_run(m, ONE), ["double", "plus"])


def test_sparse_initializer_declaring_1e12_elements():
    values = numpy_helper.from_array(_f32(1), "w")
    indices = numpy_helper.from_array(_i64(0), "w_idx")
    sparse = helper.make_sparse_tensor(values, indices, [1_000_000, 1_000_000])
    m = _model([helper.make_node("Add", ["w", "x"], ["y"], name="use")], X1, sparse=[sparse])
    assert_refused(_run(m, ONE), ["'w'"])


def test_external_data_initializer_declaring_huge_dims(tmp_path):
    # a sparse 10 GB file on disk: the declared dims and the file agree, only the size is bad
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(BIG * BIG * 4)
    t = numpy_helper.from_array(np.zeros(1, np.float32), "w")
    external(t, "big.bin")
    del t.dims[:]
    t.dims.extend([BIG, BIG])
    m = _model([helper.make_node("Add", ["w", "x"], ["y"], name="use")], X1)
    m.graph.initializer.append(t)
    onnx.save(m, tmp_path / "m.onnx")
    assert_refused(_run(str(tmp_path / "m.onnx"), ONE), ["'w'"])


def test_external_data_declaring_huge_dims_over_a_short_file(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    t = numpy_helper.from_array(np.zeros(1, np.float32), "w")
    external(t, "w.bin")
    del t.dims[:]
    t.dims.extend([BIG, BIG])
    m = _model([helper.make_node("Add", ["w", "x"], ["y"], name="use")], X1)
    m.graph.initializer.append(t)
    onnx.save(m, tmp_path / "m.onnx")
    assert_refused(_run(str(tmp_path / "m.onnx"), ONE), ["'w'"],
                   (ResourceError, ModelError))


def test_gather_with_a_big_indices_initializer():
    # 400 KB of data and 400 KB of indices select a 10 GB result
    m = _model([helper.make_node("Gather", ["d", "i"], ["g"], name="gather_bomb", axis=0),
                helper.make_node("Add", ["g", "x"], ["y"], name="plus")], X1,
               inits=[("d", np.ones((2, BIG), np.float32)), ("i", np.zeros(BIG, np.int64))])
    assert_refused(_run(m, ONE), ["gather_bomb"])


def test_gather_of_an_input_with_big_indices():
    m = _model([helper.make_node("Gather", ["x", "i"], ["y"], name="gather_bomb", axis=0)],
               [("x", TP.FLOAT, [2, BIG])], inits=[("i", np.zeros(BIG, np.int64))])
    assert_refused(_run(m, np.ones((2, BIG), np.float32)), ["gather_bomb"])


def test_einsum_outer_product():
    m = _model([helper.make_node("Einsum", ["a", "b"], ["y"], name="einsum_bomb",
                                 equation="i,j->ij")],
               [("a", TP.FLOAT, [BIG]), ("b", TP.FLOAT, [BIG])])
    v = np.ones(BIG, np.float32)
    assert_refused(_run(m, v, v), ["einsum_bomb"])


@pytest.mark.parametrize("op", ["MatMul", "Mul"])
def test_outer_product(op):
    """(BIG, 1) times (1, BIG): a product, or a broadcast elementwise multiply."""
    name = f"{op.lower()}_bomb"
    m = _model([helper.make_node(op, ["a", "b"], ["y"], name=name)],
               [("a", TP.FLOAT, [BIG, 1]), ("b", TP.FLOAT, [1, BIG])])
    assert_refused(_run(m, np.ones((BIG, 1), np.float32), np.ones((1, BIG), np.float32)),
                   [name])


def test_matmul_with_a_huge_batch_broadcast():
    m = _model([helper.make_node("MatMul", ["a", "b"], ["y"], name="matmul_bomb")],
               [("a", TP.FLOAT, [BIG, 1, 1, 1]), ("b", TP.FLOAT, [BIG, 1, 1])])
    assert_refused(_run(m, np.ones((BIG, 1, 1, 1), np.float32),
                        np.ones((BIG, 1, 1), np.float32)), ["matmul_bomb"])


def test_onehot_with_a_huge_depth():
    m = _model([helper.make_node("OneHot", ["i", "depth", "v"], ["y"], name="onehot_bomb")],
               [("i", TP.INT64, [4])],
               inits=[("depth", np.int64(10 ** 10)), ("v", _f32(0, 1))])
    assert_refused(_run(m, _i64(0, 1, 2, 3)), ["onehot_bomb"])


def test_onehot_with_a_huge_depth_of_float_input():
    m = _model([helper.make_node("OneHot", ["i", "depth", "v"], ["y"], name="onehot_bomb")],
               [("i", TP.INT64, [4]), ("depth", TP.FLOAT, [])], inits=[("v", _f32(0, 1))])
    assert_refused(_run(m, _i64(0, 1, 2, 3), np.float32(1e10)), ["onehot_bomb"])


def test_nonzero_of_a_big_bool_input():
    # 25 MB of bools whose indices take 400 MB: the bound rank*size is known at plan time
    m = _model([helper.make_node("NonZero", ["x"], ["y"], name="nonzero_bomb")],
               [("x", TP.BOOL, [5000, 5000])])
    x = np.ones((5000, 5000), np.bool_)
    assert_refused(_run(m, x), ["nonzero_bomb"])


def test_nonzero_of_a_big_float_input():
    # 36 MB of floats whose indices take 144 MB (budget 50 MB)
    m = _model([helper.make_node("NonZero", ["x"], ["y"], name="nonzero_bomb")],
               [("x", TP.FLOAT, [3000, 3000])])
    assert_refused(_run(m, np.ones((3000, 3000), np.float32)), ["nonzero_bomb"])


def test_nonzero_of_a_huge_expand():
    m = _model([helper.make_node("Expand", ["x", "s"], ["e"], name="expand_bomb"),
                helper.make_node("NonZero", ["e"], ["y"], name="nonzero_bomb")], X1,
               inits=[("s", _i64(BIG, BIG))])
    assert_refused(_run(m, ONE), ["expand_bomb", "nonzero_bomb"])


def test_topk_with_a_huge_k():
    m = _model([helper.make_node("TopK", ["x", "k"], ["y", "i"], name="topk_bomb")],
               [("x", TP.FLOAT, [10])], inits=[("k", _i64(10 ** 10))])
    assert_refused(_run(m, np.ones(10, np.float32)), ["topk_bomb"],
                   (ResourceError, ShapeError, ModelError))


def test_topk_with_a_huge_k_given_at_run_time():
    m = _model([helper.make_node("TopK", ["x", "k"], ["y", "i"], name="topk_bomb")],
               [("x", TP.FLOAT, [10]), ("k", TP.INT64, [1])])
    assert_refused(_run(m, np.ones(10, np.float32), _i64(10 ** 10)), ["topk_bomb"],
                   (ResourceError, ShapeError, ModelError))


def test_reshape_to_a_product_over_1e15():
    m = _model([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_bomb")], X1,
               inits=[("s", _i64(10 ** 8, 10 ** 8))])
    assert_refused(_run(m, ONE), ["reshape_bomb"], (ShapeError, ResourceError))


def test_reshape_of_an_empty_tensor_to_a_product_that_wraps_int64():
    # 0 elements in, 2^64 = 0 (mod 2^64) elements out: it must not pass as "0 == 0"
    m = _model([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_bomb")],
               [("x", TP.FLOAT, [0])], inits=[("s", _i64(0, 2 ** 32, 2 ** 32))])
    out = _attempt(_run(m, np.ones(0, np.float32)))
    if out.error is None:  # a valid (empty) result is fine too, if it is the right one
        return
    assert isinstance(out.error, SingaError), repr(out.error)
    assert "reshape_bomb" in str(out.error)


def test_unsqueeze_then_expand_to_a_product_over_1e15():
    m = _model([helper.make_node("Unsqueeze", ["x", "ax"], ["u"], name="unsqueeze1"),
                helper.make_node("Expand", ["u", "s"], ["y"], name="expand_bomb")], X1,
               inits=[("ax", _i64(0)), ("s", _i64(10 ** 8, 10 ** 8))])
    assert_refused(_run(m, ONE), ["expand_bomb"])


def test_mul_broadcast_bomb_of_constants():
    m = _model([helper.make_node("Mul", ["a", "b"], ["m"], name="mul_bomb"),
                helper.make_node("Add", ["m", "x"], ["y"], name="plus")], X1,
               inits=[("a", np.ones((BIG, 1), np.float32)), ("b", np.ones((1, BIG), np.float32))])
    assert_refused(_run(m, ONE), ["mul_bomb"])


def test_cumsum_of_a_broadcast_bomb():
    m = _model([helper.make_node("Add", ["a", "b"], ["s"], name="add_bomb"),
                helper.make_node("CumSum", ["s", "ax"], ["y"], name="cumsum1")],
               [("a", TP.FLOAT, [BIG, 1]), ("b", TP.FLOAT, [1, BIG])], inits=[("ax", _i64(1))])
    assert_refused(_run(m, np.ones((BIG, 1), np.float32), np.ones((1, BIG), np.float32)),
                   ["add_bomb", "cumsum1"])


# ---------------------------------------------------------------- constant folding


def test_a_folded_constant_counts_against_the_budget():
    # ConstantOfShape of 2^20 doubles (8 MB) is under the folding cap (2^20 elements),
    # but over a 1 MB budget: folding must not materialise it
    m = _model(_plus_x(helper.make_node("ConstantOfShape", ["s"], ["b"], name="cos_fold",
                                        value=numpy_helper.from_array(np.ones(1)))),
               [("x", TP.DOUBLE, [1])], inits=[("s", _i64(1 << 20))])
    m.graph.output[0].type.tensor_type.elem_type = TP.DOUBLE
    e = assert_refused(_run(m, np.ones(1), max_bytes=1_000_000), ["cos_fold", "plus"],
                       budget_message=False, max_traced=2_000_000)
    assert "the limit is 1,000,000" in str(e)


def test_many_folded_constants_count_together():
    # 100 ConstantOfShape nodes of 8 MB each, each under the folding cap: 800 MB of
    # constants made at compile time from a 3 KB model
    nodes, terms = [], []
    for i in range(100):
        nodes.append(helper.make_node("ConstantOfShape", ["s"], [f"c{i}"], name=f"cos{i}",
                                      value=numpy_helper.from_array(np.full(1, float(i)))))
        terms.append(f"c{i}")
    nodes.append(helper.make_node("Concat", terms, ["cat"], name="cat", axis=0))
    nodes.append(helper.make_node("Add", ["cat", "x"], ["y"], name="plus"))
    m = _model(nodes, [("x", TP.DOUBLE, [1])], inits=[("s", _i64(1 << 20))])
    m.graph.output[0].type.tensor_type.elem_type = TP.DOUBLE
    assert_refused(_run(m, np.ones(1)), ["cos", "cat", "plus", "plan"])


# ---------------------------------------------------------------- the harness itself


def test_the_harness_sees_an_untouched_allocation():
    out = _attempt(lambda: np.zeros((BIG // 5, BIG // 5), np.float32))  # 400 MB, untouched
    assert out.error is None and out.traced_peak >= 400_000_000


def test_the_harness_sees_a_filled_allocation():
    out = _attempt(lambda: np.ones((200, MB), np.uint8))
    assert out.error is None and out.traced_peak >= 200 * MB


def test_the_guard_stops_an_unchecked_bomb():
    out = _attempt(lambda: np.ones((BIG, BIG), np.float32))
    assert isinstance(out.error, MemoryError) and not isinstance(out.error, SingaError)
