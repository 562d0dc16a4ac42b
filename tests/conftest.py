from __future__ import annotations

import contextlib
import os
import uuid

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
def alice_client(client, alice):
    client.force_login(alice)
    return client


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


@pytest.fixture(scope="session", autouse=True)
def render_queue(tmp_path_factory):
    """One broker and one render queue for this test session (and its child processes).

    The broker is CELERY_BROKER_URL or REDIS_URL when set (as in CI), else the embedded one
    in a file of this session; the queue name is this session's own, so two test runs on
    one broker never take each other's jobs.
    """
    from django.conf import settings as django_settings

    # Celery reads CELERY_BROKER_URL from the environment before its configuration: keep
    # it out of this process so tests can point the app elsewhere (children get it back).
    broker = os.environ.pop("CELERY_BROKER_URL", "") or os.environ.get("REDIS_URL")
    if not broker:
        broker = f"sqla+sqlite:///{tmp_path_factory.mktemp('broker') / 'broker.sqlite3'}"
    queue = f"renders-test-{uuid.uuid4().hex[:8]}"
    broker_switch(broker)
    django_settings.STUDIO_RENDER_QUEUE = queue
    return queue


def _wake_for_shutdown(app, queue: str) -> None:
    """A worker on a polled broker notices a stop only between two 2-second waits for a
    job: ask it to stop, then hand it two jobs for no image, which it drops at once."""
    from celery.worker import state

    state.should_terminate = 0
    for _ in range(2):
        app.send_task("studio.render", args=(str(uuid.uuid4()),), queue=queue)


@pytest.fixture
def start_render_worker(transactional_db, settings):
    """Run a render worker in this process (a real Celery worker in a thread, on the real
    broker) for the given backends (default: the simulators started so far)."""
    from celery.contrib.testing.worker import start_worker

    from ryla.celery import app
    from studio import services

    stack = contextlib.ExitStack()

    def start(urls: list[str] | None = None):
        urls = list(urls or settings.COMFYUI_URLS)
        state = services.render_worker_start(urls, name=f"test-{uuid.uuid4().hex[:6]}")
        stack.callback(services.render_worker_stop)
        stack.enter_context(
            start_worker(
                app,
                pool="threads",
                concurrency=len(urls),
                perform_ping_check=False,
                queues=[settings.STUDIO_RENDER_QUEUE],
                loglevel="WARNING",
                shutdown_timeout=30,
            )
        )
        stack.callback(_wake_for_shutdown, app, settings.STUDIO_RENDER_QUEUE)
        return state

    settings.STUDIO_WORKER_HEARTBEAT_SECONDS = 0.5
    yield start
    stack.close()


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
def comfyui(make_comfyui, start_render_worker):
    """One running simulator, and a render worker that renders on it."""
    sim = make_comfyui()
    start_render_worker([sim.url])
    return sim


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


def broker_switch(url: str) -> str:
    """Point the studio's Celery app at another broker; answers the previous URL."""
    from ryla.broker import transport_options_for
    from ryla.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = url
    app.conf.broker_transport_options = transport_options_for(url)
    app._pool = None  # connections to the previous broker
    app.amqp._producer_pool = None
    return previous


@pytest.fixture
def broker_down(dead_url):
    """The job queue's broker unreachable (a Redis URL where nothing listens)."""
    previous = broker_switch(dead_url.replace("http://", "redis://") + "/0")
    yield
    broker_switch(previous)


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
