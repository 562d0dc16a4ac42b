"""Dispatch under faults, the way it is deployed: a real Redis (our own instance, so it can
be restarted), `manage.py render_worker` processes bound to simulators over real sockets,
SIGKILL for a dying worker. Plus a smoke test of the whole cycle on RabbitMQ.

Recovery is quick here because the intervals are short: a job whose worker stops beating
for STUDIO_RENDER_STALE_SECONDS (3 s) is taken back by the sweep (every 0.5 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from gallery.models import Image
from tests.conftest import broker_switch
from tests.processes import RenderWorkerProcess, stores
from tests.studio.helpers import generate, nothing_in_flight, wait_finished, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    print(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Our own redis-server on a free port: no disk, so a restart loses every message."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.tmp = tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_broker(tmp_path):
    if shutil.which("redis-server") is None:
        _unavailable("redis-server not installed: the Redis fault tests need it")
    server = RedisServer(tmp_path)
    previous = broker_switch(server.url)
    yield server
    broker_switch(previous)
    server.stop()


@pytest.fixture
def quick_recovery(settings):
    settings.STUDIO_RENDER_STALE_SECONDS = 3
    settings.STUDIO_SWEEP_SECONDS = 0.5
    settings.STUDIO_WORKER_HEARTBEAT_SECONDS = 0.5
    settings.COMFYUI_DEAD_AFTER_SECONDS = 2
    settings.COMFYUI_RETRIES = 0


@pytest.fixture
def workers(tmp_path):
    started: list[RenderWorkerProcess] = []
    log = tmp_path / "stores.log"

    def start(*backends: str) -> RenderWorkerProcess:
        worker = RenderWorkerProcess(tmp_path / f"worker{len(started)}.out", log, list(backends))
        started.append(worker)
        return worker

    start.log = log
    yield start
    for worker in started:
        worker.stop()
        print(f"--- {worker.output.name} ---\n{worker.text()[-3000:]}")  # shown on failure
    for image in Image.objects.order_by("created_at"):
        print(image.pk, image.status, image.attempts, image.claimed_by, image.backend_url)


def test_a_worker_killed_mid_job_has_its_job_done_elsewhere_and_stored_once(
    alice_api, alice_character, make_comfyui, redis_broker, quick_recovery, workers
):
    first = make_comfyui(step_ms=100, steps=30)
    second = make_comfyui(step_ms=100, steps=30)
    worker_one, worker_two = workers(first.url), workers(second.url)
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    wait_until(lambda: Image.objects.get(pk=image_id).progress > 0, 20, "the job to run")
    held_by_one = Image.objects.get(pk=image_id).backend_url == first.url
    victim, survivor = (worker_one, second) if held_by_one else (worker_two, first)
    victim.process.send_signal(signal.SIGKILL)
    (image,) = wait_finished([image_id], timeout=60)
    assert image.status == "completed", image.error_message
    assert image.backend_url == survivor.url and image.attempts == 2
    assert stores(workers.log) == [image_id]
    nothing_in_flight()


def test_a_backend_killed_with_jobs_running_and_queued_loses_none(
    alice_api, alice_character, make_comfyui, redis_broker, quick_recovery, workers
):
    sims = [make_comfyui(step_ms=40, steps=10) for _ in range(3)]
    for sim in sims:
        workers(sim.url)
    ids = generate(alice_api, alice_character, count=9).json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(pk__in=ids, backend_url=sims[0].url, progress__gt=0).exists(),
        20,
        "a job running on the first backend",
    )
    sims[0].stop()
    images = wait_finished(ids, timeout=90)
    assert [image.status for image in images] == ["completed"] * 9, [
        image.error_message for image in images
    ]
    assert sorted(Counter(stores(workers.log)).values()) == [1] * 9
    nothing_in_flight()


def test_a_redis_restart_mid_run_loses_nothing(
    alice_api, alice_character, make_comfyui, redis_broker, quick_recovery, workers
):
    sim = make_comfyui(step_ms=40, steps=10)
    workers(sim.url)
    ids = generate(alice_api, alice_character, count=6).json()["imageIds"]
    wait_until(
        lambda: Image.objects.filter(pk__in=ids, status="completed").exists(), 30, "a first image"
    )
    redis_broker.restart()  # every queued message is gone
    images = wait_finished(ids, timeout=90)
    assert [image.status for image in images] == ["completed"] * 6, [
        image.error_message for image in images
    ]
    assert sorted(Counter(stores(workers.log)).values()) == [1] * 6
    nothing_in_flight()


def test_two_workers_given_the_same_redelivered_job_store_it_once(
    alice_api, alice_character, make_comfyui, redis_broker, quick_recovery, workers, settings
):
    from ryla.celery import app

    first, second = make_comfyui(step_ms=50, steps=10), make_comfyui(step_ms=50, steps=10)
    workers(first.url)
    workers(second.url)
    (image_id,) = generate(alice_api, alice_character).json()["imageIds"]
    for _ in range(3):  # the same job delivered again, as after a lost acknowledgement
        app.send_task("studio.render", args=(image_id,), queue=settings.STUDIO_RENDER_QUEUE)
    (image,) = wait_finished([image_id], timeout=30)
    time.sleep(1.5)  # let every copy be taken and dropped
    assert image.status == "completed" and image.attempts == 1
    assert stores(workers.log) == [image_id]
    histories = [
        prompt
        for sim in (first, second)
        for prompt in sim.client().get_recent_history(20)
        if prompt == image.prompt_id
    ]
    assert len(histories) == 1  # queued on one backend, once


def test_the_whole_cycle_on_rabbitmq(alice_api, alice_character, make_comfyui, workers):
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        _unavailable(f"no RabbitMQ at {RABBITMQ_URL}: the RabbitMQ smoke test needs it")
    previous = broker_switch(RABBITMQ_URL)
    try:
        sim = make_comfyui(step_ms=20, steps=4)
        workers(sim.url)
        draft = generate(alice_api, alice_character, count=2).json()["imageIds"]
        hq = generate(alice_api, alice_character, count=1, qualityMode="hq").json()["imageIds"]
        images = wait_finished(draft + hq, timeout=60)
    finally:
        from django.conf import settings

        from ryla.celery import app

        with app.connection_for_write() as connection:  # session queues must not pile up
            connection.default_channel.queue_delete(settings.STUDIO_RENDER_QUEUE)
        broker_switch(previous)
    assert [image.status for image in images] == ["completed"] * 3
    assert sorted(Counter(stores(workers.log)).values()) == [1] * 3
    nothing_in_flight()
