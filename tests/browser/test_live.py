"""Live updates in a real browser: the pack's cards follow the tab's event stream (no
polling at all), and when the stream is down they still complete, with one database read
per pack every two seconds."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import studio_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARD_POLL = re.compile(r"/studio/images/[^/]+/card$")
PACK_POLL = re.compile(r"/studio/packs/[0-9a-f-]+$")


def _generate(page, count: int) -> None:
    form = page.locator("#generate-form")
    form.locator("[name=outfit]").fill("white summer dress")
    form.locator('[name=aspect_ratio][value="1:1"]').check()
    form.locator("[name=count]").fill(str(count))
    form.get_by_role("button", name="Generate").click()


def _requests(page, pattern: re.Pattern) -> list[str]:
    seen: list[str] = []
    page.on(
        "request", lambda request: seen.append(request.url) if pattern.search(request.url) else None
    )
    return seen


def test_cards_follow_the_event_stream_without_any_polling(
    alice_page, live_server, alice_character, make_comfyui, start_render_worker
):
    make_comfyui(step_ms=60, steps=8)
    start_render_worker()
    page = alice_page
    polls = _requests(page, CARD_POLL)
    packs = _requests(page, PACK_POLL)
    page.goto(studio_url(live_server, alice_character))
    expect(page.locator("html")).to_have_attribute("data-live", "stream")
    _generate(page, 3)
    progress = page.locator('#gallery article.image-card[data-status="generating"] progress')
    expect(progress.first).to_be_visible(timeout=10_000)  # pushed while it renders
    done = page.locator('#gallery article.image-card[data-status="completed"] img.thumb')
    expect(done).to_have_count(3, timeout=20_000)
    assert polls == [] and packs == []


def test_with_the_stream_down_each_pack_is_read_once_every_two_seconds(
    alice_page, live_server, alice_character, make_comfyui, start_render_worker
):
    make_comfyui(step_ms=100, steps=30)  # about 3 s per image
    start_render_worker()
    page = alice_page
    page.route("**/studio/events", lambda route: route.abort())
    polls = _requests(page, CARD_POLL)
    packs = _requests(page, PACK_POLL)
    page.goto(studio_url(live_server, alice_character))
    expect(page.locator("html")).to_have_attribute("data-live", "polling")
    _generate(page, 3)
    done = page.locator('#gallery article.image-card[data-status="completed"] img.thumb')
    expect(done).to_have_count(3, timeout=30_000)
    assert polls == []
    assert packs, "no pack was read"
    assert len(set(packs)) == 1  # one pack, one URL
    # Three images of ~3 s one after another: about 9 s of polling every 2 s, one request
    # each time for the whole pack (one per card would be three).
    assert len(packs) <= 9, len(packs)


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1440, "height": 900}, {"width": 390, "height": 844}],
    ids=["desktop", "phone"],
)
def test_queued_cards_show_their_moving_position_and_can_be_cancelled_and_dismissed(
    alice_page, live_server, alice_character, make_comfyui, start_render_worker, viewport
):
    make_comfyui(step_ms=100, steps=30)  # 3 s per image, one at a time
    start_render_worker()
    page = alice_page
    page.set_viewport_size(viewport)
    page.goto(studio_url(live_server, alice_character))
    _generate(page, 3)
    cards = page.locator("#gallery article.image-card")
    expect(cards).to_have_count(3)
    last = cards.nth(2)  # a pack shows in its own order: the last image is queued longest
    expect(last).to_contain_text("Queued · #2", timeout=10_000)
    expect(last).to_contain_text("Queued · #1", timeout=10_000)  # moved up, pushed live
    expect(last.locator(".eta")).to_contain_text("about")
    last.get_by_role("button", name="Cancel").click()
    expect(last).to_have_attribute("data-status", "failed")
    expect(last).to_contain_text("You cancelled it.")
    last.get_by_role("button", name="Dismiss").click()
    expect(cards).to_have_count(2)
    done = page.locator('#gallery article.image-card[data-status="completed"]')
    expect(done).to_have_count(2, timeout=30_000)
