"""Render workers (a real Celery worker in this process, on the real broker) taking jobs
and running them on the simulator over real sockets, with ComfyUI and storage failing in
every way we know of. Each test ends with the same promise: nothing is left in flight, and
every failed image says why."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from gallery import storage
from gallery.models import Image
from tests.studio.helpers import (
    generate,
    inpaint,
    masked_png,
    nothing_in_flight,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stores(monkeypatch):
    """Every call of gallery.storage.image_store, by image id."""
    calls: Counter = Counter()
    original = storage.image_store

    def recorded(**kwargs):
        calls[str(kwargs["image_id"])] += 1
        return original(**kwargs)

    monkeypatch.setattr(storage, "image_store", recorded)
    return calls


def test_a_pack_completes_with_its_progress_on_the_way(alice_api, alice_character, comfyui, stores):
    response = generate(alice_api, alice_character, count=3)
    ids = response.json()["imageIds"]
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while Image.objects.filter(pk__in=ids).in_flight().exists() and time.monotonic() < deadline:
        seen.update(Image.objects.filter(pk__in=ids).values_list("progress", flat=True))
        time.sleep(0.005)
    images = wait_finished(ids)
    assert [image.status for image in images] == ["completed"] * 3
    assert all(image.attempts == 1 and image.backend_url == comfyui.url for image in images)
    assert seen & {25, 50, 75}, seen  # 4 steps: progress written from the websocket
    assert sorted(stores.values()) == [1, 1, 1]
    nothing_in_flight()


def test_an_execution_error_fails_the_image_with_the_nodes_message(
    alice_api, alice, make_comfyui, start_render_worker
):
    from tests.factories import make_character

    sim = make_comfyui()
    start_render_worker([sim.url])
    character = make_character(alice, appearance="SIMULATE_FAILURE woman")
    (image,) = wait_finished(generate(alice_api, character).json()["imageIds"])
    assert image.status == "failed"
    assert image.error_message == "KSampler: Simulated failure"
    nothing_in_flight()


def test_intermittent_500s_are_retried_and_each_image_stored_once(
    alice_api, alice_character, make_comfyui, start_render_worker, stores
):
    sim = make_comfyui(http_500_rate=0.3)
    start_render_worker([sim.url])
    images = wait_finished(generate(alice_api, alice_character, count=4).json()["imageIds"])
    assert [image.status for image in images] == ["completed"] * 4
    assert sorted(stores.values()) == [1, 1, 1, 1]
    nothing_in_flight()


def test_a_backend_restarted_mid_job_gets_the_job_again_and_it_completes(
    alice_api, alice_character, make_comfyui, start_render_worker, stores, settings
):
    sim = make_comfyui(step_ms=100, steps=20)
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: Image.objects.get(pk=image_id).progress > 0, 10, "the job to run")
    sim.restart()  # queue and history gone
    (image,) = wait_finished([image_id], timeout=60)
    assert image.status == "completed", image.error_message
    assert image.attempts == 2
    assert stores[image_id] == 1
    nothing_in_flight()


def test_a_short_partition_is_waited_out(
    alice_api, alice_character, make_comfyui, start_render_worker, settings
):
    settings.COMFYUI_DEAD_AFTER_SECONDS = 30
    sim = make_comfyui(step_ms=50, steps=20)
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: Image.objects.get(pk=image_id).progress > 0, 10, "the job to run")
    sim.pause()
    time.sleep(1.5)
    sim.resume()
    (image,) = wait_finished([image_id], timeout=30)
    assert (image.status, image.attempts) == ("completed", 1)


def test_a_job_lost_on_every_attempt_fails_saying_so(
    alice_api, alice_character, make_comfyui, start_render_worker, settings
):
    settings.STUDIO_RENDER_MAX_ATTEMPTS = 2
    sim = make_comfyui(step_ms=100, steps=50)
    start_render_worker([sim.url])
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    for attempt in (1, 2):  # the backend restarts while each attempt runs
        wait_until(
            lambda attempt=attempt: Image.objects.filter(
                pk=image_id, attempts=attempt, progress__gt=0
            ).exists(),
            15,
            f"attempt {attempt} to run",
        )
        sim.restart()
    (image,) = wait_finished([image_id], timeout=30)
    assert image.status == "failed"
    assert image.error_message.endswith("gave up after 2 attempts.")
    assert "restarted" in image.error_message
    nothing_in_flight()


def test_with_no_reachable_backend_queued_images_fail_after_the_wait(
    alice_api, alice_character, comfyui_down, start_render_worker, settings
):
    settings.COMFYUI_WAIT_SECONDS = 2
    settings.STUDIO_SWEEP_SECONDS = 0.5
    start_render_worker([comfyui_down])
    ids = generate(alice_api, alice_character, count=2).json()["imageIds"]
    images = wait_finished(ids, timeout=30)
    assert [image.status for image in images] == ["failed", "failed"]
    assert images[0].error_message.startswith("No ComfyUI backend could take this image for 2 s")
    assert all(image.attempts == 0 for image in images)  # never claimed
    nothing_in_flight()


def test_when_one_of_two_backends_dies_its_job_completes_on_the_other(
    alice_api, alice_character, make_comfyui, start_render_worker, settings, stores
):
    settings.COMFYUI_DEAD_AFTER_SECONDS = 1
    doomed = make_comfyui(step_ms=100, steps=30)
    healthy = make_comfyui(step_ms=20, steps=4)
    start_render_worker([doomed.url, healthy.url])
    ids = generate(alice_api, alice_character, count=6).json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(pk__in=ids, backend_url=doomed.url).exists(),
        10,
        "a job on the doomed backend",
    )
    doomed.stop()
    images = wait_finished(ids, timeout=60)
    assert [image.status for image in images] == ["completed"] * 6, [
        image.error_message for image in images
    ]
    assert {image.backend_url for image in images} == {healthy.url}
    assert sorted(stores.values()) == [1] * 6
    nothing_in_flight()


def test_cancel_of_a_queued_job_means_it_never_starts(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(step_ms=100, steps=20)
    start_render_worker([sim.url])
    first, second = generate(alice_api, alice_character, count=2).json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(pk__in=[first, second], status="generating").exists(),
        10,
        "one job to run",
    )
    queued = Image.objects.get(pk__in=[first, second], status="pending")
    response = alice_api.post(f"/image/{queued.pk}/cancel")
    assert response.json() == {"imageId": str(queued.pk), "status": "failed", "error": "Cancelled."}
    others = wait_finished([first, second], timeout=30)
    assert sorted(image.status for image in others) == ["completed", "failed"]
    assert sim.client().get_history(queued.prompt_id) is None  # never reached ComfyUI
    nothing_in_flight()


def test_cancel_of_a_running_job_interrupts_that_prompt_only(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(step_ms=100, steps=50)
    start_render_worker([sim.url])
    (running,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: Image.objects.get(pk=running).progress > 0, 10, "the job to run")
    other_prompt = sim.client().queue_prompt(_other_graph(), client_id="someone-else")
    assert alice_api.post(f"/image/{running}/cancel").status_code == 200
    image = Image.objects.get(pk=running)
    wait_until(lambda: sim.client().get_history(image.prompt_id) is not None, 10, "interrupt")
    assert sim.client().get_history(image.prompt_id).interrupted
    sim.wait_idle(timeout=30)
    assert sim.client().get_history(other_prompt).succeeded  # not interrupted in its place
    assert (image.status, image.error_message) == ("failed", "Cancelled.")
    nothing_in_flight()


def _other_graph() -> dict:
    from comfy.workflows import build_studio_image_workflow

    return build_studio_image_workflow("another client's job", "", 7, 64, 64, 4)


def test_storage_failing_gives_the_job_back_and_it_is_stored_once_later(
    alice_api, alice_character, comfyui, monkeypatch
):
    original = storage.image_store
    calls: list[str] = []

    def flaky(**kwargs):
        if not calls:
            calls.append("broken")
            raise OSError("bucket unavailable")
        calls.append("stored")
        return original(**kwargs)

    monkeypatch.setattr(storage, "image_store", flaky)
    (image,) = wait_finished(generate(alice_api, alice_character).json()["imageIds"])
    assert image.status == "completed", image.error_message
    assert calls == ["broken", "stored"]
    assert image.attempts == 2
    nothing_in_flight()


def test_an_output_that_is_not_an_image_fails_with_a_message(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    sim = make_comfyui(broken_outputs=True)
    start_render_worker([sim.url])
    (image,) = wait_finished(generate(alice_api, alice_character).json()["imageIds"])
    assert image.status == "failed"
    assert image.error_message == "ComfyUI's output could not be read as an image."
    assert not storage.file_exists(storage.image_key_for(image.character_id, image.id))
    nothing_in_flight()


def test_inpaint_runs_on_the_workers_backend_with_its_mask(alice_api, alice_character, comfyui):
    from tests.studio.helpers import completed_image

    source = completed_image(alice_api, alice_character)
    response = inpaint(alice_api, source, masked_png(source, (10, 10, 90, 90)))
    (edit,) = wait_finished([response.json()["imageId"]])
    assert edit.status == "completed", edit.error_message
    assert (comfyui.input_dir / f"ryla_mask_{edit.id}.png").exists()


def test_a_job_for_an_image_that_ended_or_vanished_is_dropped(alice_api, alice_character, comfyui):
    from ryla.celery import app

    (image,) = wait_finished(generate(alice_api, alice_character).json()["imageIds"])
    queued_before = len(comfyui.client().get_recent_history(100))
    for job in (str(image.id), "00000000-0000-0000-0000-000000000000"):
        app.send_task("studio.render", args=(job,), queue=_queue())
    time.sleep(1.5)
    assert len(comfyui.client().get_recent_history(100)) == queued_before
    image.refresh_from_db()
    assert (image.status, image.attempts) == ("completed", 1)


def _queue() -> str:
    from django.conf import settings

    return settings.STUDIO_RENDER_QUEUE


def test_two_workers_given_the_same_job_store_it_once(alice_api, alice_character, comfyui, stores):
    from ryla.celery import app

    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    app.send_task("studio.render", args=(image_id,), queue=_queue())  # a redelivery
    (image,) = wait_finished([image_id])
    time.sleep(1)
    assert image.status == "completed"
    assert stores[image_id] == 1
    assert len([h for h in comfyui.client().get_recent_history(50) if h == image.prompt_id]) == 1


def test_jobs_wait_for_a_free_backend_one_at_a_time(
    alice_api, alice_character, make_comfyui, start_render_worker
):
    """No backend holds more than the one job its worker is running."""
    sim = make_comfyui(step_ms=30, steps=5)
    start_render_worker([sim.url])
    ids = generate(alice_api, alice_character, count=5).json()["imageIds"]
    longest = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal longest
        while not stop.is_set():
            longest = max(longest, sim.client().get_queue().length)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    wait_finished(ids)
    stop.set()
    watcher.join()
    assert longest == 1


def test_a_render_worker_reports_the_lora_files_of_its_backends(comfyui):
    from comfy.check import lora_files
    from comfy.client import ComfyClient
    from gallery.models import LoraFile

    offered = lora_files(ComfyClient(comfyui.url).object_info("LoraLoader"))
    assert offered  # the simulator offers some, as a real server does
    deadline = time.monotonic() + 10
    while sorted(LoraFile.objects.values_list("name", flat=True)) != offered:
        assert time.monotonic() < deadline, list(LoraFile.objects.values_list("name", flat=True))
        time.sleep(0.1)
