"""Follow one prompt on one ComfyUI backend to its end.

A render worker queues a prompt on its own backend and stays with it: progress comes from
the websocket, the outcome from ``/history`` (read when the websocket says the prompt is
done, and every ``poll_seconds`` anyway, since events sent while nobody listened are lost).
The worker's own checks (a heartbeat, a cancel) run between events through ``keep_going``.
Step previews (when ComfyUI was started with ``--preview-method``) go to ``on_preview``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from .client import ComfyClient
from .errors import ComfyError, ComfyUnreachable
from .results import HistoryEntry
from .ws import EventStream, WsEvent, WsPreview

DONE_EVENTS = frozenset({"execution_success", "execution_error", "execution_interrupted"})


@dataclass(frozen=True)
class Finished:
    entry: HistoryEntry


@dataclass(frozen=True)
class Lost:
    """The backend can no longer finish it: unreachable too long, or it forgot the prompt."""

    reason: str


@dataclass(frozen=True)
class Stopped:
    """``keep_going`` said stop: the prompt was taken off the backend (that prompt only)."""


Outcome = Finished | Lost | Stopped


def prompt_locate(client: ComfyClient, prompt_id: str) -> str | HistoryEntry:
    """Where the backend has the prompt: its history entry, "running", "pending" or
    "unknown". Lets a redelivered job pick up its prompt instead of queueing it twice."""
    entry = client.get_history(prompt_id)
    if entry is not None:
        return entry
    queue = client.get_queue()
    if prompt_id in queue.running:
        return "running"
    return "pending" if prompt_id in queue.pending else "unknown"


def prompt_follow(
    client: ComfyClient,
    prompt_id: str,
    *,
    events: EventStream | None,
    on_progress: Callable[[int | float, int | float], None],
    keep_going: Callable[[], bool],
    on_preview: Callable[[bytes, str], None] | None = None,
    poll_seconds: float = 2.0,
    dead_after: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Follow `prompt_id` until it is finished, lost or stopped.

    `on_preview(image_bytes, mime)` gets the step previews of this prompt: those whose frame
    names it, and those that name no prompt (ComfyUI's older frame, sent only to the client
    whose prompt runs) while this prompt is the one executing for this client.
    """
    last_contact = clock()
    next_poll = clock() + poll_seconds
    unknown = 0
    executing: str | None = None  # the prompt of this client that ComfyUI runs now
    while True:
        if not keep_going():
            with contextlib.suppress(ComfyError):
                client.cancel(prompt_id)
            return Stopped()
        if events is not None and not events.closed:
            message = events.next_message(timeout=0.5)
        else:
            time.sleep(min(0.5, poll_seconds))
            message = None
        event: WsEvent | None = None
        if isinstance(message, WsPreview):
            if (message.prompt_id or executing) == prompt_id:
                last_contact = clock()
                if on_preview is not None:
                    on_preview(message.image, message.mime)
        else:
            event = message
        if event is not None and event.prompt_id is not None:
            ended = event.type in DONE_EVENTS or event.is_prompt_done
            executing = None if ended else event.prompt_id
        if event is not None and event.prompt_id == prompt_id:
            last_contact = clock()
            if event.type == "progress":
                value, maximum = event.data.get("value"), event.data.get("max")
                if isinstance(value, int | float) and isinstance(maximum, int | float):
                    on_progress(value, maximum)
            if event.type in DONE_EVENTS or event.is_prompt_done:
                next_poll = clock()
        if clock() < next_poll:
            continue
        next_poll = clock() + poll_seconds
        try:
            where = prompt_locate(client, prompt_id)
        except ComfyUnreachable as exc:
            if clock() - last_contact > dead_after:
                return Lost(f"the ComfyUI backend was unreachable for {dead_after:.0f} s ({exc})")
            continue
        last_contact = clock()
        if isinstance(where, HistoryEntry):
            if where.completed or where.status_str in ("success", "error"):
                return Finished(where)
            continue  # still being written to history
        if where != "unknown":
            unknown = 0
            continue
        # Twice in a row: a prompt may leave the queue just before its history is read.
        unknown += 1
        if unknown >= 2:
            return Lost("the ComfyUI backend no longer knows this prompt (it restarted)")
