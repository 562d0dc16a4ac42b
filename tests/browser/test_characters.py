"""The character form in Chromium: the LoRA is chosen from the files the backends have."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from gallery.models import Character, LoraFile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_lora_is_chosen_from_the_files_the_backends_report(
    alice_page, live_server, alice_character
):
    LoraFile.report(["mia_v2.safetensors", "nova.safetensors"])
    page = alice_page
    page.goto(f"{live_server.url}/studio/characters/{alice_character.id}/edit/")
    lora = page.get_by_label("LoRA file name")
    expect(lora).to_have_js_property("tagName", "SELECT")
    lora.select_option("mia_v2.safetensors")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("LoRA mia_v2.safetensors")).to_be_visible()
    assert Character.objects.get(pk=alice_character.pk).lora_name == "mia_v2.safetensors"
