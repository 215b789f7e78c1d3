"""Cases of ImageDecoder (singa/ops/image.py).

Streams are encoded here with Pillow.  Where onnx's reference evaluator reads
the spec as we do (colour images decoded to RGB/BGR/Grayscale) it is the
reference; where it returns Pillow's raw mode instead of the spec's channels (a
grey, palette or RGBA source asked for as RGB) the reference is the pixel array
that was encoded losslessly, expanded to RGB in NumPy.

Without Pillow (the ``images`` extra) there are no cases, and
``test_every_op_has_a_case`` says so: neither singa nor the reference decodes then.
"""

import io

import numpy as np

from tests.ops.case import Case

try:
    from PIL import Image
except ImportError:  # see the module docstring
    Image = None

_RNG = np.random.default_rng(20)
RGB = _RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # 5 rows, 7 columns
GREY = _RNG.integers(0, 256, (6, 4), dtype=np.uint8)
ALPHA = _RNG.integers(0, 256, (5, 7, 1), dtype=np.uint8)
# a checkerboard of 4x4 tiles keeps JPEG's chroma subsampling honest but
# non-trivial (flat tiles, sharp edges)
TILES = np.kron(_RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8),
                np.ones((4, 4, 1), np.uint8))


def encode(pixels: np.ndarray, fmt: str, mode: str | None = None, **options) -> np.ndarray:
    """``pixels`` encoded as ``fmt`` by Pillow: the 1-D uint8 stream ImageDecoder reads."""
    img = Image.fromarray(pixels)
    if mode is not None:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return np.frombuffer(buf.getvalue(), np.uint8).copy()


def _as_rgb(expected: np.ndarray):
    """A reference returning ``expected`` (H, W, 3) for RGB and the BGR flip for BGR."""

    def reference(stream, pixel_format="RGB"):
        return [expected[:, :, ::-1] if pixel_format == "BGR" else expected]

    return reference


def _palette_pixels():
    """(palette image, its pixels as RGB): 3 colours laid out in a pattern."""
    palette = np.array([[200, 10, 30], [0, 255, 90], [17, 34, 51]], np.uint8)
    index = (np.arange(6 * 5).reshape(6, 5) * 7) % 3
    img = Image.fromarray(index.astype(np.uint8), "P")
    img.putpalette(palette.reshape(-1).tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return np.frombuffer(buf.getvalue(), np.uint8).copy(), palette[index]


def _cases():
    png = encode(RGB, "PNG")
    jpeg = encode(TILES, "JPEG", quality=90)
    grey_rgb = np.repeat(GREY[:, :, None], 3, axis=2)
    palette_png, palette_rgb = _palette_pixels()
    return [
        Case("ImageDecoder", [png], {"pixel_format": "RGB"}, id="png_rgb"),
        Case("ImageDecoder", [png], {"pixel_format": "BGR"}, id="png_bgr"),
        Case("ImageDecoder", [png], {"pixel_format": "Grayscale"}, id="png_grayscale"),
        Case("ImageDecoder", [png], {}, id="default_rgb"),
        Case("ImageDecoder", [jpeg], {"pixel_format": "RGB"}, id="jpeg_rgb"),
        Case("ImageDecoder", [jpeg], {"pixel_format": "BGR"}, id="jpeg_bgr"),
        Case("ImageDecoder", [jpeg], {"pixel_format": "Grayscale"}, id="jpeg_grayscale"),
        Case("ImageDecoder", [encode(RGB, "BMP")], {"pixel_format": "BGR"}, id="bmp_bgr"),
        Case("ImageDecoder", [encode(RGB, "TIFF")], {"pixel_format": "RGB"}, id="tiff_rgb"),
        Case("ImageDecoder", [encode(RGB, "WEBP", lossless=True)], {"pixel_format": "RGB"},
             id="webp_lossless_rgb"),
        Case("ImageDecoder", [encode(RGB, "PPM")], {"pixel_format": "Grayscale"},
             id="ppm_grayscale"),
        Case("ImageDecoder", [encode(GREY, "PPM")], {"pixel_format": "Grayscale"},
             id="pgm_grayscale"),
        # the spec's RGB is three channels whatever the source holds
        Case("ImageDecoder", [encode(GREY, "PPM")], {"pixel_format": "RGB"},
             reference=_as_rgb(grey_rgb), id="pgm_as_rgb"),
        Case("ImageDecoder", [encode(GREY, "PNG")], {"pixel_format": "BGR"},
             reference=_as_rgb(grey_rgb), id="grey_png_as_bgr"),
        Case("ImageDecoder", [encode(np.concatenate([RGB, ALPHA], axis=2), "PNG")],
             {"pixel_format": "RGB"}, reference=_as_rgb(RGB), id="rgba_png_drops_alpha"),
        Case("ImageDecoder", [palette_png], {"pixel_format": "RGB"},
             reference=_as_rgb(palette_rgb), id="palette_png_rgb"),
    ]


CASES = _cases() if Image is not None else []
