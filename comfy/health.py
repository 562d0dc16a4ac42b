"""A quick look at each ComfyUI backend, for health checks.

One attempt per call, a short timeout and all backends at once: a health check must not
stall on a backend that accepts connections and never answers. It reads nothing from and
writes nothing to a pool, so a probe neither starts nor ends a cool-down.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .client import ComfyClient
from .errors import ComfyError


@dataclass(frozen=True)
class BackendHealth:
    url: str
    ok: bool
    error: str | None
    queue_length: int | None
    is_simulator: bool


def backend_probe(url: str, *, timeout: float) -> BackendHealth:
    client = ComfyClient(url, timeout=timeout, retries=0)
    try:
        stats = client.system_stats()
        queue = client.get_queue()
    except ComfyError as exc:
        return BackendHealth(url, False, str(exc), None, False)
    finally:
        client.session.close()
    return BackendHealth(url, True, None, queue.length, stats.is_simulator)


def backends_probe(urls: Iterable[str], *, timeout: float = 2.0) -> list[BackendHealth]:
    """Probe every backend concurrently; the whole probe takes at most about 2 × timeout."""
    urls = [url.strip().rstrip("/") for url in urls if url.strip()]
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(len(urls), 16)) as executor:
        return list(executor.map(lambda url: backend_probe(url, timeout=timeout), urls))
