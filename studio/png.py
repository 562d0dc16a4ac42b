"""Checks on PNG files that Pillow does not make.

Pillow decodes a PNG whose compressed image data ends cleanly before the last row without
complaint and leaves the missing rows zero: for a mask, alpha 0 means "repaint", so a
shortened upload would repaint most of the image. Counting the decompressed bytes against
what the header promises catches it.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage
from PIL import ImageChops

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
ADAM7 = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]


class PngDamaged(ValueError):
    """The file is not a complete PNG."""


def _chunks(data: bytes):
    position = len(SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        yield kind, data[position + 8 : position + 8 + length]
        if kind == b"IEND":
            return
        position += 12 + length


def _expected_length(header: bytes) -> int:
    if len(header) != 13:
        raise PngDamaged("bad IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if colour not in CHANNELS:
        raise PngDamaged(f"unknown colour type {colour}")
    bits = CHANNELS[colour] * depth

    def size(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not interlace:
        return size(width, height)
    return sum(
        size(max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy)))
        for x0, y0, dx, dy in ADAM7
    )


def png_pixel_data_check(data: bytes) -> None:
    """Raise PngDamaged unless the image data holds exactly the bytes the header promises."""
    if not data.startswith(SIGNATURE):
        raise PngDamaged("not a PNG")
    expected = None
    inflater = zlib.decompressobj()
    produced = 0
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            expected = _expected_length(body)
        elif kind == b"IDAT":
            if expected is None:
                raise PngDamaged("image data before the header")
            pending = body
            while pending:
                # Bounded steps: the decompressed image is counted, never held whole.
                produced += len(inflater.decompress(pending, 1 << 20))
                pending = inflater.unconsumed_tail
                if produced > expected:
                    raise PngDamaged("more image data than the header describes")
    if expected is None:
        raise PngDamaged("no header")
    produced += len(inflater.flush())
    if produced != expected or not inflater.eof:
        raise PngDamaged(f"image data holds {produced} of {expected} bytes")


def decoded_png_check(picture, data: bytes) -> None:
    """Raise PngDamaged if `picture`, which Pillow has loaded from `data`, lacks rows.

    Pillow decodes rows in order into a zeroed image, so a shortened non-interlaced image
    ends in a row of zero bytes. Only then (or for an interlaced file) is the pixel data
    inflated again and counted: the common case costs one row's extrema, not a second
    decompression of megabytes.
    """
    width, height = picture.size
    extrema = picture.crop((0, height - 1, width, height)).getextrema()
    if len(picture.getbands()) == 1:
        extrema = (extrema,)
    if picture.info.get("interlace") or all(high == 0 for _, high in extrema):
        png_pixel_data_check(data)


MASK_TINT = (255, 0, 153)


def mask_overlay_png(masked_png: bytes) -> bytes:
    """The mask an edit used, to lay over its picture: the repainted area (transparent in
    the stored mask PNG) in a tint at 60 %, everything kept fully transparent."""
    with PILImage.open(io.BytesIO(masked_png)) as picture:
        alpha = picture.convert("RGBA").getchannel("A")
    repainted = ImageChops.invert(alpha).point(lambda value: value * 60 // 100)
    overlay = PILImage.new("RGBA", alpha.size, (*MASK_TINT, 0))
    overlay.putalpha(repainted)
    out = io.BytesIO()
    overlay.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
