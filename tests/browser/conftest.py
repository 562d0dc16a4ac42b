"""Playwright fixtures: Debian's Chromium, a logged-in page and completed images to edit.

pytest-playwright would launch its own downloaded browser; this machine has none (and must
not download one), so every session points it at /usr/bin/chromium instead.
"""

from __future__ import annotations

import io
import os
import re
from base64 import b64decode
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageDraw

from gallery.models import Character, Image
from tests.factories import make_completed_image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "pw-for-tests-1"
EDITOR = "[data-mask-editor]"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        print(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


class AsgiLiveServer:
    """The app under uvicorn (its production ASGI server) in a thread of this process, so
    server-sent events stream as they do in production and tests share the database."""

    def __init__(self) -> None:
        import socket
        import threading
        import time

        import uvicorn
        from django.core.asgi import get_asgi_application
        from django.test.utils import modify_settings

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        # pytest-django's live-server helper turns this on around each test that uses it.
        self._live_server_modified_settings = modify_settings(ALLOWED_HOSTS={"append": "127.0.0.1"})
        config = uvicorn.Config(
            get_asgi_application(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = AsgiLiveServer()
    yield server
    server.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(page):
    """Fail fast: a missing element should cost seconds, not pytest-playwright's 30."""
    page.set_default_timeout(8_000)
    return page


def log_in(page, live_server, username: str = "alice", password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def alice_page(page, live_server, alice):
    log_in(page, live_server)
    return page


def pattern_png(width: int, height: int) -> bytes:
    """A busy, deterministic picture: any repainted pixel is very likely to differ from it."""
    picture = PILImage.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    step = 32
    for y in range(0, height, step):
        for x in range(0, width, step):
            draw.rectangle(
                (x, y, x + step - 1, y + step - 1),
                fill=((x * 7 + y) % 256, (y * 5 + 40) % 256, (x * 3 + y * 2 + 90) % 256),
            )
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def completed_image(character: Character, *, width: int = 1024, height: int = 1024) -> Image:
    """A completed image in storage, as if the simulator had rendered it (but instantly)."""
    return make_completed_image(
        character, pattern_png(width, height), width=width, height=height, aspect_ratio="1:1"
    )


@pytest.fixture
def source_image(alice_character) -> Image:
    return completed_image(alice_character)


def studio_url(live_server, character: Character) -> str:
    return f"{live_server.url}/influencer/{character.id}/studio"


def open_editor(page, live_server, image: Image):
    """Studio → Open the image's card → Edit; answers the editor once its image is drawn."""
    page.goto(studio_url(live_server, image.character))
    page.locator(f'article.image-card[data-image-id="{image.id}"] a.open').click()
    page.locator("#detail-image").wait_for()
    page.locator("#edit-button").click()
    editor = page.locator(f'{EDITOR}[data-state="ready"]')
    editor.wait_for()
    return editor


class Canvas:
    """The mask canvas's on-screen box, to turn image pixels into page coordinates."""

    def __init__(self, page) -> None:
        self.page = page
        self.box = page.locator(f"{EDITOR} canvas[data-part=mask]").bounding_box()
        self.width, self.height = page.evaluate(
            """() => {
                 const c = document.querySelector('[data-mask-editor] canvas[data-part=mask]');
                 return [c.width, c.height];
               }"""
        )
        self.scale = self.width / self.box["width"]  # image pixels per CSS pixel

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of image pixel (x, y), rounded to whole CSS pixels."""
        return (
            round(self.box["x"] + x / self.scale),
            round(self.box["y"] + y / self.scale),
        )

    def to_image(self, px: float, py: float) -> tuple[float, float]:
        return ((px - self.box["x"]) * self.scale, (py - self.box["y"]) * self.scale)

    def stroke(self, *points: tuple[float, float], steps: int = 6) -> list[tuple[float, float]]:
        """Drag the mouse through page `points`; answers them in image pixels."""
        mouse = self.page.mouse
        mouse.move(*points[0])
        mouse.down()
        for point in points[1:]:
            mouse.move(*point, steps=steps)
        mouse.up()
        return [self.to_image(*point) for point in points]


def editor_call(page, expression: str):
    """Evaluate `expression` with `ed` bound to the open editor's test hook."""
    return page.evaluate(
        "async () => {"
        f" const ed = document.querySelector('{EDITOR}').maskEditor; return {expression}; "
        "}"
    )


def decode_data_url(url: str) -> PILImage.Image:
    match = re.match(r"data:image/png;base64,(.*)$", url, re.S)
    assert match, url[:60]
    picture = PILImage.open(io.BytesIO(b64decode(match.group(1))))
    picture.load()
    return picture


def exported(page) -> PILImage.Image:
    return decode_data_url(editor_call(page, "await ed.exportPng()"))


def stroke_area(
    size: tuple[int, int], points: list[tuple[float, float]], width: float
) -> PILImage.Image:
    """An L image, 255 under a round-capped polyline of `width` through `points`."""
    area = PILImage.new("L", size, 0)
    draw = ImageDraw.Draw(area)
    radius = max(width, 0) / 2
    for a, b in zip(points, points[1:], strict=False):
        draw.line([a, b], fill=255, width=max(1, round(width)))
    for x, y in points:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return area


def max_inside(channel: PILImage.Image, area: PILImage.Image) -> int:
    """The largest value of `channel` where `area` is set (0 if `area` is empty)."""
    return ImageChops.multiply(channel, area).getextrema()[1]


def min_outside(channel: PILImage.Image, area: PILImage.Image) -> int:
    """The smallest value of `channel` where `area` is NOT set."""
    return ImageChops.lighter(channel, area).getextrema()[0]


DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def sized_page(browser, live_server, alice, request):
    """A logged-in page at the size the test asks for (phone: touch, mobile)."""
    viewport = request.node.callspec.params["viewport"]
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport, has_touch=phone, is_mobile=phone)
    page = context.new_page()
    page.set_default_timeout(8_000)
    log_in(page, live_server)
    yield page
    context.close()
