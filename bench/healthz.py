"""/healthz with a hung ComfyUI backend, under gunicorn -w 2.

The backend accepts connections and never answers (what a wedged GPU server does). Before
the hardening issue, each /healthz probed it inline (~31 s with retries) and two anonymous
requests stalled both workers. Now backends are probed in the background, so /healthz
should answer as fast as a request that never touches ComfyUI.

Measures, over loopback from 8 client threads: latency of anonymous /healthz and of staff
/healthz (token; includes the last probe's report), against the same server's
`GET /characters` (token, one query) as the yardstick. Goal: /healthz p95 <= 100 ms.

    .venv/bin/python bench/healthz.py [--requests 400]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from _machine import free_port, header_print, percentile  # noqa: E402


def hung_backend() -> tuple[socket.socket, list]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    held: list = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, held


def timed(url: str, headers: dict, count: int) -> tuple[list[float], set[int]]:
    def one(_: int) -> tuple[float, int]:
        start = time.perf_counter()
        response = requests.get(url, headers=headers, timeout=60)
        return (time.perf_counter() - start) * 1000, response.status_code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(count)))
    return [ms for ms, _ in results], {code for _, code in results}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    header_print("/healthz with a hung ComfyUI backend")
    sock, held = hung_backend()
    backend = f"http://127.0.0.1:{sock.getsockname()[1]}"
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-healthz-"))
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "DJANGO_STATIC_ROOT": str(tmp / "static"),
        "MEDIA_ROOT": str(tmp / "media"),
        "COMFYUI_URLS": backend,
    }
    python = sys.executable

    def manage(*argv: str) -> str:
        return subprocess.run(
            [python, "manage.py", *argv],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    token = manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from rest_framework.authtoken.models import Token; "
        "u = get_user_model().objects.create_user('ops', password='x', is_staff=True); "
        "print(Token.objects.create(user=u).key)",
    ).split()[-1]
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "ryla.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        staff = {"Authorization": f"Token {token}"}
        timed(f"{base}/healthz", staff, 20)  # warm up both workers, start the probes
        print(
            f"backend {backend}: accepts, never answers; {args.requests} requests per row,"
            " 8 client threads"
        )
        rows = [
            ("GET /characters (yardstick)", f"{base}/characters", staff),
            ("GET /healthz anonymous", f"{base}/healthz", {}),
            ("GET /healthz staff (with backend report)", f"{base}/healthz", staff),
        ]
        figures = {}
        for label, url, headers in rows:
            times, codes = timed(url, headers, args.requests)
            figures[label] = percentile(times, 95)
            print(
                f"{label:45s} median {percentile(times, 50):6.1f} ms  "
                f"p95 {percentile(times, 95):6.1f} ms  max {max(times):6.1f} ms  "
                f"statuses {sorted(codes)}"
            )
        print(f"connections the hung backend holds: {len(held)} (probes stuck on it)")
        worst = max(
            figures["GET /healthz anonymous"], figures["GET /healthz staff (with backend report)"]
        )
        ratio = worst / figures["GET /characters (yardstick)"]
        ok = worst <= 100
        print(
            f"/healthz p95 {worst:.1f} ms, {ratio:.2f}x the yardstick: goal <= 100 ms: "
            f"{'PASS' if ok else 'MISS'}"
        )
        return 0 if ok else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
