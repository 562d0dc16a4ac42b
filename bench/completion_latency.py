"""Completion latency: ComfyUI finishes a job → its image row is ``completed``, file stored.

What it measures: for every image, ``Image.completed_at`` (set by ``mark_completed`` after
the PNG and thumbnail are stored) minus the time the simulator recorded
``execution_success`` for its prompt (the ``timestamp``, in ms, of that message in the
prompt's history entry, as ComfyUI records it). Both are wall-clock times on this
machine. Only ``manage.py studio_worker`` completes images, through its websocket
listener: its periodic pass runs once at start-up (nothing is in flight then) and next
after ``--interval`` seconds (default 600), and nobody calls the results endpoint, so
no polling is involved. Goal: median <= 300 ms.

How: the simulator runs in this process (``SimulatorThread``, read-only use of its
history), ``studio_worker`` in a subprocess connected to it. Images are queued as packs
through the API (Django test client, token auth) in this process, against the same
database; the simulator then runs them one after another (``--steps`` × ``--step-ms``
each, plus rendering), so completions arrive spaced out. The database is a fresh SQLite
file in a temporary directory, or with ``--database postgres`` a fresh PostgreSQL
database ``ryla_bench_latency`` (dropped afterwards). Subprocesses, the temporary
directory and the database are cleaned up even on error.

Run from the repository root::

    .venv/bin/python bench/completion_latency.py                    # SQLite, 30 images
    .venv/bin/python bench/completion_latency.py --database postgres

It is a script run on demand, not a test: it prints figures measured in one run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The project, not bench/ (which holds a gallery.py), must resolve `gallery`.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import header_print, percentile  # noqa: E402

PYTHON = sys.executable
GOAL_MEDIAN_MS = 300.0
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "ryla_bench_latency"
CLIENT_ID = "ryla-studio"


def pg_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as c:
        c.execute(sql)


def success_timestamp_ms(entry: dict) -> int | None:
    for event, data in entry.get("status", {}).get("messages", []):
        if event == "execution_success":
            return data.get("timestamp")
    return None


def run(args: argparse.Namespace, tmp: Path, cleanup: list) -> None:
    from comfy.simulator import SimulatorOptions
    from comfy.simulator.testing import SimulatorThread

    options = SimulatorOptions(step_ms=args.step_ms, steps=args.steps, data_dir=str(tmp / "sim"))
    sim = SimulatorThread(options).start()
    cleanup.append(sim.stop)
    print(f"  simulator (in-process SimulatorThread): {sim.url}  {options}")

    if args.database == "postgres":
        pg_execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        pg_execute(f"CREATE DATABASE {PG_DATABASE}")
        cleanup.append(lambda: pg_execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        database_url = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
    else:
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ryla.settings",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(tmp / "media"),
        "COMFYUI_URLS": sim.url,
        "COMFYUI_CLIENT_ID": CLIENT_ID,
        "POSTHOG_API_KEY": "",
        "REDIS_URL": "",
        "STUDIO_MAX_IN_FLIGHT_PER_USER": "1000000",
        "STUDIO_THROTTLE_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    print(f"  database: {database_url}")
    migrate = [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"]
    print(f"  migrate: {shlex.join(migrate)}")
    subprocess.run(migrate, cwd=REPO, env=env, check=True)

    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage
    from django.db import connections
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from gallery.models import Character, Image

    user = get_user_model().objects.create_user("bench-latency", password="bench-latency-pw")
    character = Character.objects.create(
        owner=user, name="Bench Latency", appearance="30 year old woman, short black hair"
    )
    token = Token.objects.create(user=user)

    worker_cmd = [PYTHON, "manage.py", "studio_worker", "--interval", str(args.interval)]
    print(f"  worker: {shlex.join(worker_cmd)}")
    log = tmp / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            worker_cmd,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_worker() -> None:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)

    cleanup.append(stop_worker)
    deadline = time.monotonic() + 30
    while CLIENT_ID not in sim.simulator.sockets or "reconciling every" not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not connect:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    # Its first pass runs right after that line (nothing in flight yet): let it finish.
    time.sleep(1.0)
    worker_ready = time.monotonic()

    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    prompt_ids: list[str] = []
    remaining = args.images
    while remaining:
        count = min(remaining, args.per_request)
        response = client.post(
            "/image/generate/studio",
            {
                "characterId": str(character.id),
                "scene": "selfie",
                "environment": "bedroom",
                "aspectRatio": "1:1",
                "qualityMode": "draft",
                "count": count,
                "nsfw": False,
            },
            content_type="application/json",
        )
        if response.status_code != 202:
            raise RuntimeError(f"generate: {response.status_code} {response.content[:300]!r}")
        prompt_ids += response.json()["promptIds"]
        remaining -= count
    connections.close_all()

    mine = Image.objects.filter(prompt_id__in=prompt_ids)
    deadline = time.monotonic() + args.timeout
    while mine.in_flight().exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"images still in flight after {args.timeout}s")
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
        connections.close_all()
    elapsed = time.monotonic() - worker_ready
    if elapsed >= args.interval:
        print(f"WARNING: run took {elapsed:.1f}s >= --interval; a periodic pass may have run")

    history = sim.simulator.history
    latencies, done_ms, files_ok = [], [], 0
    images = list(mine)
    failed = [i for i in images if i.status != "completed"]
    completed = [i for i in images if i.status == "completed"]
    for image in completed:
        image.sim_ms = success_timestamp_ms(history.get(image.prompt_id, {}))
        if image.sim_ms is None:
            raise RuntimeError(f"no execution_success timestamp for {image.prompt_id}")
    for image in sorted(completed, key=lambda i: i.sim_ms):
        sim_ms = image.sim_ms
        done_ms.append(sim_ms)
        sim_done = datetime.fromtimestamp(sim_ms / 1000, tz=UTC)
        latencies.append((image.completed_at - sim_done).total_seconds() * 1000)
        files_ok += default_storage.exists(image.image_key) and bool(image.image_key)
    connections.close_all()

    gaps = [b - a for a, b in zip(done_ms, done_ms[1:], strict=False)]
    log_tail = [line for line in log.read_text().splitlines() if "ERROR" in line or "Trace" in line]
    print()
    print(
        f"images: {len(images)} queued, {len(latencies)} completed, {len(failed)} failed, "
        f"{files_ok} files present in storage; run {elapsed:.1f}s after the worker connected"
    )
    if gaps:
        print(
            f"simulator: one job every {statistics.median(gaps):.0f} ms (median gap between "
            f"execution_success), {args.steps} steps × {args.step_ms:g} ms"
        )
    if not latencies:
        print("no completed image: nothing to measure")
        return
    median = statistics.median(latencies)
    print("latency execution_success (simulator) → Image.completed_at (worker, file stored):")
    print(
        f"  median {median:7.1f} ms   p95 {percentile(latencies, 95):7.1f} ms   "
        f"max {max(latencies):7.1f} ms   min {min(latencies):7.1f} ms   count {len(latencies)}"
    )
    print(f"  in completion order (ms): {' '.join(f'{v:.0f}' for v in latencies)}")
    verdict = "PASS" if median <= GOAL_MEDIAN_MS else "MISS"
    print(f"  goal median <= {GOAL_MEDIAN_MS:g} ms: {verdict}")
    if log_tail:
        print(f"worker log had {len(log_tail)} error line(s), first: {log_tail[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--images", type=int, default=30, help="images to queue in all")
    parser.add_argument("--per-request", type=int, default=10, help="count per generate call")
    parser.add_argument("--steps", type=int, default=4, help="simulator sampler steps")
    parser.add_argument("--step-ms", type=float, default=20.0, help="simulator time per step")
    parser.add_argument("--interval", type=float, default=600.0, help="worker pass interval, s")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after, s")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db)")
    args = parser.parse_args()

    header_print("Completion latency: simulator job done → image row completed, file stored")
    print("setup:")
    tmp = Path(tempfile.mkdtemp(prefix="ryla-bench-latency-"))
    cleanup: list = []
    try:
        run(args, tmp, cleanup)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as exc:  # keep cleaning up
                print(f"cleanup: {exc!r}")
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
