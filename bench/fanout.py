"""Fan-out benchmark: does a pack of 10 cost about as much wall time as a pack of 1?

What it measures: the wall time of ``POST /image/generate/studio`` with ``count=10`` and
with ``count=1``, over real HTTP against the studio served by gunicorn, with the bundled
ComfyUI simulator adding ``--latency-ms`` (default 50 ms) to every HTTP call it answers.
Generation queues the pack's graphs concurrently, so the goal is
``median(count=10) / median(count=1) <= 1.5``.

How: a temporary directory holds a fresh SQLite database and the media root; the
simulator (``manage.py comfyui_simulator``) and the web server (gunicorn, one worker)
run as subprocesses with the studio's settings in their environment (per-user in-flight
cap and request throttle raised out of the way, analytics off). Timed requests are
interleaved (1, 10, 10, 1, ...) and each starts with the simulator's queue empty, so
only the request itself is measured. Before timing, one pack of each size is started
in this process with ``requests`` counting the HTTP calls it makes to ComfyUI.
Everything started here is stopped and the temporary directory removed, even on error.

Run from the repository root::

    .venv/bin/python bench/fanout.py            # 15 timed requests per size
    .venv/bin/python bench/fanout.py --repetitions 30 --latency-ms 50

It is a script run on demand, not a test: it prints figures measured in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The project, not bench/ (which holds a gallery.py), must resolve `gallery`.
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import free_port, header_print  # noqa: E402

PYTHON = sys.executable
GOAL_RATIO = 1.5


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            requests.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


class Processes:
    """Subprocesses started here, each in its own session; stopped by their own ids."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        print(f"  {name}: {shlex.join(cmd)}")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.started):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def studio_env(tmp: Path, comfy_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp / "media"),
        "COMFYUI_URLS": comfy_url,
        "POSTHOG_API_KEY": "",
        "REDIS_URL": "",
        "STUDIO_MAX_IN_FLIGHT_PER_USER": "1000000",
        "STUDIO_THROTTLE_RATE": "1000000/min",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-fanout-not-secret",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def create_fixtures() -> tuple[str, str]:
    """User, character and token in the database of this process's settings."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from gallery.models import Character

    user = get_user_model().objects.create_user("bench-fanout", password="bench-fanout-pw")
    character = Character.objects.create(
        owner=user,
        name="Bench Fanout",
        appearance="30 year old woman, short black hair, brown eyes",
    )
    token = Token.objects.create(user=user)
    return str(character.id), token.key


@contextlib.contextmanager
def counting_comfy_calls(comfy_url: str) -> Iterator[Counter]:
    """Count every HTTP call ``requests`` makes to ComfyUI in this process."""
    calls: Counter = Counter()
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        if str(url).startswith(comfy_url):
            calls[f"{method.upper()} {urlsplit(str(url)).path}"] += 1
        return original(self, method, url, *args, **kwargs)

    requests.Session.request = request
    try:
        yield calls
    finally:
        requests.Session.request = original


def comfy_calls_per_generate(character_id: str, comfy_url: str) -> dict[int, Counter]:
    from django.contrib.auth import get_user_model

    from gallery.models import Character
    from studio import services

    user = get_user_model().objects.get(username="bench-fanout")
    character = Character.objects.get(pk=character_id)
    result = {}
    for count in (1, 10):
        options = services.GenerationOptions(
            scene="selfie",
            environment="bedroom",
            outfit="",
            aspect_ratio="1:1",
            quality_mode="draft",
            count=count,
            nsfw=False,
        )
        with counting_comfy_calls(comfy_url) as calls:
            services.generation_start(user=user, character=character, options=options)
        result[count] = calls
    return result


def wait_simulator_idle(session: requests.Session, comfy_url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(f"{comfy_url}/prompt", timeout=10).json()
        if body["exec_info"]["queue_remaining"] == 0:
            return
        time.sleep(0.02)
    raise TimeoutError("simulator queue did not drain")


def generate(session: requests.Session, base: str, body: dict, count: int) -> float:
    started = time.perf_counter()
    response = session.post(f"{base}/image/generate/studio", json={**body, "count": count})
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"generate count={count}: {response.status_code} {response.text[:300]}")
    if len(response.json()["promptIds"]) != count:
        raise RuntimeError(f"generate count={count}: wrong number of prompt ids")
    return elapsed


def describe(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (
        f"  {label}: median {statistics.median(ms):7.1f} ms   mean {statistics.fmean(ms):7.1f}"
        f"   min {ms[0]:7.1f}   max {ms[-1]:7.1f}   (n={len(ms)})"
    )


def run(args: argparse.Namespace, tmp: Path, procs: Processes) -> None:
    sim_port, web_port = free_port(), free_port()
    comfy_url = f"http://127.0.0.1:{sim_port}"
    base = f"http://127.0.0.1:{web_port}"
    env = studio_env(tmp, comfy_url)

    print("setup:")
    migrate = [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"]
    print(f"  migrate: {shlex.join(migrate)}")
    subprocess.run(migrate, cwd=REPO, env=env, check=True)

    sim_cmd = [PYTHON, "manage.py", "comfyui_simulator", "--host", "127.0.0.1"]
    sim_cmd += ["--port", str(sim_port), "--latency-ms", str(args.latency_ms)]
    sim_cmd += ["--step-ms", str(args.step_ms), "--steps", "1", "--data-dir", str(tmp / "sim")]
    sim = procs.start("simulator", sim_cmd, env, tmp / "simulator.log")
    wait_http(f"{comfy_url}/system_stats", sim, tmp / "simulator.log")

    web_cmd = [PYTHON, "-m", "gunicorn", "ryla.wsgi:application", "--bind", f"127.0.0.1:{web_port}"]
    web_cmd += ["--workers", "1", "--threads", "4", "--worker-class", "gthread"]
    web_cmd += ["--log-level", "warning"]
    web = procs.start("web", web_cmd, env, tmp / "web.log")

    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "ryla.settings"
    import django

    django.setup()
    from django.db import connections

    character_id, token = create_fixtures()
    calls = comfy_calls_per_generate(character_id, comfy_url)
    connections.close_all()
    wait_http(f"{base}/healthz", web, tmp / "web.log")

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    body = {
        "characterId": character_id,
        "scene": "selfie",
        "environment": "bedroom",
        "aspectRatio": "1:1",
        "qualityMode": "draft",
        "nsfw": False,
    }
    sim_session = requests.Session()
    for count in (1, 10, 1, 10):  # warm-up: imports, connections, first queries
        wait_simulator_idle(sim_session, comfy_url)
        generate(session, base, body, count)

    times: dict[int, list[float]] = {1: [], 10: []}
    for rep in range(args.repetitions):
        for count in (1, 10) if rep % 2 == 0 else (10, 1):
            wait_simulator_idle(sim_session, comfy_url)
            times[count].append(generate(session, base, body, count))
    wait_simulator_idle(sim_session, comfy_url)

    print()
    print("ComfyUI HTTP calls per generate (counted in-process, same code path):")
    for count, counter in calls.items():
        detail = ", ".join(f"{name} ×{n}" for name, n in sorted(counter.items()))
        print(f"  count={count:<2}: {sum(counter.values())} calls ({detail})")
    print()
    print(f"POST /image/generate/studio wall time, simulator latency {args.latency_ms:g} ms/call:")
    print(describe("count=1 ", times[1]))
    print(describe("count=10", times[10]))
    ratio = statistics.median(times[10]) / statistics.median(times[1])
    verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
    print(
        f"  ratio median(count=10) / median(count=1) = {ratio:.2f}   goal <= {GOAL_RATIO}: ", end=""
    )
    print(verdict)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15, help="timed requests per size")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulator delay per call")
    parser.add_argument("--step-ms", type=float, default=1.0, help="simulator time per step")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db)")
    args = parser.parse_args()

    header_print("Fan-out: POST /image/generate/studio, count=10 vs count=1")
    tmp = Path(tempfile.mkdtemp(prefix="ryla-bench-fanout-"))
    procs = Processes()
    try:
        run(args, tmp, procs)
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
