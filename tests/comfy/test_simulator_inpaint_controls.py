"""The inpaint controls run through the simulator over HTTP: its crop, scale, blur and mask
nodes behave like ComfyUI's, and nothing outside the painted mask ever changes."""

import io

import pytest
import requests
from PIL import Image, ImageChops, ImageDraw, ImageStat

from comfy.simulator.render import blur, mask_combine
from comfy.workflows import build_flux_inpaint_workflow
from comfy.workflows.flux_inpaint import mask_crop_box

SIZE = (320, 240)
ELLIPSE = (150, 70, 250, 170)


def photo_with_mask() -> tuple[Image.Image, Image.Image, bytes]:
    """Noise (every pixel its own value) and an elliptic painted area (alpha 0)."""
    source = Image.merge("RGB", [Image.effect_noise(SIZE, 70 + 10 * i) for i in range(3)])
    alpha = Image.new("L", SIZE, 255)
    ImageDraw.Draw(alpha).ellipse(ELLIPSE, fill=0)
    rgba = source.copy()
    rgba.putalpha(alpha)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return source, alpha, buffer.getvalue()


def render(simulator, client, png: bytes, **controls) -> Image.Image:
    name = client.upload_image(png, "photo.png")
    graph = build_flux_inpaint_workflow("a red scarf", "", name, 11, **controls)
    response = requests.post(f"{simulator.url}/prompt", json={"prompt": graph}, timeout=5)
    assert response.status_code == 200, response.text
    prompt_id = response.json()["prompt_id"]
    simulator.wait_idle()
    entry = requests.get(f"{simulator.url}/history/{prompt_id}", timeout=5).json()[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]
    [output] = entry["outputs"]["13"]["images"]
    picture = requests.get(f"{simulator.url}/view", params=output, timeout=5)
    return Image.open(io.BytesIO(picture.content)).convert("RGB")


def outside_and_inside(source, alpha, out) -> tuple[tuple | None, int]:
    """Bounds of changed pixels outside the painted area; changed pixels inside it."""
    diff = ImageChops.difference(source, out).convert("L").point(lambda v: 255 if v else 0)
    outside = ImageChops.multiply(diff, alpha)  # alpha is 255 where nothing is painted
    inside = ImageChops.multiply(diff, ImageChops.invert(alpha))
    return outside.getbbox(), ImageStat.Stat(inside).sum[0] // 255


@pytest.mark.parametrize(
    "controls",
    [
        {"denoise": 0.5},
        {"feather": 16},
        {"feather": 40},
        {"crop": "box", "working_size": 256},
        {"denoise": 0.7, "feather": 12, "crop": "box", "working_size": 512},
    ],
    ids=["denoise", "feather", "feather-two-passes", "only-masked", "all"],
)
def test_no_pixel_outside_the_painted_mask_changes(simulator, client, controls):
    source, alpha, png = photo_with_mask()
    if controls.get("crop") == "box":
        controls["crop"] = tuple(mask_crop_box(png, 24))

    out = render(simulator, client, png, **controls)

    assert out.size == SIZE
    changed_outside, changed_inside = outside_and_inside(source, alpha, out)
    assert changed_outside is None, f"pixels outside the mask moved: {changed_outside}"
    painted = ImageStat.Stat(ImageChops.invert(alpha)).sum[0] // 255
    assert changed_inside > 0.8 * painted


def test_feather_fades_in_from_the_painted_edge(simulator, client):
    source, alpha, png = photo_with_mask()
    hard = render(simulator, client, png)
    soft = render(simulator, client, png, feather=16)

    centre, near_edge = (200, 120), (152, 120)  # the ellipse's left edge is at x=150
    assert soft.getpixel(centre) == hard.getpixel(centre)
    original, full, blended = (p.getpixel(near_edge) for p in (source, hard, soft))
    assert blended != full
    assert sum(abs(b - o) for b, o in zip(blended, original, strict=True)) < sum(
        abs(f - o) for f, o in zip(full, original, strict=True)
    )


def test_lower_denoise_keeps_more_of_the_original(simulator, client):
    source, alpha, png = photo_with_mask()
    inside = ImageChops.invert(alpha)

    def distance(out):
        return ImageStat.Stat(ImageChops.difference(source, out).convert("L"), inside).mean[0]

    full = distance(render(simulator, client, png, denoise=1.0))
    light = distance(render(simulator, client, png, denoise=0.3))
    assert 0 < light < 0.6 * full


def test_only_masked_paints_only_inside_the_crop_box(simulator, client):
    source, alpha, png = photo_with_mask()
    box = mask_crop_box(png, 8)

    out = render(simulator, client, png, crop=tuple(box), working_size=1024)

    diff = ImageChops.difference(source, out).getbbox()
    assert diff is not None
    left, top, right, bottom = diff
    assert box.x <= left and box.y <= top
    assert right <= box.x + box.width and bottom <= box.y + box.height


def test_blur_of_a_mask_is_a_box_blur_with_reflected_edges():
    mask = Image.new("L", (40, 20), 0)
    mask.paste(255, (20, 0, 40, 20))

    blurred = blur(mask, 4, 10.0)

    assert blurred.size == mask.size
    assert blurred.getpixel((10, 10)) == 0 and blurred.getpixel((30, 10)) == 255
    assert [blurred.getpixel((x, 10)) for x in (16, 20, 23)] == [28, 142, 227]
    with pytest.raises(ValueError, match="Padding size"):
        blur(mask, 20, 10.0)


def test_mask_composite_multiply_keeps_zero_where_either_mask_is_zero():
    soft = Image.new("L", (8, 8), 128)
    hard = Image.new("L", (8, 8), 0)
    hard.paste(255, (4, 0, 8, 8))

    out = mask_combine(soft, hard, 0, 0, "multiply")

    assert out.getpixel((1, 1)) == 0 and out.getpixel((6, 6)) == 128
    assert mask_combine(hard, soft, 2, 2, "add").getpixel((3, 3)) == 128
    assert mask_combine(hard, soft, 0, 0, "subtract").getpixel((6, 6)) == 127
    assert mask_combine(hard, soft, 0, 0, "xor").getpixel((1, 1)) == 255
