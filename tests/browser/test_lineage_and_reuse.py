"""Lineage (source thumbnail, before/after compare, the mask used, a live list of edits)
and reuse ("use these settings", "same seed") in Chromium, at desktop and phone sizes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gallery.models import Image, ImageStatus
from studio import events
from studio.services import results
from tests.browser.conftest import PHONE, SIZES, completed_image, studio_url
from tests.factories import make_edit_with_mask, make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(page, image) -> None:
    page.locator(f'article.image-card[data-image-id="{image.id}"] a.open').click()
    page.locator("#detail-panel").wait_for()


@SIZES
def test_same_seed_fills_the_form_in_view_and_generates_with_that_seed(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    image = completed_image(alice_character, width=576, height=1024)
    Image.objects.filter(pk=image.pk).update(
        scene="mirror_selfie", environment="cafe", details="soft window light", seed=987654
    )
    for _ in range(6):
        completed_image(alice_character, width=256, height=256)
    page.goto(studio_url(live_server, alice_character))
    _open(page, image)
    page.locator("#detail").get_by_role("link", name="Same seed").click()
    form = page.locator("#generate-form")
    expect(form.locator("[name=environment]")).to_have_value("cafe")
    expect(form.locator("[name=scene]")).to_have_value("mirror_selfie")
    expect(form.locator("[name=details]")).to_have_value("soft window light")
    expect(form.locator("[name=seed]")).to_have_value("987654")
    expect(form.locator("[name=count]")).to_have_value("1")
    expect(page.locator("#toast")).to_have_text("Settings and seed copied: press Generate.")
    expect(form.get_by_role("button", name="Generate")).to_be_in_viewport()
    if viewport == PHONE:
        expect(page.locator("#detail-panel")).to_have_count(0)  # the sheet made way
    form.get_by_role("button", name="Generate").click()
    expect(page.locator("#toast")).to_have_text("Image started.")
    newest = Image.objects.order_by("-created_at").first()
    assert (newest.seed, newest.environment, newest.details) == (
        987654,
        "cafe",
        "soft window light",
    )
    # The form keeps the settings (not the seed) for this character's next visit.
    page.reload()
    expect(page.locator("#generate-form [name=environment]")).to_have_value("cafe")
    expect(page.locator("#generate-form [name=seed]")).to_have_value("")


@SIZES
def test_an_edit_compares_with_its_source_and_shows_its_mask(
    sized_page, live_server, alice_character, artifacts, viewport
):
    page = sized_page
    source, edit = make_edit_with_mask(alice_character, size=512)
    page.goto(f"{studio_url(live_server, alice_character)}/images/{edit.id}")
    lineage = page.locator("#detail .lineage")
    expect(lineage.locator(".source-thumb")).to_be_visible()
    after = lineage.locator(".compare-after")
    assert after.evaluate("img => getComputedStyle(img).clipPath") == "inset(0px 0px 0px 50%)"
    slider = lineage.get_by_role("slider")
    slider.focus()
    page.keyboard.press("Home")  # the keyboard moves the split like a mouse drag does
    assert after.evaluate("img => getComputedStyle(img).clipPath") == "inset(0px 0px 0px 0%)"
    slider.fill("80")
    assert after.evaluate("img => getComputedStyle(img).clipPath") == "inset(0px 0px 0px 80%)"
    mask = lineage.locator(".compare-mask")
    expect(mask).to_be_hidden()
    lineage.get_by_role("button", name="Show the mask").click()
    expect(mask).to_be_visible()
    expect(lineage.get_by_role("button", name="Hide the mask")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 512", arg=mask.element_handle()
    )
    # The overlay sits exactly over the picture it explains.
    assert mask.bounding_box() == lineage.locator(".compare-before").bounding_box()
    lineage.locator(".compare").scroll_into_view_if_needed()
    name = "phone-compare.png" if viewport == PHONE else "compare.png"
    page.screenshot(path=str(artifacts / name))
    lineage.get_by_role("link", name="Edited from the source image (inpaint)").click()
    expect(page).to_have_url(f"{studio_url(live_server, alice_character)}/images/{source.id}")


def test_the_open_source_lists_its_edits_as_they_progress(alice_page, live_server, alice_character):
    page = alice_page
    source = completed_image(alice_character, width=256, height=256)
    page.goto(f"{studio_url(live_server, alice_character)}/images/{source.id}")
    edits = page.locator(f"#edits-{source.id}")
    expect(edits).to_be_attached()
    expect(edits.locator("li")).to_have_count(0)
    edit = make_image(
        alice_character,
        source_image=source,
        edit_type="inpaint",
        prompt="add a red scarf",
        status=ImageStatus.GENERATING,
    )
    edit.progress = 40
    edit.save(update_fields=["progress", "updated_at"])
    events.image_changed(edit)  # as a render worker announces progress
    expect(edits.locator("li")).to_have_text("add a red scarf (generating)", timeout=10_000)
    results.image_fail(edit, "The backend ran out of memory.")
    expect(edits.locator("li")).to_have_text("add a red scarf (failed)", timeout=10_000)
