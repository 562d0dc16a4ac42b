"""Deterministic stand-in pictures: the same seed and prompt always give the same PNG.

Everything is drawn with whole-image Pillow operations (gradients, composites,
ImageDraw), never per-pixel Python loops, so a 1024x1024 image takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps
from PIL.PngImagePlugin import PngInfo

SIMULATOR_LABEL = "ComfyUI SIMULATOR"


def _digest(seed: int, prompt: str) -> bytes:
    first = hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()
    return first + hashlib.sha256(first).digest()


def _gradient(kind: int, size: tuple[int, int]) -> Image.Image:
    if kind == 0:
        base = Image.linear_gradient("L")
    elif kind == 1:
        base = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90)
    else:
        base = Image.radial_gradient("L")
    return base.resize(size, Image.Resampling.BILINEAR)


def render_image(prompt: str, seed: int, width: int, height: int) -> Image.Image:
    """An RGB picture whose colours, gradient and shapes are hashed from seed and prompt."""
    h = _digest(seed, prompt)
    size = (width, height)
    top = Image.new("RGB", size, (h[0], h[1], h[2]))
    bottom = Image.new("RGB", size, (h[3], h[4], h[5]))
    image = Image.composite(top, bottom, _gradient(h[6] % 3, size))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        b = h[8 + i * 4 : 12 + i * 4]
        cx, cy = b[0] / 255 * width, b[1] / 255 * height
        radius = (0.05 + b[2] / 255 * 0.2) * min(width, height)
        colour = (h[32 + i * 3 % 30], h[33 + i * 3 % 30], b[3])
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if b[3] % 2:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    font = ImageFont.load_default()
    draw.text((6, 4), f"{SIMULATOR_LABEL} seed={seed}", fill=(255, 255, 255), font=font)
    draw.text((6, max(4, height - 16)), prompt[:160], fill=(255, 255, 255), font=font)
    return image


def load_image_and_mask(path: Path) -> tuple[Image.Image, Image.Image]:
    """What ComfyUI's LoadImage returns: RGB pixels and ``mask = 1 - alpha`` (as L)."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened) or opened
        image.load()
        if "A" in image.getbands():
            mask = ImageOps.invert(image.getchannel("A"))
        elif image.mode == "P" and "transparency" in image.info:
            mask = ImageOps.invert(image.convert("RGBA").getchannel("A"))
        else:
            mask = Image.new("L", image.size, 0)
        return image.convert("RGB"), mask


def composite_masked(
    destination: Image.Image,
    source: Image.Image,
    mask: Image.Image | None,
    x: int = 0,
    y: int = 0,
    resize_source: bool = False,
) -> Image.Image:
    """ImageCompositeMasked: ``source`` over ``destination`` where mask > 0; elsewhere the
    destination's pixels are kept byte for byte."""
    out = destination.copy()
    if resize_source and source.size != destination.size:
        source = source.resize(destination.size, Image.Resampling.BILINEAR)
    if mask is None:
        mask = Image.new("L", source.size, 255)
    elif mask.size != source.size:
        mask = mask.resize(source.size, Image.Resampling.BILINEAR)
    out.paste(source, (x, y), mask)
    return out


def encode_png(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes with a fast compression level (the simulator favours speed over size)."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1, pnginfo=info)
    return buffer.getvalue()
