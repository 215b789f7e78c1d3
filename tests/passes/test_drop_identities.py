"""drop_identities: ops returning their input unchanged leave the graph."""

import numpy as np
import pytest

from singa.passes import DropIdentities

from ._helpers import assert_ir, assert_same_outputs, run_pass


def test_a_concat_of_one_input_is_its_input():
    before, g = run_pass(DropIdentities(), '''
        graph @g(%x: f32[1,4,3,3]) -> (f32[1,4,3,3]) {
          %c = Concat(%x) {axis=1} : f32[1,4,3,3]  # cat
          %y = Relu(%c) : f32[1,4,3,3]  # relu
          return %y
        }
    ''', expect_changed=True)
    assert_ir(g, '''
        graph @g(%x: f32[1,4,3,3]) -> (f32[1,4,3,3]) {
          %y = Relu(%x) : f32[1,4,3,3]  # relu
          return %y
        }
    ''')
    x = np.random.default_rng(0).standard_normal((1, 4, 3, 3)).astype(np.float32)
    assert_same_outputs(before, g, [x], rtol=0, atol=0)


@pytest.mark.parametrize("line", [
    "%c = Dropout(%x) : f32[2,3]",  # no training_mode: inference
    "%c, %mask = Dropout(%x) : f32[2,3], bool[2,3]",  # a mask nobody reads
    "%c = Cast(%x) {to=1} : f32[2,3]",
    "%c = Transpose(%x) {perm=[0, 1]} : f32[2,3]",
    "%c = Identity(%x) : f32[2,3]",
])
def test_same_type_casts_identity_transposes_and_identities_go(line):
    before, g = run_pass(DropIdentities(), f'''
        graph @g(%x: f32[2,3]) -> (f32[2,3]) {{
          {line}
          %y = Neg(%c) : f32[2,3]
          return %y
        }}
    ''', expect_changed=True)
    assert [op.name for op in g.ops] == ["Neg"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert_same_outputs(before, g, [x], rtol=0, atol=0)


@pytest.mark.parametrize("text", [
    # two inputs: a real concatenation
    '''graph @g(%x: f32[1,2], %z: f32[1,2]) -> (f32[1,4]) {
          %y = Concat(%x, %z) {axis=1} : f32[1,4]
          %w = Neg(%y) : f32[1,4]
          return %w
        }''',
    # a real transpose, a real cast
    '''graph @g(%x: f32[2,2]) -> (f32[2,2]) {
          %t = Transpose(%x) {perm=[1, 0]} : f32[2,2]
          %w = Neg(%t) : f32[2,2]
          return %w
        }''',
    '''graph @g(%x: f32[2,2]) -> (f64[2,2]) {
          %t = Cast(%x) {to=11} : f64[2,2]
          %w = Neg(%t) : f64[2,2]
          return %w
        }''',
    # the identity's result is what the caller asked for, by name
    '''graph @g(%x: f32[2,2]) -> (f32[2,2]) {
          %y = Concat(%x) {axis=0} : f32[2,2]
          return %y
        }''',
    # a Dropout told its mode, or whose mask is read
    '''graph @g(%x: f32[2,2], %r: f32[], %t: bool[]) -> (f32[2,2]) {
          %d = Dropout(%x, %r, %t) : f32[2,2]
          %w = Neg(%d) : f32[2,2]
          return %w
        }''',
    '''graph @g(%x: f32[2,2]) -> (f32[2,2], bool[2,2]) {
          %d, %m = Dropout(%x) : f32[2,2], bool[2,2]
          %w = Neg(%d) : f32[2,2]
          return %w, %m
        }''',
])
def test_left_alone(text):
    run_pass(DropIdentities(), text, expect_changed=False)
