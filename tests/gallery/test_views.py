from __future__ import annotations

import pytest
from django.urls import reverse

from gallery import storage
from gallery.models import Character
from tests.factories import make_character, make_image
from tests.gallery.test_storage import png_bytes


def test_login_page_renders_and_logs_in(client, alice):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests-1"})
    assert response.status_code == 302
    assert client.get(reverse("gallery:character_list")).status_code == 200


def test_logout_ends_the_session(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("gallery:character_list")).status_code == 302


def test_character_list_page_shows_only_own(client, alice, bob):
    make_character(alice, name="Mine-Mia")
    make_character(bob, name="Bob-Secret")
    client.force_login(alice)
    body = client.get(reverse("gallery:character_list")).content.decode()
    assert "Mine-Mia" in body
    assert "Bob-Secret" not in body


def test_character_create_page_creates_for_owner(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("gallery:character_create"),
        {"name": "Nova", "appearance": "red hair", "lora_name": "", "lora_strength": "0.8"},
    )
    assert response.status_code == 302
    assert Character.objects.get(name="Nova").owner == alice


def test_character_create_page_shows_field_errors(client, alice):
    client.force_login(alice)
    response = client.post(reverse("gallery:character_create"), {"name": "", "appearance": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_character_edit_page_for_owner_and_404_for_other(client, alice, bob):
    character = make_character(alice)
    url = reverse("gallery:character_edit", args=[character.id])
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert (
        client.post(url, {"name": "stolen", "appearance": "x", "lora_strength": 1}).status_code
        == 404
    )
    client.force_login(alice)
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Renamed", "appearance": "x", "lora_strength": 1})
    assert response.status_code == 302
    character.refresh_from_db()
    assert character.name == "Renamed"


def test_character_delete_page_is_post_only_and_scoped(client, alice, bob):
    character = make_character(alice)
    url = reverse("gallery:character_delete", args=[character.id])
    client.force_login(bob)
    assert client.post(url).status_code == 404
    client.force_login(alice)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    assert not Character.objects.filter(pk=character.id).exists()


@pytest.mark.parametrize("name", ["gallery:character_list", "gallery:character_create"])
def test_pages_redirect_anonymous_to_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_media_file_served_for_signed_url_only(client, alice):
    character = make_character(alice)
    image = make_image(character)
    stored = storage.image_store(
        character_id=character.id, image_id=image.id, png_bytes=png_bytes(10, 10)
    )
    url = storage.file_url(stored.image_key)
    response = client.get(url)  # a signed URL works without a session, like a presigned one
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == png_bytes(10, 10)
    bare = url.split("?")[0]
    assert client.get(bare).status_code == 404
    tampered = url.replace("signature=", "signature=x")
    assert client.get(tampered).status_code == 404
    other_key = storage.thumbnail_key_for(character.id, image.id)
    assert client.get(f"/media/{other_key}?{url.split('?')[1]}").status_code == 404


def test_media_url_expires(client, alice, settings, monkeypatch):
    import time as real_time

    settings.AWS_QUERYSTRING_EXPIRE = 60
    character = make_character(alice)
    image = make_image(character)
    stored = storage.image_store(
        character_id=character.id, image_id=image.id, png_bytes=png_bytes(4, 4)
    )
    url = storage.file_url(stored.image_key)
    expires = int(url.split("expires=")[1].split("&")[0])
    assert 60 <= expires - real_time.time() <= 180
    monkeypatch.setattr(storage.time, "time", lambda: expires + 1)
    assert client.get(url).status_code == 404


def test_media_file_refuses_paths_outside_character_keys(client, alice):
    client.force_login(alice)
    assert client.get("/media/../ryla/settings.py").status_code == 404
    assert client.get("/media/characters/not-a-uuid/images/x.png").status_code == 404


def test_the_character_form_offers_the_lora_files_the_backends_have(client, alice):
    from gallery.models import LoraFile

    LoraFile.report(["mia_v2.safetensors", "nova.safetensors"])
    character = make_character(alice, name="Mia", lora_name="mia_v1.safetensors")
    client.force_login(alice)
    url = reverse("gallery:character_edit", args=[character.id])
    body = client.get(url).content.decode()
    assert '<select name="lora_name"' in body
    assert '<option value="nova.safetensors">nova.safetensors</option>' in body
    # A file no backend has any more stays selectable as it is, and says so.
    assert "mia_v1.safetensors (not on any backend now)" in body
    fields = {"name": "Mia", "appearance": "x", "lora_strength": "0.8"}
    typed = client.post(url, {**fields, "lora_name": "typo.safetensors"})
    assert "Choose one of the LoRA files the backends have." in typed.content.decode()
    assert client.post(url, {**fields, "lora_name": "nova.safetensors"}).status_code == 302
    character.refresh_from_db()
    assert character.lora_name == "nova.safetensors"


def test_without_a_recent_lora_report_the_lora_is_typed(client, alice, settings):
    from gallery.models import LoraFile

    LoraFile.report(["old.safetensors"])
    settings.STUDIO_LORA_FRESH_SECONDS = 0
    client.force_login(alice)
    body = client.get(reverse("gallery:character_create")).content.decode()
    assert '<input type="text" name="lora_name"' in body
    assert "No render worker has reported its LoRA files lately" in body
