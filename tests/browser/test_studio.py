"""The studio in a real browser: generate a pack, then edit one image through the modal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gallery.models import Image
from tests.browser.conftest import Canvas, open_editor, studio_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_generate_pack_shows_placeholders_that_turn_into_images(
    alice_page, live_server, alice_character, make_comfyui, start_render_worker, artifacts
):
    # Slow enough steps that the placeholders are on screen before the first image is done.
    make_comfyui(step_ms=100)
    start_render_worker()
    page = alice_page
    page.goto(studio_url(live_server, alice_character))
    form = page.locator("#generate-form")
    form.locator("[name=outfit]").fill("white summer dress")
    form.locator('[name=aspect_ratio][value="1:1"]').check()
    form.locator("[name=quality_mode][value=draft]").check()
    form.locator("[name=count]").fill("3")
    form.get_by_role("button", name="Generate").click()

    cards = page.locator("#gallery article.image-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#gallery article.image-card .placeholder")).to_have_count(3)

    done = page.locator('#gallery article.image-card[data-status="completed"] img.thumb')
    expect(done).to_have_count(3, timeout=15_000)
    for index in range(3):
        expect(done.nth(index)).to_be_visible()
    assert Image.objects.filter(character=alice_character, status="completed").count() == 3
    page.screenshot(path=str(artifacts / "studio.png"), full_page=True)


def test_edit_paints_a_mask_and_the_edit_appears_with_its_lineage(
    alice_page, live_server, source_image, comfyui, artifacts
):
    page = alice_page
    open_editor(page, live_server, source_image)
    canvas = Canvas(page)
    canvas.stroke(
        canvas.to_page(canvas.width * 0.3, canvas.height * 0.4),
        canvas.to_page(canvas.width * 0.6, canvas.height * 0.5),
        canvas.to_page(canvas.width * 0.7, canvas.height * 0.7),
    )
    page.get_by_label("Prompt", exact=True).fill("add a coffee cup in her hand")
    page.screenshot(path=str(artifacts / "editor.png"))
    page.get_by_role("button", name="Apply").click()

    # The modal closes, focus returns to Edit, and the gallery reloads with the new image.
    expect(page.locator("[data-mask-editor]")).to_have_count(0)
    expect(page.locator("#edit-button")).to_be_focused()
    edited = Image.objects.get(source_image=source_image)
    card = page.locator(f'#gallery article.image-card[data-image-id="{edited.id}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=15_000)
    expect(card.locator("img.thumb")).to_be_visible()

    card.locator("a.open").click()
    expect(page.locator("#detail")).to_contain_text("Edited from")
    source_link = page.locator("#detail .lineage a")
    expect(source_link).to_have_attribute(
        "href", f"/influencer/{source_image.character_id}/studio/images/{source_image.id}"
    )


@pytest.mark.browser_context_args(viewport={"width": 375, "height": 740})
def test_studio_fits_a_phone_and_every_control_has_a_label(
    alice_page, live_server, source_image, artifacts
):
    page = alice_page
    page.goto(studio_url(live_server, source_image.character))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == []
    page.get_by_role("button", name="Generate").scroll_into_view_if_needed()
    expect(page.get_by_role("button", name="Generate")).to_be_in_viewport()
    page.screenshot(path=str(artifacts / "studio-375.png"), full_page=True)


def test_pages_break_no_rule_of_the_content_security_policy(alice_page, live_server, source_image):
    """The policy allows no inline script or style: every page must work within it."""
    page = alice_page
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    response = page.goto(studio_url(live_server, source_image.character))
    assert "script-src 'self'" in response.headers["content-security-policy"]
    open_editor(page, live_server, source_image)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("RYLA Studio API")
    page.goto(f"{live_server.url}/login/")
    assert refused == []
