"""Typed views of ComfyUI's JSON answers, parsed in one place.

The rest of the project reads these dataclasses instead of poking into nested dicts,
so a change in ComfyUI's shapes breaks here, loudly, as ``ComfyProtocolError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ComfyProtocolError


@dataclass(frozen=True)
class OutputFile:
    """One file a node wrote; the triple is what ``GET /view`` needs to fetch it."""

    filename: str
    subfolder: str
    type: str


@dataclass(frozen=True)
class ExecutionError:
    """Why a prompt failed while running. Deliberately carries no traceback."""

    node_id: str
    node_type: str
    exception_message: str
    exception_type: str = ""
    interrupted: bool = False

    @property
    def user_message(self) -> str:
        """Short text safe to show a user, e.g. ``VAELoader: Error while deserializing...``."""
        message = self.exception_message.strip() or "Execution failed"
        return f"{self.node_type}: {message}" if self.node_type else message


@dataclass(frozen=True)
class HistoryEntry:
    """A finished prompt as ``GET /history`` reports it."""

    prompt_id: str
    status_str: str
    completed: bool
    outputs: list[OutputFile] = field(default_factory=list)
    error: ExecutionError | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_str == "success" and self.completed

    @property
    def interrupted(self) -> bool:
        return self.error is not None and self.error.interrupted


@dataclass(frozen=True)
class QueueState:
    """Prompt ids ComfyUI is running and has waiting, in queue order."""

    running: list[str]
    pending: list[str]

    @property
    def length(self) -> int:
        return len(self.running) + len(self.pending)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


@dataclass(frozen=True)
class DeviceStats:
    name: str
    type: str
    vram_total: int
    vram_free: int


@dataclass(frozen=True)
class SystemStats:
    """``GET /system_stats``; ``is_simulator`` tells the health page not to trust its images."""

    comfyui_version: str
    python_version: str
    os: str
    ram_total: int
    ram_free: int
    devices: list[DeviceStats]
    is_simulator: bool


def _require_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ComfyProtocolError(f"Expected a JSON object for {what}, got {type(value).__name__}")
    return value


def _require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ComfyProtocolError(f"Expected a JSON list for {what}, got {type(value).__name__}")
    return value


def _parse_outputs(raw: Any) -> list[OutputFile]:
    files: list[OutputFile] = []
    for node_output in _require_dict(raw, "history outputs").values():
        if not isinstance(node_output, dict):
            continue
        for items in node_output.values():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(
                        OutputFile(
                            filename=item["filename"],
                            subfolder=str(item.get("subfolder") or ""),
                            type=str(item.get("type") or "output"),
                        )
                    )
    return files


def _parse_error(messages: Any) -> ExecutionError | None:
    if not isinstance(messages, list):
        return None
    for message in messages:
        if not (isinstance(message, list | tuple) and len(message) == 2):
            continue
        event, data = message
        if not isinstance(data, dict):
            continue
        if event == "execution_error":
            return ExecutionError(
                node_id=str(data.get("node_id", "")),
                node_type=str(data.get("node_type", "")),
                exception_message=str(data.get("exception_message", "")),
                exception_type=str(data.get("exception_type", "")),
            )
        if event == "execution_interrupted":
            return ExecutionError(
                node_id=str(data.get("node_id", "")),
                node_type=str(data.get("node_type", "")),
                exception_message="Execution interrupted",
                interrupted=True,
            )
    return None


def parse_history_entry(prompt_id: str, raw: Any) -> HistoryEntry:
    """Parse one value of the ``/history`` mapping."""
    entry = _require_dict(raw, f"history entry {prompt_id}")
    status = entry.get("status") or {}
    if not isinstance(status, dict):
        raise ComfyProtocolError(f"History entry {prompt_id} has a malformed status")
    status_str = str(status.get("status_str") or "")
    error = _parse_error(status.get("messages"))
    return HistoryEntry(
        prompt_id=prompt_id,
        status_str=status_str,
        completed=bool(status.get("completed", False)),
        outputs=_parse_outputs(entry.get("outputs") or {}),
        error=error,
    )


def parse_history(raw: Any) -> dict[str, HistoryEntry]:
    """Parse a ``/history`` answer: a mapping of prompt id to entry."""
    return {
        str(prompt_id): parse_history_entry(str(prompt_id), value)
        for prompt_id, value in _require_dict(raw, "history").items()
    }


def _queue_ids(items: Any, what: str) -> list[str]:
    ids = []
    for item in _require_list(items, what):
        if not (isinstance(item, list) and len(item) >= 2):
            raise ComfyProtocolError(f"Malformed {what} item")
        ids.append(str(item[1]))
    return ids


def parse_queue(raw: Any) -> QueueState:
    """Parse ``GET /queue``; items are ``[number, prompt_id, graph, extra, outputs]``."""
    data = _require_dict(raw, "queue")
    return QueueState(
        running=_queue_ids(data.get("queue_running", []), "queue_running"),
        pending=_queue_ids(data.get("queue_pending", []), "queue_pending"),
    )


def parse_system_stats(raw: Any) -> SystemStats:
    """Parse ``GET /system_stats``; only the fields the health page uses."""
    data = _require_dict(raw, "system_stats")
    system = _require_dict(data.get("system"), "system_stats.system")
    devices = [
        DeviceStats(
            name=str(d.get("name", "")),
            type=str(d.get("type", "")),
            vram_total=int(d.get("vram_total") or 0),
            vram_free=int(d.get("vram_free") or 0),
        )
        for d in _require_list(data.get("devices", []), "system_stats.devices")
        if isinstance(d, dict)
    ]
    return SystemStats(
        comfyui_version=str(system.get("comfyui_version", "")),
        python_version=str(system.get("python_version", "")),
        os=str(system.get("os", "")),
        ram_total=int(system.get("ram_total") or 0),
        ram_free=int(system.get("ram_free") or 0),
        devices=devices,
        is_simulator=system.get("simulator") is True,
    )
