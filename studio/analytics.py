"""Server-side product analytics (PostHog).

Off when POSTHOG_API_KEY is unset. Never fails or slows a request: the PostHog client
queues events and sends them from its own thread, and any error here is logged.
Tests swap the client with `analytics_client_set()` and read what it was asked to send.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

EVENTS = frozenset(
    {
        "studio_opened",
        "generation_started",
        "generation_image_completed",
        "generation_pack_completed",
        "generation_failed",
        "image_edit_opened",
        "inpaint_started",
        "inpaint_completed",
        "inpaint_failed",
    }
)


class AnalyticsClient(Protocol):
    def capture(self, event: str, **kwargs: Any) -> Any: ...


_lock = threading.Lock()
_client: AnalyticsClient | None = None
_client_key: tuple[str, str] | None = None


def _current_client() -> AnalyticsClient | None:
    global _client, _client_key
    key = (settings.POSTHOG_API_KEY, settings.POSTHOG_HOST)
    with _lock:
        if _client_key == ("<test>", "<test>"):
            return _client
        if not key[0]:
            return None
        if _client is None or _client_key != key:
            from posthog import Posthog

            _client = Posthog(key[0], host=key[1], max_retries=1, timeout=5)
            _client_key = key
        return _client


def analytics_client_set(client: AnalyticsClient | None) -> None:
    """Replace the PostHog client (tests); None restores the settings-driven one."""
    global _client, _client_key
    with _lock:
        previous = _client
        _client = client
        _client_key = ("<test>", "<test>") if client is not None else None
    if previous is not None and previous is not client and hasattr(previous, "shutdown"):
        previous.shutdown()  # flush and stop its sending thread


def capture(event: str, *, user_id: Any, properties: dict[str, Any] | None = None) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown analytics event {event!r}")
    try:
        client = _current_client()
        if client is None:
            return
        client.capture(event, distinct_id=str(user_id), properties=properties or {})
    except Exception:
        logger.exception("analytics: could not capture %s", event)


def analytics_flush() -> None:
    """Send what the PostHog client has queued (a worker calls this before it exits)."""
    try:
        client = _current_client()
        if client is not None and hasattr(client, "flush"):
            client.flush()
    except Exception:
        logger.exception("analytics: could not flush")
