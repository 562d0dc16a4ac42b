"""The inpaint controls on the API: optional fields with safe defaults, stored on the edit,
refused out of range with a field-level JSON 400, documented in the OpenAPI schema."""

from __future__ import annotations

import pytest

from gallery.models import Image
from studio import services
from studio.errors import StudioError
from tests.factories import make_completed_image, photo_like_png
from tests.studio.helpers import inpaint, masked_png


@pytest.fixture
def source(alice_character) -> Image:
    return make_completed_image(alice_character, photo_like_png(128, 96))


def test_inpaint_without_the_controls_stores_the_defaults(alice_api, source):
    response = inpaint(alice_api, source, masked_png(source, (10, 10, 40, 40)))

    assert response.status_code == 202, response.content
    edit = Image.objects.get(pk=response.json()["imageId"])
    assert (edit.denoise, edit.mask_feather, edit.only_masked, edit.mask_padding) == (
        1.0,
        0,
        False,
        32,
    )


def test_inpaint_stores_the_controls_and_the_image_shape_shows_them(alice_api, source):
    response = inpaint(
        alice_api,
        source,
        masked_png(source, (10, 10, 40, 40)),
        denoise=0.45,
        maskFeather=12,
        onlyMasked=True,
        maskPadding=48,
    )

    assert response.status_code == 202, response.content
    edit = Image.objects.get(pk=response.json()["imageId"])
    assert (edit.denoise, edit.mask_feather, edit.only_masked, edit.mask_padding) == (
        0.45,
        12,
        True,
        48,
    )
    listed = alice_api.get(f"/image-gallery/characters/{source.character_id}/images").json()
    shown = {entry["id"]: entry for entry in listed["images"]}
    assert {key: shown[str(edit.id)][key] for key in ("denoise", "maskFeather")} == {
        "denoise": 0.45,
        "maskFeather": 12,
    }
    assert (shown[str(edit.id)]["onlyMasked"], shown[str(edit.id)]["maskPadding"]) == (True, 48)
    assert (shown[str(source.id)]["denoise"], shown[str(source.id)]["onlyMasked"]) == (1.0, False)


@pytest.mark.parametrize(
    ("values"),
    [
        {"denoise": 0.05, "maskFeather": 64, "maskPadding": 0},
        {"denoise": 1, "maskFeather": 0, "maskPadding": 256, "onlyMasked": True},
    ],
)
def test_inpaint_accepts_the_controls_at_their_bounds(alice_api, source, values):
    response = inpaint(alice_api, source, masked_png(source, (10, 10, 40, 40)), **values)

    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("denoise", 0.04),
        ("denoise", 0),
        ("denoise", 1.01),
        ("denoise", "nan"),
        ("denoise", "a lot"),
        ("maskFeather", -1),
        ("maskFeather", 65),
        ("maskFeather", 2.5),
        ("maskPadding", -1),
        ("maskPadding", 257),
        ("onlyMasked", "perhaps"),
        ("onlyMasked", None),
    ],
)
def test_inpaint_refuses_controls_out_of_range_with_a_field_message(
    alice_api, source, field, value
):
    before = Image.objects.count()

    response = inpaint(alice_api, source, masked_png(source, (10, 10, 40, 40)), **{field: value})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert list(response.json()) == [field]
    assert Image.objects.count() == before


@pytest.mark.parametrize(
    ("controls", "field"),
    [
        ({"denoise": 0.0}, "denoise"),
        ({"denoise": float("inf")}, "denoise"),
        ({"mask_feather": 65}, "maskFeather"),
        ({"mask_padding": -4}, "maskPadding"),
    ],
)
def test_inpaint_start_refuses_controls_out_of_range_for_every_caller(
    alice, source, controls, field
):
    with pytest.raises(StudioError) as refused:
        services.inpaint_start(
            user=alice,
            source_image=source,
            prompt="a hat",
            masked_png=masked_png(source, (10, 10, 40, 40)),
            **controls,
        )

    assert refused.value.field == field
    assert not Image.objects.filter(source_image=source).exists()


def test_the_controls_are_documented_in_the_openapi_schema(alice_api):
    schema = alice_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    fields = schema["components"]["schemas"]["InpaintInputRequest"]
    properties = fields["properties"]
    assert {"denoise", "maskFeather", "onlyMasked", "maskPadding"} <= set(properties)
    assert not {"denoise", "maskFeather", "onlyMasked", "maskPadding"} & set(
        fields.get("required", [])
    )
    assert (properties["denoise"]["minimum"], properties["denoise"]["maximum"]) == (0.05, 1.0)
    assert properties["denoise"]["default"] == 1.0
    assert (properties["maskFeather"]["maximum"], properties["maskFeather"]["default"]) == (64, 0)
    assert properties["onlyMasked"]["default"] is False
    assert (properties["maskPadding"]["maximum"], properties["maskPadding"]["default"]) == (256, 32)
    assert all(properties[name].get("description") for name in ("denoise", "onlyMasked"))
    shown = schema["components"]["schemas"]["ImageOut"]["properties"]
    assert {"denoise", "maskFeather", "onlyMasked", "maskPadding"} <= set(shown)
