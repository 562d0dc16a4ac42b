from __future__ import annotations

import os

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_character, make_user

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls
# from such a thread unless told that this is intended (live_server tests do it).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def alice_character(alice):
    return make_character(alice, name="Mia")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_api(alice) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=alice)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def bob_api(bob) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=bob)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 costs ~0.5 s per user on this machine; tests don't need its strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Every test writes files under its own temporary MEDIA_ROOT, never the real one."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": tmp_path / "media",
                "base_url": "/media/",
                "allow_overwrite": True,
            },
        },
    }


@pytest.fixture
def make_comfyui(settings):
    """Start bundled ComfyUI simulators on free ports and point the studio at them."""
    from comfy.simulator import SimulatorOptions
    from comfy.simulator.testing import SimulatorThread

    started = []

    def start(*, use: bool = True, **options):
        options.setdefault("step_ms", 5)
        options.setdefault("steps", 4)
        sim = SimulatorThread(SimulatorOptions(**options)).start()
        started.append(sim)
        if use:
            settings.COMFYUI_URLS = [s.url for s in started]
        return sim

    settings.COMFYUI_RETRIES = 1
    settings.COMFYUI_TIMEOUT = 5
    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def comfyui(make_comfyui):
    """One running simulator that the studio uses."""
    return make_comfyui()


@pytest.fixture
def dead_url() -> str:
    """A URL on which nothing listens (a port we bound and released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class HungServer:
    """Accepts TCP connections and never answers: a backend stuck mid-request."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def hung_backend():
    """A ComfyUI URL that accepts connections and never sends a byte."""
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def comfyui_down(settings, dead_url):
    """COMFYUI_URLS pointing at a loopback port where nothing listens."""
    settings.COMFYUI_URLS = [dead_url]
    settings.COMFYUI_RETRIES = 0
    settings.COMFYUI_TIMEOUT = 2
    return settings.COMFYUI_URLS[0]


@pytest.fixture
def analytics_events():
    """Every analytics event the studio captures during the test, as (event, kwargs)."""
    from studio import analytics

    class Recorder:
        def __init__(self) -> None:
            self.events: list[tuple[str, dict]] = []

        def capture(self, event: str, **kwargs) -> None:
            self.events.append((event, kwargs))

        def names(self) -> list[str]:
            return [name for name, _ in self.events]

    recorder = Recorder()
    analytics.analytics_client_set(recorder)
    yield recorder
    analytics.analytics_client_set(None)
