from __future__ import annotations

import io
import uuid
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from PIL import Image as PILImage

from gallery import storage

BUCKET = "ryla-test"


def png_bytes(width: int, height: int, mode: str = "RGB", color=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    fill = color if mode == "RGB" else (*color, 255)
    PILImage.new(mode, (width, height), fill).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API over HTTP (moto's server) on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture
def s3_storage(settings, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "default_acl": "private",
                "querystring_auth": True,
                "signature_version": "s3v4",
                "querystring_expire": 600,
                "file_overwrite": True,
            },
        },
    }
    return s3_endpoint


def _ids() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


def test_keys_follow_the_design():
    character_id, image_id = _ids()
    assert storage.image_key_for(character_id, image_id) == (
        f"characters/{character_id}/images/{image_id}.png"
    )
    assert storage.thumbnail_key_for(character_id, image_id) == (
        f"characters/{character_id}/images/{image_id}.thumb.webp"
    )
    assert storage.mask_key_for(character_id, image_id) == (
        f"characters/{character_id}/masks/{image_id}.png"
    )


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "characters/x/images/y.png", "characters/../../secret", "other/a.png"],
)
def test_character_id_from_key_refuses_foreign_paths(key):
    assert storage.character_id_from_key(key) is None


def test_image_store_on_local_files_writes_image_and_small_webp_thumbnail(settings):
    character_id, image_id = _ids()
    data = png_bytes(1024, 768)
    stored = storage.image_store(character_id=character_id, image_id=image_id, png_bytes=data)
    assert (stored.width, stored.height) == (1024, 768)
    assert (settings.MEDIA_ROOT / stored.image_key).read_bytes() == data
    with PILImage.open(settings.MEDIA_ROOT / stored.thumbnail_key) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) == storage.THUMBNAIL_LONG_SIDE
        assert thumb.size == (384, 288)
    assert storage.file_url(stored.image_key).startswith(f"/media/{stored.image_key}?expires=")


def test_image_store_twice_overwrites_instead_of_renaming(settings):
    character_id, image_id = _ids()
    storage.image_store(character_id=character_id, image_id=image_id, png_bytes=png_bytes(8, 8))
    second = png_bytes(16, 16)
    stored = storage.image_store(character_id=character_id, image_id=image_id, png_bytes=second)
    folder = settings.MEDIA_ROOT / f"characters/{character_id}/images"
    assert sorted(p.name for p in folder.iterdir()) == [f"{image_id}.png", f"{image_id}.thumb.webp"]
    assert storage.file_read(stored.image_key) == second


def test_small_image_thumbnail_is_not_upscaled():
    character_id, image_id = _ids()
    stored = storage.image_store(
        character_id=character_id, image_id=image_id, png_bytes=png_bytes(100, 50)
    )
    with PILImage.open(io.BytesIO(storage.file_read(stored.thumbnail_key))) as thumb:
        assert thumb.size == (100, 50)


def test_image_store_on_s3_saves_private_objects_with_presigned_urls(s3_storage):
    character_id, image_id = _ids()
    data = png_bytes(800, 1200)
    stored = storage.image_store(character_id=character_id, image_id=image_id, png_bytes=data)
    mask_key = storage.mask_store(
        character_id=character_id, image_id=image_id, png_bytes=png_bytes(8, 8, "RGBA")
    )
    s3 = boto3.client("s3", endpoint_url=s3_storage, region_name="us-east-1")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {stored.image_key, stored.thumbnail_key, mask_key} <= keys
    acl = s3.get_object_acl(Bucket=BUCKET, Key=stored.image_key)
    assert not [g for g in acl["Grants"] if "AllUsers" in str(g.get("Grantee", {}))]

    url = storage.file_url(stored.image_key)
    query = parse_qs(urlparse(url).query)
    assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == ["600"]
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data
    thumb = requests.get(storage.file_url(stored.thumbnail_key), timeout=10)
    with PILImage.open(io.BytesIO(thumb.content)) as picture:
        assert picture.format == "WEBP" and max(picture.size) == 384


def test_files_delete_removes_objects_on_s3(s3_storage):
    character_id, image_id = _ids()
    stored = storage.image_store(
        character_id=character_id, image_id=image_id, png_bytes=png_bytes(8, 8)
    )
    storage.files_delete([stored.image_key, stored.thumbnail_key])
    assert not storage.file_exists(stored.image_key)
    assert not storage.file_exists(stored.thumbnail_key)
