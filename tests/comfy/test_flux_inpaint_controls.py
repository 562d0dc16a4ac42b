"""The inpaint controls in the FLUX Fill graph: denoise, feather, "only masked"."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from comfy.check import schema_for_shipping
from comfy.validation import validate_graph
from comfy.workflows import build_flux_inpaint_workflow
from comfy.workflows.flux_inpaint import (
    BLUR_MAX_RADIUS,
    CropBox,
    blur_passes,
    mask_crop_box,
    working_size_for,
)

# What a real ComfyUI 0.3.64 reported (the workplace's copy, beside the checkout).
REAL_SCHEMAS = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[3] / "shared" / "comfyui" / "object_info.json",
            Path("/work/shared/comfyui/object_info.json"),
        )
        if path.exists()
    ),
    None,
)


def inpaint(**kwargs):
    return build_flux_inpaint_workflow("add a cup", "", "probe.png", 7, **kwargs)


def by_type(graph, class_type):
    return {key: node for key, node in graph.items() if node["class_type"] == class_type}


def follow(graph, link):
    return graph[link[0]]


def all_controls():
    return inpaint(denoise=0.55, feather=40, crop=(96, 64, 200, 120), working_size=1024)


@pytest.fixture(scope="module")
def real_schemas():
    if REAL_SCHEMAS is None:
        pytest.skip("the real server's object_info.json is not beside this checkout")
    return json.loads(REAL_SCHEMAS.read_text())


def test_defaults_keep_the_reference_graph_with_full_denoise(reference_graph):
    graph = inpaint(denoise=1.0, feather=0, crop=None)

    expected = reference_graph("flux_fill_inpaint.api.json")
    expected["5"]["inputs"]["text"] = "add a cup"
    assert graph == expected


def test_denoise_goes_to_the_sampler():
    assert inpaint(denoise=0.35)["10"]["inputs"]["denoise"] == 0.35


@pytest.mark.parametrize("denoise", [0, -0.1, 1.01])
def test_denoise_outside_0_to_1_is_refused(denoise):
    with pytest.raises(ValueError, match="denoise"):
        inpaint(denoise=denoise)


def test_feather_blurs_the_mask_and_multiplies_it_with_the_painted_mask():
    graph = inpaint(feather=12)

    composite_mask = follow(graph, graph["12"]["inputs"]["mask"])
    assert composite_mask["class_type"] == "MaskComposite"
    assert composite_mask["inputs"]["operation"] == "multiply"
    assert composite_mask["inputs"]["source"] == ["4", 1]  # zero wherever nothing is painted
    soft = follow(graph, composite_mask["inputs"]["destination"])
    assert soft["class_type"] == "ImageToMask"
    blur = follow(graph, soft["inputs"]["image"])
    assert blur["class_type"] == "ImageBlur"
    assert blur["inputs"]["blur_radius"] == 12
    assert follow(graph, blur["inputs"]["image"]) == {
        "class_type": "MaskToImage",
        "inputs": {"mask": ["4", 1]},
    }
    # The model is still conditioned on the hard mask: the whole painted area is redone.
    assert graph["8"]["inputs"]["mask"] == ["4", 1]


@pytest.mark.parametrize(
    ("feather", "radii"), [(0, []), (1, [1]), (31, [31]), (32, [16, 16]), (64, [22, 21, 21])]
)
def test_feather_beyond_one_blurs_reach_is_split_into_passes(feather, radii):
    assert blur_passes(feather) == radii
    assert all(1 <= radius <= BLUR_MAX_RADIUS for radius in radii)
    graph = inpaint(feather=feather)
    assert sorted(n["inputs"]["blur_radius"] for n in by_type(graph, "ImageBlur").values()) == (
        sorted(radii)
    )


def test_negative_feather_is_refused():
    with pytest.raises(ValueError, match="feather"):
        inpaint(feather=-1)


def test_only_masked_renders_the_crop_at_working_size_and_pastes_it_onto_the_original():
    graph = inpaint(crop=(96, 64, 200, 120), working_size=1024)

    [(crop_id, crop)] = by_type(graph, "ImageCrop").items()
    [(mask_id, mask)] = by_type(graph, "CropMask").items()
    box = {"x": 96, "y": 64, "width": 200, "height": 120}
    assert crop["inputs"] == {"image": ["4", 0], **box}
    assert mask["inputs"] == {"mask": ["4", 1], **box}
    up = follow(graph, graph["8"]["inputs"]["pixels"])
    assert up["class_type"] == "ImageScale"
    assert up["inputs"]["image"] == [crop_id, 0]
    assert (up["inputs"]["width"], up["inputs"]["height"]) == (1024, 608)  # 5:3, multiples of 16
    assert graph["8"]["inputs"]["mask"] == [mask_id, 0]
    composite = graph["12"]["inputs"]
    assert composite["destination"] == ["4", 0]  # the original full image
    assert (composite["x"], composite["y"], composite["mask"]) == (96, 64, [mask_id, 0])
    down = follow(graph, composite["source"])
    assert down["class_type"] == "ImageScale"
    assert down["inputs"]["image"] == ["11", 0]
    assert (down["inputs"]["width"], down["inputs"]["height"]) == (200, 120)


def test_only_masked_with_feather_feathers_the_cropped_mask():
    graph = all_controls()

    [mask_id] = by_type(graph, "CropMask")
    composite_mask = follow(graph, graph["12"]["inputs"]["mask"])
    assert composite_mask["inputs"]["source"] == [mask_id, 0]
    [to_image] = by_type(graph, "MaskToImage").values()
    assert to_image["inputs"]["mask"] == [mask_id, 0]


@pytest.mark.parametrize("crop", [(-1, 0, 10, 10), (0, 0, 0, 10), (0, 0, 10, 0)])
def test_a_crop_box_outside_the_image_plane_is_refused(crop):
    with pytest.raises(ValueError, match="crop"):
        inpaint(crop=crop)


@pytest.mark.parametrize("working_size", [0, 48, 1000])
def test_working_size_must_be_a_multiple_of_16(working_size):
    with pytest.raises(ValueError, match="working_size"):
        inpaint(crop=(0, 0, 64, 64), working_size=working_size)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((200, 120), (1024, 608)), ((120, 200), (608, 1024)), ((2048, 2048), (1024, 1024))],
)
def test_working_size_keeps_the_aspect_in_multiples_of_16(size, expected):
    assert working_size_for(*size, 1024) == expected


def test_graph_with_every_control_validates_against_the_shipped_schemas(schemas):
    result = validate_graph(all_controls(), schemas, input_files={"probe.png"})

    assert result.ok, result.as_response()


def test_graph_with_every_control_validates_against_the_real_servers_schemas(real_schemas):
    result = validate_graph(all_controls(), real_schemas, input_files={"probe.png"})

    assert result.ok, result.as_response()


def test_shipped_schemas_are_the_real_servers_for_every_node_the_controls_use(
    schemas, real_schemas
):
    used = {node["class_type"] for node in all_controls().values()}

    assert {name: schemas[name] for name in used} == schema_for_shipping(real_schemas, used)


def _mask_png(size, painted_boxes, *, partial=None) -> bytes:
    picture = Image.new("RGBA", size, (90, 120, 150, 255))
    alpha = Image.new("L", size, 255)
    for box in painted_boxes:
        alpha.paste(0, box)
    if partial is not None:
        alpha.paste(200, partial)
    picture.putalpha(alpha)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_crop_box_is_the_painted_bounds_plus_padding_out_to_multiples_of_8():
    png = _mask_png((640, 480), [(203, 150, 260, 230), (300, 170, 310, 180)])

    # bounds x 203..310, y 150..230; padding 20 → 183..330, 130..250 → aligned outward
    assert mask_crop_box(png, 20) == CropBox(176, 128, 160, 128)


def test_crop_box_is_clamped_to_the_image():
    png = _mask_png((300, 200), [(0, 150, 40, 200)])

    assert mask_crop_box(png, 32) == CropBox(0, 112, 72, 88)


def test_a_small_crop_box_grows_to_the_minimum_within_the_image():
    png = _mask_png((300, 200), [(150, 100, 152, 102)])

    box = mask_crop_box(png, 0)
    assert (box.width, box.height) == (64, 64)
    assert box.x <= 150 and box.x + box.width >= 152
    edge = mask_crop_box(_mask_png((300, 200), [(296, 196, 300, 200)]), 0)
    assert edge == CropBox(236, 136, 64, 64)
    assert mask_crop_box(_mask_png((40, 30), [(10, 10, 12, 12)]), 0) == CropBox(0, 0, 40, 30)


def test_partly_transparent_pixels_count_as_painted():
    png = _mask_png((256, 256), [(100, 100, 110, 110)], partial=(20, 30, 40, 50))

    assert mask_crop_box(png, 0, align=1, min_size=1) == CropBox(20, 30, 90, 80)


def test_no_painted_pixel_gives_no_crop_box():
    assert mask_crop_box(_mask_png((64, 64), []), 8) is None
    rgb = Image.new("RGB", (64, 64))
    assert mask_crop_box(rgb, 8) is None


def test_crop_box_refuses_negative_padding():
    with pytest.raises(ValueError, match="padding"):
        mask_crop_box(_mask_png((64, 64), [(1, 1, 4, 4)]), -1)
