"""Shared steps of the studio tests: start a pack, wait for results, build masks."""

from __future__ import annotations

import base64
import io
import time

from PIL import Image as PILImage

from gallery import storage
from gallery.models import Image


def generate(api, character, **overrides):
    body = {
        "characterId": str(character.id),
        "scene": "mirror-selfie",
        "environment": "city_street",
        "outfit": "white summer dress",
        "aspectRatio": "9:16",
        "qualityMode": "draft",
        "count": 1,
        "nsfw": False,
    }
    body.update(overrides)
    return api.post("/image/generate/studio", body, format="json")


def wait_results(api, prompt_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/image/comfyui/{prompt_id}/results")
        assert response.status_code == 200, response.content
        body = response.json()
        if body["status"] != "in_progress" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def completed_image(api, character) -> Image:
    response = generate(api, character)
    assert response.status_code == 202, response.content
    prompt_id = response.json()["promptIds"][0]
    assert wait_results(api, prompt_id)["status"] == "completed"
    return Image.objects.get(prompt_id=prompt_id)


def masked_png(image: Image, box: tuple[int, int, int, int] | None = None, **kw) -> bytes:
    """The source as RGBA with alpha 0 inside `box` (the area to repaint)."""
    with PILImage.open(io.BytesIO(storage.file_read(image.image_key))) as picture:
        rgba = picture.convert("RGBA")
    if box is not None:
        rgba.paste((0, 0, 0, 0), box)
    out = io.BytesIO()
    rgba.save(out, format="PNG", **kw)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inpaint(api, image: Image, mask: bytes, **overrides):
    body = {
        "characterId": str(image.character_id),
        "sourceImageId": str(image.id),
        "prompt": "add a coffee cup in her hand",
        "maskedImageBase64Png": b64(mask),
    }
    body.update(overrides)
    return api.post("/image/edit/inpaint", body, format="json")


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_finished(image_ids, timeout: float = 30.0) -> list[Image]:
    """The images once none of them is in flight (read from the database), pack order."""
    wait_until(
        lambda: not Image.objects.filter(pk__in=list(image_ids)).in_flight().exists(),
        timeout,
        "images to finish",
    )
    return list(Image.objects.filter(pk__in=list(image_ids)).order_by("batch_index", "created_at"))


def nothing_in_flight() -> None:
    stuck = list(Image.objects.in_flight().values_list("prompt_id", "status"))
    assert stuck == [], f"images left in flight: {stuck}"
    for image in Image.objects.filter(status="failed"):
        assert image.error_message, f"{image.pk} failed without saying why"
