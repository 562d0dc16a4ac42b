"""The studio's event stream: each change of one of the user's images, and nobody else's,
from the database (embedded default) or from Redis pub/sub (production)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from django.test import AsyncClient

from studio import events
from tests.factories import make_character, make_image, make_user
from tests.processes import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def _collect(user_id: int, action, count: int, timeout: float = 5.0) -> list[str | None]:
    """The first `count` items of the user's change stream, with `action()` run once the
    stream is listening."""

    async def run() -> list[str | None]:
        seen: list[str | None] = []
        stream = events.image_changes(user_id)
        started = False
        try:
            while len(seen) < count:
                if not started:
                    asyncio.get_running_loop().call_later(0.3, action)
                    started = True
                change = await asyncio.wait_for(anext(stream), timeout)
                seen.append(change.image_id if change else None)
        finally:
            await stream.aclose()
        return seen

    return run_async(run)


def test_a_new_stream_starts_with_the_users_images_in_flight_only(alice, alice_character):
    mine = make_image(alice_character)
    make_image(make_character(make_user("carol")))
    assert _collect(alice.id, lambda: None, 1) == [str(mine.id)]


def test_changes_arrive_from_the_database_without_redis(alice, alice_character, settings):
    settings.REDIS_URL = ""
    image = make_image(alice_character, status="completed")
    bobs = make_image(make_character(make_user("carol")))

    def change() -> None:
        from gallery.models import Image

        Image.objects.filter(pk=bobs.pk).update(progress=50, updated_at=_now())
        image.mark_reviewed(status="approved", reviewer=alice)

    # The completed image was updated just now, so it opens the stream; then its change.
    assert _collect(alice.id, change, 2)[1] == str(image.id)


def _now():
    from django.utils import timezone

    return timezone.now()


def test_changes_arrive_over_redis_when_it_is_configured(alice, alice_character, settings):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
    try:
        socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), 1).close()
    except OSError:
        if os.environ.get("CI"):
            pytest.fail(f"no Redis at {url}")
        print(f"no Redis at {url}: skipped")
        pytest.skip(f"no Redis at {url}")
    settings.REDIS_URL = url
    image = make_image(alice_character, status="completed", progress=100)
    # Published by a worker: no database row changes at all in between.
    seen = _collect(alice.id, lambda: events.image_changed(image), 2)
    assert seen == [str(image.id), str(image.id)]


def _get(path: str, user=None):
    """GET through Django's async test client (the view is async), in a thread of its own."""

    async def go():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        return await client.get(path)

    return run_async(go)


def test_the_stream_view_sends_cards_as_named_events(alice, alice_character):
    image = make_image(alice_character)

    async def first_two() -> tuple[dict, str]:
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get("/studio/events")
        chunks = aiter(response.streaming_content)
        text = ""
        for _ in range(2):
            chunk = await asyncio.wait_for(anext(chunks), 5)
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
        await chunks.aclose()
        return dict(response.items()), text

    headers, text = run_async(first_two)
    assert headers["Content-Type"] == "text/event-stream"
    assert headers["Cache-Control"] == "no-cache"
    assert text.startswith("retry: 2000\n\n")
    assert "event: card\n" in text
    assert 'data: <article class="image-card' in text and f'id="card-{image.id}"' in text


def test_the_stream_needs_a_login(db):
    response = _get("/studio/events")
    assert response.status_code == 302 and "/login/" in response["Location"]
