"""Live updates for open studio pages: "this image changed" on a per-user channel.

Render workers (and requests) call `image_changed`; with Redis (REDIS_URL) it is published
on the user's pub/sub channel, which every studio tab of that user follows over
Server-Sent Events. Without Redis there is no channel: the event stream reads the database
for changed rows instead (the embedded default, one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from gallery.models import IN_FLIGHT_STATUSES, Image

logger = logging.getLogger(__name__)

_local = threading.local()


# "A job left the queue": every queued image behind it moved up, whoever owns it.
QUEUE_CHANNEL = "ryla:studio:queue"
QUEUE_REFRESH_SECONDS = 2.0  # without Redis: how often queued cards are sent again


def user_channel(user_id: int) -> str:
    return f"ryla:studio:user:{user_id}"


def _redis():
    import redis

    client = getattr(_local, "client", None)
    if client is None or getattr(_local, "url", None) != settings.REDIS_URL:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        _local.client, _local.url = client, settings.REDIS_URL
    return client


@dataclass(frozen=True)
class Change:
    """An image of the user changed; `updated_at` (ISO) names the state, when known."""

    image_id: str
    updated_at: str | None = None


def image_payload(image: Image) -> dict:
    return {
        "imageId": str(image.id),
        "updatedAt": image.updated_at.isoformat() if image.updated_at else None,
        "batchId": str(image.batch_id),
        "status": image.status,
        "progress": image.progress,
    }


def queue_moved() -> None:
    """A render worker took a job: queued cards everywhere show new positions."""
    if not settings.REDIS_URL:
        return
    try:
        _redis().publish(QUEUE_CHANNEL, "{}")
    except Exception as exc:
        logger.warning("events: could not announce a queue move: %s", exc)


def image_changed(image: Image) -> None:
    """Announce a new status or progress of `image`; never fails the caller."""
    if not settings.REDIS_URL:
        return
    try:
        owner_id = image.character.owner_id
        _redis().publish(user_channel(owner_id), json.dumps(image_payload(image)))
    except Exception as exc:
        logger.warning("events: could not publish a change of %s: %s", image.pk, exc)


# --- Following them (the Server-Sent Events stream of a studio tab) -----------------------

POLL_SECONDS = 0.25  # without Redis: how often a stream reads the user's changed rows
KEEPALIVE_SECONDS = 15.0  # a comment line, so proxies keep the stream and a gone tab is seen
RECENT = timedelta(seconds=30)


def _changes(rows) -> list[Change]:
    return [Change(str(image_id), updated_at.isoformat()) for image_id, updated_at in rows]


def _changed_since(user_id: int, since) -> tuple[list[Change], object]:
    rows = list(
        Image.objects.filter(character__owner_id=user_id, updated_at__gt=since)
        .order_by("updated_at")
        .values_list("id", "updated_at")
    )
    if not rows:
        return [], since
    return _changes(rows), rows[-1][1]


def _queued(user_id: int) -> list[Change]:
    """The user's queued images, whose cards show a position that moves without them."""
    rows = Image.objects.filter(character__owner_id=user_id).queued()
    return [Change(str(image_id)) for image_id in rows.values_list("id", flat=True)]


def _current(user_id: int) -> tuple[list[Change], object]:
    """Images a freshly opened (or reopened) stream reports at once: those in flight and
    those that ended lately, in case they changed while it was not listening."""
    now = timezone.now()
    rows = Image.objects.filter(character__owner_id=user_id).filter(
        Q(status__in=IN_FLIGHT_STATUSES) | Q(updated_at__gte=now - RECENT)
    )
    return _changes(rows.values_list("id", "updated_at")), now


async def image_changes(user_id: int) -> AsyncIterator[Change | None]:
    """The user's images as they change, and None every KEEPALIVE_SECONDS of quiet.

    Redis pub/sub when REDIS_URL is set; otherwise the database, read every POLL_SECONDS by
    this stream alone (the embedded default: one process, a handful of tabs).
    """
    ids, since = await sync_to_async(_current)(user_id)
    for image_id in ids:
        yield image_id
    if settings.REDIS_URL:
        async for image_id in _from_redis(user_id):
            yield image_id
        return
    quiet = queue_refresh = 0.0
    while True:
        await asyncio.sleep(POLL_SECONDS)
        ids, since = await sync_to_async(_changed_since)(user_id, since)
        queue_refresh += POLL_SECONDS
        if queue_refresh >= QUEUE_REFRESH_SECONDS:
            queue_refresh = 0.0
            changed = {change.image_id for change in ids}
            ids += [c for c in await sync_to_async(_queued)(user_id) if c.image_id not in changed]
        for image_id in ids:
            yield image_id
        quiet = 0.0 if ids else quiet + POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            quiet = 0.0
            yield None


async def _from_redis(user_id: int) -> AsyncIterator[Change | None]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(user_channel(user_id), QUEUE_CHANNEL)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            # None also for the subscription's own confirmation: only silence is quiet.
            message = await pubsub.get_message(timeout=KEEPALIVE_SECONDS)
            if message is None:
                if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = loop.time()
                    yield None
                continue
            quiet_since = loop.time()
            # Whatever else has arrived meanwhile, each image once: a card shows the
            # latest state, so five progress steps in a burst need one render, not five.
            changed: dict[str, str | None] = {}
            queue_moved = False
            while message is not None:
                if message["channel"] == QUEUE_CHANNEL.encode():
                    queue_moved = True
                else:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        payload = json.loads(message["data"])
                        changed[payload["imageId"]] = payload.get("updatedAt")
                message = await pubsub.get_message(timeout=0)
            if queue_moved:
                for change in await sync_to_async(_queued)(user_id):
                    changed.setdefault(change.image_id, None)
            for image_id, updated_at in changed.items():
                yield Change(image_id, updated_at)
    finally:
        await pubsub.aclose()
        await client.aclose()
