"""Production start-up as an operator runs it: scripts/serve_production.sh with the
documented production environment (.env.production.example), debug off, under uvicorn (the
ASGI server the live updates need)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-production-password-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _documented_env() -> dict[str, str]:
    env = {}
    for line in (ROOT / ".env.production.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


class Production:
    """The running server; `get`/`post` send what the TLS-terminating proxy would add."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, proxied: bool = True, **kwargs):
        headers = kwargs.pop("headers", {})
        if proxied:
            headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.9", **headers}
        # The cookies are Secure: requests would not send them over this plain socket, but
        # the browser does over the proxy's HTTPS.
        response = requests.request(
            method,
            self.url + path,
            headers=headers,
            cookies=self.cookies,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    port = _free_port()
    env = {
        **os.environ,
        **_documented_env(),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": "",
        "AWS_STORAGE_BUCKET_NAME": "",
        "MEDIA_ROOT": str(tmp / "media"),
        "COMFYUI_URLS": "http://127.0.0.1:9",
        "PYTHON": sys.executable,
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # test-run only
        env.pop(name, None)
    log = open(tmp / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        ["scripts/serve_production.sh"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail("production server did not start:\n" + (tmp / "server.log").read_text())
        time.sleep(0.25)
    app = Production(url, env)
    app.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('operator', password='{PASSWORD}')",
    )
    yield app
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(20)
    log.close()


def _linked(html: str, kind: str) -> list[str]:
    pattern = (
        r'<link rel="stylesheet" href="([^"]+)"' if kind == "css" else r'<script[^>]* src="([^"]+)"'
    )
    return re.findall(pattern, html)


def _assert_assets_served(app: Production, html: str) -> None:
    stylesheets = _linked(html, "css")
    assert stylesheets, "no stylesheet linked"
    for href in stylesheets + _linked(html, "js"):
        if href.startswith("/api/docs/?"):
            continue  # Swagger UI's start-up script, checked on its own
        assert href.startswith("/static/"), href  # from the app, never a CDN
        asset = app.request("GET", href)
        assert asset.status_code == 200, href
        assert "max-age=315360000" in asset.headers["Cache-Control"], href  # hashed name
    css = app.request("GET", stylesheets[0])
    assert css.headers["Content-Type"].startswith("text/css")


def test_health_answers_over_plain_http_for_load_balancers(production):
    response = production.request("GET", "/healthz", proxied=False)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_plain_http_pages_redirect_to_https(production):
    response = production.request("GET", "/login/", proxied=False)
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")


def _log_in(production: Production) -> str:
    """Log in through the form; answers the login page's HTML."""
    login = production.request("GET", "/login/")
    assert login.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    logged_in = production.request(
        "POST",
        "/login/",
        data={"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Origin": production.url.replace("http://", "https://")},
    )
    assert logged_in.status_code == 302, logged_in.text[:500]
    return login


def test_login_and_studio_render_with_their_css_and_security_headers(production):
    login = _log_in(production)
    assert "max-age=31536000" in login.headers["Strict-Transport-Security"]
    csp = login.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    _assert_assets_served(production, login.text)
    studio = production.request("GET", "/studio")
    assert studio.status_code == 200
    assert "operator" in studio.text
    _assert_assets_served(production, studio.text)


def test_api_docs_load_swagger_from_the_app(production):
    docs = production.request("GET", "/api/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    _assert_assets_served(production, docs.text)
    script = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', docs.text)
    assert script, "the start-up script is served as a file, not inline"
    assert production.request("GET", script.group(1).replace("&amp;", "&")).status_code == 200


def test_the_live_event_stream_is_served_by_the_asgi_server(production):
    """uvicorn streams the studio's Server-Sent Events: a fresh stream opens with the
    cards of the user's images in flight."""
    production.manage(
        "shell",
        "-c",
        "import uuid; from django.contrib.auth import get_user_model; "
        "from gallery.models import Character, Image; "
        "u = get_user_model().objects.get(username='operator'); "
        "c = Character.objects.create(owner=u, name='Mia', appearance='a woman'); "
        "Image.objects.create(character=c, batch_id=uuid.uuid4(), scene='selfie', "
        "environment='beach', aspect_ratio='1:1', quality_mode='draft', prompt='p', seed=1, "
        "width=64, height=64, steps=2, cfg=1.0, workflow='studio_image', "
        "prompt_id=str(uuid.uuid4()))",
    )
    _log_in(production)
    response = production.request("GET", "/studio/events", stream=True)
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        received = b""
        for chunk in response.iter_content(chunk_size=None):
            received += chunk
            if b"data: " in received and b"\n\n" in received.split(b"data: ", 1)[1]:
                break
    finally:
        response.close()
    text = received.decode()
    assert text.startswith("retry: 2000")
    assert "event: card" in text and 'data-status="pending"' in text
