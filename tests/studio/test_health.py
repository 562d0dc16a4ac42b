"""/healthz: answers at once whatever the backends do, shows details to staff only, and
fails when the database, storage or static files do."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from gallery import storage
from tests.factories import make_user
from tests.studio.helpers import wait_until


@pytest.fixture
def staff_api(api_client, db):
    api_client.force_authenticate(make_user(is_staff=True))
    return api_client


def _probed(api) -> dict:
    """The staff report once a background probe has finished."""
    wait_until(lambda: api.get("/healthz").json().get("comfyuiCheckedAt"), what="a probe")
    return api.get("/healthz").json()


def test_anonymous_callers_get_only_ok(api_client, db, comfyui):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_staff_get_each_check_and_the_backends_after_a_background_probe(staff_api, comfyui):
    first = staff_api.get("/healthz").json()
    assert (first["database"], first["storage"], first["static"]) == ("ok", "ok", "ok")
    assert first["comfyui"] == [] and "comfyuiCheckedAt" not in first  # not probed yet
    body = _probed(staff_api)
    assert body["comfyui"] == [
        {"url": comfyui.url, "ok": True, "error": None, "queueLength": 0, "simulator": True}
    ]


def test_a_down_backend_is_reported_without_failing(staff_api, comfyui_down):
    response = staff_api.get("/healthz")
    assert response.status_code == 200
    backend = _probed(staff_api)["comfyui"][0]
    assert backend["url"] == comfyui_down and backend["ok"] is False
    assert "Cannot connect" in backend["error"]


def test_a_hung_backend_never_holds_up_the_answer(staff_api, hung_backend, settings):
    """One probe at a time sits on the hung connection; every check answers meanwhile."""
    settings.COMFYUI_URLS = [hung_backend.url]
    settings.COMFYUI_HEALTH_TIMEOUT = 1.0
    answers = [staff_api.get("/healthz") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all("comfyuiCheckedAt" not in a.json() for a in answers)
    wait_until(lambda: len(hung_backend.connections) >= 1, what="the probe to connect")
    assert len(hung_backend.connections) == 1, "a second probe started while one was waiting"
    backend = _probed(staff_api)["comfyui"][0]
    assert backend["ok"] is False and "Timed out" in backend["error"]


def test_storage_failure_is_503_with_no_internals_for_anonymous(
    api_client, db, comfyui, monkeypatch
):
    monkeypatch.setattr(storage, "file_exists", lambda key: 1 / 0)
    response = api_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False}
    api_client.force_authenticate(make_user(is_staff=True))
    assert "ZeroDivisionError" in api_client.get("/healthz").json()["storage"]


def test_missing_static_files_fail_the_check_until_collectstatic(
    api_client, db, settings, tmp_path
):
    """Production serves static files from a manifest: without collectstatic every page is
    a 500, so the health check must say so too."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    assert api_client.get("/healthz").status_code == 503
    call_command("collectstatic", interactive=False, verbosity=0)
    assert api_client.get("/healthz").status_code == 200


def test_staff_see_the_broker_and_the_render_workers_heartbeats(staff_api, comfyui):
    """The `comfyui` fixture runs a render worker for its simulator."""
    wait_until(lambda: staff_api.get("/healthz").json().get("workers"), what="a worker's heartbeat")
    body = _probed(staff_api)
    assert body["broker"] == "ok"
    (worker,) = body["workers"]
    assert worker["backends"] == [comfyui.url] and worker["upBackends"] == [comfyui.url]


def test_an_unreachable_broker_is_reported_to_staff(staff_api, broker_down):
    assert _probed(staff_api)["broker"].startswith("error: ")
