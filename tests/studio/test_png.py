"""png_pixel_data_check: a PNG must hold every row its header promises."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image as PILImage

from studio.png import PngDamaged, decoded_png_check, png_pixel_data_check
from tests.factories import photo_like_png


def _png(mode: str, size=(77, 53), **save) -> bytes:
    picture = PILImage.new(mode, size)
    picture.putdata([(i * 37) % 256 for i in range(size[0] * size[1])] if mode in "LP" else [])
    out = io.BytesIO()
    picture.save(out, format="PNG", **save)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _rewrite_pixel_data(data: bytes, change) -> bytes:
    """The same PNG with its IDAT replaced by change(raw scanlines), cleanly compressed."""
    chunks, position, raw = [], 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            raw += body
            continue
        if kind == b"IEND":
            chunks.append(_chunk(b"IDAT", zlib.compress(change(zlib.decompress(raw)))))
        chunks.append(_chunk(kind, body))
    return data[:8] + b"".join(chunks)


@pytest.mark.parametrize(
    "data",
    [
        _png("RGBA"),
        _png("RGB"),
        _png("L"),
        _png("P"),
        _png("1"),
        _png("I;16"),
        _png("RGBA", interlace=1),
        _png("L", size=(3, 2), interlace=1),
        photo_like_png(256, 256),
    ],
    ids=["rgba", "rgb", "l", "p", "1bit", "16bit", "rgba-adam7", "tiny-adam7", "photo"],
)
def test_complete_pngs_pass(data):
    png_pixel_data_check(data)


def test_cleanly_shortened_pixel_data_is_refused_although_pillow_decodes_it():
    whole = photo_like_png(768, 768)
    row = 1 + 768 * 4
    shortened = _rewrite_pixel_data(whole, lambda raw: raw[: 200 * row])
    with PILImage.open(io.BytesIO(shortened)) as picture:
        picture.load()  # Pillow fills the missing 568 rows with zeros (alpha 0: "repaint")
        assert picture.getchannel("A").getextrema() == (0, 255)
    with pytest.raises(PngDamaged, match="holds 614600 of 2360064 bytes"):
        png_pixel_data_check(shortened)


def test_extra_pixel_data_is_refused():
    longer = _rewrite_pixel_data(_png("RGBA"), lambda raw: raw + raw[:100])
    with pytest.raises(PngDamaged, match="more image data"):
        png_pixel_data_check(longer)


def test_data_cut_inside_the_stream_is_refused():
    whole = _png("L", size=(400, 400))
    with pytest.raises(PngDamaged):
        png_pixel_data_check(whole[: len(whole) // 2])


@pytest.mark.parametrize("data", [b"", b"GIF89a", b"\x89PNG\r\n\x1a\n"])
def test_non_pngs_are_refused(data):
    with pytest.raises(PngDamaged):
        png_pixel_data_check(data)


def _decoded(data: bytes) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


def test_decoded_check_refuses_a_shortened_image():
    whole = photo_like_png(300, 200)
    shortened = _rewrite_pixel_data(whole, lambda raw: raw[: 120 * (1 + 300 * 4)])
    with pytest.raises(PngDamaged):
        decoded_png_check(_decoded(shortened), shortened)


@pytest.mark.parametrize("mode", ["RGBA", "L"])
def test_decoded_check_counts_when_the_last_row_is_zero_and_passes_a_whole_image(mode):
    picture = PILImage.new(mode, (64, 64), 0)  # every row zero, like a shortened image
    out = io.BytesIO()
    picture.save(out, format="PNG")
    decoded_png_check(_decoded(out.getvalue()), out.getvalue())


def test_a_shortened_interlaced_image_is_refused_by_pillow_or_the_check():
    whole = _png("RGBA", interlace=1)
    decoded_png_check(_decoded(whole), whole)
    shortened = _rewrite_pixel_data(whole, lambda raw: raw[: len(raw) // 2])
    with pytest.raises((PngDamaged, OSError)):
        decoded_png_check(_decoded(shortened), shortened)
