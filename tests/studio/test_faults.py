"""ComfyUI and storage failing in every way we know of, over real sockets to the simulator.

Each test ends with the same three promises to the user: no image is left pending, no
image is lost without a failed row saying so, and the message says what happened.
(Twenty concurrent reconcilers are in test_reconcile.py.)
"""

from __future__ import annotations

import base64
import copy
import io
import json
import socket
import threading

import pytest
from PIL import Image as PILImage

from comfy.validation import load_schemas
from gallery import storage
from gallery.models import Image, ImageStatus
from studio import services
from tests.factories import make_image
from tests.studio.helpers import completed_image, generate, inpaint, masked_png, wait_results

pytestmark = pytest.mark.django_db


def _nothing_in_flight() -> None:
    stuck = list(Image.objects.in_flight().values_list("prompt_id", "status"))
    assert stuck == [], f"images left in flight: {stuck}"


# --- unreachable at queue time -------------------------------------------------------------


def test_unreachable_comfyui_at_queue_time_fails_the_pack_with_a_clear_message(
    alice_api, alice_character, comfyui_down
):
    response = generate(alice_api, alice_character, count=3)

    assert response.status_code == 503
    assert response.json()["detail"] == "ComfyUI is unreachable right now. Try again in a minute."
    images = list(Image.objects.all())
    assert len(images) == 3
    for image in images:
        result = wait_results(alice_api, image.prompt_id)
        assert result["status"] == "failed"
        assert result["error"] == "ComfyUI was unreachable when the image was queued."
    _nothing_in_flight()


def test_unreachable_comfyui_at_inpaint_time_fails_the_edit_and_keeps_the_source(
    alice_api, alice_character, comfyui, settings, dead_url
):
    source = completed_image(alice_api, alice_character)
    mask = masked_png(source, (0, 0, 32, 32))
    settings.COMFYUI_URLS = [dead_url]
    settings.COMFYUI_RETRIES = 0

    response = inpaint(alice_api, source, mask)

    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    edit = Image.objects.get(source_image=source)
    assert edit.status == ImageStatus.FAILED
    assert edit.error_message == "ComfyUI was unreachable when the image was queued."
    source.refresh_from_db()
    assert source.status == ImageStatus.COMPLETED
    assert storage.file_exists(source.image_key)
    _nothing_in_flight()


# --- 500s ----------------------------------------------------------------------------------


def test_intermittent_500s_are_retried_and_each_image_is_queued_and_stored_once(
    alice_api, alice_character, make_comfyui, settings
):
    sim = make_comfyui(http_500_rate=0.5)
    settings.COMFYUI_RETRIES = 5

    response = generate(alice_api, alice_character, count=3)

    assert response.status_code == 202, response.content
    prompt_ids = response.json()["promptIds"]
    results = [wait_results(alice_api, prompt_id) for prompt_id in prompt_ids]
    assert [r["status"] for r in results] == ["completed"] * 3
    sim.wait_idle()
    assert sorted(sim.simulator.history) == sorted(prompt_ids)  # none queued twice
    for image in Image.objects.all():
        assert storage.file_exists(image.image_key)
        assert storage.file_exists(image.thumbnail_key)
    _nothing_in_flight()


def test_comfyui_answering_only_500s_is_503_and_nothing_pending(
    alice_api, alice_character, make_comfyui, settings
):
    make_comfyui(http_500_rate=1.0)
    settings.COMFYUI_RETRIES = 1

    response = generate(alice_api, alice_character, count=2)

    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    assert set(Image.objects.values_list("status", flat=True)) == {ImageStatus.FAILED}
    _nothing_in_flight()


# --- rejected graph, execution error -------------------------------------------------------


def test_backend_rejecting_the_graph_is_502_with_comfyuis_reason(
    alice_api, alice_character, make_comfyui
):
    # An older ComfyUI: its KSampler does not know the sampler our workflow uses.
    schemas = copy.deepcopy(load_schemas())
    samplers = schemas["KSampler"]["input"]["required"]["sampler_name"]
    samplers[0] = [name for name in samplers[0] if name != "res_multistep"]
    sim = make_comfyui(schemas=schemas)

    response = generate(alice_api, alice_character, count=2)

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "refused the workflow" in detail
    assert "res_multistep" in detail
    for image in Image.objects.all():
        result = wait_results(alice_api, image.prompt_id)
        assert result["status"] == "failed"
        assert "sampler_name" in result["error"]
    assert sim.simulator.history == {}
    _nothing_in_flight()


def test_execution_error_fails_every_image_of_the_pack_with_the_node_message(
    alice_api, alice_character, comfyui
):
    response = generate(alice_api, alice_character, count=2, outfit="SIMULATE_FAILURE dress")
    assert response.status_code == 202

    for prompt_id in response.json()["promptIds"]:
        result = wait_results(alice_api, prompt_id)
        assert result["status"] == "failed"
        assert result["images"] == []
        assert "Simulated failure" in result["error"]
        assert "KSampler" in result["error"]
        assert "Traceback" not in result["error"]
    _nothing_in_flight()


def test_inpaint_execution_error_fails_the_edit_and_leaves_the_source_untouched(
    alice_api, alice_character, comfyui
):
    source = completed_image(alice_api, alice_character)
    before = storage.file_read(source.image_key)

    response = inpaint(
        alice_api, source, masked_png(source, (0, 0, 64, 64)), prompt="SIMULATE_FAILURE hat"
    )

    assert response.status_code == 202
    result = wait_results(alice_api, response.json()["promptId"])
    assert result["status"] == "failed"
    assert "Simulated failure" in result["error"]
    source.refresh_from_db()
    assert source.status == ImageStatus.COMPLETED
    assert storage.file_read(source.image_key) == before
    _nothing_in_flight()


# --- a backend that dies or disappears mid-job ---------------------------------------------


def test_backend_restarted_mid_job_fails_its_images_as_lost_after_the_timeout(
    alice_api, alice_character, make_comfyui, settings
):
    sim = make_comfyui(step_ms=100, steps=20)  # two seconds per image
    settings.COMFYUI_LOST_AFTER_SECONDS = 1.0
    response = generate(alice_api, alice_character, count=2)
    assert response.status_code == 202
    prompt_ids = response.json()["promptIds"]

    sim.restart()  # queue and history are gone, as after a crash

    early = alice_api.get(f"/image/comfyui/{prompt_ids[0]}/results").json()
    assert early["status"] == "in_progress"  # within the timeout nobody gives up yet
    for prompt_id in prompt_ids:
        result = wait_results(alice_api, prompt_id)
        assert result["status"] == "failed"
        assert result["error"].startswith("Lost: ComfyUI no longer knows this image")
    _nothing_in_flight()

    again = generate(alice_api, alice_character)  # the restarted backend takes new work
    assert again.status_code == 202
    assert wait_results(alice_api, again.json()["promptIds"][0])["status"] == "completed"


def test_partitioned_backend_keeps_images_in_flight_and_they_complete_when_it_returns(
    alice_api, alice_character, make_comfyui
):
    sim = make_comfyui(step_ms=20, steps=10)
    response = generate(alice_api, alice_character, count=2)
    assert response.status_code == 202
    prompt_ids = response.json()["promptIds"]

    sim.pause()  # the network is cut; the jobs keep running inside
    for prompt_id in prompt_ids:
        result = alice_api.get(f"/image/comfyui/{prompt_id}/results").json()
        assert result["status"] == "in_progress"
    services.prompts_reconcile_in_flight()
    assert Image.objects.in_flight().count() == 2
    sim.wait_idle()  # finished while nobody could reach it

    sim.resume()
    for prompt_id in prompt_ids:
        assert wait_results(alice_api, prompt_id)["status"] == "completed"
    _nothing_in_flight()


def test_backend_unreachable_longer_than_the_timeout_fails_with_that_reason(
    alice_api, alice_character, make_comfyui, settings
):
    sim = make_comfyui(step_ms=100, steps=20)
    response = generate(alice_api, alice_character)
    prompt_id = response.json()["promptIds"][0]
    sim.pause()
    settings.COMFYUI_LOST_AFTER_SECONDS = 0

    result = wait_results(alice_api, prompt_id)

    assert result["status"] == "failed"
    assert result["error"] == (
        "Lost: the ComfyUI backend holding this image has been unreachable too long."
    )
    _nothing_in_flight()


def test_pool_with_one_backend_down_sends_every_job_to_the_other(
    alice_api, alice_character, make_comfyui, settings, dead_url
):
    sim = make_comfyui(use=False)
    settings.COMFYUI_URLS = [dead_url, sim.url]  # the dead one first: it would win a tie

    response = generate(alice_api, alice_character, count=4)

    assert response.status_code == 202
    for prompt_id in response.json()["promptIds"]:
        assert wait_results(alice_api, prompt_id)["status"] == "completed"
    assert set(Image.objects.values_list("backend_url", flat=True)) == {sim.url}
    assert len(sim.simulator.history) == 4
    _nothing_in_flight()


def test_pool_keeps_serving_when_one_backend_dies_with_jobs_on_it(
    alice_api, alice_character, make_comfyui, settings
):
    first = make_comfyui(step_ms=100, steps=20)
    second = make_comfyui()
    settings.COMFYUI_LOST_AFTER_SECONDS = 0.5
    settings.COMFYUI_URLS = [first.url]
    doomed = generate(alice_api, alice_character).json()["promptIds"][0]
    settings.COMFYUI_URLS = [first.url, second.url]

    first.stop()
    fresh = generate(alice_api, alice_character, count=2)

    assert fresh.status_code == 202
    for prompt_id in fresh.json()["promptIds"]:
        assert wait_results(alice_api, prompt_id)["status"] == "completed"
    assert Image.objects.get(prompt_id=fresh.json()["promptIds"][0]).backend_url == second.url
    result = wait_results(alice_api, doomed)
    assert result["status"] == "failed"
    assert "unreachable too long" in result["error"]
    _nothing_in_flight()


# --- storage -------------------------------------------------------------------------------


def test_storage_failing_while_results_are_read_keeps_the_image_then_stores_it_once(
    alice_api, alice_character, comfyui, monkeypatch
):
    prompt_id = generate(alice_api, alice_character).json()["promptIds"][0]
    comfyui.wait_idle()
    original = storage.image_store
    calls: list[str] = []

    def broken(**kwargs):
        calls.append("broken")
        raise OSError("bucket unavailable")

    monkeypatch.setattr(storage, "image_store", broken)
    response = alice_api.get(f"/image/comfyui/{prompt_id}/results")
    assert response.status_code == 200  # the user sees "in progress", not a 500
    assert response.json()["status"] == "in_progress"
    assert Image.objects.get(prompt_id=prompt_id).is_in_flight

    def working(**kwargs):
        calls.append("stored")
        return original(**kwargs)

    monkeypatch.setattr(storage, "image_store", working)
    assert wait_results(alice_api, prompt_id)["status"] == "completed"
    assert wait_results(alice_api, prompt_id)["status"] == "completed"
    services.prompts_reconcile_in_flight()
    assert calls == ["broken", "stored"]
    image = Image.objects.get(prompt_id=prompt_id)
    with PILImage.open(io.BytesIO(storage.file_read(image.image_key))) as picture:
        assert picture.size == (image.width, image.height)
    _nothing_in_flight()


def test_undecodable_output_from_comfyui_keeps_the_image_in_flight_not_a_500(
    alice_api, alice_character, comfyui
):
    """A corrupt file in ComfyUI's output folder: the row waits; nothing half-stored."""
    prompt_id = generate(alice_api, alice_character).json()["promptIds"][0]
    comfyui.wait_idle()
    for path in comfyui.output_dir.rglob("*.png"):
        path.write_bytes(base64.b64decode("iVBORw0KGgo="))  # a PNG signature and nothing

    response = alice_api.get(f"/image/comfyui/{prompt_id}/results")

    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    image = Image.objects.get(prompt_id=prompt_id)
    assert image.image_key == ""
    assert not storage.file_exists(storage.image_key_for(image.character_id, image.id))


def test_undecodable_output_fails_after_the_lost_timeout(
    alice_api, alice_character, comfyui, settings
):
    prompt_id = generate(alice_api, alice_character).json()["promptIds"][0]
    comfyui.wait_idle()
    for path in comfyui.output_dir.rglob("*.png"):
        path.write_bytes(base64.b64decode("iVBORw0KGgo="))
    settings.COMFYUI_LOST_AFTER_SECONDS = 0

    result = wait_results(alice_api, prompt_id, timeout=2)

    assert result["status"] == "failed"
    assert result["error"] == "ComfyUI's output could not be read as an image."
    _nothing_in_flight()


# --- a backend that breaks off its answers ---------------------------------------------------


class _TruncatingComfyUI:
    """A raw socket server: GET /queue answers properly; everything else announces a 200-byte
    JSON body and hangs up after 5 bytes (a proxy or backend dying mid-answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                if data.startswith(b"GET /queue"):
                    body = json.dumps({"queue_running": [], "queue_pending": []}).encode()
                    conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                else:
                    conn.sendall(head + b'Content-Length: 200\r\n\r\n{"pro')

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def truncating_comfyui(settings):
    server = _TruncatingComfyUI()
    settings.COMFYUI_URLS = [server.url]
    settings.COMFYUI_RETRIES = 0
    yield server
    server.close()


def test_backend_breaking_off_its_answer_is_503_and_nothing_pending(
    alice_api, alice_character, truncating_comfyui
):
    response = generate(alice_api, alice_character, count=2)

    assert response.status_code == 503
    assert set(Image.objects.values_list("status", flat=True)) == {ImageStatus.FAILED}
    _nothing_in_flight()


def test_worker_pass_survives_a_backend_breaking_off_its_history(
    alice_api, alice_character, comfyui, settings, truncating_comfyui
):
    """Images on a healthy backend still complete while another one answers garbage."""
    settings.COMFYUI_URLS = [comfyui.url]
    prompt_id = generate(alice_api, alice_character).json()["promptIds"][0]
    comfyui.wait_idle()
    stranded = make_image(alice_character, backend_url=truncating_comfyui.url)
    settings.COMFYUI_URLS = [comfyui.url, truncating_comfyui.url]

    services.prompts_reconcile_in_flight()

    assert Image.objects.get(prompt_id=prompt_id).status == ImageStatus.COMPLETED
    assert Image.objects.get(pk=stranded.pk).is_in_flight  # kept until the lost timeout
