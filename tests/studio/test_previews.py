"""Live step previews: a render worker (in this process, on the real broker) keeps the
latest preview of a running image in the database, the card shows it, and only its owner
can read it."""

from __future__ import annotations

import io
import time

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from gallery.models import Image
from studio.models import PREVIEW_MAX_BYTES, ImagePreview
from studio.services import rendering
from tests.factories import make_image
from tests.studio.helpers import generate, nothing_in_flight, wait_finished, wait_until


def _jpeg(size: tuple[int, int] = (32, 32), colour=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _preview_url(image: Image) -> str:
    return reverse("studio:image_preview", args=[image.character_id, image.id])


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


# --- the render worker -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_running_image_gets_its_latest_preview_and_loses_it_when_done(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(step_ms=150, steps=12, preview_method="auto")
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]

    wait_until(lambda: ImagePreview.objects.filter(image_id=image_id).exists(), 15, "a preview")
    first = ImagePreview.objects.get(image_id=image_id)
    image = Image.objects.get(pk=image_id)
    assert image.status == "generating"
    assert image.updated_at >= first.updated_at  # the card's state names the new frame
    picture = PILImage.open(io.BytesIO(bytes(first.jpeg)))
    assert picture.format == "JPEG" and max(picture.size) == 512
    wait_until(
        lambda: ImagePreview.objects.filter(
            image_id=image_id, updated_at__gt=first.updated_at
        ).exists(),
        10,
        "a newer preview",
    )
    newer = ImagePreview.objects.get(image_id=image_id)
    # At most twice a second: the simulator sends one every 150 ms.
    assert (newer.updated_at - first.updated_at).total_seconds() >= rendering.PROGRESS_EVERY

    (image,) = wait_finished([image_id])
    assert image.status == "completed"
    # Removed just after the row completes, so the card never falls back to no picture.
    wait_until(lambda: not ImagePreview.objects.filter(image_id=image_id).exists(), 5, "no preview")
    nothing_in_flight()


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_image_loses_its_preview(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(step_ms=100, steps=50, preview_method="auto")
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: ImagePreview.objects.filter(image_id=image_id).exists(), 15, "a preview")

    assert alice_api.post(f"/image/{image_id}/cancel").status_code == 200
    wait_until(
        lambda: not ImagePreview.objects.filter(image_id=image_id).exists(), 10, "no preview"
    )
    assert Image.objects.get(pk=image_id).status == "failed"
    nothing_in_flight()


@pytest.mark.django_db(transaction=True)
def test_without_previews_from_the_backend_nothing_is_stored(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(step_ms=100, steps=8)
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: Image.objects.get(pk=image_id).progress > 0, 10, "the job to run")
    while Image.objects.filter(pk=image_id).in_flight().exists():
        assert not ImagePreview.objects.exists()
        time.sleep(0.02)
    assert wait_finished([image_id])[0].status == "completed"


def test_a_png_or_oversized_preview_is_kept_as_a_small_jpeg():
    buffer = io.BytesIO()
    PILImage.new("RGB", (1024, 768), (1, 2, 3)).save(buffer, format="PNG")

    jpeg = rendering.preview_jpeg(buffer.getvalue(), "image/png")

    picture = PILImage.open(io.BytesIO(jpeg))
    assert (picture.format, picture.size) == ("JPEG", (512, 384))
    assert len(jpeg) <= PREVIEW_MAX_BYTES
    assert rendering.preview_jpeg(b"\xff\xd8\xffnot really", "image/png") is None
    small = _jpeg()
    assert rendering.preview_jpeg(small, "image/jpeg") is small  # kept as sent


def test_a_preview_over_the_cap_is_refused_by_the_model(alice_character):
    image = make_image(alice_character)
    with pytest.raises(ValueError):
        ImagePreview.objects.put(image_id=image.id, jpeg=b"\0" * (PREVIEW_MAX_BYTES + 1))


# --- the view and the card -------------------------------------------------------------


def test_the_owner_gets_the_latest_preview_as_jpeg(alice_client, alice_character):
    image = make_image(alice_character, status="generating", progress=40)
    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg(colour=(1, 1, 1)))
    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg(colour=(250, 250, 250)))

    response = alice_client.get(_preview_url(image))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "max-age=10" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert PILImage.open(io.BytesIO(response.content)).getpixel((5, 5))[0] > 200


def test_another_users_preview_is_not_found(bob_client, alice_character):
    image = make_image(alice_character, status="generating")
    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg())

    assert bob_client.get(_preview_url(image)).status_code == 404


def test_anonymous_is_sent_to_log_in(client, alice_character):
    image = make_image(alice_character, status="generating")
    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg())

    response = client.get(_preview_url(image))

    assert response.status_code == 302 and "login" in response["Location"]


def test_no_preview_or_an_image_no_longer_rendering_is_not_found(alice_client, alice_character):
    running = make_image(alice_character, status="generating")
    assert alice_client.get(_preview_url(running)).status_code == 404
    failed = make_image(alice_character, status="failed")
    ImagePreview.objects.put(image_id=failed.id, jpeg=_jpeg())  # left by a dead worker
    assert alice_client.get(_preview_url(failed)).status_code == 404


def test_a_running_card_shows_its_preview_under_a_versioned_url(alice_client, alice_character):
    image = make_image(alice_character, status="generating", progress=40)
    card_url = reverse("studio:image_card", args=[alice_character.id, image.id])
    assert 'class="preview"' not in alice_client.get(card_url).content.decode()

    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg())
    first = alice_client.get(card_url).content.decode()
    ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg())
    second = alice_client.get(card_url).content.decode()

    src = f'src="{_preview_url(image)}?v='
    assert src in first and src in second
    assert first != second  # a new frame, a new URL
    for body in (first, second):
        assert "<progress" in body and ">Cancel<" in body
        assert "style=" not in body


def test_a_queued_or_finished_card_shows_no_preview(alice_client, alice_character):
    for status in ("pending", "failed"):
        image = make_image(alice_character, status=status)
        ImagePreview.objects.put(image_id=image.id, jpeg=_jpeg())
        card_url = reverse("studio:image_card", args=[alice_character.id, image.id])
        assert 'class="preview"' not in alice_client.get(card_url).content.decode()
