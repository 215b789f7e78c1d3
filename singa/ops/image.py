"""ImageDecoder: an encoded image (a 1-D uint8 stream) as a (height, width, channels) array.

Decoding is Pillow's, an optional dependency (``pip install singa-onnx[images]``):
without it the op is still in the table, so models load and type, and running
the node raises :class:`~singa.errors.UnsupportedOpError` naming it.  Pillow is
what onnx's reference implementation and its stored conformance outputs use, so
the pixels agree exactly (JPEG's chroma upsampling included).

Only the formats the ONNX spec lists are opened (BMP, JPEG, JPEG2000, TIFF, PNG,
WebP and the portable any-map family), so a stream never reaches one of
Pillow's other plugins (EPS, for one, runs Ghostscript).  A stream that does not
decode raises :class:`~singa.errors.OpError` naming the op, where the spec would
return an empty image: an error says what went wrong, an empty array does not.
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import DTypeError, ModelError, OpError, ShapeError, UnsupportedOpError
from ..ir.types import DType, TensorType
from .base import Pattern, check_alloc, defop

OP = "ImageDecoder"
# Pillow's format names for the spec's list ("PPM" reads PBM, PGM, PPM and PNM)
FORMATS = ("BMP", "JPEG", "JPEG2000", "TIFF", "PNG", "WEBP", "PPM")
# pixel_format -> (Pillow mode decoded into, channels)
PIXEL_FORMATS = {"RGB": ("RGB", 3), "BGR": ("RGB", 3), "Grayscale": ("L", 1)}


def pillow():
    """Pillow's ``Image`` module; UnsupportedOpError saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise UnsupportedOpError(f"{OP}: decoding images needs Pillow, which is not "
                                 "installed: pip install singa-onnx[images]") from None
    return Image


def _pixel_format(attrs) -> str:
    fmt = attrs["pixel_format"]
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    if fmt not in PIXEL_FORMATS:
        raise ModelError(f"{OP}: pixel_format {fmt!r} is not one of "
                         f"{', '.join(PIXEL_FORMATS)}")
    return fmt


def _open(image_module, stream: np.ndarray):
    """The stream opened (header read, pixels not yet decoded)."""
    return image_module.open(io.BytesIO(stream.tobytes()), formats=FORMATS)


def _infer(types, attrs, values):
    t = types[0]
    fmt = _pixel_format(attrs)
    if t is not None and t.dtype is not None and t.dtype is not DType.UINT8:
        raise DTypeError(f"{OP}: encoded_stream must be u8, got {t.dtype.short}")
    if t is not None and t.shape is not None and len(t.shape) != 1:
        raise ShapeError(f"{OP}: encoded_stream must be 1-D, got shape {t.shape}")
    channels = PIXEL_FORMATS[fmt][1]
    height = width = None
    if values and values[0] is not None:
        # a constant stream: the header alone gives the size; undecodable data and
        # a missing Pillow are the run's to report, so the shape just stays unknown
        try:
            with _open(pillow(), np.asarray(values[0], np.uint8)) as img:
                width, height = img.size
        except Exception:  # noqa: BLE001 - any failure leaves the size unknown
            pass
    return [TensorType(DType.UINT8, (height, width, channels))]


def _decode(stream: np.ndarray, fmt: str) -> np.ndarray:
    image_module = pillow()
    mode, channels = PIXEL_FORMATS[fmt]
    try:
        with _open(image_module, stream) as img:
            width, height = img.size
            check_alloc(OP, (height, width, channels), np.uint8)
            pixels = np.asarray(img.convert(mode))
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's plugins raise many kinds
        raise OpError(f"{OP}: cannot decode the {stream.size}-byte stream as an image "
                      f"({', '.join(FORMATS)}): {type(e).__name__}: {e}") from e
    if fmt == "Grayscale":
        return pixels.reshape(height, width, 1)
    if fmt == "BGR":
        pixels = pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels)


@defop(OP, pattern=Pattern.OPAQUE, infer=_infer, since=20, defaults={"pixel_format": "RGB"})
def image_decoder(xp, inputs, attrs):
    """Decode the stream into uint8 pixels, channel-last: RGB, BGR or Grayscale (1 channel)."""
    stream = inputs[0]
    fmt = _pixel_format(attrs)
    if stream.dtype != np.uint8:
        raise DTypeError(f"{OP}: encoded_stream must be uint8, got {stream.dtype}")
    if stream.ndim != 1:
        raise ShapeError(f"{OP}: encoded_stream must be 1-D, got shape {stream.shape}")
    host = np.asarray(stream.get() if hasattr(stream, "get") else stream)
    return [xp.asarray(_decode(host, fmt))]
