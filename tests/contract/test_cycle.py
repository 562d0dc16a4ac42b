"""The whole cycle through a real ComfyUI: the REST API in, a render worker process taking
the jobs from the broker as in production, real outputs out."""

from __future__ import annotations

import io
import time

import pytest
import requests
from PIL import Image as PILImage
from PIL import ImageChops

from gallery import storage
from gallery.models import Image, ImageStatus
from tests.factories import make_character
from tests.studio.helpers import generate, inpaint, masked_png, wait_until

pytestmark = pytest.mark.real_comfyui


def _decoded(key: str) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(storage.file_read(key)))
    picture.load()
    return picture


def _wait_done(image_ids, timeout: float = 120.0) -> list[Image]:
    wait_until(
        lambda: not Image.objects.filter(pk__in=image_ids).in_flight().exists(),
        timeout,
        "images to finish",
    )
    return list(Image.objects.filter(pk__in=image_ids).order_by("batch_index"))


def _assert_nothing_pending() -> None:
    assert not Image.objects.in_flight().exists()
    for image in Image.objects.filter(status=ImageStatus.FAILED):
        assert image.error_message, image


def _server_queue(url: str) -> dict:
    return requests.get(f"{url}/queue", timeout=10).json()


def test_a_draft_pack_of_two_in_9_16_completes_with_sizes_thumbnails_and_metadata(
    alice_api, alice_character, start_worker
):
    start_worker()
    response = generate(alice_api, alice_character, count=2, aspectRatio="9:16")
    assert response.status_code == 202, response.content
    images = _wait_done(response.json()["imageIds"])
    assert [image.status for image in images] == ["completed", "completed"], [
        image.error_message for image in images
    ]
    for image in images:
        assert (image.width, image.height) == (64, 128)
        picture = _decoded(image.image_key)
        assert (picture.format, picture.size) == ("PNG", (64, 128))
        assert image.thumbnail_key.endswith(".thumb.webp")
        assert _decoded(image.thumbnail_key).format == "WEBP"
    listed = alice_api.get(f"/image-gallery/characters/{alice_character.id}/images").json()
    assert len(listed["images"]) == 2
    for entry in listed["images"]:
        assert (entry["scene"], entry["environment"], entry["outfit"]) == (
            "mirror-selfie",
            "city-street",
            "white summer dress",
        )
        assert (entry["aspectRatio"], entry["qualityMode"], entry["nsfw"]) == (
            "9:16",
            "draft",
            False,
        )
    result = alice_api.get(f"/image/comfyui/{images[0].prompt_id}/results").json()
    assert result["status"] == "completed" and result["images"][0]["s3Key"] == images[0].image_key
    _assert_nothing_pending()


def test_inpaint_of_a_real_output_keeps_every_pixel_outside_the_mask(
    alice_api, alice_character, start_worker
):
    start_worker()
    response = generate(alice_api, alice_character, count=1, aspectRatio="1:1")
    (source,) = _wait_done(response.json()["imageIds"])
    assert source.status == "completed", source.error_message
    box = (24, 16, 72, 64)
    mask = masked_png(source, box)  # the editor's export: the source, alpha 0 where painted
    response = inpaint(alice_api, source, mask, prompt="add a coffee cup in her hand")
    assert response.status_code == 202, response.content
    (edit,) = _wait_done([response.json()["imageId"]], timeout=300)
    assert edit.status == "completed", edit.error_message
    assert edit.source_image_id == source.id and edit.edit_type == "inpaint"
    before = _decoded(source.image_key).convert("RGB")
    after = _decoded(edit.image_key).convert("RGB")
    assert after.size == before.size == (96, 96)
    diff = ImageChops.difference(before, after).convert("L")
    outside = PILImage.new("L", before.size, 255)
    outside.paste(0, box)
    assert ImageChops.multiply(diff, outside).getbbox() is None, "pixels outside the mask moved"
    assert diff.crop(box).getbbox() is not None, "nothing changed inside the mask"
    _assert_nothing_pending()


def test_a_character_lora_renders_and_an_unknown_lora_is_refused_in_comfyuis_words(
    alice, alice_api, start_worker
):
    start_worker()
    styled = make_character(alice, lora_name="example_character.safetensors", lora_strength=0.8)
    response = generate(alice_api, styled, count=1)
    (image,) = _wait_done(response.json()["imageIds"])
    assert image.status == "completed", image.error_message

    unknown = make_character(alice, lora_name="no_such_character.safetensors")
    response = generate(alice_api, unknown, count=1)
    assert response.status_code == 202  # the request never talks to ComfyUI
    (failed,) = _wait_done(response.json()["imageIds"])
    assert failed.status == "failed"
    assert "Value not in list" in failed.error_message
    assert "no_such_character.safetensors" in failed.error_message
    result = alice_api.get(f"/image/comfyui/{failed.prompt_id}/results").json()
    assert "Value not in list" in result["error"]
    _assert_nothing_pending()


def test_an_execution_error_fails_the_image_with_comfyuis_message(
    alice_api, alice_character, contract, settings, start_worker
):
    contract.require_managed("this test puts a broken model file into its models folder")
    broken = contract.models / "vae" / "ryla_contract_broken.safetensors"
    broken.write_bytes(b"\x05\x00not a safetensors file")
    try:
        settings.COMFYUI_VAE = broken.name
        start_worker()
        response = generate(alice_api, alice_character, count=1)
        assert response.status_code == 202, response.content  # valid: the file is listed
        (image,) = _wait_done(response.json()["imageIds"])
    finally:
        broken.unlink()
    assert image.status == "failed"
    assert image.error_message.startswith("VAELoader"), image.error_message
    assert "header" in image.error_message.lower()  # safetensors' own words
    assert "Traceback" not in image.error_message
    _assert_nothing_pending()


def test_cancel_of_a_queued_and_of_a_running_job(
    alice_api, alice_character, contract, settings, start_worker
):
    settings.STUDIO_HQ_STEPS = 400  # about a minute each: long enough to catch running
    start_worker()
    response = generate(alice_api, alice_character, count=2, qualityMode="hq", aspectRatio="1:1")
    image_ids = response.json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(
            pk__in=image_ids, status="generating", progress__gt=0
        ).exists(),
        60,
        "a job to run",
    )
    # The worker holds one job (its backend is busy): the other waits in the broker.
    running = Image.objects.get(pk__in=image_ids, status="generating")
    queued = Image.objects.get(pk__in=image_ids, status="pending")
    queue = _server_queue(contract.url)
    assert [item[1] for item in queue["queue_running"]] == [running.prompt_id]
    assert queue["queue_pending"] == []

    answer = alice_api.post(f"/image/{queued.pk}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "failed"
    answer = alice_api.post(f"/image/{running.pk}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "failed"
    wait_until(
        lambda: not _server_queue(contract.url)["queue_running"], 30, "the interrupt to land"
    )
    history = requests.get(f"{contract.url}/history/{running.prompt_id}", timeout=10).json()
    messages = [event for event, _ in history[running.prompt_id]["status"]["messages"]]
    assert "execution_interrupted" in messages
    time.sleep(3)  # the worker is free again: the cancelled job must not start
    assert requests.get(f"{contract.url}/history/{queued.prompt_id}", timeout=10).json() == {}
    assert _server_queue(contract.url) == {"queue_running": [], "queue_pending": []}
    for image in Image.objects.filter(pk__in=image_ids):
        assert (image.status, image.error_message) == ("failed", "Cancelled.")
    _assert_nothing_pending()


def test_progress_from_the_real_websocket_rises_before_completion(
    alice_api, alice_character, settings, start_worker
):
    settings.STUDIO_DRAFT_STEPS = 30
    start_worker()
    response = generate(alice_api, alice_character, count=1, aspectRatio="1:1")
    image_id = response.json()["imageIds"][0]
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        image = Image.objects.get(pk=image_id)
        if not seen or seen[-1] != image.progress:
            seen.append(image.progress)
        if not image.is_in_flight:
            break
        time.sleep(0.02)
    assert image.status == "completed", image.error_message
    between = [value for value in seen if 0 < value < 100]
    assert between, f"no progress between 0 and 100 was applied: {seen}"
    assert seen == sorted(seen), seen
    assert seen[-1] == 100


def test_a_restart_of_the_real_server_mid_job_leaves_nothing_pending(
    alice_api, alice_character, contract, settings, start_worker
):
    contract.require_managed("this test restarts the server")
    settings.STUDIO_HQ_STEPS = 40
    start_worker()
    response = generate(alice_api, alice_character, count=2, qualityMode="hq", aspectRatio="1:1")
    image_ids = response.json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(pk__in=image_ids, status="generating").exists(),
        60,
        "a job to run",
    )
    contract.restart()
    images = _wait_done(image_ids, timeout=180)
    # The job the server forgot went back to the queue and ran again once it was up.
    assert [image.status for image in images] == ["completed", "completed"], [
        image.error_message for image in images
    ]
    assert max(image.attempts for image in images) == 2
    _assert_nothing_pending()
