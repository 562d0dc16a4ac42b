from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

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


def _stale_before(seconds: float = 30):
    return timezone.now() - timedelta(seconds=seconds)


def test_claim_then_progress_then_completed_records_timestamps(alice_character):
    image = make_image(alice_character)
    assert image.claim(worker="w1", backend_url="http://gpu-1", stale_before=_stale_before())
    assert (image.status, image.claimed_by, image.backend_url) == (
        ImageStatus.GENERATING,
        "w1",
        "http://gpu-1",
    )
    assert image.attempts == 1 and image.started_at is not None
    assert image.mark_progress(worker="w1", percent=40)
    image.refresh_from_db()
    assert image.progress == 40
    image.mark_completed(image_key="k.png", thumbnail_key="k.webp", width=512, height=768)
    image.refresh_from_db()
    assert image.status == ImageStatus.COMPLETED
    assert (image.progress, image.width, image.height) == (100, 512, 768)
    assert image.completed_at >= image.started_at


def test_only_one_worker_holds_a_claim_until_its_heartbeat_goes_stale(alice_character):
    image = make_image(alice_character)
    assert image.claim(worker="w1", backend_url="http://gpu-1", stale_before=_stale_before())
    other = Image.objects.get(pk=image.pk)
    assert not other.claim(worker="w2", backend_url="http://gpu-2", stale_before=_stale_before())
    assert other.claimed_by == "w1"  # the loser learns who holds it
    Image.objects.filter(pk=image.pk).update(heartbeat_at=_stale_before(60))
    assert other.claim(worker="w2", backend_url="http://gpu-2", stale_before=_stale_before())
    assert (other.claimed_by, other.attempts) == ("w2", 2)
    assert not image.heartbeat(worker="w1")  # w1 learns it lost the job


def test_a_cancelled_image_can_neither_be_claimed_nor_kept(alice_character):
    image = make_image(alice_character)
    image.claim(worker="w1", backend_url="http://gpu-1", stale_before=_stale_before())
    assert image.heartbeat(worker="w1")
    Image.objects.get(pk=image.pk).mark_failed("Cancelled.")
    assert not image.heartbeat(worker="w1")
    assert not image.mark_progress(worker="w1", percent=50)
    assert not image.claim(worker="w2", backend_url="http://gpu-2", stale_before=_stale_before())
    assert Image.objects.get(pk=image.pk).status == ImageStatus.FAILED


def test_release_puts_the_job_back_in_the_queue(alice_character):
    image = make_image(alice_character)
    image.claim(worker="w1", backend_url="http://gpu-1", stale_before=_stale_before())
    image.mark_progress(worker="w1", percent=70)
    assert image.release(worker="w1")
    image.refresh_from_db()
    assert (image.status, image.claimed_by, image.progress) == (ImageStatus.PENDING, "", 0)
    assert not image.release(worker="w1")


def test_ahead_of_follows_urgency_then_enqueue_time(alice_character):
    now = timezone.now()
    early_hq = make_image(alice_character, queue_urgency=2, enqueued_at=now)
    late_draft = make_image(alice_character, queue_urgency=9, enqueued_at=now + timedelta(1))
    mine = make_image(alice_character, queue_urgency=2, enqueued_at=now + timedelta(2))
    make_image(alice_character, queue_urgency=2, enqueued_at=now + timedelta(3))
    make_image(alice_character, queue_urgency=9, status=ImageStatus.GENERATING)
    assert set(Image.objects.ahead_of(mine)) == {early_hq, late_draft}


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
