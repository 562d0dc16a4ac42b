"""The studio worker completes images with nobody polling, as real processes.

The long-running worker is started the way it is deployed: `manage.py studio_worker` in
its own process, on the test database (committed rows, transaction=True), talking to the
simulator over sockets. A small wrapper records every call to `gallery.storage.image_store`
in a file, so the tests can count stores across processes.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from gallery import storage
from gallery.models import Image, ImageStatus
from tests.processes import ManagedProcess, process_env
from tests.studio.helpers import generate, wait_until

WRAPPER = """
import os, sys, time
import django
django.setup()
from gallery import storage
log, pause = os.environ["WORKER_STORE_LOG"], float(os.environ.get("WORKER_STORE_PAUSE", "0"))
original = storage.image_store
def recorded(**kwargs):
    stored = original(**kwargs)
    with open(log, "a") as handle:
        handle.write(f"{os.getpid()} {kwargs['image_id']}\\n")
    time.sleep(pause)  # files written, row lock held, nothing committed yet
    return stored
storage.image_store = recorded
from django.core.management import call_command
call_command("studio_worker", *sys.argv[1:])
"""


class Worker(ManagedProcess):
    def __init__(self, tmp_path: Path, name: str, *args: str, **env: str) -> None:
        self.log = tmp_path / "stores.log"
        environment = process_env(COMFYUI_RETRIES="1", WORKER_STORE_LOG=str(self.log), **env)
        super().__init__(["-c", WRAPPER, *args], tmp_path / f"{name}.out", environment)

    def stores(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line.split()[1] for line in self.log.read_text().splitlines()]


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(*args: str, name: str | None = None, **env: str) -> Worker:
        worker = Worker(tmp_path, name or f"worker{len(started)}", *args, **env)
        started.append(worker)
        worker.wait_for_output("studio_worker: reconciling")
        return worker

    yield start
    for worker in started:
        worker.stop()
    connection.close()


def _all_completed(prompt_ids: list[str]) -> bool:
    return Image.objects.filter(
        prompt_id__in=prompt_ids, status=ImageStatus.COMPLETED
    ).count() == len(prompt_ids)


def _media_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _expected_files(prompt_ids: list[str]) -> list[str]:
    return sorted(
        key
        for image in Image.objects.filter(prompt_id__in=prompt_ids)
        for key in (
            storage.image_key_for(image.character_id, image.id),
            storage.thumbnail_key_for(image.character_id, image.id),
        )
    )


@pytest.mark.django_db
def test_worker_once_completes_a_pack_nobody_polls(alice_api, alice_character, comfyui):
    response = generate(alice_api, alice_character, count=3)
    prompt_ids = response.json()["promptIds"]
    comfyui.wait_idle()
    assert Image.objects.in_flight().count() == 3

    out = io.StringIO()
    call_command("studio_worker", "--once", stdout=out)

    assert out.getvalue().strip() == "One pass: 3 image(s) finished."
    assert _all_completed(prompt_ids)
    assert _media_files() == _expected_files(prompt_ids)
    for image in Image.objects.all():
        assert image.progress == 100
        assert image.completed_at is not None


@pytest.mark.django_db
def test_worker_once_with_nothing_in_flight_does_nothing(alice_character, comfyui):
    out = io.StringIO()
    call_command("studio_worker", "--once", stdout=out)
    assert out.getvalue().strip() == "One pass: 0 image(s) finished."


@pytest.mark.django_db(transaction=True)
def test_worker_process_completes_a_pack_from_websocket_events_with_progress(
    alice_api, alice_character, make_comfyui, workers
):
    sim = make_comfyui(step_ms=60, steps=10)
    # One pass at start-up, the next a minute later: within the test only the websocket
    # can tell the worker that images progressed and finished.
    workers("--interval", "60")
    wait_until(lambda: "ryla-studio" in sim.simulator.sockets, what="worker websocket")

    response = generate(alice_api, alice_character, count=3)
    assert response.status_code == 202
    prompt_ids = response.json()["promptIds"]

    progress_seen: set[int] = set()

    def done() -> bool:
        for status, progress in Image.objects.values_list("status", "progress"):
            if status == ImageStatus.GENERATING:
                progress_seen.add(progress)
        return _all_completed(prompt_ids)

    wait_until(done, timeout=30, what="pack completed by the worker")
    assert any(0 < p < 100 for p in progress_seen), progress_seen
    assert _media_files() == _expected_files(prompt_ids)
    assert {i.progress for i in Image.objects.all()} == {100}


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_store_each_output_exactly_once(
    alice_api, alice_character, comfyui, workers
):
    first = workers("--interval", "0.05", name="first")
    workers("--interval", "0.05", name="second")

    response = generate(alice_api, alice_character, count=6)
    prompt_ids = response.json()["promptIds"]
    wait_until(lambda: _all_completed(prompt_ids), what="pack completed")
    time.sleep(0.5)  # several more passes of both workers

    ids = sorted(str(i) for i in Image.objects.values_list("id", flat=True))
    assert sorted(first.stores()) == ids  # one log for both processes: each id once
    assert _media_files() == _expected_files(prompt_ids)


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_store_and_restarted_loses_and_duplicates_nothing(
    alice_api, alice_character, comfyui, workers
):
    response = generate(alice_api, alice_character, count=4)
    prompt_ids = response.json()["promptIds"]
    comfyui.wait_idle()

    doomed = workers("--interval", "0.1", "--no-websocket", name="doomed", WORKER_STORE_PAUSE="30")
    wait_until(lambda: doomed.stores(), what="the first store")
    doomed.kill()  # files written, its transaction never committed

    interrupted = doomed.stores()[0]
    assert Image.objects.get(pk=interrupted).is_in_flight
    assert Image.objects.in_flight().count() == 4

    workers("--interval", "0.1", "--no-websocket", name="restarted")
    wait_until(lambda: _all_completed(prompt_ids), what="pack completed after restart")
    time.sleep(0.3)

    assert Image.objects.count() == 4
    stores = doomed.stores()
    assert stores.count(interrupted) == 2  # killed once, stored again under the same keys
    assert sorted(set(stores)) == sorted(str(i) for i in Image.objects.values_list("id", flat=True))
    assert len(stores) == 5
    assert _media_files() == _expected_files(prompt_ids)  # no second copy of anything
    assert sorted(comfyui.simulator.history) == sorted(prompt_ids)  # nothing queued again
