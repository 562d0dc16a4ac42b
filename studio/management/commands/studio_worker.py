"""Complete images without a browser: reconcile everything in flight, forever.

Each pass reads history and queue once per backend (batched). Alongside, one thread per
backend listens on ComfyUI's websocket: progress events update the row's percentage and a
finished prompt is reconciled at once instead of waiting for the next pass. Any number of
workers may run on any number of machines: storing an output takes a row lock, so it
happens once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.db.models.functions import Coalesce, Now

from comfy.errors import ComfyError
from comfy.ws import iter_events
from gallery.models import Image
from studio import analytics, services

logger = logging.getLogger("studio.worker")


def _progress_percent(value: object, maximum: object) -> int | None:
    if not isinstance(value, int | float) or not isinstance(maximum, int | float) or maximum <= 0:
        return None
    return max(0, min(99, int(100 * value / maximum)))


def listen_for_events(url: str, stop: threading.Event) -> None:
    """Follow one backend's websocket until `stop`; reconnect with backoff when it drops."""
    delay = 0.5
    while not stop.is_set():
        try:
            for event in iter_events(url, settings.COMFYUI_CLIENT_ID, timeout=30.0):
                if stop.is_set():
                    return
                delay = 0.5
                handle_event(event.type, event.data)
        except ComfyError:
            pass
        except Exception:
            logger.exception("worker: websocket listener for %s failed", url)
        finally:
            close_old_connections()
        stop.wait(delay)
        delay = min(delay * 2, 10.0)


def handle_event(kind: str, data: dict) -> None:
    prompt_id = data.get("prompt_id")
    if not isinstance(prompt_id, str):
        return
    if kind == "progress":
        percent = _progress_percent(data.get("value"), data.get("max"))
        if percent is not None:
            Image.objects.in_flight().filter(prompt_id=prompt_id).update(
                status="generating", progress=percent, started_at=Coalesce("started_at", Now())
            )
    elif kind in ("execution_success", "execution_error") or (
        kind == "executing" and data.get("node") is None
    ):
        # A prompt that some other client queued is not ours: ignore it.
        with contextlib.suppress(Image.DoesNotExist):
            services.prompt_reconcile(prompt_id)


class Command(BaseCommand):
    help = "Reconcile in-flight images with ComfyUI until stopped (or once with --once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Do a single pass and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between passes (default STUDIO_WORKER_INTERVAL_SECONDS).",
        )
        parser.add_argument(
            "--no-websocket", action="store_true", help="Poll history only, no progress events."
        )

    def handle(self, *args, once: bool, interval: float | None, no_websocket: bool, **options):
        if once:
            finished = services.prompts_reconcile_in_flight()
            self.stdout.write(f"One pass: {finished} image(s) finished.")
            return
        interval = interval if interval is not None else settings.STUDIO_WORKER_INTERVAL_SECONDS
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        listeners = []
        if not no_websocket:
            for url in settings.COMFYUI_URLS:
                thread = threading.Thread(
                    target=listen_for_events, args=(url, stop), name=f"ws {url}", daemon=True
                )
                thread.start()
                listeners.append(thread)
        self.stdout.write(
            f"studio_worker: reconciling every {interval}s; "
            f"backends: {', '.join(settings.COMFYUI_URLS)}"
        )
        while not stop.is_set():
            started = time.monotonic()
            try:
                finished = services.prompts_reconcile_in_flight()
                if finished:
                    logger.info("worker: %d image(s) finished", finished)
            except Exception:
                logger.exception("worker: pass failed; retrying")
            finally:
                close_old_connections()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        for thread in listeners:
            thread.join(timeout=1)
        analytics.analytics_flush()
        self.stdout.write("studio_worker: stopped.")
