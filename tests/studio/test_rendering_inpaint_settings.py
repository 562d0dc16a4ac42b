"""The inpaint controls end to end: the API in, a render worker taking the job to the
simulator over real sockets, the stored edit out. Whatever the controls, every pixel
outside the painted mask is the source's, and the painted area changed."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image as PILImage
from PIL import ImageChops, ImageDraw, ImageStat

from gallery import storage
from tests.factories import make_completed_image, photo_like_png
from tests.studio.helpers import inpaint, nothing_in_flight, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

SIZE = (320, 256)
PAINTED = (180, 60, 260, 150)  # an ellipse, well inside the image


def _decoded(key: str) -> PILImage.Image:
    with PILImage.open(io.BytesIO(storage.file_read(key))) as picture:
        return picture.convert("RGB")


def _mask(source) -> tuple[bytes, PILImage.Image]:
    """The editor's export: the source with alpha 0 on an elliptic stroke."""
    alpha = PILImage.new("L", SIZE, 255)
    ImageDraw.Draw(alpha).ellipse(PAINTED, fill=0)
    rgba = _decoded(source.image_key).convert("RGBA")
    rgba.putalpha(alpha)
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue(), alpha


@pytest.mark.parametrize(
    "controls",
    [
        {"denoise": 0.4},
        {"maskFeather": 24},
        {"onlyMasked": True, "maskPadding": 16},
        {"denoise": 0.75, "maskFeather": 40, "onlyMasked": True, "maskPadding": 24},
    ],
    ids=["denoise", "feather", "only-masked", "all"],
)
def test_inpaint_controls_change_only_the_painted_pixels(
    alice_api, alice_character, comfyui, controls
):
    source = make_completed_image(alice_character, photo_like_png(*SIZE, seed=7))
    mask, alpha = _mask(source)

    response = inpaint(alice_api, source, mask, **controls)

    assert response.status_code == 202, response.content
    (edit,) = wait_finished([response.json()["imageId"]])
    assert edit.status == "completed", edit.error_message
    before, after = _decoded(source.image_key), _decoded(edit.image_key)
    assert after.size == before.size == SIZE
    diff = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v else 0)
    moved = ImageChops.multiply(diff, alpha).getbbox()  # alpha: 255 where nothing is painted
    assert moved is None, f"pixels outside the mask moved: {moved}"
    painted = ImageChops.invert(alpha)
    changed = ImageStat.Stat(ImageChops.multiply(diff, painted)).sum[0]
    assert changed > 0.8 * ImageStat.Stat(painted).sum[0], "the painted area barely changed"
    nothing_in_flight()


def test_only_masked_queues_a_graph_cropped_around_the_mask(alice_api, alice_character, comfyui):
    source = make_completed_image(alice_character, photo_like_png(*SIZE, seed=3))
    mask, _ = _mask(source)

    response = inpaint(alice_api, source, mask, onlyMasked=True, maskPadding=16, denoise=0.6)

    (edit,) = wait_finished([response.json()["imageId"]])
    assert edit.status == "completed", edit.error_message
    history = requests.get(f"{comfyui.url}/history/{edit.prompt_id}", timeout=5).json()
    graph = history[edit.prompt_id]["prompt"][2]
    [crop] = [node for node in graph.values() if node["class_type"] == "ImageCrop"]
    # ellipse bounds 180..260 x 60..150, 16 px of context, out to multiples of 8
    box = {key: crop["inputs"][key] for key in ("x", "y", "width", "height")}
    assert box == {"x": 160, "y": 40, "width": 120, "height": 128}
    scaled = [node for node in graph.values() if node["class_type"] == "ImageScale"]
    assert {(n["inputs"]["width"], n["inputs"]["height"]) for n in scaled} == {
        (960, 1024),  # the crop at FLUX's 1024 working size, aspect kept
        (120, 128),  # and back
    }
    sampler = next(node for node in graph.values() if node["class_type"] == "KSampler")
    assert sampler["inputs"]["denoise"] == 0.6
