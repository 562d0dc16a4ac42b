"""Security: every URL of the project against anonymous / other user / owner, and bad input.

The access matrix is generated from the URL resolver, so a URL pattern added later is
tested without anyone writing a test for it: if it answers another user's request with
anything but 404, or an anonymous request with anything but a refusal, this file fails.
A pattern with a path parameter this file does not know how to fill fails too, so that
whoever adds it decides how it is tested.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import re
import struct
import time
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.views import APIView

import ryla.settings as project_settings
from gallery import storage
from gallery.models import Character, Image, ImageStatus
from tests.factories import make_character, make_completed_image, make_image, make_user
from tests.gallery.test_storage import s3_endpoint  # noqa: F401  (session fixture)
from tests.processes import run_async

# --- the generated matrix ------------------------------------------------------------------

# Intentionally public, or guarded by something else (admin has its own staff check, tested
# below). Matched against the whole route, so a new route is never skipped by accident.
PUBLIC_ROUTES = {
    "": "redirects to the studio, which asks for a login",
    "login/": "the login page",
    "logout/": "logging out",
    "auth/token": "exchanges a password for a token",
    "api/schema/": "the OpenAPI schema",
    "api/docs/": "Swagger UI for the schema",
    "healthz": "load-balancer health check, no user data",
}
SKIPPED_PREFIXES = ("admin/", "static/")
# Capability URLs: like S3 presigned URLs they carry an expiring signature instead of a
# login, so without one everybody (the owner too) gets 404, and with one the file.
SIGNED_ROUTES = {"media/<path:key>"}

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
METHODS = ("get", "post", "patch", "delete")

# Distinctive owner data: none of it may reach anybody else.
OWNER_NAME = "Ownerina Privatova"
OWNER_APPEARANCE = "owner-appearance-marker, freckles"
OWNER_PROMPT = "owner-prompt-marker on a yacht"
OWNER_OUTFIT = "owner-outfit-marker silk robe"
OWNER_MARKERS = (OWNER_NAME, OWNER_APPEARANCE, OWNER_PROMPT, OWNER_OUTFIT)


@dataclass(frozen=True)
class Route:
    route: str
    is_api: bool
    name: str

    @property
    def signed(self) -> bool:
        return self.route in SIGNED_ROUTES

    @property
    def params(self) -> list[str]:
        return [m.group("name") for m in PARAM.finditer(self.route)]


def _walk(patterns, prefix: str = "") -> list[Route]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(pattern, URLResolver):
            routes.extend(_walk(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern):
            callback = pattern.callback
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            is_api = isinstance(view_class, type) and issubclass(view_class, APIView)
            routes.append(Route(route, is_api, pattern.name or ""))
    return routes


ALL_ROUTES = _walk(get_resolver().url_patterns)
GUARDED_ROUTES = [r for r in ALL_ROUTES if r.route not in PUBLIC_ROUTES]
MATRIX = [(r, m) for r in GUARDED_ROUTES for m in METHODS]
# The other user also tries their own character beside the owner's image.
OTHER_MATRIX = [(r, m, False) for r, m in MATRIX] + [
    (r, m, True) for r, m in MATRIX if {"character_id", "image_id"} <= set(r.params)
]


def _matrix_id(value) -> str:
    if isinstance(value, Route):
        return value.route or "<root>"
    if isinstance(value, bool):
        return "own-character" if value else "owner-ids"
    return value


def _png(size: tuple[int, int], mode: str = "RGBA", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    PILImage.new(mode, size, (10, 20, 30, 255)[: len(mode)]).save(out, format=fmt)
    return out.getvalue()


@dataclass
class World:
    owner: object
    other: object
    character: Character
    image: Image
    other_character: Character

    def fill(self, route: Route, *, mixed: bool = False, signed: bool = False) -> str:
        """The route with its parameters naming the owner's objects.

        `mixed` puts the other user's own character in the URL beside the owner's image,
        the classic way to slip past a check that only looks at the first id. `signed`
        adds the signature the owner's pages hand out, for capability URLs.
        """
        values = {
            "character_id": self.other_character.id if mixed else self.character.id,
            "image_id": self.image.id,
            "prompt_id": self.image.prompt_id,
            "batch_id": self.image.batch_id,
            "key": self.image.image_key,
        }

        def replace(match: re.Match) -> str:
            name = match.group("name")
            if name not in values:
                pytest.fail(
                    f"URL pattern {route.route!r} has a parameter {name!r} that "
                    "tests/test_security.py does not know how to fill: add it to World.fill."
                )
            return str(values[name])

        url = "/" + PARAM.sub(replace, route.route)
        if signed and route.signed:
            signed_url = storage.file_url(self.image.image_key)
            assert signed_url.startswith(url + "?"), signed_url
            url = signed_url
        return url

    def body(self) -> dict:
        """One body for every write: valid enough to reach each view's ownership check."""
        return {
            "characterId": str(self.character.id),
            "sourceImageId": str(self.image.id),
            "imageId": str(self.image.id),
            "scene": "selfie",
            "environment": "beach",
            "outfit": "",
            "aspectRatio": "1:1",
            "aspect_ratio": "1:1",
            "qualityMode": "draft",
            "quality_mode": "draft",
            "count": 1,
            "nsfw": False,
            "prompt": "add a hat",
            "maskedImageBase64Png": base64.b64encode(_png((8, 8))).decode(),
            "name": "Somebody else",
            "appearance": "a man, 40",
            "lora_strength": 0.8,
        }


@pytest.fixture
def world(db, comfyui_down) -> World:
    owner = make_user("owner")
    other = make_user("intruder")
    character = make_character(owner, name=OWNER_NAME, appearance=OWNER_APPEARANCE)
    image = make_completed_image(
        character, _png((64, 64), "RGB"), prompt=OWNER_PROMPT, outfit=OWNER_OUTFIT
    )
    # Served files of an edit (its mask) exist too, so that every route has data to guard.
    image.mask_key = storage.mask_store(
        character_id=character.id, image_id=image.id, png_bytes=_png((64, 64), "RGBA")
    )
    image.save(update_fields=["mask_key"])
    other_character = make_character(other, name="Intruder's own")
    return World(owner, other, character, image, other_character)


def _client_for(route: Route, user=None):
    """Token auth for the API (as other clients use it), a session for pages."""
    if route.is_api:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _call(client, route: Route, method: str, url: str, body: dict):
    if method == "get":
        return client.get(url)
    if route.is_api:
        return getattr(client, method)(url, body, format="json")
    if method == "post":
        return client.post(url, body)
    return getattr(client, method)(url, content_type="application/x-www-form-urlencoded")


def _body_text(response) -> str:
    if getattr(response, "is_async", False):
        return _stream_start(response).decode("utf-8", "replace")
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _stream_start(response, quiet: float = 1.0) -> bytes:
    """What an endless event stream sends until it has been quiet for `quiet` seconds
    (its opening burst: the cards of the viewer's images in flight)."""

    async def read() -> bytes:
        received = b""
        chunks = aiter(response.streaming_content)
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), quiet)
            except (TimeoutError, StopAsyncIteration):
                await chunks.aclose()
                return received
            received += chunk if isinstance(chunk, bytes) else chunk.encode()

    return run_async(read)


def _assert_no_owner_data(response, who: str) -> None:
    text = _body_text(response)
    for marker in OWNER_MARKERS:
        assert marker not in text, f"{who} saw the owner's data {marker!r}"


def test_matrix_covers_every_endpoint_of_the_design():
    routes = {r.route for r in GUARDED_ROUTES}
    for route in (
        "image/generate/studio",
        "image/edit/inpaint",
        "image/comfyui/<str:prompt_id>/results",
        "image-gallery/characters/<uuid:character_id>/images",
        "influencer/<uuid:character_id>/studio",
        "studio",
        "media/<path:key>",
    ):
        assert route in routes
    assert all(r.route in {x.route for x in ALL_ROUTES} for r in GUARDED_ROUTES)


@pytest.mark.parametrize(("route", "method"), MATRIX, ids=_matrix_id)
def test_anonymous_is_refused(world, route, method):
    url = world.fill(route)
    response = _call(_client_for(route), route, method, url, world.body())
    if route.signed:
        assert response.status_code in (404, 405), (url, response.status_code)
    elif route.is_api:
        assert response.status_code in (401, 403), (url, response.status_code)
    else:
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next=")
    _assert_no_owner_data(response, "anonymous")
    assert Character.objects.filter(pk=world.character.pk).exists()


@pytest.mark.parametrize(("route", "method", "mixed"), OTHER_MATRIX, ids=_matrix_id)
def test_other_user_gets_404_and_no_owner_data(world, route, method, mixed):
    url = world.fill(route, mixed=mixed)
    response = _call(_client_for(route, world.other), route, method, url, world.body())
    _assert_no_owner_data(response, "another user")
    assert response.status_code < 500, (url, response.status_code)
    if route.params or route.name in ("api_generate", "api_inpaint"):
        # Ids of somebody else's objects, in the path or the body: 404 — unless the method
        # is not allowed at all here (the owner is refused the same way).
        if response.status_code == 405:
            owner_response = _call(
                _client_for(route, world.owner), route, method, url, world.body()
            )
            assert owner_response.status_code == 405, (url, method)
        else:
            assert response.status_code == 404, (url, method, response.status_code)
    world.character.refresh_from_db()
    world.image.refresh_from_db()
    assert world.character.name == OWNER_NAME
    assert world.image.status == ImageStatus.COMPLETED
    assert not Image.objects.filter(character=world.character).exclude(pk=world.image.pk).exists()


@pytest.mark.parametrize(("route", "method"), MATRIX, ids=_matrix_id)
def test_owner_is_served(world, route, method):
    if route.name == "image_preview":  # a step preview exists only while the image renders
        from studio.models import ImagePreview

        Image.objects.filter(pk=world.image.pk).update(status=ImageStatus.GENERATING)
        jpeg = io.BytesIO()
        PILImage.new("RGB", (8, 8)).save(jpeg, format="JPEG")
        ImagePreview.objects.put(image_id=world.image.pk, jpeg=jpeg.getvalue())
    url = world.fill(route, signed=True)
    response = _call(_client_for(route, world.owner), route, method, url, world.body())
    assert response.status_code != 404, (url, method)
    # 503: the owner reached ComfyUI, which is down in this test.
    assert response.status_code < 500 or response.status_code == 503, (url, method)


@pytest.mark.parametrize("route", GUARDED_ROUTES, ids=_matrix_id)
def test_session_writes_without_csrf_token_are_refused(world, route):
    url = world.fill(route)
    if route.is_api:
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(world.owner)
        response = client.post(url, world.body(), format="json")
    else:
        client = Client(enforce_csrf_checks=True)
        client.force_login(world.owner)
        response = client.post(url, world.body())
    assert response.status_code == 403, (url, response.status_code)
    assert "CSRF" in _body_text(response)
    assert Image.objects.count() == 1
    assert Character.objects.filter(pk=world.character.pk).exists()


def test_session_write_with_csrf_token_is_accepted(world):
    """The control for the CSRF tests above: with the token the same writes succeed."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    client.get(reverse("gallery:character_create"))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        reverse("gallery:character_create"),
        {
            "name": "New one",
            "appearance": "a woman",
            "lora_strength": 0.8,
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302

    api = APIClient(enforce_csrf_checks=True)
    api.force_login(world.owner)
    api.get(reverse("gallery:character_create"))
    token = api.cookies[settings.CSRF_COOKIE_NAME].value
    response = api.post(
        "/characters", {"name": "Via API", "appearance": "x"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201


def test_token_clients_need_no_csrf_token(world):
    api = APIClient(enforce_csrf_checks=True)
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.owner).key}")
    response = api.post("/characters", {"name": "Token made", "appearance": "x"}, format="json")
    assert response.status_code == 201


def test_public_routes_are_exactly_the_intended_ones():
    """A public route listed here that no longer exists is a stale exemption."""
    assert set(PUBLIC_ROUTES) <= {r.route for r in ALL_ROUTES}


# --- admin ---------------------------------------------------------------------------------


def _admin_urls(world: World) -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    urls.append(reverse("admin:gallery_image_change", args=[world.image.id]))
    urls.append(reverse("admin:gallery_character_change", args=[world.character.id]))
    return urls


@pytest.mark.parametrize("who", ["anonymous", "owner", "other"])
def test_admin_redirects_non_staff_to_its_login(world, who):
    client = Client()
    if who != "anonymous":
        client.force_login(world.owner if who == "owner" else world.other)
    for url in _admin_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
        _assert_no_owner_data(response, who)


def test_admin_serves_staff(world):
    client = Client()
    client.force_login(make_user("reviewer", is_staff=True, is_superuser=True))
    for url in _admin_urls(world):
        assert client.get(url).status_code == 200, url


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def source(alice_character) -> Image:
    """A completed 64×64 image of Alice's: inpaint validates before touching ComfyUI."""
    return make_image(alice_character, status=ImageStatus.COMPLETED, width=64, height=64)


def _inpaint(api, image: Image, mask: bytes | str, **overrides):
    body = {
        "characterId": str(image.character_id),
        "sourceImageId": str(image.id),
        "prompt": "add a hat",
        "maskedImageBase64Png": mask if isinstance(mask, str) else base64.b64encode(mask).decode(),
    }
    body.update(overrides)
    return alice_post(api, "/image/edit/inpaint", body)


def alice_post(api, url: str, body: dict):
    return api.post(url, body, format="json")


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width×height RGBA, with a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _assert_nothing_started(response, field: str = "maskedImageBase64Png") -> None:
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Image.objects.count() == 1  # only the source


def test_inpaint_rejects_decompression_bomb_without_decoding_it(alice_api, source, monkeypatch):
    decoded = []
    monkeypatch.setattr(PILImage.Image, "load", lambda self: decoded.append(self))
    response = _inpaint(alice_api, source, _bomb_png(50_000, 50_000))
    _assert_nothing_started(response)
    assert decoded == []


def test_inpaint_rejects_non_png_bytes_even_in_a_png_data_url(alice_api, source):
    jpeg = _png((64, 64), "RGB", fmt="JPEG")
    for value in (jpeg, "data:image/png;base64," + base64.b64encode(jpeg).decode()):
        _assert_nothing_started(_inpaint(alice_api, source, value))
    gif = _png((64, 64), "P", fmt="GIF")
    _assert_nothing_started(_inpaint(alice_api, source, gif))


def test_inpaint_rejects_mask_of_wrong_dimensions(alice_api, source):
    response = _inpaint(alice_api, source, _png((65, 64)))
    _assert_nothing_started(response)
    assert "64" in str(response.json())


def test_fifty_megabyte_body_is_413_before_it_is_read(alice_api, alice_character, source):
    blob = "A" * (50 * 1024 * 1024)
    for url in ("/image/edit/inpaint", "/image/generate/studio", "/characters"):
        response = alice_api.post(url, {"prompt": blob}, format="json")
        assert response.status_code == 413, url
    client = Client()
    client.force_login(alice_character.owner)
    response = client.post(reverse("gallery:character_create"), {"name": blob})
    assert response.status_code == 413
    assert Character.objects.count() == 1


def test_hundred_kilobyte_prompts_are_400(alice_api, alice_character, source):
    huge = "x" * 100_000
    response = _inpaint(alice_api, source, _png((64, 64)), prompt=huge)
    assert response.status_code == 400
    assert "prompt" in response.json()
    body = {
        "characterId": str(alice_character.id),
        "scene": "selfie",
        "environment": "beach",
        "aspectRatio": "1:1",
        "count": 1,
        "outfit": huge,
    }
    response = alice_api.post("/image/generate/studio", body, format="json")
    assert response.status_code == 400
    assert "outfit" in response.json()
    response = alice_api.post("/characters", {"name": "x", "appearance": huge}, format="json")
    assert response.status_code == 400
    assert "appearance" in response.json()
    assert Image.objects.count() == 1


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "loras/../../secret.safetensors"])
def test_path_like_lora_names_are_refused(alice_api, alice, alice_character, name):
    response = alice_api.post(
        "/characters", {"name": "L", "appearance": "a", "loraName": name}, format="json"
    )
    assert response.status_code == 400
    assert "loraName" in response.json()
    response = alice_api.patch(
        f"/characters/{alice_character.id}", {"loraName": name}, format="json"
    )
    assert response.status_code == 400
    client = Client()
    client.force_login(alice)
    response = client.post(
        reverse("gallery:character_edit", args=[alice_character.id]),
        {"name": "Mia", "appearance": "a", "lora_name": name, "lora_strength": 0.8},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "loras folder" in response.content.decode()
    alice_character.refresh_from_db()
    assert alice_character.lora_name == ""


def test_html_in_outfit_is_refused_and_unicode_accepted(alice_api, alice_character, comfyui):
    body = {
        "characterId": str(alice_character.id),
        "scene": "selfie",
        "environment": "beach",
        "aspectRatio": "1:1",
        "count": 1,
    }
    response = alice_api.post(
        "/image/generate/studio", {**body, "outfit": "<script>x</script>"}, format="json"
    )
    assert response.status_code == 400
    assert "outfit" in response.json()
    response = alice_api.post(
        "/image/generate/studio", {**body, "outfit": "robe de soirée — 夜 🌙"}, format="json"
    )
    assert response.status_code == 202
    assert Image.objects.get().outfit == "robe de soirée — 夜 🌙"


SCRIPT = '<script>alert("pwn")</script>'
UNICODE = "Zoë 🌸 東京"


def test_html_and_unicode_render_escaped_in_studio_pages_and_admin(alice):
    character = make_character(
        alice, name=f"{SCRIPT} {UNICODE}", appearance=f"{SCRIPT} appearance {UNICODE}"
    )
    image = make_image(
        character,
        prompt=f"{SCRIPT} prompt {UNICODE}",
        negative_prompt=SCRIPT,
        outfit=f"{SCRIPT} outfit {UNICODE}",
        status=ImageStatus.FAILED,
        error_message=f"{SCRIPT} error",
    )
    edit = make_image(character, prompt=f"{SCRIPT} edit", source_image=image, edit_type="inpaint")
    client = Client()
    client.force_login(alice)
    pages = [
        reverse("studio:index"),
        reverse("studio:character", args=[character.id]),
        reverse("studio:image_detail", args=[character.id, image.id]),
        reverse("studio:image_detail", args=[character.id, edit.id]),
        reverse("gallery:character_list"),
        reverse("gallery:character_edit", args=[character.id]),
    ]
    staff = Client()
    staff.force_login(make_user("reviewer", is_staff=True, is_superuser=True))
    admin_pages = [
        reverse("admin:gallery_image_changelist"),
        reverse("admin:gallery_image_change", args=[image.id]),
        reverse("admin:gallery_image_change", args=[edit.id]),
        reverse("admin:gallery_character_changelist"),
        reverse("admin:gallery_character_change", args=[character.id]),
    ]
    for browser, urls in ((client, pages), (staff, admin_pages)):
        for url in urls:
            response = browser.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            assert "<script>alert" not in html, url
            assert "&lt;script&gt;alert(" in html, url
    for url in pages[1:4]:
        assert UNICODE in client.get(url).content.decode(), url


# --- presigned URLs ------------------------------------------------------------------------


def _project_settings_with(monkeypatch, **env: str):
    """ryla/settings.py evaluated afresh under `env`, as a deployment would see it."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("ryla_settings_probe", project_settings.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_presigned_urls_expire_after_the_configured_time(
    settings,
    monkeypatch,
    s3_endpoint,  # noqa: F811
    alice_api,
    alice_character,
):
    from tests.gallery.test_storage import BUCKET

    configured = _project_settings_with(
        monkeypatch,
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_S3_ENDPOINT_URL=s3_endpoint,
        AWS_S3_REGION_NAME="us-east-1",
        AWS_QUERYSTRING_EXPIRE="900",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    assert configured.AWS_QUERYSTRING_EXPIRE == 900
    settings.STORAGES = {**settings.STORAGES, "default": configured.STORAGES["default"]}
    image = make_completed_image(alice_character, _png((64, 64), "RGB"))

    response = alice_api.get(f"/image-gallery/characters/{alice_character.id}/images")
    assert response.status_code == 200
    listed = response.json()["images"][0]
    results = alice_api.get(f"/image/comfyui/{image.prompt_id}/results").json()["images"][0]
    for url in (listed["url"], listed["thumbnailUrl"], results["url"], results["thumbnailUrl"]):
        query = parse_qs(urlparse(url).query)
        assert query["X-Amz-Expires"] == [str(configured.AWS_QUERYSTRING_EXPIRE)], url
        assert query["X-Amz-Signature"], url
        assert url.startswith(s3_endpoint)
    assert requests.get(listed["url"], timeout=10).content == storage.file_read(image.image_key)
    unsigned = listed["url"].split("?")[0]
    assert requests.get(unsigned, timeout=10).status_code == 403


def test_local_file_urls_are_signed_and_expire(world, monkeypatch):
    """Local storage imitates presigned URLs: a tampered or expired signature is a 404."""
    client = Client()
    url = storage.file_url(world.image.image_key)
    assert client.get(url).status_code == 200
    path, _, query = url.partition("?")
    params = parse_qs(query)
    expires, signature = int(params["expires"][0]), params["signature"][0]
    window = max(60, settings.AWS_QUERYSTRING_EXPIRE)
    assert expires <= time.time() + 2 * window

    other_key = storage.thumbnail_key_for(world.character.id, world.image.id)
    thumb_path = "/media/" + other_key
    tampered = [
        f"{path}?expires={expires}&signature={signature[:-1]}x",
        f"{path}?expires={expires + 1}&signature={signature}",
        f"{thumb_path}?expires={expires}&signature={signature}",
        path,
    ]
    for bad in tampered:
        assert client.get(bad).status_code == 404, bad

    monkeypatch.setattr("time.time", lambda: expires + 1)
    assert client.get(url).status_code == 404
