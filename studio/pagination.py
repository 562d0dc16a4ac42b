"""Keyset (cursor) pagination of newest-first image lists: constant cost at any depth."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime

from gallery.models import Image, ImageQuerySet


class InvalidCursor(ValueError):
    pass


def cursor_encode(image: Image | dict) -> str:
    """The position of `image` (a row, or a `.values()` dict of one)."""
    if isinstance(image, dict):
        created_at, image_id = image["created_at"], image["id"]
    else:
        created_at, image_id = image.created_at, image.id
    raw = json.dumps([created_at.isoformat(), str(image_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, image_id = json.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        # In UTC, as stored; a forged date at the edge of the calendar overflows here.
        return when.astimezone(UTC), uuid.UUID(image_id)
    except (binascii.Error, ValueError, TypeError, OverflowError):
        raise InvalidCursor("Invalid cursor.") from None


def images_page(
    images: ImageQuerySet, *, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    """One page of `images` (already filtered) after `cursor`, and the next page's cursor."""
    images = images.newest_first()
    if cursor:
        images = images.older_than(*cursor_decode(cursor))
    page = list(images[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, cursor_encode(page[-1])


def images_filter(
    images: ImageQuerySet,
    *,
    scene: str | None = None,
    environment: str | None = None,
    edited: bool | None = None,
    favourites: bool = False,
) -> ImageQuerySet:
    if favourites:
        images = images.filter(favourite=True)
    if scene:
        images = images.filter(scene=scene)
    if environment:
        images = images.filter(environment=environment)
    if edited is not None:
        images = images.edited(edited)
    return images
