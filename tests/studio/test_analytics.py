"""Product analytics reach PostHog over HTTP, and a broken PostHog never breaks a request.

The real PostHog client is pointed at a small HTTP server on a loopback socket that records
what it receives (or answers 500, or is not there at all).
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio import analytics
from tests.studio.helpers import generate, wait_results

pytestmark = pytest.mark.django_db


class _PostHogServer:
    """Records the events of every batch PostHog's client POSTs to it."""

    def __init__(self, status: int = 200) -> None:
        self.events: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip" or body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                payload = json.loads(body)
                server.events.extend(payload.get("batch", [payload]))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": 1}')

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def names(self) -> list[str]:
        return [event["event"] for event in self.events]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def posthog_server(settings):
    server = _PostHogServer()
    settings.POSTHOG_API_KEY = "phc_test_key"
    settings.POSTHOG_HOST = server.url
    analytics.analytics_client_set(None)
    yield server
    analytics.analytics_client_set(None)
    server.close()


def test_generation_events_reach_posthog_with_the_user_and_pack(
    alice, alice_api, alice_character, comfyui, posthog_server
):
    response = generate(alice_api, alice_character, count=2)
    assert response.status_code == 202
    for prompt_id in response.json()["promptIds"]:
        assert wait_results(alice_api, prompt_id)["status"] == "completed"
    analytics.analytics_flush()

    names = posthog_server.names()
    assert names.count("generation_started") == 1
    assert names.count("generation_image_completed") == 2
    assert names.count("generation_pack_completed") == 1
    started = next(e for e in posthog_server.events if e["event"] == "generation_started")
    assert started["distinct_id"] == str(alice.id)
    assert started["properties"]["characterId"] == str(alice_character.id)
    assert started["properties"]["count"] == 2
    assert started["properties"]["batchId"] == response.json()["batchId"]


def test_posthog_answering_500_does_not_break_a_request(
    alice_api, alice_character, comfyui, settings
):
    server = _PostHogServer(status=500)
    settings.POSTHOG_API_KEY = "phc_test_key"
    settings.POSTHOG_HOST = server.url
    analytics.analytics_client_set(None)
    try:
        response = generate(alice_api, alice_character)
        assert response.status_code == 202
        analytics.analytics_flush()
        assert "generation_started" in server.names()  # it was tried, and refused
        assert wait_results(alice_api, response.json()["promptIds"][0])["status"] == "completed"
    finally:
        analytics.analytics_client_set(None)
        server.close()


def test_posthog_unreachable_does_not_break_a_request(
    alice_api, alice_character, comfyui, settings, dead_url
):
    settings.POSTHOG_API_KEY = "phc_test_key"
    settings.POSTHOG_HOST = dead_url
    analytics.analytics_client_set(None)
    try:
        response = generate(alice_api, alice_character)
        analytics.analytics_flush()
    finally:
        analytics.analytics_client_set(None)
    assert response.status_code == 202


def test_a_client_that_raises_is_logged_not_raised(alice_api, alice_character, comfyui, caplog):
    class Broken:
        def capture(self, event: str, **kwargs) -> None:
            raise RuntimeError("posthog exploded")

    analytics.analytics_client_set(Broken())
    try:
        response = generate(alice_api, alice_character)
    finally:
        analytics.analytics_client_set(None)

    assert response.status_code == 202
    assert "analytics: could not capture generation_started" in caplog.text


def test_analytics_are_off_without_a_key(settings):
    settings.POSTHOG_API_KEY = ""
    analytics.analytics_client_set(None)
    assert analytics._current_client() is None
    analytics.capture("studio_opened", user_id=1)  # nothing to send, nothing raised


def test_unknown_event_names_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown analytics event"):
        analytics.capture("studio_openned", user_id=1)
