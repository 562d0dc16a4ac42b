"""Step previews in a real browser: while an image renders, its card shows the latest
preview the backend sent (pushed over the tab's event stream), and each new frame loads."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import studio_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _generate(page) -> None:
    form = page.locator("#generate-form")
    form.locator("[name=outfit]").fill("white summer dress")
    form.locator('[name=aspect_ratio][value="1:1"]').check()
    form.locator("[name=count]").fill("1")
    form.get_by_role("button", name="Generate").click()


def _loaded(preview) -> int:
    """The natural width of the preview <img> once it has loaded (0 if it failed)."""
    return preview.evaluate(
        """img => img.complete ? img.naturalWidth : new Promise(done => {
             img.addEventListener("load", () => done(img.naturalWidth), { once: true });
             img.addEventListener("error", () => done(0), { once: true });
           })"""
    )


def test_a_running_card_shows_the_latest_preview_behind_its_progress(
    alice_page, live_server, alice_character, make_comfyui, start_render_worker
):
    make_comfyui(step_ms=250, steps=24, preview_method="auto")  # about 6 s of sampling
    start_render_worker()
    page = alice_page
    page.goto(studio_url(live_server, alice_character))
    expect(page.locator("html")).to_have_attribute("data-live", "stream")
    _generate(page)

    running = page.locator('#gallery article.image-card[data-status="generating"]')
    preview = running.locator(".placeholder img.preview")
    expect(preview).to_be_visible(timeout=15_000)
    first_src = preview.get_attribute("src")
    assert _loaded(preview) > 0
    # The progress bar and Cancel stay usable over the picture.
    expect(running.locator("progress")).to_be_visible()
    expect(running.get_by_role("button", name="Cancel")).to_be_visible()

    # A later frame arrives with the re-rendered card, under a new URL, and loads too.
    expect(preview).not_to_have_attribute("src", first_src, timeout=10_000)
    assert _loaded(preview) > 0

    done = page.locator('#gallery article.image-card[data-status="completed"] img.thumb')
    expect(done).to_have_count(1, timeout=20_000)
    expect(page.locator("#gallery img.preview")).to_have_count(0)
