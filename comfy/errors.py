"""One exception hierarchy for everything that can go wrong talking to ComfyUI.

Callers catch ``ComfyError`` for "the backend failed us" and the subclasses when they
need to tell a dead backend (retry later, try another) from a graph the backend refused
(a bug in our workflow builder or a missing model file: retrying will not help).
"""

from __future__ import annotations

from typing import Any


class ComfyError(Exception):
    """Base class for every error raised by the ``comfy`` package."""


class ComfyUnreachable(ComfyError):
    """Connection refused, timeout or 5xx after all retries: the backend is not usable now."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class ComfyProtocolError(ComfyError):
    """The backend answered, but not in a shape we understand (bad JSON, other 4xx)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class GraphRejected(ComfyError):
    """``POST /prompt`` answered 400: the graph failed ComfyUI's validation.

    Keeps ComfyUI's own ``error`` and ``node_errors`` dicts so they can be logged or shown
    as they are; ``str()`` gives a readable one-line-per-problem summary.
    """

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any]) -> None:
        self.error = error
        self.node_errors = node_errors
        super().__init__(self._describe())

    def _describe(self) -> str:
        message = str(self.error.get("message") or "Graph rejected")
        lines = [f"ComfyUI rejected the graph: {message}"]
        details = self.error.get("details")
        if details and not self.node_errors:
            lines[0] += f" ({details})"
        for node_id, entry in self.node_errors.items():
            class_type = entry.get("class_type", "?") if isinstance(entry, dict) else "?"
            errors = entry.get("errors", []) if isinstance(entry, dict) else []
            for err in errors:
                text = f"  node {node_id} ({class_type}): {err.get('message', '')}"
                if err.get("details"):
                    text += f": {err['details']}"
                lines.append(text)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._describe()
