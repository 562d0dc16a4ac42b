"""A whole studio deployment on this machine, for benchmarks: a fresh database, a broker,
ComfyUI simulators, render worker processes and the ASGI web server, each as deployed.

Everything lives in a temporary directory and is stopped on `close()` (or leaving the
`with` block), even on error. Benchmarks drive it over HTTP like any client.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


class Stack:
    def __init__(self, *, broker: str = "redis", database_url: str | None = None, **env: str):
        self.tmp = Path(tempfile.mkdtemp(prefix="ryla-bench-"))
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ryla.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_STATIC_ROOT": str(self.tmp / "static"),
            "DATABASE_URL": database_url or f"sqlite:///{self.tmp / 'db.sqlite3'}",
            "MEDIA_ROOT": str(self.tmp / "media"),
            "POSTHOG_API_KEY": "",
            "STUDIO_MAX_IN_FLIGHT_PER_USER": "100000",
            "STUDIO_THROTTLE_RATE": "100000/min",
            "STUDIO_RENDER_QUEUE": f"bench-{secrets.token_hex(4)}",
            "STUDIO_WORKER_HEARTBEAT_SECONDS": "1",
            **env,
        }
        self.env.pop("CELERY_BROKER_URL", None)
        if broker == "redis":
            port = free_port()
            self._start(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.tmp)],
                "redis",
            )  # fmt: skip
            wait_port(port, self.processes[-1], "redis-server")
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/1"
            self.env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{port}/2"
        else:
            self.env.pop("REDIS_URL", None)
            self.env["CELERY_BROKER_URL"] = f"sqla+sqlite:///{self.tmp / 'broker.sqlite3'}"
        self.manage("migrate", "--noinput")

    def _start(self, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            argv, cwd=REPO, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def manage(self, *args: str, env: dict | None = None) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=REPO, env=env or self.env, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout

    def simulator(self, *, step_ms: float, steps: int, latency_ms: float = 0) -> str:
        port = free_port()
        process = self._start(
            [PYTHON, "manage.py", "comfyui_simulator", "--port", str(port), "--step-ms",
             str(step_ms), "--steps", str(steps), "--latency-ms", str(latency_ms)],
            "simulator",
        )  # fmt: skip
        wait_port(port, process, "simulator")
        return f"http://127.0.0.1:{port}"

    def worker(self, *backends: str) -> None:
        argv = [PYTHON, "manage.py", "render_worker", "--loglevel", "WARNING"]
        for url in backends:
            argv += ["--backend", url]
        self._start(argv, "worker")

    def workers_ready(self, count: int, timeout: float = 60) -> None:
        """Wait until `count` render workers have reported in."""
        code = "from studio.models import RenderWorker; print(RenderWorker.objects.count())"
        deadline = time.monotonic() + timeout
        while int(self.manage("shell", "-c", code).split()[-1]) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("render workers did not start")
            time.sleep(0.5)

    def web(self, *, workers: int = 1, comfyui_urls: str = "http://127.0.0.1:9") -> str:
        """uvicorn as in production; the web process is given a ComfyUI it must never call."""
        if not (self.tmp / "static").exists():
            self.manage("collectstatic", "--noinput", "--verbosity", "0")
        port = free_port()
        env = {**self.env, "COMFYUI_URLS": comfyui_urls}
        process = self._start(
            [PYTHON, "-m", "uvicorn", "ryla.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
             "--no-access-log"],
            "web",
            env,
        )  # fmt: skip
        wait_port(port, process, "uvicorn")
        return f"http://127.0.0.1:{port}"

    def user(self, username: str) -> tuple[str, str]:
        """A user with one character: (API token, character id)."""
        out = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            "from rest_framework.authtoken.models import Token; "
            "from gallery.models import Character; "
            f"u = get_user_model().objects.create_user({username!r}, password='pw-bench-1'); "
            "c = Character.objects.create(owner=u, name='Mia', appearance='a woman'); "
            "print(Token.objects.create(user=u).key, c.id)",
        )
        token, character_id = out.split()[-2:]
        return token, character_id

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generate(base: str, token: str, character_id: str, **fields) -> dict:
    body = {
        "characterId": character_id,
        "scene": "selfie",
        "environment": "beach",
        "outfit": "dress",
        "aspectRatio": "1:1",
        "qualityMode": "draft",
        "count": 1,
        **fields,
    }
    response = requests.post(
        f"{base}/image/generate/studio",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()
