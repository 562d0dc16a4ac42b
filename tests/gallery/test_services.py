from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from gallery import services, storage
from gallery.models import Character, Image
from tests.factories import make_completed_image, make_image

pytestmark = pytest.mark.django_db(transaction=True)  # files are deleted on commit


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 64), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def _stored_keys(image: Image) -> list[str]:
    keys = [
        storage.image_key_for(image.character_id, image.id),
        storage.thumbnail_key_for(image.character_id, image.id),
    ]
    return [key for key in keys if storage.file_exists(key)]


def test_character_delete_removes_rows_and_every_stored_file(alice_character):
    images = [make_completed_image(alice_character, _png()) for _ in range(2)]
    assert all(_stored_keys(image) for image in images)

    services.character_delete(character=alice_character)

    assert not Image.objects.exists()
    assert [key for image in images for key in _stored_keys(image)] == []


def test_character_delete_also_removes_an_output_stored_while_it_ran(alice_character, monkeypatch):
    """A worker that commits its output just before the DELETE (what waiting for the row lock
    looks like) must not leave that file behind."""
    image = make_image(alice_character, backend_url="http://backend")
    delete = Character.delete

    def delete_after_a_worker_committed(self, *args, **kwargs):
        stored = storage.image_store(
            character_id=image.character_id, image_id=image.id, png_bytes=_png()
        )
        Image.objects.filter(pk=image.pk).update(
            status="completed", image_key=stored.image_key, thumbnail_key=stored.thumbnail_key
        )
        return delete(self, *args, **kwargs)

    monkeypatch.setattr(Character, "delete", delete_after_a_worker_committed)
    services.character_delete(character=Character.objects.get(pk=alice_character.pk))

    assert _stored_keys(image) == []
