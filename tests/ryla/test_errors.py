"""Every error answer of the API is JSON: DRF's handler inside API views, Django's
handlers outside them, and a parser that survives absurd nesting."""

from __future__ import annotations

import logging
import uuid

import pytest

from studio import services

DEEP = "[" * 10_000


def _json_writes(character_id: str) -> list[tuple[str, str]]:
    """Every operation that parses a JSON body."""
    return [
        ("post", "/auth/token"),
        ("post", "/characters"),
        ("patch", f"/characters/{character_id}"),
        ("post", "/image/generate/studio"),
        ("post", "/image/edit/inpaint"),
    ]


def test_deeply_nested_json_is_a_400_on_every_json_endpoint(alice_api, alice_character):
    for method, path in _json_writes(str(alice_character.id)):
        response = getattr(alice_api, method)(path, DEEP, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code)
        assert response["Content-Type"] == "application/json", path
        assert "nested too deeply" in response.json()["detail"], path


def test_body_over_djangos_backstop_is_a_json_413(alice_api, alice_character, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = {"characterId": str(alice_character.id), "outfit": "x" * 500}
    response = alice_api.post("/image/generate/studio", body, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large."}


def test_unexpected_error_in_an_api_view_is_a_json_500_and_logged(
    alice_api, alice_character, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "generation_start", broken)
    body = {
        "characterId": str(alice_character.id),
        "scene": "selfie",
        "environment": "beach",
        "outfit": "dress",
        "aspectRatio": "1:1",
        "qualityMode": "draft",
        "count": 1,
    }
    with caplog.at_level(logging.ERROR, logger="ryla.errors"):
        response = alice_api.post("/image/generate/studio", body, format="json")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert "boom" in caplog.text


@pytest.mark.parametrize("path", ["/image/nothing-here", f"/characters/{uuid.uuid4()}/x"])
def test_unknown_url_is_json_for_api_clients(alice_api, path):
    response = alice_api.get(path, HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_url_is_a_page_for_browsers(client, db):
    response = client.get("/nothing-here", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_refused_host_is_json_for_api_clients(api_client, db):
    response = api_client.get("/characters", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}
