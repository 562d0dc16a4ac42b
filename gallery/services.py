"""Side effects on gallery data: reviewing images, managing characters."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from rest_framework.authtoken.models import Token

from gallery import storage
from gallery.models import Character, Image, ReviewStatus


def image_review(*, images: Iterable[Image], status: ReviewStatus, reviewer) -> int:
    """Record `reviewer`'s verdict on each image; answer how many were reviewed."""
    count = 0
    with transaction.atomic():
        for image in images:
            image.mark_reviewed(status=status, reviewer=reviewer)
            count += 1
    return count


def image_approve(*, images: Iterable[Image], reviewer) -> int:
    return image_review(images=images, status=ReviewStatus.APPROVED, reviewer=reviewer)


def image_reject(*, images: Iterable[Image], reviewer) -> int:
    return image_review(images=images, status=ReviewStatus.REJECTED, reviewer=reviewer)


def character_create(*, owner, **fields) -> Character:
    character = Character(owner=owner, **fields)
    character.full_clean()
    character.save()
    return character


def character_update(*, character: Character, **fields) -> Character:
    for name, value in fields.items():
        setattr(character, name, value)
    character.full_clean()
    character.save()
    return character


def character_delete(*, character: Character) -> None:
    """Delete a character, its images and, once the rows are gone, their stored files.

    The rows are locked first, so an output being stored right now is either committed
    before (and its keys deleted here) or finds its row gone; keys are derived from ids,
    not read from rows that might still change.
    """
    with transaction.atomic():
        image_ids = list(character.images.select_for_update().values_list("id", flat=True))
        keys = [
            key_for(character.id, image_id)
            for image_id in image_ids
            for key_for in (storage.image_key_for, storage.thumbnail_key_for, storage.mask_key_for)
        ]
        character.delete()
        transaction.on_commit(lambda: storage.files_delete(keys))


def image_delete(*, image: Image) -> None:
    """Delete one image and, once the row is gone, its stored files. Its edits stay, with
    no source any more (their lineage then says the source was deleted)."""
    keys = [
        key_for(image.character_id, image.id)
        for key_for in (storage.image_key_for, storage.thumbnail_key_for, storage.mask_key_for)
    ]
    with transaction.atomic():
        Image.objects.select_for_update().filter(pk=image.pk).delete()
        transaction.on_commit(lambda: storage.files_delete(keys))


def token_revoke(*, user) -> bool:
    """Delete the user's API token; answers whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
