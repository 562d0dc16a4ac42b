from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from gallery.models import Character, Image, ImageStatus
from tests.factories import make_character, make_image


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("progress", 101),
        ("status", "done"),
        ("aspect_ratio", "4:3"),
        ("quality_mode", "ultra"),
        ("review_status", "maybe"),
        ("edit_type", "outpaint"),
        ("seed", -1),
    ],
)
def test_image_constraints_reject_bad_values(alice_character, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_image(alice_character, **{field: value})


def test_character_constraint_rejects_lora_strength_out_of_range(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_character(alice, lora_strength=5)


def test_prompt_id_is_unique(alice_character):
    make_image(alice_character, prompt_id="p-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_image(alice_character, prompt_id="p-1")


def test_visible_to_scopes_characters_and_images_by_owner(alice, bob):
    mine = make_character(alice)
    theirs = make_character(bob)
    my_image = make_image(mine)
    make_image(theirs)
    assert list(Character.objects.visible_to(alice)) == [mine]
    assert list(Image.objects.visible_to(alice)) == [my_image]
    assert not Image.objects.visible_to(AnonymousUser()).exists()
    assert not Character.objects.visible_to(AnonymousUser()).exists()


def test_in_flight_holds_pending_and_generating_only(alice_character):
    pending = make_image(alice_character, status=ImageStatus.PENDING)
    generating = make_image(alice_character, status=ImageStatus.GENERATING)
    make_image(alice_character, status=ImageStatus.COMPLETED)
    make_image(alice_character, status=ImageStatus.FAILED)
    assert set(Image.objects.in_flight()) == {pending, generating}


def test_edit_survives_deletion_of_its_source(alice_character):
    source = make_image(alice_character, status=ImageStatus.COMPLETED)
    edit = make_image(alice_character, source_image=source, edit_type="inpaint")
    source.delete()
    edit.refresh_from_db()
    assert edit.source_image is None
    assert edit.edit_type == "inpaint"


def test_mark_seen_running_then_completed_records_timestamps(alice_character):
    image = make_image(alice_character)
    image.mark_seen(running=False)
    image.refresh_from_db()
    assert (image.status, image.started_at) == (ImageStatus.PENDING, None)
    assert image.last_seen_at is not None
    image.mark_seen(running=True, progress=40)
    image.refresh_from_db()
    assert (image.status, image.progress) == (ImageStatus.GENERATING, 40)
    assert image.started_at is not None
    image.mark_completed(image_key="k.png", thumbnail_key="k.webp", width=512, height=768)
    image.refresh_from_db()
    assert image.status == ImageStatus.COMPLETED
    assert (image.progress, image.width, image.height) == (100, 512, 768)
    assert image.completed_at >= image.started_at


def test_mark_seen_on_a_stale_copy_never_puts_a_finished_image_back_in_flight(alice_character):
    stale = make_image(alice_character)
    fresh = Image.objects.get(pk=stale.pk)
    fresh.mark_completed(image_key="k.png", thumbnail_key="k.webp", width=512, height=512)

    stale.mark_seen(running=True, progress=50)  # another reconciler read it before completion

    stored = Image.objects.get(pk=stale.pk)
    assert (stored.status, stored.progress, stored.image_key) == (
        ImageStatus.COMPLETED,
        100,
        "k.png",
    )
    assert stale.status == ImageStatus.COMPLETED  # the stale copy learns the truth


def test_mark_failed_on_a_stale_copy_never_hides_a_completed_image(alice_character):
    stale = make_image(alice_character)
    Image.objects.get(pk=stale.pk).mark_completed(
        image_key="k.png", thumbnail_key="k.webp", width=512, height=512
    )

    stale.mark_failed("ComfyUI was unreachable when the image was queued.")

    stored = Image.objects.get(pk=stale.pk)
    assert (stored.status, stored.error_message) == (ImageStatus.COMPLETED, "")
    assert stale.status == ImageStatus.COMPLETED


def test_mark_failed_keeps_the_reason(alice_character):
    image = make_image(alice_character)
    image.mark_failed("KSampler: out of memory")
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED
    assert image.error_message == "KSampler: out of memory"


def test_newest_first_orders_by_creation(alice_character):
    first = make_image(alice_character)
    second = make_image(alice_character)
    assert list(Image.objects.for_character(alice_character).newest_first()) == [second, first]
