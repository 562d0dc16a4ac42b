"""What /healthz reports: database, storage, static files; for staff also the broker, the
render workers' heartbeats and the ComfyUI backends.

Backends are never probed inside the request. A probe runs in the background (one at a
time per process, one attempt per call, COMFYUI_HEALTH_TIMEOUT each) when the last report
is older than COMFYUI_HEALTH_TTL_SECONDS, and /healthz answers at once with the last
report it has. A backend that accepts connections and never answers therefore costs a
health check nothing, and anonymous callers cannot use /healthz to tie up the server.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.db import connection

from comfy.health import BackendHealth, backends_probe
from gallery import storage
from ryla.celery import app as celery_app
from studio.models import RenderWorker

logger = logging.getLogger(__name__)

# A file every page links: if it cannot be served, no page renders (a manifest storage
# raises for a file collectstatic has not seen).
STATIC_PROBE = "css/app.css"

_probing = threading.Lock()


def _cache_key() -> str:
    urls = ",".join(settings.COMFYUI_URLS)
    return "healthz:comfyui:" + hashlib.sha256(urls.encode()).hexdigest()[:16]


def broker_probe(timeout: float) -> str:
    """Connect to the broker once: "ok" or the reason it failed."""
    try:
        with celery_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def _probe_and_store(key: str, urls: list[str], timeout: float) -> None:
    try:
        report = backends_probe(urls, timeout=timeout)
        broker = broker_probe(timeout)
        ttl = settings.COMFYUI_HEALTH_TTL_SECONDS
        cache.set(
            key,
            {"checked_at": time.time(), "backends": report, "broker": broker},
            max(60, 10 * ttl),
        )
    except Exception:
        logger.exception("healthz: probing the ComfyUI backends failed")
    finally:
        _probing.release()


def comfyui_health() -> tuple[list[BackendHealth], str | None, float | None]:
    """The last backends and broker report and when it was made (None: no probe has
    finished yet).

    Starts a background probe when the report is missing or stale; never waits for one.
    """
    key = _cache_key()
    cached: dict[str, Any] | None = cache.get(key)
    stale = cached is None or time.time() - cached["checked_at"] > (
        settings.COMFYUI_HEALTH_TTL_SECONDS
    )
    if stale and _probing.acquire(blocking=False):
        threading.Thread(
            target=_probe_and_store,
            args=(key, list(settings.COMFYUI_URLS), settings.COMFYUI_HEALTH_TIMEOUT),
            name="healthz-probe",
            daemon=True,
        ).start()
    if cached is None:
        return [], None, None
    return cached["backends"], cached["broker"], cached["checked_at"]


def _static_files_check() -> None:
    if hasattr(staticfiles_storage, "stored_name"):
        # A manifest storage (production): ValueError for a file collectstatic has not seen.
        name = staticfiles_storage.stored_name(STATIC_PROBE)
        if not staticfiles_storage.exists(name):
            raise FileNotFoundError(name)
    elif not (finders.find(STATIC_PROBE) or staticfiles_storage.exists(STATIC_PROBE)):
        raise FileNotFoundError(STATIC_PROBE)


def _check(probe: Callable[[], object], *, detail: bool) -> str:
    try:
        probe()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300] if detail else "error"
    return "ok"


def health_report(*, detail: bool) -> dict[str, Any]:
    """`ok` is false when the database, storage or static files fail; a backend that is
    down is reported, not fatal. Without `detail` (anyone but staff) only `ok` is given."""
    database = _check(lambda: connection.cursor().execute("SELECT 1"), detail=detail)
    file_storage = _check(lambda: storage.file_exists("healthz/probe"), detail=detail)
    static = _check(_static_files_check, detail=detail)
    ok = database == file_storage == static == "ok"
    if not detail:
        return {"ok": ok}
    backends, broker, checked_at = comfyui_health()
    alive = settings.STUDIO_RENDER_STALE_SECONDS
    report = {
        "ok": ok,
        "database": database,
        "storage": file_storage,
        "static": static,
        "comfyui": [
            {
                "url": backend.url,
                "ok": backend.ok,
                "error": backend.error,
                "queueLength": backend.queue_length,
                "simulator": backend.is_simulator,
            }
            for backend in backends
        ],
        "workers": [
            {
                "name": worker.name,
                "backends": worker.backends,
                "upBackends": worker.up_backends,
                "seenAt": worker.seen_at,
            }
            for worker in RenderWorker.objects.alive(alive).order_by("name")
        ],
    }
    if broker is not None:
        report["broker"] = broker
    if checked_at is not None:
        report["comfyuiCheckedAt"] = datetime.fromtimestamp(checked_at, tz=UTC)
    return report
