"""Where an image's bytes, thumbnail and mask live, and the URLs clients get for them.

Works on whatever `STORAGES["default"]` is: local files by default, S3 (private objects,
presigned URLs) when a bucket is configured. Keys follow DESIGN.md:
`characters/<character_id>/images/<image_id>.png`, `….thumb.webp`, `…/masks/<image_id>.png`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import io
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import filepath_to_uri
from PIL import Image as PILImage

THUMBNAIL_LONG_SIDE = 384
THUMBNAIL_QUALITY = 80

KEY_PATTERN = re.compile(
    r"^characters/(?P<character_id>[0-9a-f-]{36})/"
    r"(?:images/[0-9a-f-]{36}(?:\.png|\.thumb\.webp)|masks/[0-9a-f-]{36}\.png)$"
)


@dataclass(frozen=True)
class StoredImage:
    image_key: str
    thumbnail_key: str
    width: int
    height: int


def image_key_for(character_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"characters/{character_id}/images/{image_id}.png"


def thumbnail_key_for(character_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"characters/{character_id}/images/{image_id}.thumb.webp"


def mask_key_for(character_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"characters/{character_id}/masks/{image_id}.png"


def character_id_from_key(key: str) -> str | None:
    """The owning character of a storage key, or None for anything that is not one of ours."""
    match = KEY_PATTERN.match(key)
    return match.group("character_id") if match else None


def _storage() -> Storage:
    return storages["default"]


def _save(key: str, data: bytes) -> str:
    # Both backends are configured to overwrite (settings.STORAGES), so storing again after
    # a crash replaces the object instead of writing a renamed second copy.
    saved = _storage().save(key, ContentFile(data))
    if saved != key:
        raise RuntimeError(f"storage saved {key!r} as {saved!r}")
    return saved


def make_thumbnail(picture: PILImage.Image) -> bytes:
    """A WebP whose long side is at most THUMBNAIL_LONG_SIDE pixels."""
    thumb = picture.convert("RGB") if picture.mode not in ("RGB", "RGBA") else picture.copy()
    thumb.thumbnail((THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE), PILImage.Resampling.BILINEAR)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=THUMBNAIL_QUALITY, method=0)
    return out.getvalue()


class UnreadableImage(ValueError):
    """Bytes that were meant to be an image and cannot be decoded as one."""


def image_store(*, character_id: uuid.UUID, image_id: uuid.UUID, png_bytes: bytes) -> StoredImage:
    """Store an output image as received plus its thumbnail; answer the keys and size.

    Raises `UnreadableImage` (and stores nothing) when the bytes are not a decodable image.
    """
    try:
        with PILImage.open(io.BytesIO(png_bytes)) as picture:
            picture.load()
            width, height = picture.size
            thumbnail = make_thumbnail(picture)
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise UnreadableImage(f"not a decodable image: {exc}") from exc
    image_key = _save(image_key_for(character_id, image_id), png_bytes)
    thumbnail_key = _save(thumbnail_key_for(character_id, image_id), thumbnail)
    return StoredImage(image_key, thumbnail_key, width, height)


def mask_store(*, character_id: uuid.UUID, image_id: uuid.UUID, png_bytes: bytes) -> str:
    return _save(mask_key_for(character_id, image_id), png_bytes)


def file_read(key: str) -> bytes:
    with _storage().open(key, "rb") as handle:
        return handle.read()


def file_exists(key: str) -> bool:
    return bool(key) and _storage().exists(key)


def files_delete(keys: Iterable[str]) -> None:
    storage = _storage()
    for key in keys:
        storage.delete(key)


# Keys this module makes need no quoting in a URL (the common case, checked cheaply).
_URI_SAFE_KEY = re.compile(r"[A-Za-z0-9/._-]+\Z")


def file_url(key: str) -> str:
    """A URL the client can fetch: presigned and expiring on S3, signed and expiring locally.

    Local expiry is rounded up to a whole window so that a page shows the same URL (and the
    browser reuses its cached thumbnail) for a while; a URL lives one to two windows.
    """
    return file_urls([key])[0]


def file_urls(keys: list[str]) -> list[str]:
    """`file_url` of many keys at once: a gallery page signs a hundred URLs per request."""
    storage = _storage()
    if not isinstance(storage, FileSystemStorage):
        return [storage.url(key) if key else "" for key in keys]
    window = max(60, settings.AWS_QUERYSTRING_EXPIRE)
    expires = (int(time.time()) // window + 2) * window
    base, secret = storage.base_url, settings.SECRET_KEY
    return [_local_url(base, key, expires, secret) if key else "" for key in keys]


@functools.lru_cache(maxsize=8192)
def _local_url(base: str, key: str, expires: int, secret: str) -> str:
    """One signed URL; the same for a whole window, so a gallery polled again reuses it."""
    path = key if _URI_SAFE_KEY.match(key) else filepath_to_uri(key)
    return f"{base}{path}?expires={expires}&signature={_local_signature(key, expires, secret)}"


@functools.lru_cache(maxsize=4)
def _local_signing_key(secret: str) -> bytes:
    return salted_hmac("gallery.storage.file_url", "local file URLs", secret).digest()


def _local_signature(key: str, expires: int, secret: str) -> str:
    message = f"{key}:{expires}".encode()
    digest = hmac.digest(_local_signing_key(secret), message, hashlib.sha256)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def local_url_is_valid(key: str, expires: str, signature: str) -> bool:
    """Whether a local file URL's signature matches and has not expired."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if expires_at < time.time():
        return False
    return constant_time_compare(
        signature or "", _local_signature(key, expires_at, settings.SECRET_KEY)
    )


def storage_is_local() -> bool:
    return isinstance(_storage(), FileSystemStorage)
