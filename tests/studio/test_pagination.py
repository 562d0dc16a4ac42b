from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC

import pytest

from studio.pagination import InvalidCursor, cursor_decode, cursor_encode
from tests.factories import make_image


def _cursor(created_at: str, image_id: str | None = None) -> str:
    raw = json.dumps([created_at, image_id or str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.django_db
def test_cursor_round_trips_in_utc(alice_character):
    image = make_image(alice_character)
    created_at, image_id = cursor_decode(cursor_encode(image))
    assert (created_at, image_id) == (image.created_at, image.id)
    assert created_at.tzinfo == UTC


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("0001-01-01T00:00:00+14:00"),  # overflows when moved to UTC
        _cursor("9999-12-31T23:59:59-14:00"),
        _cursor("2026-11-25T10:00:00"),  # naive
        _cursor("2026-11-25T10:00:00+00:00", "not-a-uuid"),
        "!!!",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
def test_forged_cursors_are_invalid_not_a_crash(cursor):
    with pytest.raises(InvalidCursor):
        cursor_decode(cursor)


@pytest.mark.django_db
def test_forged_cursor_is_400_in_the_api_and_an_error_on_the_page(
    alice_api, client, alice, alice_character
):
    cursor = _cursor("0001-01-01T00:00:00+14:00")
    response = alice_api.get(
        f"/image-gallery/characters/{alice_character.id}/images", {"cursor": cursor}
    )
    assert response.status_code == 400
    assert "cursor" in response.json()
    client.force_login(alice)
    page = client.get(
        f"/influencer/{alice_character.id}/studio/gallery",
        {"cursor": cursor},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code in (200, 400)
