"""ImageDecoder beyond the table cases: bad operands and streams give singa errors
naming the op (and, through a model, the node); without Pillow running the node
says how to install it; decoded images flow on through a graph on both CPU targets."""

import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from singa import sonnx, tensor
from singa.errors import DTypeError, ModelError, OpError, ShapeError, UnsupportedOpError
from singa.ir.types import DType, TensorType
from singa.ops import OPS

pytest.importorskip("PIL", reason="ImageDecoder needs the images extra (Pillow)")

from tests.ops.cases_image import RGB, encode  # noqa: E402 - needs Pillow

OP = OPS["ImageDecoder"]
PNG = encode(RGB, "PNG")

BAD = [
    ([PNG.astype(np.float32)], {}, DTypeError),
    ([PNG.reshape(1, -1)], {}, ShapeError),
    ([PNG], {"pixel_format": "RGBA"}, ModelError),
]


@pytest.mark.parametrize("inputs,attrs,err", BAD, ids=["float_stream", "2d_stream", "rgba"])
def test_bad_operands(inputs, attrs, err):
    with pytest.raises(err, match="ImageDecoder"):
        OP.run(np, inputs, attrs)
    with pytest.raises(err, match="ImageDecoder"):
        OP.infer([TensorType.of(x) for x in inputs], OP.attrs(attrs), [None])


# an EPS header: Pillow alone would open it (and run Ghostscript to decode it);
# the spec's formats do not include it
EPS = np.frombuffer(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n", np.uint8)
STREAMS = {
    "text": np.frombuffer(b"this is not an image at all", np.uint8),
    "empty": np.zeros(0, np.uint8),
    "truncated_png": PNG[: PNG.size // 2],
    "eps": EPS,
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streams_that_do_not_decode(name):
    with pytest.raises(OpError, match="ImageDecoder: cannot decode"):
        OP.run(np, [STREAMS[name]], {})


def test_infer_reads_the_size_from_a_constant_stream():
    t = TensorType(DType.UINT8, (PNG.size,))
    assert OP.infer([t], OP.attrs({}), [PNG]) == [TensorType(DType.UINT8, (5, 7, 3))]
    grey = OP.attrs({"pixel_format": "Grayscale"})
    assert OP.infer([t], grey, [None]) == [TensorType(DType.UINT8, (None, None, 1))]
    # undecodable data is the run's to report: the size just stays unknown
    text = STREAMS["text"]
    assert OP.infer([TensorType.of(text)], OP.attrs({}), [text]) == \
        [TensorType(DType.UINT8, (None, None, 3))]


def _model(pixel_format="RGB"):
    """stream -> ImageDecoder ("decode") -> Transpose to CHW -> Cast to float."""
    nodes = [
        helper.make_node("ImageDecoder", ["stream"], ["hwc"], name="decode",
                         pixel_format=pixel_format),
        helper.make_node("Transpose", ["hwc"], ["chw"], perm=[2, 0, 1]),
        helper.make_node("Cast", ["chw"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "decode",
        [helper.make_tensor_value_info("stream", TensorProto.UINT8, ["bytes"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_decoded_image_flows_through_a_graph(target):
    rep = sonnx.prepare(_model("BGR"), target=target)
    y = tensor.to_numpy(rep.run([PNG])[0])
    want = RGB[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)  # PNG is lossless
    np.testing.assert_array_equal(y, want)
    assert y.dtype == np.float32
    # another image of another size through the same prepared model
    other = RGB[:3, :2]
    y = tensor.to_numpy(rep.run([encode(other, "BMP")])[0])
    np.testing.assert_array_equal(y, other[:, :, ::-1].transpose(2, 0, 1))


def test_a_stream_given_as_an_initializer():
    node = helper.make_node("ImageDecoder", ["stream"], ["y"], pixel_format="Grayscale")
    graph = helper.make_graph(
        [node], "const", [], [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
        initializer=[numpy_helper.from_array(PNG, "stream")])
    y = tensor.to_numpy(sonnx.prepare(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 20)]), target="numpy").run([])[0])
    assert y.shape == (5, 7, 1) and y.dtype == np.uint8


@pytest.mark.parametrize("target", ["numpy", "c"])
def test_a_bad_stream_through_a_model_names_the_node(target):
    rep = sonnx.prepare(_model(), target=target)
    with pytest.raises(OpError, match=r"ImageDecoder \(decode\).*cannot decode"):
        rep.run([STREAMS["text"]])


def test_without_pillow_the_run_says_how_to_install_it(monkeypatch):
    # the model still loads and plans: only decoding needs Pillow
    rep = sonnx.prepare(_model(), target="numpy")
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(UnsupportedOpError,
                       match=r"ImageDecoder \(decode\).*Pillow.*pip install singa-onnx\[images\]"):
        rep.run([PNG])
