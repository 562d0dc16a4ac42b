"""Image handling cost: storing an output with its thumbnail, and validating a mask.

    .venv/bin/python bench/image_handling.py

1. CPU milliseconds per 1024×1024 output for `gallery.storage.image_store` (decode, WebP
   thumbnail, write both files to local storage). Goal: <= 60 ms.
2. `studio.services.mask_validate` on a 2048×2048 RGBA PNG as a ratio to a bare Pillow
   decode of the same bytes. Goal: <= 1.5.

CPU time (`time.process_time`) over many repetitions; medians of rounds. Local storage in a
temporary directory.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
MEDIA = tempfile.mkdtemp(prefix="ryla-bench-media-")
os.environ.update(
    {"DJANGO_SETTINGS_MODULE": "ryla.settings", "MEDIA_ROOT": MEDIA, "AWS_STORAGE_BUCKET_NAME": ""}
)

import django  # noqa: E402

django.setup()

from PIL import Image as PILImage  # noqa: E402
from PIL import ImageDraw  # noqa: E402

from bench._machine import header_print  # noqa: E402
from gallery import storage  # noqa: E402
from studio.services import mask_validate  # noqa: E402

ROUNDS = 7


def picture_png(size: int, mode: str) -> bytes:
    """A picture with the texture of a render (gradients and shapes), not a flat fill."""
    picture = PILImage.radial_gradient("L").resize((size, size)).convert(mode)
    draw = ImageDraw.Draw(picture)
    for i in range(40):
        x, y = (i * 97) % size, (i * 61) % size
        fill = (i * 37 % 256, i * 91 % 256, i * 53 % 256, 255)[: len(mode)]
        draw.ellipse((x, y, x + size // 6, y + size // 7), fill=fill)
    noise = PILImage.effect_noise((size, size), 40).convert(mode)
    picture = PILImage.blend(picture, noise, 0.25)
    if mode == "RGBA":
        alpha = PILImage.new("L", (size, size), 255)
        ImageDraw.Draw(alpha).ellipse((size // 3, size // 3, size // 2, size // 2), fill=0)
        picture.putalpha(alpha)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def cpu_ms_per_call(fn, repeat: int) -> float:
    """Median over rounds of CPU milliseconds per call."""
    rounds = []
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(repeat):
            fn()
        rounds.append((time.process_time() - start) * 1000 / repeat)
    return statistics.median(rounds)


def bare_decode(data: bytes) -> None:
    with PILImage.open(io.BytesIO(data)) as picture:
        picture.load()


def main() -> None:
    header_print("Image handling")
    output = picture_png(1024, "RGB")
    character_id = uuid.uuid4()
    store_ms = cpu_ms_per_call(
        lambda: storage.image_store(
            character_id=character_id, image_id=uuid.uuid4(), png_bytes=output
        ),
        repeat=10,
    )
    decode_1024_ms = cpu_ms_per_call(lambda: bare_decode(output), repeat=10)
    print(f"1024x1024 output PNG: {len(output) / 1024:.0f} KiB")
    print(
        f"store + thumbnail: {store_ms:.1f} CPU ms per image (goal <= 60: "
        f"{'PASS' if store_ms <= 60 else 'MISS'}); a bare decode of it is {decode_1024_ms:.1f} ms "
        f"(store = {store_ms / decode_1024_ms:.2f}x decode)"
    )

    mask = picture_png(2048, "RGBA")
    validate_ms = cpu_ms_per_call(
        lambda: mask_validate(masked_png=mask, width=2048, height=2048), repeat=5
    )
    decode_ms = cpu_ms_per_call(lambda: bare_decode(mask), repeat=5)
    ratio = validate_ms / decode_ms
    print(f"2048x2048 RGBA mask PNG: {len(mask) / 1024:.0f} KiB")
    print(
        f"mask validation {validate_ms:.1f} CPU ms vs bare Pillow decode {decode_ms:.1f} ms: "
        f"ratio {ratio:.2f} (goal <= 1.5: {'PASS' if ratio <= 1.5 else 'MISS'})"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        import shutil

        shutil.rmtree(MEDIA, ignore_errors=True)
