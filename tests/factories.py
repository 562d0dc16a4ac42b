"""Small builders for test data: explicit defaults, any field overridable."""

from __future__ import annotations

import itertools
import uuid

from django.contrib.auth import get_user_model

from gallery.models import Character, Image

_counter = itertools.count(1)


def make_user(username: str | None = None, password: str = "pw-for-tests-1", **fields):
    User = get_user_model()
    username = username or f"user{next(_counter)}"
    return User.objects.create_user(username=username, password=password, **fields)


def make_character(owner, **fields) -> Character:
    defaults = {
        "name": f"Character {next(_counter)}",
        "appearance": "woman, 25, long dark hair, hazel eyes",
        "nsfw_enabled": False,
    }
    defaults.update(fields)
    return Character.objects.create(owner=owner, **defaults)


def make_image(character: Character, **fields) -> Image:
    defaults = {
        "batch_id": uuid.uuid4(),
        "scene": "selfie",
        "environment": "beach",
        "outfit": "white summer dress",
        "aspect_ratio": "1:1",
        "quality_mode": "draft",
        "nsfw": False,
        "prompt": "a woman taking a selfie on a beach",
        "seed": next(_counter),
        "width": 768,
        "height": 768,
        "steps": 6,
        "cfg": 1.0,
        "workflow": "studio_image",
        "prompt_id": str(uuid.uuid4()),
    }
    defaults.update(fields)
    return Image.objects.create(character=character, **defaults)


def make_completed_image(character: Character, png_bytes: bytes, **fields) -> Image:
    """An image whose output is in storage (with its thumbnail), as if ComfyUI had made it."""
    from gallery import storage

    image = make_image(character, **fields)
    stored = storage.image_store(character_id=character.id, image_id=image.id, png_bytes=png_bytes)
    image.mark_completed(
        image_key=stored.image_key,
        thumbnail_key=stored.thumbnail_key,
        width=stored.width,
        height=stored.height,
    )
    return image


def photo_like_png(width: int, height: int, *, seed: int = 1, mode: str = "RGBA") -> bytes:
    """A PNG that compresses like a photograph: smooth colour areas under sensor grain.

    The simulator's flat renders make tiny PNGs; a real 1024² output, and so its mask, runs
    to megabytes (2.8 MB here at 1024², 11 MB at 2048²).
    """
    import io
    import random

    from PIL import Image as PILImage
    from PIL import ImageChops

    rnd = random.Random(seed)
    small = PILImage.new("RGB", (16, 16))
    small.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(256)])
    base = small.resize((width, height), PILImage.Resampling.BICUBIC)
    grain = PILImage.merge("RGB", [PILImage.effect_noise((width, height), 12) for _ in range(3)])
    picture = ImageChops.add(base, grain, offset=-128).convert(mode)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def make_edit_with_mask(character: Character, *, size: int = 64) -> tuple[Image, Image]:
    """A completed edit of a completed source, with the mask it used in storage: the
    left half repainted (alpha 0), the right half kept."""
    import io

    from PIL import Image as PILImage

    from gallery import storage

    source = make_completed_image(character, photo_like_png(size, size), width=size, height=size)
    edit = make_completed_image(
        character,
        photo_like_png(size, size, seed=2),
        width=size,
        height=size,
        source_image=source,
        edit_type="inpaint",
        prompt="add a hat",
    )
    masked = PILImage.new("RGBA", (size, size), (10, 20, 30, 255))
    masked.paste((10, 20, 30, 0), (0, 0, size // 2, size))
    out = io.BytesIO()
    masked.save(out, format="PNG")
    edit.mask_key = storage.mask_store(
        character_id=character.id, image_id=edit.id, png_bytes=out.getvalue()
    )
    edit.save(update_fields=["mask_key"])
    return source, edit
