"""Progress events from ComfyUI's websocket, for a worker that wants to show progress.

The websocket is a convenience: a worker must still read ``/history`` for the outcome,
because events sent while nobody was listening are lost.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websocket

from .errors import ComfyUnreachable


@dataclass(frozen=True)
class WsEvent:
    """One JSON text frame: ``{"type": ..., "data": ...}``."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_id(self) -> str | None:
        value = self.data.get("prompt_id")
        return value if isinstance(value, str) else None

    @property
    def is_prompt_done(self) -> bool:
        """``executing`` with ``node: null`` is how ComfyUI says a prompt finished."""
        return self.type == "executing" and self.data.get("node") is None


def ws_url(base_url: str, client_id: str) -> str:
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return f"{base}/ws?clientId={quote(client_id)}"


def iter_events(base_url: str, client_id: str, timeout: float = 30.0) -> Iterator[WsEvent]:
    """Yield events for ``client_id`` until the server closes or nothing arrives in time.

    Binary frames (preview images) are skipped. Raises ``ComfyUnreachable`` when the
    connection cannot be opened; ends quietly after ``timeout`` seconds of silence.
    """
    stream = EventStream(base_url, client_id, connect_timeout=timeout)
    try:
        while (event := stream.next_event(timeout)) is not None:
            yield event
    finally:
        stream.close()


class EventStream:
    """One open websocket, read an event at a time with a timeout (a worker following a
    prompt must also do other things: heartbeat, look for a cancel, poll history)."""

    def __init__(self, base_url: str, client_id: str, connect_timeout: float = 5.0) -> None:
        try:
            self._conn = websocket.create_connection(
                ws_url(base_url, client_id), timeout=connect_timeout
            )
        except (OSError, websocket.WebSocketException) as exc:
            raise ComfyUnreachable(f"Cannot open websocket on {base_url}", url=base_url) from exc
        self.closed = False

    def next_event(self, timeout: float) -> WsEvent | None:
        """The next JSON event, or None after `timeout` seconds of silence; binary frames
        (previews) are skipped. Sets `closed` when the server goes away."""
        if self.closed:
            return None
        self._conn.settimeout(timeout)
        while True:
            try:
                opcode, payload = self._conn.recv_data()
            except websocket.WebSocketTimeoutException:
                return None
            except (OSError, websocket.WebSocketException):
                self.closed = True
                return None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.closed = True
                return None
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            try:
                message = json.loads(payload)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("type"), str):
                data = message.get("data")
                return WsEvent(type=message["type"], data=data if isinstance(data, dict) else {})

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self._conn.close()
