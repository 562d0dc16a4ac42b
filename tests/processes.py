"""Project processes started the way they are deployed (`manage.py <command>` in a process
of its own), on the test's database, storage and ComfyUI settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.studio.helpers import wait_until

BASE_DIR = Path(settings.BASE_DIR)


def database_url() -> str:
    """The test database (committed rows only: use transaction=True) as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """The environment that gives a child process this test's settings."""
    from ryla.celery import app

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ryla.settings",
        "DATABASE_URL": database_url(),
        "COMFYUI_URLS": ",".join(settings.COMFYUI_URLS),
        "COMFYUI_RETRIES": str(settings.COMFYUI_RETRIES),
        "COMFYUI_TIMEOUT": str(settings.COMFYUI_TIMEOUT),
        "COMFYUI_DEAD_AFTER_SECONDS": str(settings.COMFYUI_DEAD_AFTER_SECONDS),
        "COMFYUI_WAIT_SECONDS": str(settings.COMFYUI_WAIT_SECONDS),
        "STUDIO_RENDER_STALE_SECONDS": str(settings.STUDIO_RENDER_STALE_SECONDS),
        "STUDIO_SWEEP_SECONDS": str(settings.STUDIO_SWEEP_SECONDS),
        "STUDIO_WORKER_HEARTBEAT_SECONDS": str(settings.STUDIO_WORKER_HEARTBEAT_SECONDS),
        "STUDIO_RENDER_MAX_ATTEMPTS": str(settings.STUDIO_RENDER_MAX_ATTEMPTS),
        # The worker sizes an "only masked" crop from it (the contract keeps renders small).
        "STUDIO_SIZE_SCALE": str(settings.STUDIO_SIZE_SCALE),
        **{
            name: getattr(settings, name)
            for name in (
                "COMFYUI_ZIMAGE_UNET",
                "COMFYUI_ZIMAGE_CLIP",
                "COMFYUI_VAE",
                "COMFYUI_FLUX_FILL_UNET",
                "COMFYUI_FLUX_CLIP_L",
                "COMFYUI_FLUX_T5XXL",
            )
        },
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_BROKER_URL": app.conf.broker_url,
        "STUDIO_RENDER_QUEUE": settings.STUDIO_RENDER_QUEUE,
        "AWS_STORAGE_BUCKET_NAME": "",
        "POSTHOG_API_KEY": "",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class ManagedProcess:
    """One child process whose output goes to a file the test can read."""

    def __init__(self, argv: list[str], output: Path, env: dict[str, str]) -> None:
        self.output = output
        with open(output, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, *argv], cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 30.0) -> None:
        wait_until(
            lambda: needle in self.text() or self.process.poll() is not None,
            timeout,
            f"process output {needle!r}",
        )
        assert needle in self.text(), self.text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


STORE_LOGGING = """
import os, sys
import django
django.setup()
from gallery import storage
log = os.environ["WORKER_STORE_LOG"]
original = storage.image_store
def recorded(**kwargs):
    stored = original(**kwargs)
    with open(log, "a") as handle:
        handle.write(f"{os.getpid()} {kwargs['image_id']}\\n")
    return stored
storage.image_store = recorded
from django.core.management import call_command
call_command(*sys.argv[1:])
"""


class RenderWorkerProcess(ManagedProcess):
    """`manage.py render_worker --backend URL` in its own process, as deployed; every
    output it stores is written to `store_log` (shared by the test's workers)."""

    def __init__(self, output: Path, store_log: Path, backends: list[str], **env: str) -> None:
        argv = ["render_worker", "--loglevel", "INFO"]
        for url in backends:
            argv += ["--backend", url]
        super().__init__(
            ["-c", STORE_LOGGING, *argv],
            output,
            process_env(WORKER_STORE_LOG=str(store_log), **env),
        )
        self.wait_for_output("ready.", timeout=60)


def stores(store_log: Path) -> list[str]:
    """Image ids stored so far, by any worker process, one line per store."""
    if not store_log.exists():
        return []
    return [line.split()[1] for line in store_log.read_text().splitlines()]


def run_async(coroutine_function, *args):
    """Run a coroutine to its end from a test, in a thread of its own: Playwright's sync
    API keeps an event loop in the test thread, where asgiref's async_to_sync refuses."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine_function(*args)).result()
