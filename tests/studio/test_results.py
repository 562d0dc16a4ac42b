"""Queue insight: each queued image's position (the order render workers take jobs in:
drafts before HQ, each user's first jobs first) and an estimate from measured durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gallery.models import Image
from studio.services.dispatch import urgency_for
from tests.conftest import broker_switch
from tests.factories import make_character, make_image, make_user
from tests.studio.helpers import generate


@pytest.mark.parametrize(
    ("quality", "queued_before", "urgency"),
    [("draft", 0, 9), ("draft", 1, 9), ("draft", 2, 8), ("draft", 9, 5), ("draft", 50, 5),
     ("hq", 0, 4), ("hq", 3, 3), ("hq", 30, 0)],
)  # fmt: skip
def test_drafts_come_before_hq_and_a_users_first_jobs_before_later_ones(
    quality, queued_before, urgency
):
    assert urgency_for(quality_mode=quality, queued_before=queued_before) == urgency


@pytest.fixture
def priority_broker():
    """A broker that serves by priority (Redis). Nothing is published in these tests (the
    test transaction never commits), so no server is needed; positions follow its order."""
    previous = broker_switch("redis://127.0.0.1:6379/15")
    yield
    broker_switch(previous)


def _position(api, image: Image) -> tuple[int | None, int | None]:
    body = api.get(f"/image/comfyui/{image.prompt_id}/results").json()
    return body["queuePosition"], body["estimatedSeconds"]


def test_positions_follow_urgency_then_arrival(
    alice_api, alice_character, bob_api, bob, priority_broker
):
    hq = generate(alice_api, alice_character, count=6, qualityMode="hq").json()["promptIds"]
    (draft,) = generate(bob_api, make_character(bob), count=1).json()["promptIds"]

    def position(api, prompt_id: str) -> int:
        return api.get(f"/image/comfyui/{prompt_id}/results").json()["queuePosition"]

    # Bob's draft goes before all of Alice's HQ pack, although it came last.
    assert position(bob_api, draft) == 1
    assert [position(alice_api, prompt_id) for prompt_id in hq] == [2, 3, 4, 5, 6, 7]


def test_the_estimate_comes_from_measured_durations(alice_api, alice_character):
    now = timezone.now()
    for seconds in (8, 10, 12):  # median 10 s for a draft
        make_image(
            alice_character,
            status="completed",
            started_at=now - timedelta(seconds=seconds),
            completed_at=now,
        )
    ids = generate(alice_api, alice_character, count=3).json()["imageIds"]
    third = Image.objects.get(pk=ids[2])
    assert _position(alice_api, third) == (3, 30)  # two ahead, one backend: 3 renders
    running = Image.objects.get(pk=ids[0])
    Image.objects.filter(pk=running.pk).update(status="generating", progress=40)
    assert _position(alice_api, running) == (0, 6)  # 60% of 10 s left
    finished = make_image(alice_character, status="completed")
    assert _position(alice_api, finished) == (None, None)


def test_a_busy_user_does_not_push_another_users_first_images_back(
    alice_api, alice_character, priority_broker
):
    carol = make_user("carol")
    generate(alice_api, alice_character, count=10)
    generate(alice_api, alice_character, count=10)
    from rest_framework.test import APIClient

    carol_api = APIClient()
    carol_api.force_authenticate(carol)
    (first,) = generate(carol_api, make_character(carol), count=1).json()["promptIds"]
    position = carol_api.get(f"/image/comfyui/{first}/results").json()["queuePosition"]
    assert position == 3  # behind only Alice's first two of twenty


@pytest.fixture
def fifo_broker(tmp_path):
    """The embedded broker, which serves in arrival order (nothing is published here)."""
    previous = broker_switch(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}")
    yield
    broker_switch(previous)


def test_on_the_embedded_broker_positions_are_arrival_order(
    alice_api, alice_character, bob_api, bob, fifo_broker
):
    hq = generate(alice_api, alice_character, count=2, qualityMode="hq").json()["promptIds"]
    (draft,) = generate(bob_api, make_character(bob), count=1).json()["promptIds"]
    results = alice_api.get(f"/image/comfyui/{hq[1]}/results").json()
    assert results["queuePosition"] == 2
    assert bob_api.get(f"/image/comfyui/{draft}/results").json()["queuePosition"] == 3
