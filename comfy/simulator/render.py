"""Deterministic stand-in pictures: the same seed and prompt always give the same PNG.

Everything is drawn with whole-image Pillow operations (gradients, composites,
ImageDraw), never per-pixel Python loops, so a 1024x1024 image takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps
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


SCALE_METHODS = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def crop_clamped(picture: Image.Image, x: int, y: int, width: int, height: int) -> Image.Image:
    """A tensor slice ``[y:y+height, x:x+width]``: cut off at the picture's edges, never
    padded (ImageCrop also moves ``x``/``y`` inside the picture first)."""
    x, y = min(max(0, x), picture.width - 1), min(max(0, y), picture.height - 1)
    return picture.crop((x, y, min(picture.width, x + width), min(picture.height, y + height)))


def scale(picture: Image.Image, method: str, width: int, height: int, crop: str) -> Image.Image:
    """ImageScale: a 0 side keeps the aspect ratio; ``center`` crops to the new aspect."""
    if width == 0 and height == 0:
        return picture.copy()
    if width == 0:
        width = max(1, round(picture.width * height / picture.height))
    elif height == 0:
        height = max(1, round(picture.height * width / picture.width))
    resample = SCALE_METHODS.get(method, Image.Resampling.BILINEAR)
    if crop == "center":
        return ImageOps.fit(picture, (width, height), resample)
    return picture.resize((width, height), resample)


def _reflect_pad(picture: Image.Image, pad: int) -> Image.Image:
    """torch's ``F.pad(..., 'reflect')``: mirrored about the edge pixel, which is not
    repeated; like torch, refused unless each side is longer than ``pad``."""
    width, height = picture.size
    if pad >= width or pad >= height:
        raise ValueError(
            f"Padding size should be less than the corresponding input dimension, but got: "
            f"padding ({pad}, {pad}) at dimension of input {[height, width]}"
        )
    flip_x, flip_y = Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM
    wide = Image.new(picture.mode, (width + 2 * pad, height))
    wide.paste(picture, (pad, 0))
    wide.paste(picture.crop((1, 0, pad + 1, height)).transpose(flip_x), (0, 0))
    wide.paste(
        picture.crop((width - pad - 1, 0, width - 1, height)).transpose(flip_x), (pad + width, 0)
    )
    out = Image.new(picture.mode, (width + 2 * pad, height + 2 * pad))
    out.paste(wide, (0, pad))
    out.paste(wide.crop((0, 1, wide.width, pad + 1)).transpose(flip_y), (0, 0))
    out.paste(
        wide.crop((0, height - pad - 1, wide.width, height - 1)).transpose(flip_y),
        (0, pad + height),
    )
    return out


def blur(picture: Image.Image, radius: int, sigma: float) -> Image.Image:
    """ImageBlur, in 8 bits. Its kernel spans ``2 * radius + 1`` pixels with coordinates
    from -1 to 1, so ``sigma`` is relative to the radius: from 2 up it is nearly flat (a
    box blur, as here), below that a Gaussian of ``sigma * radius`` pixels."""
    if radius <= 0:
        return picture.copy()
    padded = _reflect_pad(picture, radius)
    if sigma >= 2:
        blurred = padded.filter(ImageFilter.BoxBlur(radius))
    else:
        blurred = padded.filter(ImageFilter.GaussianBlur(sigma * radius))
    return blurred.crop((radius, radius, radius + picture.width, radius + picture.height))


def mask_combine(
    destination: Image.Image, source: Image.Image, x: int, y: int, operation: str
) -> Image.Image:
    """MaskComposite on 8-bit masks: ``source`` combined into ``destination`` at x/y."""
    out = destination.copy()
    right = min(x + source.width, destination.width)
    bottom = min(y + source.height, destination.height)
    if right <= x or bottom <= y:
        return out
    here = out.crop((x, y, right, bottom))
    there = source.crop((0, 0, right - x, bottom - y))
    if operation == "multiply":
        combined = ImageChops.multiply(here, there)
    elif operation == "add":
        combined = ImageChops.add(here, there)
    elif operation == "subtract":
        combined = ImageChops.subtract(here, there)
    elif operation in ("and", "or", "xor"):
        logical = {"and": ImageChops.logical_and, "or": ImageChops.logical_or}
        function = logical.get(operation, ImageChops.logical_xor)
        binary = [
            part.point(lambda v: 255 if v >= 128 else 0).convert("1") for part in (here, there)
        ]
        combined = function(*binary).convert("L")
    else:
        raise ValueError(f"unknown MaskComposite operation {operation!r}")
    out.paste(combined, (x, y))
    return out


def encode_png(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes with a fast compression level (the simulator favours speed over size)."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1, pnginfo=info)
    return buffer.getvalue()


PREVIEW_SIZE = 512  # ComfyUI's --preview-size: a preview is scaled to fit it (up or down)


def render_preview(prompt: str, seed: int, width: int, height: int, step: int, steps: int) -> bytes:
    """A sampler step's JPEG preview: the final picture under seeded noise of latent
    resolution (1/8) that fades step by step, as a latent2rgb preview clears up."""
    scale = PREVIEW_SIZE / max(width, height, 1)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    latent = (max(1, width // 8), max(1, height // 8))
    noise = Image.frombytes("RGB", latent, random.Random(seed).randbytes(latent[0] * latent[1] * 3))
    noise = noise.resize(size, Image.Resampling.BILINEAR)
    picture = render_image(prompt, seed, *size)
    preview = Image.blend(noise, picture, min(1.0, step / max(steps, 1)))
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
