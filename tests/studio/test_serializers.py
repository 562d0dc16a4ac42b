from __future__ import annotations

import io

import pytest
from django.test import RequestFactory
from PIL import Image as PILImage

from gallery.models import Image, ImageStatus
from studio.serializers import IMAGE_OUT_COLUMNS, ImageOut, images_out
from tests.factories import make_completed_image, make_image

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (32, 48), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


def test_images_out_is_exactly_what_image_out_documents(alice_character, settings):
    settings.ALLOWED_HOSTS = ["studio.example"]
    source = make_completed_image(alice_character, _png(), scene="mirror_selfie", cfg=3.5)
    rows = [
        source,
        make_image(alice_character, status=ImageStatus.GENERATING, progress=40),
        make_image(alice_character, status=ImageStatus.FAILED, error_message="KSampler: OOM"),
        make_image(alice_character, source_image=source, edit_type="inpaint", outfit="<b>hat</b>"),
    ]
    request = RequestFactory().get("/image-gallery/x", HTTP_HOST="studio.example")
    images = Image.objects.filter(pk__in=[r.pk for r in rows]).order_by("created_at")

    fast = images_out(list(images.values(*IMAGE_OUT_COLUMNS)), request)

    assert fast == ImageOut(images, many=True, context={"request": request}).data
    assert fast[0]["url"].startswith("http://studio.example/media/")
