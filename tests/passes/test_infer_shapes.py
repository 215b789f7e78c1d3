"""infer_shapes: types from the op table, symbols kept, inputs bound on request."""

import numpy as np
import pytest

from singa.errors import InputError, ShapeError
from singa.ir.parser import parse_graph
from singa.passes import InferShapes

from ._helpers import assert_ir, ir, run_pass

CNN = '''
    graph @g(%x: f32[N,1,6,6]) -> (?, ?) {
      %w = param f32[4,1,3,3]
      %s = const i64[2] {value=[0,-1]}
      %0 = Conv(%x, %w) {kernel_shape=[3,3]}  # conv1
      %1 = Relu(%0)
      %2 = Reshape(%1, %s)
      %3 = Shape(%1)
      return %2, %3
    }
'''


def test_types_for_every_value_symbols_stay_symbolic():
    _, g = run_pass(InferShapes(), CNN, expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[N,1,6,6]) -> (f32[N,64], i64[4]) {
          %w = param f32[4,1,3,3]
          %s = const i64[2] {value=[0,-1]}
          %0 = Conv(%x, %w) {kernel_shape=[3,3]} : f32[N,4,4,4]  # conv1
          %1 = Relu(%0) : f32[N,4,4,4]
          %2 = Reshape(%1, %s) : f32[N,64]
          %3 = Shape(%1) : i64[4]
          return %2, %3
        }
    ''')
    assert InferShapes().run(g) is False  # a fixed point


def test_bind_specialises_inputs_and_everything_after_them():
    text = ir('''
        graph @g(%x: f32[N,3], %y: f32[N,K]) -> (?) {
          %0 = Add(%x, %y)
          return %0
        }
    ''')
    g = parse_graph(text)
    assert InferShapes(bind={"x": (2, 3)}).run(g)
    assert_ir(g, '''
        graph @g(%x: f32[2,3], %y: f32[2,K]) -> (f32[2,3]) {
          %0 = Add(%x, %y) : f32[2,3]
          return %0
        }
    ''')
    g = parse_graph(text)
    InferShapes(bind={"x": (5, 3), "y": (5, 1)}).run(g)
    assert str(g.outputs[0].type) == "f32[5,3]"


def test_params_feed_shape_carrying_operands():
    # an int64 initializer gives Reshape its target shape
    _, g = run_pass(InferShapes(), '''
        graph @g(%x: f32[N,12]) -> (?) {
          %shape = param i64[3]
          %0 = Reshape(%x, %shape)
          return %0
        }
    ''', data={"shape": np.array([-1, 3, 4], np.int64)})
    assert str(g.outputs[0].type) in ("f32[?,3,4]", "f32[N,3,4]")


@pytest.mark.parametrize("bind, msg", [
    ({"z": (1,)}, r"bind names \['z'\]"),
    ({"x": (2, 4)}, r"input x is f32\[N,3\], cannot bind shape \(2, 4\)"),
    ({"x": (2, 3, 1)}, "cannot bind"),
    ({"x": (2, 3), "y": (3, 3)}, "N=3 but N=2"),
])
def test_bad_bindings(bind, msg):
    g = parse_graph(ir('''
        graph @g(%x: f32[N,3], %y: f32[N,3]) -> (?) {
          %0 = Add(%x, %y)
          return %0
        }
    '''))
    with pytest.raises(InputError, match=msg):
        InferShapes(bind=bind).run(g)


def test_shape_errors_name_op_loc_and_operand_types():
    g = parse_graph(ir('''
        graph @g(%x: f32[N,3], %y: f32[N,4]) -> (?) {
          %0 = Relu(%x)
          %1 = Add(%0, %y)  # model/add_1
          return %1
        }
    '''))
    with pytest.raises(ShapeError) as ei:
        InferShapes().run(g)
    msg = str(ei.value)
    assert "Add (model/add_1): (%0: f32[N,3], %y: f32[N,4])" in msg
