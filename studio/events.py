"""Live updates for open studio pages: "this image changed" on a per-user channel.

Render workers (and requests) call `image_changed`; with Redis (REDIS_URL) it is published
on the user's pub/sub channel, which every studio tab of that user follows over
Server-Sent Events. Without Redis there is no channel: the event stream reads the database
for changed rows instead (the embedded default, one process; see `studio.streams`).
"""

from __future__ import annotations

import json
import logging
import threading

from django.conf import settings

from gallery.models import Image

logger = logging.getLogger(__name__)

_local = threading.local()


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


def image_payload(image: Image) -> dict:
    return {
        "imageId": str(image.id),
        "batchId": str(image.batch_id),
        "status": image.status,
        "progress": image.progress,
    }


def image_changed(image: Image) -> None:
    """Announce a new status or progress of `image`; never fails the caller."""
    if not settings.REDIS_URL:
        return
    try:
        owner_id = image.character.owner_id
        _redis().publish(user_channel(owner_id), json.dumps(image_payload(image)))
    except Exception as exc:
        logger.warning("events: could not publish a change of %s: %s", image.pk, exc)
