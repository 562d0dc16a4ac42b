"""Several ComfyUI backends behind one ``queue()`` call.

A new job goes to the reachable backend with the shortest queue. A backend that fails
is left alone for ``cooldown_seconds`` so one dead machine does not add a timeout to
every job; after the cool-down it is tried again. The URL that took a job is returned
so the caller can store it and later ask that same backend about the prompt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .client import ComfyClient
from .errors import ComfyError, ComfyUnreachable


def _normalise(url: str) -> str:
    return url.strip().rstrip("/")


class BackendPool:
    """Thread-safe: one lock guards the client cache and the down-marks; network calls
    happen outside it."""

    def __init__(
        self,
        urls: Iterable[str],
        cooldown_seconds: float = 30.0,
        client_factory: Callable[[str], ComfyClient] = ComfyClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._urls = [_normalise(u) for u in urls if u.strip()]
        if not self._urls:
            raise ValueError("BackendPool needs at least one ComfyUI URL")
        self.cooldown_seconds = cooldown_seconds
        self._client_factory = client_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, ComfyClient] = {}
        self._down_until: dict[str, float] = {}
        # Jobs this process is sending right now, per backend: concurrent queue() calls
        # read the same /queue lengths, and without this they would all pick one backend.
        self._submitting: dict[str, int] = {}

    @classmethod
    def from_env_string(cls, value: str, **kwargs: Any) -> BackendPool:
        """Build from a comma-separated setting such as ``http://a:8188,http://b:8188``."""
        return cls([part for part in value.split(",") if part.strip()], **kwargs)

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def client_for(self, url: str) -> ComfyClient:
        """The client for a backend URL, also one no longer configured (old image rows)."""
        url = _normalise(url)
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._client_factory(url)
                self._clients[url] = client
            return client

    def mark_down(self, url: str) -> None:
        with self._lock:
            self._down_until[_normalise(url)] = self._clock() + self.cooldown_seconds

    def mark_up(self, url: str) -> None:
        with self._lock:
            self._down_until.pop(_normalise(url), None)

    def is_down(self, url: str) -> bool:
        with self._lock:
            until = self._down_until.get(_normalise(url))
            return until is not None and self._clock() < until

    def _queue_lengths(self) -> dict[str, int]:
        """Queue length of every backend that answers; unreachable ones are marked down."""
        lengths: dict[str, int] = {}
        errors: list[str] = []
        for url in self._urls:
            if self.is_down(url):
                errors.append(f"{url}: cooling down")
                continue
            try:
                lengths[url] = self.client_for(url).get_queue().length
            except ComfyError as exc:
                self.mark_down(url)
                errors.append(f"{url}: {exc}")
                continue
            self.mark_up(url)
        if not lengths:
            raise ComfyUnreachable("No ComfyUI backend reachable: " + "; ".join(errors))
        return lengths

    def _pick(self, lengths: dict[str, int], *, reserve: bool) -> str:
        """Least loaded, counting jobs this process is still sending (ties: first listed).

        Picking and reserving happen under one lock, so concurrent ``queue()`` calls that
        read the same lengths still spread over the backends.
        """
        with self._lock:
            url = min(
                lengths,
                key=lambda u: (lengths[u] + self._submitting.get(u, 0), self._urls.index(u)),
            )
            if reserve:
                self._submitting[url] = self._submitting.get(url, 0) + 1
            return url

    def choose(self) -> str:
        """The reachable backend with the shortest queue (ties go to the first listed).

        Use it with ``client_for`` when an upload and its prompt must land on the same
        backend. Raises ``ComfyUnreachable`` if none answers.
        """
        return self._pick(self._queue_lengths(), reserve=False)

    def queue(
        self, graph: dict[str, Any], prompt_id: str | None = None, client_id: str | None = None
    ) -> str:
        """Queue on the least-loaded backend and return that backend's URL.

        If the chosen backend dies during ``POST /prompt`` it is marked down and the error
        is raised rather than trying another backend: the first one may have queued the
        job before failing, and the caller can reconcile by prompt id.
        """
        url = self._pick(self._queue_lengths(), reserve=True)
        try:
            self.client_for(url).queue_prompt(graph, prompt_id=prompt_id, client_id=client_id)
        except ComfyUnreachable:
            self.mark_down(url)
            raise
        finally:
            with self._lock:
                self._submitting[url] -= 1
        return url
