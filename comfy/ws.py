"""Progress events and step previews from ComfyUI's websocket, for a worker that wants
to show progress.

The websocket is a convenience: a worker must still read ``/history`` for the outcome,
because events sent while nobody was listening are lost.

Text frames are JSON events. Binary frames start with a 4-byte big-endian event type
(ComfyUI's ``protocol.BinaryEventTypes``): ``PREVIEW_IMAGE`` (1) is a 4-byte image format
(1 JPEG, 2 PNG) and the image; ``PREVIEW_IMAGE_WITH_METADATA`` (4), sent instead to a
client that announced ``supports_preview_metadata``, is a 4-byte JSON length, JSON naming
the prompt and node, and the image. ComfyUI sends previews only when started with
``--preview-method``.
"""

from __future__ import annotations

import contextlib
import json
import struct
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


PREVIEW_IMAGE = 1
UNENCODED_PREVIEW_IMAGE = 2  # ComfyUI encodes it before sending: never on the wire
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

_FORMATS = {1: "image/jpeg", 2: "image/png"}
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}

# Sent as the first message: ComfyUI then names the prompt of every preview it sends.
FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


@dataclass(frozen=True)
class WsPreview:
    """One step preview. ``prompt_id`` is None for a ``PREVIEW_IMAGE`` frame, which ComfyUI
    sends only to the client whose prompt is executing."""

    image: bytes = field(repr=False)
    mime: str
    prompt_id: str | None = None
    node_id: str | None = None


def _sniffed(image: bytes) -> str | None:
    return next((mime for magic, mime in _MAGIC.items() if image.startswith(magic)), None)


def parse_binary_frame(payload: bytes) -> WsPreview | None:
    """A preview from a binary frame, or None for other binary events and broken frames."""
    if len(payload) < 8:
        return None
    (event,) = struct.unpack(">I", payload[:4])
    if event == PREVIEW_IMAGE:
        (image_format,) = struct.unpack(">I", payload[4:8])
        mime = _FORMATS.get(image_format)
        image = bytes(payload[8:])
        return WsPreview(image=image, mime=mime) if mime and image else None
    if event != PREVIEW_IMAGE_WITH_METADATA:
        return None
    (length,) = struct.unpack(">I", payload[4:8])
    if len(payload) < 8 + length:
        return None
    try:
        metadata = json.loads(payload[8 : 8 + length])
    except ValueError:
        return None
    if not isinstance(metadata, dict):
        return None
    image = bytes(payload[8 + length :])
    mime = metadata.get("image_type")
    if mime not in _FORMATS.values():
        mime = _sniffed(image)
    if not image or mime is None:
        return None
    prompt_id, node_id = metadata.get("prompt_id"), metadata.get("node_id")
    return WsPreview(
        image=image,
        mime=mime,
        prompt_id=prompt_id if isinstance(prompt_id, str) else None,
        node_id=str(node_id) if isinstance(node_id, str | int) else None,
    )


def parse_text_frame(payload: str | bytes) -> WsEvent | None:
    """A JSON event, or None for anything that is not ``{"type": str, ...}``."""
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    if isinstance(message, dict) and isinstance(message.get("type"), str):
        data = message.get("data")
        return WsEvent(type=message["type"], data=data if isinstance(data, dict) else {})
    return None


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
    stream = EventStream(base_url, client_id, connect_timeout=timeout, preview_metadata=False)
    try:
        while (event := stream.next_event(timeout)) is not None:
            yield event
    finally:
        stream.close()


class EventStream:
    """One open websocket, read an event at a time with a timeout (a worker following a
    prompt must also do other things: heartbeat, look for a cancel, poll history)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        connect_timeout: float = 5.0,
        *,
        preview_metadata: bool = True,
    ) -> None:
        """`preview_metadata` asks ComfyUI to name the prompt of each preview (it answers
        with a `feature_flags` event)."""
        try:
            self._conn = websocket.create_connection(
                ws_url(base_url, client_id), timeout=connect_timeout
            )
            if preview_metadata:
                self._conn.send(json.dumps(FEATURE_FLAGS))
        except (OSError, websocket.WebSocketException) as exc:
            raise ComfyUnreachable(f"Cannot open websocket on {base_url}", url=base_url) from exc
        self.closed = False

    def next_message(self, timeout: float) -> WsEvent | WsPreview | None:
        """The next JSON event or preview, or None after `timeout` seconds of silence.
        Sets `closed` when the server goes away."""
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
            if opcode == websocket.ABNF.OPCODE_TEXT:
                message: WsEvent | WsPreview | None = parse_text_frame(payload)
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                message = parse_binary_frame(payload)
            else:
                message = None
            if message is not None:
                return message

    def next_event(self, timeout: float) -> WsEvent | None:
        """The next JSON event, or None after `timeout` seconds of silence; previews are
        skipped."""
        while (message := self.next_message(timeout)) is not None:
            if isinstance(message, WsEvent):
                return message
        return None

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self._conn.close()
