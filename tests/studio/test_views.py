from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gallery.models import Image, ImageStatus
from tests.factories import (
    make_character,
    make_completed_image,
    make_edit_with_mask,
    make_image,
    photo_like_png,
)
from tests.studio.helpers import completed_image

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def _urls(character, image):
    return {
        "character": reverse("studio:character", args=[character.id]),
        "gallery": reverse("studio:gallery", args=[character.id]),
        "detail": reverse("studio:image_detail", args=[character.id, image.id]),
        "card": reverse("studio:image_card", args=[character.id, image.id]),
        "edit": reverse("studio:image_edit", args=[character.id, image.id]),
    }


def test_index_lists_own_characters_with_studio_links(alice_client, alice, bob):
    mine = make_character(alice, name="Mine-Mia")
    make_character(bob, name="Bob-Secret")
    body = alice_client.get(reverse("studio:index")).content.decode()
    assert reverse("studio:character", args=[mine.id]) in body
    assert "Bob-Secret" not in body


def test_index_without_characters_offers_to_create_one(alice_client):
    body = alice_client.get(reverse("studio:index")).content.decode()
    assert reverse("gallery:character_create") in body


def test_studio_page_renders_form_gallery_and_captures_studio_opened(
    alice_client, alice, alice_character, analytics_events
):
    image = make_image(alice_character, status=ImageStatus.GENERATING, progress=40)
    response = alice_client.get(reverse("studio:character", args=[alice_character.id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="generate-form"' in body and 'id="gallery"' in body
    assert f'data-image-id="{image.id}"' in body and "40%" in body
    # In-flight cards follow the tab's event stream instead of polling.
    assert f'sse-connect="{reverse("studio:events")}"' in body
    assert 'id="live-cards" sse-swap="card"' in body and "every 1s" not in body
    assert "Mirror selfie" in body and "Photo studio" in body  # labels from presets
    assert analytics_events.events == [
        (
            "studio_opened",
            {"distinct_id": str(alice.id), "properties": {"characterId": str(alice_character.id)}},
        )
    ]


def test_nsfw_toggle_disabled_with_reason_when_character_does_not_allow(alice_client, alice):
    safe = make_character(alice, nsfw_enabled=False, name="Safe")
    spicy = make_character(alice, nsfw_enabled=True, name="Spicy")
    safe_body = alice_client.get(reverse("studio:character", args=[safe.id])).content.decode()
    spicy_body = alice_client.get(reverse("studio:character", args=[spicy.id])).content.decode()
    assert 'name="nsfw"' in safe_body and "disabled" in safe_body.split('name="nsfw"')[1][:80]
    assert "does not allow NSFW" in safe_body
    assert "does not allow NSFW" not in spicy_body


def test_generate_htmx_returns_gallery_with_placeholders(alice_client, alice_character, comfyui):
    response = alice_client.post(
        reverse("studio:generate", args=[alice_character.id]),
        {
            "scene": "selfie",
            "environment": "beach",
            "outfit": "red dress",
            "aspect_ratio": "2:3",
            "quality_mode": "draft",
            "count": "3",
        },
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('class="image-card ar-23"') == 3
    assert Image.objects.filter(character=alice_character).count() == 3


def test_generate_without_htmx_redirects_to_studio(alice_client, alice_character, comfyui):
    response = alice_client.post(
        reverse("studio:generate", args=[alice_character.id]),
        {
            "scene": "selfie",
            "environment": "beach",
            "aspect_ratio": "1:1",
            "quality_mode": "hq",
            "count": "1",
        },
    )
    assert response.status_code == 302
    assert Image.objects.get().quality_mode == "hq"


def test_generate_errors_show_next_to_the_field(alice_client, alice_character):
    url = reverse("studio:generate", args=[alice_character.id])
    data = {
        "scene": "selfie",
        "environment": "beach",
        "aspect_ratio": "1:1",
        "quality_mode": "draft",
        "count": "11",
    }
    htmx = alice_client.post(url, data, **HTMX)
    assert htmx.status_code == 200
    assert htmx["HX-Retarget"] == "#generate-form"
    assert "Ensure this value is less than or equal to 10" in htmx.content.decode()
    plain = alice_client.post(url, data)
    assert plain.status_code == 422
    assert not Image.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_generate_with_the_broker_down_shows_the_error_and_no_cards(
    alice_client, alice_character, broker_down
):
    response = alice_client.post(
        reverse("studio:generate", args=[alice_character.id]),
        {
            "scene": "selfie",
            "environment": "beach",
            "aspect_ratio": "1:1",
            "quality_mode": "draft",
            "count": "2",
        },
        **HTMX,
    )
    assert "job queue is unreachable" in response.content.decode()
    assert not Image.objects.exists()


def test_card_shows_the_stored_state_and_never_polls(alice_client, alice_character):
    image = make_completed_image(alice_character, photo_like_png(64, 64), width=64, height=64)
    body = alice_client.get(_urls(alice_character, image)["card"], **HTMX).content.decode()
    assert 'data-status="completed"' in body
    assert 'class="thumb"' in body
    queued = make_image(alice_character)
    body = alice_client.get(_urls(alice_character, queued)["card"], **HTMX).content.decode()
    assert 'data-status="pending"' in body and "every 1s" not in body


def test_failed_card_says_it_in_plain_words_and_a_retry_takes_its_place(
    alice_client, alice_character
):
    image = make_image(alice_character, status=ImageStatus.FAILED, error_message="KSampler: boom")
    body = alice_client.get(_urls(alice_character, image)["card"], **HTMX).content.decode()
    assert "Not made." in body and "Something went wrong while it was being made." in body
    assert "<summary>Details</summary><code>KSampler: boom</code>" in body  # one click away
    assert "Retry" in body and "Dismiss" in body
    retry = reverse("studio:image_retry", args=[alice_character.id, image.id])
    response = alice_client.post(retry, **HTMX)
    assert response.status_code == 200
    (again,) = Image.objects.all()  # the failed one is gone, the new one took its place
    assert again.pk != image.pk and again.scene == image.scene
    assert f'id="card-{again.id}"' in response.content.decode()


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("Cancelled.", "You cancelled it."),
        ("No ComfyUI backend could take this image for 10 min", "servers were all unavailable"),
        ("the backend restarted; gave up after 3 attempts.", "kept failing"),
        ("ComfyUI refused the workflow: Value not in list", "refused the request"),
    ],
)
def test_failed_edits_look_different_and_explain_the_failure(
    alice_client, alice_character, message, words
):
    source = make_image(alice_character, status=ImageStatus.COMPLETED)
    edit = make_image(
        alice_character, status=ImageStatus.FAILED, error_message=message,
        source_image=source, edit_type="inpaint",
    )  # fmt: skip
    body = alice_client.get(_urls(alice_character, edit)["card"], **HTMX).content.decode()
    assert "is-edit" in body and "Edit failed." in body and words in body


@pytest.mark.django_db(transaction=True)
def test_a_failed_card_can_be_dismissed_and_its_files_go_too(alice_client, alice_character):
    from gallery import storage

    image = make_image(alice_character, status=ImageStatus.FAILED, error_message="boom")
    key = storage.mask_store(
        character_id=alice_character.id, image_id=image.id, png_bytes=b"\x89PNG mask"
    )
    response = alice_client.post(
        reverse("studio:image_delete", args=[alice_character.id, image.id]), **HTMX
    )
    assert response.status_code == 200
    assert response.content.decode() == f'<div id="card-{image.id}" hx-swap-oob="delete"></div>'
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not storage.file_exists(key)


def test_an_image_in_progress_cannot_be_deleted_only_cancelled(alice_client, alice_character):
    image = make_image(alice_character)
    delete = reverse("studio:image_delete", args=[alice_character.id, image.id])
    assert alice_client.post(delete, **HTMX).status_code == 409
    body = alice_client.get(_urls(alice_character, image)["card"], **HTMX).content.decode()
    assert "Queued · #1" in body and "Cancel" in body
    cancel = reverse("studio:image_cancel", args=[alice_character.id, image.id])
    body = alice_client.post(cancel, **HTMX).content.decode()
    assert 'data-status="failed"' in body and "You cancelled it." in body


def test_gallery_paginates_and_filters(alice_client, alice_character, settings):
    settings.STUDIO_GALLERY_PAGE_SIZE = 2
    images = [make_image(alice_character, scene="portrait") for _ in range(3)]
    make_image(alice_character, scene="fitness")
    url = reverse("studio:gallery", args=[alice_character.id])
    first = alice_client.get(url, {"scene": "portrait"}, **HTMX).content.decode()
    assert first.count('class="image-card') == 2
    assert "Load more" in first
    next_url = first.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    second = alice_client.get(next_url, **HTMX).content.decode()
    assert f'data-image-id="{images[0].id}"' in second
    assert "Load more" not in second
    edited = alice_client.get(url, {"edited": "yes"}, **HTMX).content.decode()
    assert 'class="image-card' not in edited


def test_detail_shows_metadata_lineage_and_edit(alice_client, alice_character, comfyui, alice_api):
    source = completed_image(alice_api, alice_character)
    edit = make_image(
        alice_character,
        source_image=source,
        edit_type="inpaint",
        prompt="add a hat",
        status=ImageStatus.COMPLETED,
        image_key=source.image_key,
        thumbnail_key=source.thumbnail_key,
    )
    urls = _urls(alice_character, source)
    body = alice_client.get(urls["detail"], **HTMX).content.decode()
    assert "<html" not in body
    for text in [
        str(source.seed),
        "Mirror selfie",
        "City street",
        "9:16",
        "Draft",
        'id="edit-button"',
        "Download",
        "add a hat",
    ]:
        assert text in body, text
    edit_body = alice_client.get(_urls(alice_character, edit)["detail"]).content.decode()
    assert "<html" in edit_body and "Edited from" in edit_body


def test_edit_modal_captures_image_edit_opened(
    alice_client, alice_character, comfyui, alice_api, analytics_events
):
    source = completed_image(alice_api, alice_character)
    response = alice_client.get(_urls(alice_character, source)["edit"], **HTMX)
    assert response.status_code == 200
    assert "data-mask-editor" in response.content.decode()
    assert "image_edit_opened" in analytics_events.names()


def test_edit_of_image_not_completed_is_refused(alice_client, alice_character):
    image = make_image(alice_character)
    response = alice_client.get(_urls(alice_character, image)["edit"])
    assert response.status_code == 409


@pytest.mark.parametrize("name", ["character", "gallery", "detail", "card", "edit"])
def test_other_users_pages_are_404(bob_client, alice_character, name):
    image = make_image(alice_character, status=ImageStatus.COMPLETED, image_key="x")
    assert bob_client.get(_urls(alice_character, image)[name]).status_code == 404
    assert bob_client.get(_urls(alice_character, image)[name], **HTMX).status_code == 404


@pytest.mark.parametrize("name", ["character", "gallery", "detail", "card", "edit"])
def test_pages_send_anonymous_to_login(client, alice_character, name):
    image = make_image(alice_character)
    response = client.get(_urls(alice_character, image)[name])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_posts_to_other_users_character_are_404(bob_client, alice_character):
    image = make_image(alice_character, status=ImageStatus.FAILED)
    generate = reverse("studio:generate", args=[alice_character.id])
    retry = reverse("studio:image_retry", args=[alice_character.id, image.id])
    assert bob_client.post(generate, {"count": 1}).status_code == 404
    assert bob_client.post(retry).status_code == 404
    assert Image.objects.count() == 1


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_studio_pages_have_no_inline_scripts_or_handlers(
    alice_client, alice_character, comfyui, alice_api, htmx
):
    """CSP-friendly (script-src 'self'): settings reach JS through data-* attributes only."""
    source = completed_image(alice_api, alice_character)
    headers = HTMX if htmx else {}
    urls = [reverse("studio:index"), *_urls(alice_character, source).values()]
    for url in urls:
        response = alice_client.get(url, follow=True, **headers)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert not INLINE_SCRIPT.findall(body), url
        assert not INLINE_HANDLER.findall(body), url


def test_character_cards_show_the_newest_approved_image_as_portrait(alice_client, alice):
    from gallery import storage

    with_portrait = make_character(alice, name="Ava")
    older = make_completed_image(with_portrait, photo_like_png(32, 32), width=32, height=32)
    newer = make_completed_image(with_portrait, photo_like_png(32, 32), width=32, height=32)
    make_completed_image(with_portrait, photo_like_png(32, 32), width=32, height=32)  # unreviewed
    for image in (older, newer):
        Image.objects.filter(pk=image.pk).update(review_status="approved")
    make_character(alice, name="Zoe")
    for url in (reverse("studio:index"), reverse("gallery:character_list")):
        body = alice_client.get(url).content.decode()
        assert storage.thumbnail_key_for(with_portrait.id, newer.id) in body
        assert storage.thumbnail_key_for(with_portrait.id, older.id) not in body
        assert '<span class="portrait portrait-empty" aria-hidden="true">Z</span>' in body


def test_the_studio_page_has_no_duplicate_ids_and_a_favicon(alice_client, alice_character):
    body = alice_client.get(reverse("studio:character", args=[alice_character.id])).content
    ids = re.findall(r'\sid="([^"]+)"', body.decode())
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert 'for="filter-scene"' in body.decode() and 'for="id_scene"' in body.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in body.decode()


def test_a_successful_generate_clears_the_previous_attempts_messages(alice_client, alice_character):
    url = reverse("studio:generate", args=[alice_character.id])
    fields = {"scene": "selfie", "environment": "beach", "aspect_ratio": "1:1",
              "quality_mode": "draft", "count": "1"}  # fmt: skip
    failed = alice_client.post(url, {**fields, "outfit": "<b>dress</b>"}, **HTMX).content
    assert "Use plain words" in failed.decode()
    ok = alice_client.post(url, {**fields, "outfit": "red dress"}, **HTMX).content.decode()
    assert 'id="generate-form"' in ok and 'hx-swap-oob="outerHTML"' in ok
    assert "Use plain words" not in ok
    assert 'value="red dress"' in ok  # the settings just used stay in the form


def test_the_detail_panel_shows_the_review_to_the_creator(alice_client, alice_character):
    image = make_completed_image(alice_character, photo_like_png(32, 32), width=32, height=32)
    Image.objects.filter(pk=image.pk).update(review_status="rejected")
    body = alice_client.get(_urls(alice_character, image)["detail"], **HTMX).content.decode()
    assert '<span class="badge review-rejected">Rejected</span>' in body


def test_the_gallery_shows_each_pack_in_its_own_order_under_a_header(
    alice_client, alice_api, alice_character
):
    from tests.studio.helpers import generate

    generate(alice_api, alice_character, count=3)
    body = alice_client.get(reverse("studio:character", args=[alice_character.id])).content
    html = body.decode()
    assert html.count('class="pack-head">Pack of 3') == 1
    ids = re.findall(r'data-image-id="([^"]+)"', html)
    pack = Image.objects.filter(character=alice_character)
    assert ids == [str(i.pk) for i in pack.order_by("batch_index")]


def test_favourites_are_starred_and_filtered_and_an_empty_filter_says_so(
    alice_client, alice_character
):
    starred = make_completed_image(alice_character, photo_like_png(32, 32), width=32, height=32)
    make_completed_image(alice_character, photo_like_png(32, 32), width=32, height=32)
    url = reverse("studio:image_favourite", args=[alice_character.id, starred.id])
    body = alice_client.post(url, {"favourite": "1"}, **HTMX).content.decode()
    assert 'aria-pressed="true"' in body and 'value="0"' in body  # the next press unstars
    starred.refresh_from_db()
    assert starred.favourite
    gallery = reverse("studio:gallery", args=[alice_character.id])
    page = alice_client.get(gallery + "?favourites=on", **HTMX).content.decode()
    assert re.findall(r'data-image-id="([^"]+)"', page) == [str(starred.id)]
    empty = alice_client.get(gallery + "?favourites=on&scene=fitness", **HTMX).content.decode()
    assert "No images match these filters." in empty and "No images yet" not in empty


@pytest.mark.django_db(transaction=True)
def test_deleting_an_image_removes_its_files_and_its_edits_say_the_source_is_gone(
    alice_client, alice_character
):
    from gallery import storage

    source = make_completed_image(alice_character, photo_like_png(32, 32), width=32, height=32)
    edit = make_image(alice_character, source_image=source, edit_type="inpaint")
    url = reverse("studio:image_delete", args=[alice_character.id, source.id])
    response = alice_client.post(url, **HTMX)
    assert f'id="card-{source.id}" hx-swap-oob="delete"' in response.content.decode()
    assert not storage.file_exists(source.image_key)
    assert not storage.file_exists(source.thumbnail_key)
    edit.refresh_from_db()
    assert edit.source_image is None
    body = alice_client.get(_urls(alice_character, edit)["detail"], **HTMX).content.decode()
    assert "Edited from an image that was deleted" in " ".join(body.split())


GENERATE_FIELDS = {"scene": "selfie", "environment": "beach", "aspect_ratio": "1:1",
                   "quality_mode": "draft", "count": "2"}  # fmt: skip


def test_details_go_into_the_prompt_and_a_given_seed_starts_the_pack(alice_client, alice_character):
    url = reverse("studio:generate", args=[alice_character.id])
    fields = {**GENERATE_FIELDS, "details": "holding  a coffee cup", "seed": "41"}
    assert alice_client.post(url, fields, **HTMX).status_code == 200
    pack = Image.objects.filter(character=alice_character).order_by("batch_index")
    assert [image.seed for image in pack] == [41, 42]
    assert all(image.details == "holding a coffee cup" for image in pack)
    assert all(", holding a coffee cup, " in image.prompt for image in pack)
    refused = alice_client.post(url, {**fields, "details": "a {cup}"}, **HTMX).content.decode()
    assert "Use plain words" in refused
    assert Image.objects.filter(character=alice_character).count() == 2


def test_the_form_keeps_each_characters_last_settings_but_not_the_seed(
    alice_client, alice, alice_character
):
    other = make_character(alice, name="Other")
    url = reverse("studio:generate", args=[alice_character.id])
    fields = {**GENERATE_FIELDS, "environment": "cafe", "details": "rainy window", "seed": "7"}
    alice_client.post(url, fields, **HTMX)
    page = alice_client.get(reverse("studio:character", args=[alice_character.id])).content
    form = page.decode().split('id="generate-form"')[1].split("</form>")[0]
    assert '<option value="cafe" selected>' in form
    assert "rainy window</textarea>" in form
    assert 'name="seed" min="0"' in form and 'value="7"' not in form
    fresh = alice_client.get(reverse("studio:character", args=[other.id])).content.decode()
    assert "rainy window" not in fresh and '<option value="cafe" selected>' not in fresh


@pytest.mark.parametrize("same_seed", [False, True], ids=["settings", "same-seed"])
def test_use_these_settings_fills_the_generate_form_from_an_image(
    alice_client, alice_character, same_seed
):
    image = make_completed_image(alice_character, photo_like_png(32, 32), width=32, height=32)
    Image.objects.filter(pk=image.pk).update(
        scene="mirror_selfie", environment="cafe", details="soft light", seed=123456
    )
    url = reverse("studio:image_reuse", args=[alice_character.id, image.id])
    response = alice_client.get(url + ("?seed=1" if same_seed else ""), **HTMX)
    body = response.content.decode()
    assert body.startswith('<form id="generate-form"')
    assert '<option value="mirror_selfie" selected>' in body
    assert '<option value="cafe" selected>' in body and "soft light</textarea>" in body
    assert ('value="123456"' in body) is same_seed
    assert "ryla:form-filled" in response["HX-Trigger-After-Swap"]
    page = alice_client.get(url).content.decode()  # without htmx: the studio page
    assert 'id="gallery"' in page and '<option value="cafe" selected>' in page


def test_use_these_settings_of_another_users_image_is_404(bob_client, alice_character):
    image = make_image(alice_character)
    url = reverse("studio:image_reuse", args=[alice_character.id, image.id])
    assert bob_client.get(url, **HTMX).status_code == 404


def test_an_edit_shows_its_source_thumbnail_a_compare_slider_and_its_mask(
    alice_client, alice_character
):
    import io

    from PIL import Image as PILImage

    source, edit = make_edit_with_mask(alice_character)
    body = alice_client.get(_urls(alice_character, edit)["detail"], **HTMX).content.decode()
    assert 'class="source-thumb"' in body and 'class="compare-slider"' in body
    assert 'class="compare-before"' in body and 'class="compare-after"' in body
    mask_url = reverse("studio:image_mask", args=[alice_character.id, edit.id])
    assert f'src="{mask_url}"' in body
    response = alice_client.get(mask_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    overlay = PILImage.open(io.BytesIO(response.content))
    assert overlay.size == (64, 64) and overlay.mode == "RGBA"
    assert overlay.getpixel((5, 30)) == (255, 0, 153, 153)  # repainted: tinted
    assert overlay.getpixel((60, 30))[3] == 0  # kept: clear
    # The source lists its edits in a block the open image can refresh on its own.
    edits = alice_client.get(
        reverse("studio:image_edits", args=[alice_character.id, source.id]), **HTMX
    ).content.decode()
    assert edits.startswith(f'<div class="edits" id="edits-{source.id}"')
    assert "add a hat" in edits and "(completed)" in edits


def test_the_mask_of_an_image_without_one_or_of_another_user_is_404(
    client, alice, bob, alice_character
):
    source, edit = make_edit_with_mask(alice_character)
    client.force_login(alice)
    assert (
        client.get(reverse("studio:image_mask", args=[alice_character.id, edit.id])).status_code
        == 200
    )
    assert (
        client.get(reverse("studio:image_mask", args=[alice_character.id, source.id])).status_code
        == 404
    )
    client.force_login(bob)
    assert (
        client.get(reverse("studio:image_mask", args=[alice_character.id, edit.id])).status_code
        == 404
    )
    edits_url = reverse("studio:image_edits", args=[alice_character.id, source.id])
    assert client.get(edits_url).status_code == 404
