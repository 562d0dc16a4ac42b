"""Side effects on gallery data: reviewing images, managing characters."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

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
    """Delete a character, its images and, once the rows are gone, their stored files."""
    keys = [
        key
        for row in character.images.values_list("image_key", "thumbnail_key", "mask_key")
        for key in row
        if key
    ]
    with transaction.atomic():
        character.delete()
        transaction.on_commit(lambda: storage.files_delete(keys))
