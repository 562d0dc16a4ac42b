"""Step previews from a real ComfyUI started with --preview-method: the follower gets
decodable pictures of its own prompt, and a render worker process keeps the latest one of a
running image in the database until the image is done."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from PIL import Image as PILImage

from comfy.client import ComfyClient
from comfy.follow import Finished, prompt_follow
from comfy.workflows import build_studio_image_workflow
from comfy.ws import EventStream
from gallery.models import Image
from studio.models import ImagePreview
from tests.studio.helpers import generate, wait_until

pytestmark = pytest.mark.real_comfyui


@pytest.mark.parametrize("metadata", [True, False], ids=["with-metadata", "preview-image"])
def test_following_a_prompt_on_the_real_server_receives_its_previews(real_comfyui, metadata):
    real_comfyui.require_previews()
    client = ComfyClient(real_comfyui.url, timeout=60, retries=1)
    client_id = f"ryla-previews-{uuid.uuid4().hex[:6]}"
    stream = EventStream(real_comfyui.url, client_id, preview_metadata=metadata)
    prompt_id = str(uuid.uuid4())
    graph = build_studio_image_workflow("a fox in the snow", "", int(time.time()), 64, 64, 3)
    previews: list[tuple[bytes, str]] = []
    try:
        client.queue_prompt(graph, prompt_id=prompt_id, client_id=client_id)
        outcome = prompt_follow(
            client,
            prompt_id,
            events=stream,
            on_progress=lambda *_: None,
            on_preview=lambda image, mime: previews.append((image, mime)),
            keep_going=lambda: True,
            dead_after=120,
        )
    finally:
        stream.close()

    assert isinstance(outcome, Finished) and outcome.entry.succeeded
    assert len(previews) == 3, [mime for _, mime in previews]
    for image, mime in previews:
        picture = PILImage.open(io.BytesIO(image))
        picture.load()
        assert (mime, picture.format) == ("image/jpeg", "JPEG")
        assert picture.size == (512, 512)


def test_a_render_worker_keeps_the_latest_real_preview_until_the_image_is_done(
    alice_api, alice_character, contract, settings, start_worker
):
    contract.require_previews()
    settings.STUDIO_DRAFT_STEPS = 8  # a preview per step, stored at most twice a second
    start_worker()
    (image_id,) = generate(alice_api, alice_character, count=1, aspectRatio="1:1").json()[
        "imageIds"
    ]
    seen: set[bytes] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        image = Image.objects.get(pk=image_id)
        if not image.is_in_flight:
            break
        preview = ImagePreview.objects.filter(image_id=image_id).first()
        if preview is not None:
            seen.add(bytes(preview.jpeg))
        time.sleep(0.05)
    assert image.status == "completed", image.error_message
    assert seen, "no preview was stored while the image rendered"
    for jpeg in seen:
        assert PILImage.open(io.BytesIO(jpeg)).format == "JPEG"
    wait_until(
        lambda: not ImagePreview.objects.filter(image_id=image_id).exists(), 10, "no preview"
    )
