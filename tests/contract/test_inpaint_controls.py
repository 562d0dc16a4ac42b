"""The inpaint controls through a real ComfyUI: its own crop, scale, blur and mask nodes
keep every pixel outside the painted mask as it was."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image as PILImage
from PIL import ImageChops

from gallery import storage
from gallery.models import Image
from tests.studio.helpers import generate, inpaint, masked_png, wait_until

pytestmark = pytest.mark.real_comfyui


def _done(image_id, timeout: float) -> Image:
    wait_until(
        lambda: not Image.objects.filter(pk=image_id).in_flight().exists(), timeout, "the render"
    )
    return Image.objects.get(pk=image_id)


def _decoded(key: str) -> PILImage.Image:
    with PILImage.open(io.BytesIO(storage.file_read(key))) as picture:
        return picture.convert("RGB")


def test_feathered_only_masked_inpaint_keeps_every_pixel_outside_the_mask(
    alice_api, alice_character, contract, start_worker
):
    # The worker builds the graph with the contract's STUDIO_SIZE_SCALE: the crop renders at
    # 128 px, not FLUX's 1024 (minutes a step on a CPU).
    start_worker()
    response = generate(alice_api, alice_character, count=1, aspectRatio="1:1")
    source = _done(response.json()["imageIds"][0], 120)
    assert source.status == "completed", source.error_message
    box = (24, 16, 72, 64)
    response = inpaint(
        alice_api,
        source,
        masked_png(source, box),
        denoise=0.8,
        maskFeather=6,
        onlyMasked=True,
        maskPadding=8,
    )
    assert response.status_code == 202, response.content
    edit = _done(response.json()["imageId"], 300)
    assert edit.status == "completed", edit.error_message
    graph = requests.get(f"{contract.url}/history/{edit.prompt_id}", timeout=30).json()
    nodes = graph[edit.prompt_id]["prompt"][2].values()
    used = {node["class_type"] for node in nodes}
    assert {"ImageCrop", "CropMask", "ImageScale", "ImageBlur", "MaskComposite"} <= used
    sizes = {(n["inputs"]["width"], n["inputs"]["height"]) for n in nodes if "width" in n["inputs"]}
    assert (128, 128) in sizes  # the 64 px box around the mask, at the working size
    before, after = _decoded(source.image_key), _decoded(edit.image_key)
    assert after.size == before.size == (96, 96)
    diff = ImageChops.difference(before, after).convert("L")
    outside = PILImage.new("L", before.size, 255)
    outside.paste(0, box)
    assert ImageChops.multiply(diff, outside).getbbox() is None, "pixels outside the mask moved"
    assert diff.crop(box).getbbox() is not None, "nothing changed inside the mask"
