from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageChops

from gallery import storage
from gallery.models import Image, ImageStatus
from tests.factories import (
    make_character,
    make_completed_image,
    make_image,
    photo_like_png,
)
from tests.studio.helpers import (
    b64,
    completed_image,
    generate,
    inpaint,
    masked_png,
    wait_results,
)


def _decode(data: bytes) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


# --- generate -------------------------------------------------------------------------


def test_generate_one_completes_with_metadata_and_files(alice_api, alice_character, comfyui):
    response = generate(alice_api, alice_character, count=1)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert len(body["promptIds"]) == len(body["imageIds"]) == 1
    result = wait_results(alice_api, body["promptIds"][0])
    assert result["status"] == "completed"
    assert result["progress"] == 100
    assert (result["index"], result["total"]) == (0, 1)
    image = Image.objects.get(pk=body["imageIds"][0])
    assert image.prompt_id == body["promptIds"][0]
    assert (image.scene, image.environment, image.outfit) == (
        "mirror_selfie",
        "city_street",
        "white summer dress",
    )
    assert (image.aspect_ratio, image.quality_mode, image.nsfw) == ("9:16", "draft", False)
    assert (image.width, image.height) == (576, 1024)
    assert image.backend_url == comfyui.url
    assert image.completed_at is not None and image.started_at is not None
    assert alice_character.appearance.split(",")[0] in image.prompt
    assert result["images"][0]["s3Key"] == image.image_key
    assert storage.file_exists(image.image_key) and storage.file_exists(image.thumbnail_key)
    assert _decode(storage.file_read(image.image_key)).size == (576, 1024)


def test_generate_ten_all_complete_with_distinct_seeds_in_one_batch(
    alice_api, alice_character, comfyui
):
    response = generate(alice_api, alice_character, count=10, aspectRatio="1:1")
    assert response.status_code == 202, response.content
    prompt_ids = response.json()["promptIds"]
    results = [wait_results(alice_api, prompt_id) for prompt_id in prompt_ids]
    assert [r["status"] for r in results] == ["completed"] * 10
    assert sorted(r["index"] for r in results) == list(range(10))
    assert {r["total"] for r in results} == {10}
    images = Image.objects.filter(prompt_id__in=prompt_ids)
    assert len({i.seed for i in images}) == 10
    assert len({i.batch_id for i in images}) == 1
    assert len({storage.file_read(i.image_key) for i in images}) == 10


def test_generate_accepts_snake_and_kebab_ids_and_answers_kebab(
    alice_api, alice_character, comfyui
):
    snake = generate(alice_api, alice_character, scene="full_body", environment="photo_studio")
    kebab = generate(alice_api, alice_character, scene="full-body", environment="photo-studio")
    assert snake.status_code == kebab.status_code == 202
    page = alice_api.get(f"/image-gallery/characters/{alice_character.id}/images").json()
    assert {(i["scene"], i["environment"]) for i in page["images"]} == {
        ("full-body", "photo-studio")
    }
    assert set(Image.objects.values_list("scene", flat=True)) == {"full_body"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 11}, "count"),
        ({"aspectRatio": "4:3"}, "aspectRatio"),
        ({"scene": "moon-landing"}, "scene"),
        ({"environment": "../etc"}, "environment"),
        ({"outfit": "x" * 201}, "outfit"),
        ({"qualityMode": "ultra"}, "qualityMode"),
        ({"characterId": "not-a-uuid"}, "characterId"),
        ({"count": "many"}, "count"),
    ],
)
def test_generate_rejects_bad_input_with_field_message(
    alice_api, alice_character, overrides, field
):
    response = generate(alice_api, alice_character, **overrides)
    assert response.status_code == 400
    assert field in response.json()
    assert not Image.objects.exists()


def test_generate_nsfw_on_character_without_it_is_403_with_reason(alice_api, alice_character):
    response = generate(alice_api, alice_character, nsfw=True)
    assert response.status_code == 403
    assert "NSFW" in response.json()["detail"]
    assert not Image.objects.exists()


def test_generate_nsfw_allowed_when_character_enables_it(alice_api, alice, comfyui):
    character = make_character(alice, nsfw_enabled=True)
    response = generate(alice_api, character, nsfw=True)
    assert response.status_code == 202
    assert Image.objects.get().nsfw is True


def test_generate_for_other_users_character_is_404(bob_api, alice_character):
    response = generate(bob_api, alice_character)
    assert response.status_code == 404
    assert not Image.objects.exists()


def test_generate_never_calls_comfyui_so_a_dead_one_still_queues_the_pack(
    alice_api, alice_character, comfyui_down, analytics_events
):
    response = generate(alice_api, alice_character, count=3)
    assert response.status_code == 202, response.content
    assert set(Image.objects.values_list("status", flat=True)) == {ImageStatus.PENDING}
    result = alice_api.get(f"/image/comfyui/{response.json()['promptIds'][2]}/results").json()
    assert result["status"] == "in_progress"
    assert result["queuePosition"] == 3 and result["estimatedSeconds"] > 0
    assert analytics_events.names() == ["generation_started"]


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_request_time_is_503_and_leaves_no_row(
    alice_api, alice_character, broker_down, analytics_events
):
    response = generate(alice_api, alice_character, count=3)
    assert response.status_code == 503
    assert "job queue is unreachable" in response.json()["detail"]
    assert Image.objects.count() == 0
    assert analytics_events.names() == ["generation_failed"]


def test_generate_beyond_in_flight_cap_is_429(alice_api, alice_character, settings):
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 3
    for _ in range(2):
        make_image(alice_character, status=ImageStatus.PENDING)
    response = generate(alice_api, alice_character, count=2)
    assert response.status_code == 429
    assert Image.objects.count() == 2


def test_generate_is_throttled_per_user(
    alice_api, bob_api, alice_character, bob, comfyui, monkeypatch
):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"studio_start": "2/min", "auth_token": "20/min"}
    )
    codes = [generate(alice_api, alice_character).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert generate(bob_api, make_character(bob)).status_code == 202


def test_execution_error_marks_failed_with_node_and_message(
    alice_api, alice, comfyui, analytics_events
):
    character = make_character(alice, appearance="SIMULATE_FAILURE woman")
    response = generate(alice_api, character)
    prompt_id = response.json()["promptIds"][0]
    result = wait_results(alice_api, prompt_id)
    assert result["status"] == "failed"
    assert result["images"] == []
    image = Image.objects.get(prompt_id=prompt_id)
    assert image.status == ImageStatus.FAILED
    assert ":" in image.error_message and "Traceback" not in image.error_message
    assert result["error"] == image.error_message
    assert "generation_failed" in analytics_events.names()


def test_results_of_other_users_prompt_is_404(bob_api, alice_character):
    image = make_image(alice_character)
    assert bob_api.get(f"/image/comfyui/{image.prompt_id}/results").status_code == 404
    assert bob_api.get("/image/comfyui/no-such-prompt/results").status_code == 404


# --- inpaint --------------------------------------------------------------------------


def test_inpaint_end_to_end_changes_only_the_masked_area(
    alice_api, alice_character, comfyui, analytics_events
):
    source = completed_image(alice_api, alice_character)
    source_bytes = storage.file_read(source.image_key)
    box = (100, 200, 300, 500)
    response = inpaint(alice_api, source, masked_png(source, box), negativePrompt="blurry")
    assert response.status_code == 202, response.content
    body = response.json()
    result = wait_results(alice_api, body["promptId"])
    assert result["status"] == "completed", result
    edit = Image.objects.get(pk=body["imageId"])
    assert edit.source_image == source and edit.edit_type == "inpaint"
    assert (edit.scene, edit.environment, edit.outfit, edit.aspect_ratio) == (
        source.scene,
        source.environment,
        source.outfit,
        source.aspect_ratio,
    )
    assert (edit.width, edit.height) == (source.width, source.height)
    assert edit.mask_key == storage.mask_key_for(edit.character_id, edit.id)
    assert storage.file_exists(edit.mask_key)
    source.refresh_from_db()
    assert storage.file_read(source.image_key) == source_bytes
    assert source.edit_type is None and source.status == ImageStatus.COMPLETED

    before = _decode(source_bytes).convert("RGB")
    after = _decode(storage.file_read(edit.image_key)).convert("RGB")
    assert after.size == before.size
    changed = [0, 0]
    for y in range(0, before.height, 4):
        for x in range(0, before.width, 4):
            inside = box[0] <= x < box[2] and box[1] <= y < box[3]
            if before.getpixel((x, y)) != after.getpixel((x, y)):
                changed[inside] += 1
    assert changed[0] == 0, "pixels outside the mask changed"
    assert changed[1] > 0, "nothing changed inside the mask"
    assert "inpaint_started" in analytics_events.names()
    assert "inpaint_completed" in analytics_events.names()


@pytest.fixture
def source_image(alice_api, alice_character, comfyui):
    return completed_image(alice_api, alice_character)


def _png(size, mode="RGBA", alpha_box=None, fmt="PNG") -> bytes:
    picture = PILImage.new(mode, size, (10, 20, 30, 255)[: len(mode)] if mode != "P" else 1)
    if alpha_box is not None:
        picture.paste((0, 0, 0, 0), alpha_box)
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def _shortened_mask(source) -> bytes:
    """A valid mask cut after 200 rows, with a clean zlib end and correct CRCs."""
    from tests.studio.test_png import _rewrite_pixel_data

    row = 1 + source.width * 4
    whole = _png((source.width, source.height), alpha_box=(0, 0, 50, 50))
    return _rewrite_pixel_data(whole, lambda raw: raw[: 200 * row])


@pytest.mark.parametrize(
    ("make_mask", "message"),
    [
        (lambda s: b"GIF89a not a png", "must be a PNG"),
        (lambda s: _png((s.width, s.height), fmt="JPEG", mode="RGB"), "must be a PNG"),
        (lambda s: _png((s.width, s.height), mode="RGB"), "must be RGBA"),
        (lambda s: _png((s.width + 16, s.height), alpha_box=(0, 0, 5, 5)), "source image is"),
        (lambda s: _png((s.width, s.height)), "mask is empty"),
        (
            lambda s: _png((s.width, s.height), alpha_box=(0, 0, s.width, s.height)),
            "whole image is masked",
        ),
        (lambda s: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "could not be read"),
        (_shortened_mask, "damaged or incomplete"),
    ],
)
def test_inpaint_rejects_bad_masks(alice_api, source_image, make_mask, message):
    before = Image.objects.count()
    response = inpaint(alice_api, source_image, make_mask(source_image))
    assert response.status_code == 400
    assert message in response.json()["maskedImageBase64Png"][0]
    assert Image.objects.count() == before


def test_inpaint_rejects_mask_over_byte_limit(alice_api, source_image, settings):
    settings.STUDIO_MASK_MAX_BYTES = 1000
    response = inpaint(alice_api, source_image, masked_png(source_image, (0, 0, 10, 10)))
    assert response.status_code == 400
    assert "larger than" in response.json()["maskedImageBase64Png"][0]


def test_inpaint_rejects_decompression_bomb_before_decoding(alice_api, source_image, settings):
    settings.STUDIO_MASK_MAX_PIXELS = 100
    response = inpaint(alice_api, source_image, masked_png(source_image, (0, 0, 10, 10)))
    assert response.status_code == 400
    assert "too many pixels" in response.json()["maskedImageBase64Png"][0]


def test_inpaint_rejects_invalid_base64(alice_api, source_image):
    response = inpaint(alice_api, source_image, b"")
    response = alice_api.post(
        "/image/edit/inpaint",
        {
            "characterId": str(source_image.character_id),
            "sourceImageId": str(source_image.id),
            "prompt": "x",
            "maskedImageBase64Png": "%%% not base64",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "maskedImageBase64Png" in response.json()


def test_inpaint_accepts_data_url_prefix(alice_api, source_image):
    mask = "data:image/png;base64," + b64(masked_png(source_image, (0, 0, 64, 64)))
    response = alice_api.post(
        "/image/edit/inpaint",
        {
            "characterId": str(source_image.character_id),
            "sourceImageId": str(source_image.id),
            "prompt": "x",
            "maskedImageBase64Png": mask,
        },
        format="json",
    )
    assert response.status_code == 202, response.content


def test_inpaint_of_image_not_completed_is_400(alice_api, alice_character):
    pending = make_image(alice_character, width=64, height=64)
    response = inpaint(alice_api, pending, _png((64, 64), alpha_box=(0, 0, 8, 8)))
    assert response.status_code == 400
    assert "sourceImageId" in response.json()


def test_inpaint_of_other_users_image_is_404(bob_api, source_image):
    response = inpaint(bob_api, source_image, masked_png(source_image, (0, 0, 10, 10)))
    assert response.status_code == 404


def test_inpaint_with_mismatched_character_is_400(alice_api, alice, source_image):
    other = make_character(alice)
    response = inpaint(
        alice_api,
        source_image,
        masked_png(source_image, (0, 0, 10, 10)),
        characterId=str(other.id),
    )
    assert response.status_code == 400
    assert "sourceImageId" in response.json()


@pytest.mark.django_db(transaction=True)
def test_inpaint_with_the_broker_down_is_503_and_leaves_no_row_and_no_mask(
    alice_api, alice_character, broker_down, settings
):
    source = make_completed_image(
        alice_character, photo_like_png(64, 64, mode="RGB"), width=64, height=64
    )
    response = inpaint(alice_api, source, masked_png(source, (0, 0, 10, 10)))
    assert response.status_code == 503
    assert Image.objects.filter(source_image=source).count() == 0
    masks = [p for p in (settings.MEDIA_ROOT / "characters").rglob("*") if "masks" in p.parts]
    assert not [p for p in masks if p.is_file()]


def test_body_limit_is_raised_only_for_inpaint(alice_api, alice_character, settings):
    settings.REQUEST_MAX_BODY_BYTES = 10_000
    settings.STUDIO_INPAINT_MAX_BODY_BYTES = 50_000
    big = {"characterId": str(alice_character.id), "outfit": "x" * 20_000}
    response = alice_api.post("/image/generate/studio", big, format="json")
    assert response.status_code == 413
    assert "limit is 10000" in response.json()["detail"]
    payload = {"prompt": "y" * 20_000}
    response = alice_api.post("/image/edit/inpaint", payload, format="json")
    # Parsed and validated, not refused for its size: the answer names the missing fields.
    assert response.status_code == 400
    assert "sourceImageId" in response.json()
    huge = {"prompt": "y" * 60_000}
    response = alice_api.post("/image/edit/inpaint", huge, format="json")
    assert response.status_code == 413
    assert "limit is 50000" in response.json()["detail"]


@pytest.mark.parametrize("size", [1024, 2048])
def test_inpaint_accepts_photographic_masks_of_megabytes(alice_api, alice_character, comfyui, size):
    """Real outputs are photographs: their masks are 1-12 MB, far past Django's 1 MiB."""
    source_png = photo_like_png(size, size, mode="RGB")
    source = make_completed_image(alice_character, source_png, width=size, height=size)
    box = (size // 4, size // 4, size // 2, size // 2)
    mask = masked_png(source, box)
    assert len(mask) > 2_000_000
    response = inpaint(alice_api, source, mask)
    assert response.status_code == 202, response.content[:300]
    result = wait_results(alice_api, response.json()["promptId"], timeout=60)
    assert result["status"] == "completed", result
    edit = Image.objects.get(pk=response.json()["imageId"])
    assert storage.file_read(edit.mask_key) == mask
    before = _decode(source_png).convert("RGB")
    after = _decode(storage.file_read(edit.image_key)).convert("RGB")
    outside = PILImage.new("L", (size, size), 255)
    outside.paste(0, box)
    diff = ImageChops.difference(before, after).convert("L")
    assert ImageChops.multiply(diff, outside).getbbox() is None, "pixels outside the mask moved"
    assert diff.crop(box).getbbox() is not None, "nothing changed inside the mask"


def test_inpaint_body_over_its_limit_is_a_json_413_before_reading(
    alice_api, alice_character, settings
):
    settings.STUDIO_INPAINT_MAX_BODY_BYTES = 3_000_000
    source_png = photo_like_png(1024, 1024, mode="RGB")
    source = make_completed_image(alice_character, source_png, width=1024, height=1024)
    response = inpaint(alice_api, source, masked_png(source, (0, 0, 100, 100)))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "limit is 3000000" in response.json()["detail"]
    assert Image.objects.count() == 1


# --- gallery ----------------------------------------------------------------------------


def test_gallery_lists_newest_first_with_cursor_pages(alice_api, alice_character, bob):
    images = [make_image(alice_character) for _ in range(5)]
    make_image(make_character(bob))
    url = f"/image-gallery/characters/{alice_character.id}/images?limit=2"
    seen = []
    while url:
        page = alice_api.get(url).json()
        seen += [i["id"] for i in page["images"]]
        url = page["next"]
    assert seen == [str(i.id) for i in reversed(images)]


def test_gallery_filters_by_scene_environment_and_edited(alice_api, alice_character):
    plain = make_image(
        alice_character, scene="gym_selfie" if False else "fitness", environment="gym"
    )
    make_image(alice_character, scene="portrait", environment="beach")
    edit = make_image(
        alice_character, scene="fitness", environment="gym", source_image=plain, edit_type="inpaint"
    )
    base = f"/image-gallery/characters/{alice_character.id}/images"

    def ids(query):
        response = alice_api.get(base + query)
        assert response.status_code == 200, response.content
        return {i["id"] for i in response.json()["images"]}

    assert ids("?scene=fitness") == {str(plain.id), str(edit.id)}
    assert ids("?environment=gym&edited=true") == {str(edit.id)}
    assert ids("?scene=fitness&edited=false") == {str(plain.id)}
    assert alice_api.get(base + "?scene=nope").status_code == 400
    assert alice_api.get(base + "?cursor=garbage").status_code == 400


def test_gallery_of_other_users_character_is_404(bob_api, alice_character):
    response = bob_api.get(f"/image-gallery/characters/{alice_character.id}/images")
    assert response.status_code == 404


# --- cancel -----------------------------------------------------------------------------


def test_cancel_stops_an_image_in_flight(alice_api, alice_character, make_comfyui):
    make_comfyui(step_ms=200, steps=20)
    response = generate(alice_api, alice_character, count=2)
    image_ids = response.json()["imageIds"]
    answers = [alice_api.post(f"/image/{image_id}/cancel") for image_id in image_ids]
    assert [a.status_code for a in answers] == [200, 200]
    assert {a.json()["status"] for a in answers} == {"failed"}
    assert alice_api.post(f"/image/{image_ids[0]}/cancel").status_code == 400


def test_cancel_of_other_users_image_is_404(bob_api, alice_character):
    image = make_image(alice_character)
    assert bob_api.post(f"/image/{image.id}/cancel").status_code == 404
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING


# --- anonymous ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/image/generate/studio"),
        ("post", "/image/edit/inpaint"),
        ("get", "/image/comfyui/{prompt_id}/results"),
        ("get", "/image-gallery/characters/{character_id}/images"),
        ("post", "/image/{image_id}/cancel"),
    ],
)
def test_every_studio_endpoint_refuses_anonymous(api_client, alice_character, method, path):
    image = make_image(alice_character)
    url = path.format(prompt_id=image.prompt_id, character_id=alice_character.id, image_id=image.id)
    response = getattr(api_client, method)(url, {}, format="json")
    assert response.status_code in (401, 403)
    assert "images" not in response.json()


def test_generate_takes_details_and_a_first_seed(alice_api, alice_character):
    response = generate(alice_api, alice_character, count=3, details="golden hour", seed=9)
    assert response.status_code == 202, response.content
    pack = Image.objects.filter(batch_id=response.json()["batchId"]).order_by("batch_index")
    assert [image.seed for image in pack] == [9, 10, 11]
    assert all("golden hour" in image.prompt and image.details == "golden hour" for image in pack)
    listed = alice_api.get(f"/image-gallery/characters/{alice_character.id}/images").json()
    assert {item["details"] for item in listed["images"]} == {"golden hour"}


@pytest.mark.parametrize(
    "field, value",
    [("details", "x" * 501), ("details", "a <b>"), ("seed", -1), ("seed", 2**53)],
)
def test_generate_refuses_bad_details_and_seeds_in_json(alice_api, alice_character, field, value):
    response = generate(alice_api, alice_character, **{field: value})
    assert response.status_code == 400
    assert field in response.json()
