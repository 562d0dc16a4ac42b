"""Every state a creator reaches has an address, Back and Forward work, a reload shows the
same thing; on a phone the open image and the editor are full-screen sheets and every
action shows its result where the eye is. Desktop (1440×900) and phone (390×844, touch)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DESKTOP,
    EDITOR,
    PHONE,
    SIZES,
    Canvas,
    completed_image,
    studio_url,
)
from tests.factories import make_image

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(page, image):
    page.locator(f'article.image-card[data-image-id="{image.id}"] a.open').click()
    page.locator("#detail-image").wait_for()


@SIZES
def test_an_open_image_has_its_address_and_back_and_forward_work(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    image = completed_image(alice_character, width=576, height=1024)
    studio = studio_url(live_server, alice_character)
    page.goto(studio)
    _open(page, image)
    expect(page).to_have_url(f"{studio}/images/{image.id}")
    page.go_back()
    expect(page).to_have_url(studio)
    expect(page.locator("#detail-image")).to_have_count(0)
    page.go_forward()
    expect(page).to_have_url(f"{studio}/images/{image.id}")
    expect(page.locator("#detail-image")).to_be_visible()
    page.reload()
    expect(page.locator("#detail-image")).to_be_visible()  # the address is the state
    expect(page.locator("#gallery")).to_have_count(1)
    # Never upscaled: shown at most at its natural width.
    shown = page.locator("#detail-image").bounding_box()
    assert shown["width"] <= 576 + 0.5


@SIZES
def test_gallery_filters_are_in_the_address_and_survive_a_reload(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    make_image(alice_character, scene="portrait", status="failed", error_message="x")
    make_image(alice_character, scene="fitness", status="failed", error_message="x")
    page.goto(studio_url(live_server, alice_character))
    expect(page.locator("#gallery article.image-card")).to_have_count(2)
    page.locator("#filter-scene").select_option("portrait")
    expect(page).to_have_url(
        f"{studio_url(live_server, alice_character)}?scene=portrait&environment=&edited="
    )
    expect(page.locator("#gallery article.image-card")).to_have_count(1)
    page.reload()
    expect(page.locator("#gallery article.image-card")).to_have_count(1)
    expect(page.locator("#filter-scene")).to_have_value("portrait")
    page.go_back()
    expect(page).to_have_url(studio_url(live_server, alice_character))


@SIZES
def test_the_editor_has_its_address_and_closing_it_goes_back_to_the_image(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    image = completed_image(alice_character)
    studio = studio_url(live_server, alice_character)
    page.goto(studio)
    _open(page, image)
    page.locator("#edit-button").click()
    page.locator(f'{EDITOR}[data-state="ready"]').wait_for()
    expect(page).to_have_url(f"{studio}/images/{image.id}/edit")
    page.reload()
    page.locator(f'{EDITOR}[data-state="ready"]').wait_for()  # reload keeps the editor open
    page.keyboard.press("Escape")
    expect(page.locator(EDITOR)).to_have_count(0)
    expect(page).to_have_url(f"{studio}/images/{image.id}")
    expect(page.locator("#detail-image")).to_be_visible()


def test_on_a_phone_an_open_image_is_a_full_screen_sheet(
    browser, live_server, alice, alice_character, artifacts
):
    from tests.browser.conftest import log_in

    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server)
    image = completed_image(alice_character)
    page.goto(studio_url(live_server, alice_character))
    page.locator(f'article.image-card[data-image-id="{image.id}"] a.open').tap()
    page.locator("#detail-image").wait_for()
    sheet = page.locator("#detail").bounding_box()
    assert (sheet["x"], sheet["y"]) == (0, 0)
    assert sheet["width"] == PHONE["width"] and sheet["height"] == PHONE["height"]
    expect(page.locator("#detail-image")).to_be_in_viewport()
    page.screenshot(path=str(artifacts / "phone-detail-sheet.png"))
    page.get_by_role("link", name="Close").tap()
    expect(page.locator("#detail-image")).to_have_count(0)
    context.close()


@SIZES
def test_generate_shows_the_new_placeholders_and_says_so(
    sized_page, live_server, alice_character, make_comfyui, start_render_worker, viewport
):
    make_comfyui(step_ms=100, steps=20)
    start_render_worker()
    page = sized_page
    for _ in range(8):  # a gallery long enough to push new cards out of view
        completed_image(alice_character, width=256, height=256)
    page.goto(studio_url(live_server, alice_character))
    page.locator("#generate-form [name=count]").fill("2")
    page.locator("#generate-form").get_by_role("button", name="Generate").click()
    expect(page.locator("#toast")).to_have_text("Pack of 2 started.")
    expect(page.locator("#toast")).to_be_in_viewport()
    newest = page.locator("#gallery article.image-card").first
    expect(newest).not_to_have_attribute("data-status", "completed")
    expect(newest).to_be_in_viewport()


@SIZES
def test_after_apply_the_edit_is_confirmed_and_its_card_is_in_view(
    sized_page, live_server, alice_character, make_comfyui, start_render_worker, viewport
):
    make_comfyui(step_ms=100, steps=20)
    start_render_worker()
    page = sized_page
    image = completed_image(alice_character)
    for _ in range(6):
        completed_image(alice_character, width=256, height=256)
    page.goto(f"{studio_url(live_server, alice_character)}/images/{image.id}/edit")
    page.locator(f'{EDITOR}[data-state="ready"]').wait_for()
    canvas = Canvas(page)
    canvas.stroke(canvas.to_page(300, 300), canvas.to_page(600, 400))
    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(EDITOR)).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("Edit started")
    new_card = page.locator("#gallery article.image-card.is-edit")
    expect(new_card).to_be_in_viewport()
    if viewport == PHONE:
        expect(page.locator("#detail-image")).to_have_count(0)  # the sheet made way


@SIZES
def test_mixed_shapes_fill_rows_of_one_height_and_a_wide_screen_uses_its_width(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    for width, height in [(576, 1024), (768, 768), (640, 960)] * 4:
        completed_image(alice_character, width=width, height=height)
    page.goto(studio_url(live_server, alice_character))
    page.locator("#gallery article.image-card").first.wait_for()
    # Read in one go: a card the live stream re-renders meanwhile has no box of its own.
    boxes = page.eval_on_selector_all(
        "#gallery article.image-card",
        "cards => cards.map((c) => ({y: c.getBoundingClientRect().y, height: c.offsetHeight}))",
    )
    rows: dict[int, list[float]] = {}
    for box in boxes:
        rows.setdefault(round(box["y"]), []).append(box["height"])
    full_rows = list(rows.values())[:-1]  # the last row may be short
    assert full_rows
    for heights in full_rows:
        assert max(heights) - min(heights) <= 2, heights  # no ragged row
    if viewport == DESKTOP:
        # Four to five across, as a scrollbar comes or goes (three before, beside an empty column).
        assert len(list(rows.values())[0]) >= 4, rows


@SIZES
def test_favourite_and_delete_from_the_open_image(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    image = completed_image(alice_character)
    studio = studio_url(live_server, alice_character)
    page.goto(studio)
    _open(page, image)
    star = page.locator("#detail .favourite")
    star.click()
    expect(page.locator("#detail .favourite")).to_have_attribute("aria-pressed", "true")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#detail").get_by_role("button", name="Delete").click()
    expect(page.locator(f'article.image-card[data-image-id="{image.id}"]')).to_have_count(0)
    expect(page.locator("#detail-image")).to_have_count(0)
    expect(page).to_have_url(studio)


@SIZES
def test_from_an_opened_image_its_edit_button_is_a_few_tab_presses_away(
    sized_page, live_server, alice_character, viewport
):
    page = sized_page
    images = [completed_image(alice_character, width=256, height=256) for _ in range(12)]
    image = images[0]  # the oldest: the last card, after every other one in Tab order
    page.goto(studio_url(live_server, alice_character))
    link = page.locator(f'article.image-card[data-image-id="{image.id}"] a.open')
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_be_focused()
    presses = 0
    while not page.evaluate("document.activeElement.id === 'edit-button'"):
        page.keyboard.press("Tab")
        presses += 1
        assert presses <= 4, page.evaluate("document.activeElement.outerHTML")
    # The stars on the cards are for the pointer: no Tab stop each.
    stars = page.locator("#gallery article.image-card .favourite")
    assert {stars.nth(i).get_attribute("tabindex") for i in range(stars.count())} == {"-1"}
    page.locator("#detail").get_by_role("link", name="Close").focus()
    page.keyboard.press("Enter")
    expect(link).to_be_focused()  # closing gives the focus back to the card
