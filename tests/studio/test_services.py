"""Service guarantees that only show under real concurrency: real threads, real sockets,
one database connection per request, against the live server."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from rest_framework.authtoken.models import Token

from gallery.models import Image
from tests.factories import make_completed_image, photo_like_png
from tests.studio.helpers import b64, masked_png

pytestmark = pytest.mark.django_db(transaction=True)


def _fire_at_once(count: int, send) -> list[requests.Response]:
    """`count` threads that wait for each other, then all call `send` at the same moment."""
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = send(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


@pytest.fixture
def slow_comfyui(make_comfyui):
    """A simulator that finishes nothing during the test: every accepted image stays in
    flight even if a reconciler left over from another test looks at it."""
    return make_comfyui(step_ms=500, steps=100)


def _token(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def test_in_flight_cap_holds_exactly_under_24_concurrent_generate_requests(
    live_server, alice, alice_character, slow_comfyui, settings
):
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 30
    headers = _token(alice)
    body = {
        "characterId": str(alice_character.id),
        "scene": "selfie",
        "environment": "beach",
        "outfit": "dress",
        "aspectRatio": "1:1",
        "qualityMode": "draft",
        "count": 10,
    }
    answers = _fire_at_once(
        24,
        lambda _: requests.post(
            f"{live_server.url}/image/generate/studio", json=body, headers=headers, timeout=60
        ),
    )
    codes = Counter(answer.status_code for answer in answers)
    assert codes == {202: 3, 429: 21}, codes
    assert Image.objects.filter(character=alice_character).in_flight().count() == 30
    assert Image.objects.filter(character=alice_character).count() == 30


def test_in_flight_cap_holds_exactly_under_20_concurrent_inpaint_requests(
    live_server, alice, alice_character, slow_comfyui, settings
):
    settings.STUDIO_MAX_IN_FLIGHT_PER_USER = 5
    source = make_completed_image(
        alice_character, photo_like_png(256, 256, mode="RGB"), width=256, height=256
    )

    body = {
        "characterId": str(alice_character.id),
        "sourceImageId": str(source.id),
        "prompt": "add a coffee cup",
        "maskedImageBase64Png": b64(masked_png(source, (10, 10, 100, 100))),
    }
    headers = _token(alice)
    answers = _fire_at_once(
        20,
        lambda _: requests.post(
            f"{live_server.url}/image/edit/inpaint", json=body, headers=headers, timeout=60
        ),
    )
    codes = Counter(answer.status_code for answer in answers)
    assert codes == {202: 5, 429: 15}, codes
    assert Image.objects.filter(source_image=source).in_flight().count() == 5
