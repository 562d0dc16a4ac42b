from __future__ import annotations

import pytest
from django.urls import reverse

from gallery.models import Character, Image
from tests.factories import make_character, make_image

TOKEN_URL = "/auth/token"


def test_token_endpoint_answers_token_for_valid_credentials(api_client, alice):
    response = api_client.post(
        TOKEN_URL, {"username": "alice", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    me = api_client.get("/characters", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200


def test_token_endpoint_refuses_wrong_password(api_client, alice):
    response = api_client.post(TOKEN_URL, {"username": "alice", "password": "no"}, format="json")
    assert response.status_code in (401, 403)
    assert "token" not in response.json()


def test_token_endpoint_requires_both_fields(api_client, db):
    response = api_client.post(TOKEN_URL, {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def _token_for(api_client, username="alice") -> str:
    body = {"username": username, "password": "pw-for-tests-1"}
    return api_client.post(TOKEN_URL, body, format="json").json()["token"]


def test_revoking_the_token_logs_out_every_client_holding_it(api_client, alice):
    token = _token_for(api_client)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert api_client.delete(TOKEN_URL, **auth).status_code == 204
    refused = api_client.get("/characters", **auth)
    assert refused.status_code in (401, 403)
    assert refused.json()["detail"] == "Invalid token."
    fresh = _token_for(api_client)
    assert fresh != token
    assert api_client.get("/characters", HTTP_AUTHORIZATION=f"Token {fresh}").status_code == 200


def test_revoking_needs_authentication(api_client, db):
    assert api_client.delete(TOKEN_URL).status_code in (401, 403)


def test_asking_for_a_token_ignores_a_stale_one_sent_along(api_client, alice):
    response = api_client.post(
        TOKEN_URL,
        {"username": "alice", "password": "pw-for-tests-1"},
        format="json",
        HTTP_AUTHORIZATION="Token not-a-token-any-more",
    )
    assert response.status_code == 200


def test_a_deactivated_users_token_and_session_stop_working(api_client, client, alice):
    token = _token_for(api_client)
    client.force_login(alice)
    assert client.get("/characters").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = api_client.get("/characters", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code in (401, 403)
    assert client.get("/characters").status_code in (401, 403)
    assert client.get("/studio").status_code == 302  # to the login page
    again = api_client.post(
        TOKEN_URL, {"username": "alice", "password": "pw-for-tests-1"}, format="json"
    )
    assert again.status_code in (401, 403)


def test_character_list_shows_only_own_characters(alice_api, alice, bob):
    mine = make_character(alice, name="Mia")
    make_character(bob, name="Bobs")
    response = alice_api.get("/characters")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == [str(mine.id)]
    assert response.json()[0]["nsfwEnabled"] is False


def test_character_create_sets_owner_and_fields(alice_api, alice):
    response = alice_api.post(
        "/characters",
        {
            "name": "Luna",
            "appearance": "blonde bob",
            "nsfwEnabled": True,
            "loraName": "luna_v2.safetensors",
            "loraStrength": 0.7,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    character = Character.objects.get(pk=response.json()["id"])
    assert character.owner == alice
    assert (character.nsfw_enabled, character.lora_name, character.lora_strength) == (
        True,
        "luna_v2.safetensors",
        0.7,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"appearance": "x"}, "name"),
        ({"name": "x"}, "appearance"),
        ({"name": "x", "appearance": "y", "loraStrength": 9}, "loraStrength"),
        ({"name": "x", "appearance": "y", "loraName": "../../etc/passwd"}, "loraName"),
        ({"name": "x" * 101, "appearance": "y"}, "name"),
        ({"name": "x", "appearance": "y" * 2001}, "appearance"),
    ],
)
def test_character_create_rejects_bad_input_with_field_message(alice_api, body, field):
    response = alice_api.post("/characters", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_character_patch_and_delete_by_owner(alice_api, alice):
    character = make_character(alice)
    make_image(character)
    response = alice_api.patch(f"/characters/{character.id}", {"nsfwEnabled": True}, format="json")
    assert response.status_code == 200
    assert response.json()["nsfwEnabled"] is True
    assert response.json()["name"] == character.name
    assert alice_api.delete(f"/characters/{character.id}").status_code == 204
    assert not Character.objects.filter(pk=character.id).exists()
    assert not Image.objects.exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_users_character_is_404(bob_api, alice, method):
    character = make_character(alice)
    response = getattr(bob_api, method)(
        f"/characters/{character.id}", {"name": "stolen"}, format="json"
    )
    assert response.status_code == 404
    character.refresh_from_db()
    assert character.name != "stolen"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/characters"),
        ("post", "/characters"),
        ("get", "/characters/{id}"),
        ("patch", "/characters/{id}"),
        ("delete", "/characters/{id}"),
    ],
)
def test_anonymous_is_refused(api_client, alice, method, path):
    character = make_character(alice)
    response = getattr(api_client, method)(path.format(id=character.id), {}, format="json")
    assert response.status_code in (401, 403)
    assert Character.objects.filter(pk=character.id).exists()


def test_session_authenticated_write_requires_csrf(alice, alice_character):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/characters", {"name": "x", "appearance": "y"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_api_urls_resolve_to_names():
    assert reverse("gallery:api_characters") == "/characters"
