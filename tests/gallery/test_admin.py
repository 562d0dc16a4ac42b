from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from gallery import storage
from gallery.models import Image, ReviewStatus
from tests.factories import make_character, make_image, make_user
from tests.gallery.test_storage import png_bytes


@pytest.fixture
def staff(db):
    return make_user("reviewer", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _make_images(character, count: int) -> None:
    for _ in range(count):
        make_image(character, status="completed", thumbnail_key="x.webp", image_key="x.png")


def _changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:gallery_image_changelist"))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_image_changelist_query_count_does_not_grow_with_rows(staff_client, alice):
    character = make_character(alice)
    _make_images(character, 5)
    few = _changelist_queries(staff_client)
    _make_images(make_character(alice), 95)
    many = _changelist_queries(staff_client)
    assert Image.objects.count() == 100
    assert many == few


def test_character_changelist_shows_image_count_without_query_per_row(staff_client, alice):
    for _ in range(3):
        _make_images(make_character(alice), 2)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(reverse("admin:gallery_character_changelist"))
    for _ in range(10):
        _make_images(make_character(alice), 2)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get(reverse("admin:gallery_character_changelist"))
    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    ("action", "expected"),
    [("approve", ReviewStatus.APPROVED), ("reject", ReviewStatus.REJECTED)],
)
def test_review_actions_record_verdict_reviewer_and_time(
    staff_client, staff, alice, action, expected
):
    character = make_character(alice)
    images = [make_image(character, status="completed") for _ in range(2)]
    untouched = make_image(character, status="completed")
    response = staff_client.post(
        reverse("admin:gallery_image_changelist"),
        {"action": action, "_selected_action": [str(i.pk) for i in images]},
    )
    assert response.status_code == 302
    for image in images:
        image.refresh_from_db()
        assert image.review_status == expected
        assert image.reviewed_by == staff
        assert image.reviewed_at is not None
    untouched.refresh_from_db()
    assert untouched.review_status == ReviewStatus.UNREVIEWED


def test_change_page_shows_preview_lineage_and_read_only_inputs(staff_client, alice):
    character = make_character(alice)
    source = make_image(character, status="completed")
    stored = storage.image_store(
        character_id=character.id, image_id=source.id, png_bytes=png_bytes(64, 48)
    )
    source.mark_completed(
        image_key=stored.image_key, thumbnail_key=stored.thumbnail_key, width=64, height=48
    )
    edit = make_image(character, source_image=source, edit_type="inpaint", prompt="add a hat")
    response = staff_client.get(reverse("admin:gallery_image_change", args=[source.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert escape(storage.file_url(stored.image_key)) in body
    assert reverse("admin:gallery_image_change", args=[edit.pk]) in body
    assert 'name="prompt"' not in body  # generation inputs are read-only
    edit_page = staff_client.get(reverse("admin:gallery_image_change", args=[edit.pk]))
    edit_body = edit_page.content.decode()
    assert reverse("admin:gallery_image_change", args=[source.pk]) in edit_body
    # The source as a thumbnail, not a UUID.
    assert escape(storage.file_url(stored.thumbnail_key)) in edit_body
    assert 'class="review-thumb"' in edit_body and 'style="' not in edit_body.split("<body")[1]


@pytest.mark.parametrize(
    ("verdict", "status"),
    [("approved", ReviewStatus.APPROVED), ("rejected", ReviewStatus.REJECTED)],
)
def test_change_page_buttons_approve_or_reject_the_image(
    staff_client, staff, alice, verdict, status
):
    image = make_image(make_character(alice), status="completed")
    page = staff_client.get(reverse("admin:gallery_image_change", args=[image.pk])).content
    review = reverse("admin:gallery_image_review", args=[image.pk, verdict])
    assert review in page.decode()
    response = staff_client.post(review)
    assert response.status_code == 302
    image.refresh_from_db()
    assert (image.review_status, image.reviewed_by) == (status, staff)
    assert staff_client.get(review).status_code == 405
    assert (
        staff_client.post(reverse("admin:gallery_image_review", args=[image.pk, "x"])).status_code
        == 403
    )


def test_review_buttons_need_staff(client, alice):
    image = make_image(make_character(alice), status="completed")
    client.force_login(alice)
    response = client.post(reverse("admin:gallery_image_review", args=[image.pk, "approved"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    image.refresh_from_db()
    assert image.review_status == ReviewStatus.UNREVIEWED


def test_a_deleted_source_is_named_as_such(staff_client, alice):
    edit = make_image(make_character(alice), edit_type="inpaint")
    page = staff_client.get(reverse("admin:gallery_image_change", args=[edit.pk])).content
    assert "The source was deleted." in page.decode()


def test_changelist_shows_thumbnail_and_filters(staff_client, alice):
    character = make_character(alice)
    make_image(make_character(alice), status="failed", scene="gym", nsfw=True)
    image = make_image(character, status="completed")
    stored = storage.image_store(
        character_id=character.id, image_id=image.id, png_bytes=png_bytes(32, 32)
    )
    image.mark_completed(
        image_key=stored.image_key, thumbnail_key=stored.thumbnail_key, width=32, height=32
    )
    response = staff_client.get(reverse("admin:gallery_image_changelist"))
    body = response.content.decode()
    assert escape(storage.file_url(stored.thumbnail_key)) in body
    for name in [
        "status",
        "review_status",
        "scene",
        "environment",
        "aspect_ratio",
        "quality_mode",
        "nsfw",
        "edit_type",
        "character",
    ]:
        assert f"By {name.replace('_', ' ')}".lower() in body.lower()
    thumb = staff_client.get(storage.file_url(stored.thumbnail_key))
    assert thumb.status_code == 200


def test_search_by_prompt_and_character_name(staff_client, alice):
    image = make_image(make_character(alice, name="Zelda"), prompt="lighthouse at dusk")
    other = make_image(make_character(alice, name="Anna"), prompt="coffee shop")
    url = reverse("admin:gallery_image_changelist")
    by_prompt = staff_client.get(url, {"q": "lighthouse"}).context["cl"].result_list
    by_name = staff_client.get(url, {"q": "Anna"}).context["cl"].result_list
    assert list(by_prompt) == [image]
    assert list(by_name) == [other]


def test_non_staff_cannot_open_admin(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:gallery_image_changelist"))
    assert response.status_code == 302
