"""Image review in the Django admin, in a real browser: thumbnails load, approve records it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gallery.models import Image, ReviewStatus
from tests.browser.conftest import PASSWORD, completed_image, log_in
from tests.factories import make_character, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_approves_an_image_and_the_changelist_shows_it_with_its_thumbnail(
    page, live_server, alice, artifacts
):
    make_user("reviewer", password=PASSWORD, is_staff=True, is_superuser=True)
    character = make_character(alice, name="Mia")
    images = [completed_image(character, width=512, height=512) for _ in range(3)]
    log_in(page, live_server, "reviewer")

    page.goto(f"{live_server.url}/admin/gallery/image/")
    row = page.locator("#result_list tbody tr").filter(
        has=page.locator(f'a[href*="{images[0].id}"]')
    )
    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("approve")
    page.locator("button[name=index]").click()

    expect(page.locator(".messagelist")).to_contain_text("1")
    approved = Image.objects.get(pk=images[0].pk)
    assert approved.review_status == ReviewStatus.APPROVED
    assert approved.reviewed_by.username == "reviewer"
    assert approved.reviewed_at is not None
    thumbnails = page.locator("#result_list img.review-thumb")
    expect(thumbnails).to_have_count(3)
    for index in range(3):
        expect(thumbnails.nth(index)).to_be_visible()
    loaded = page.evaluate(
        "() => [...document.querySelectorAll('#result_list img.review-thumb')]"
        ".map((i) => i.naturalWidth)"
    )
    assert all(width > 0 for width in loaded), loaded  # the signed thumbnail URLs served
    page.screenshot(path=str(artifacts / "admin-review.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/gallery/image/{approved.pk}/change/")
    expect(page.locator("#content")).to_contain_text("Approved")
    widths = page.evaluate(
        "() => [...document.querySelectorAll('#content img')].map((i) => i.naturalWidth)"
    )
    assert 512 in widths, f"the full-size preview did not load: {widths}"
