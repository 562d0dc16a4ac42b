"""HTTP client for one ComfyUI server.

Every call has a timeout; idempotent calls are retried with exponential backoff on
connection errors and 5xx. ``POST /prompt`` is retried only when the caller chose the
``prompt_id``: before re-sending, the client asks the server whether that id is already
queued or finished, so a lost answer never queues the same job twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from .errors import ComfyProtocolError, ComfyUnreachable, GraphRejected
from .results import (
    ExecutionError,
    HistoryEntry,
    OutputFile,
    QueueState,
    SystemStats,
    parse_history,
    parse_history_entry,
    parse_queue,
    parse_system_stats,
)

__all__ = [
    "ComfyClient",
    "ExecutionError",
    "HistoryEntry",
    "OutputFile",
    "QueueState",
    "SystemStats",
]

Timeout = float | tuple[float, float]


class ComfyClient:
    """One ComfyUI backend, one ``requests.Session``.

    ``retries`` is the number of extra attempts after the first; the wait before attempt
    ``n`` is ``backoff * 2 ** (n - 1)`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        timeout: Timeout = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.session = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"ComfyClient({self.base_url!r})"

    # -- transport ---------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _wait(self, attempt: int) -> None:
        if attempt > 0 and self.backoff > 0:
            self._sleep(self.backoff * 2 ** (attempt - 1))

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One attempt; connection problems become ``ComfyUnreachable``."""
        try:
            return self.session.request(method, self._url(path), timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise ComfyUnreachable(
                f"Timed out calling {method} {path} on {self.base_url}", url=self.base_url
            ) from exc
        except requests.ConnectionError as exc:
            raise ComfyUnreachable(
                f"Cannot connect to {self.base_url} ({method} {path})", url=self.base_url
            ) from exc
        except requests.RequestException as exc:
            # A body cut off mid-answer (ChunkedEncodingError), a bad redirect...: the
            # backend did not answer properly, which callers treat like unreachable.
            raise ComfyUnreachable(
                f"Broken answer from {self.base_url} ({method} {path}): {type(exc).__name__}",
                url=self.base_url,
            ) from exc

    def _request(
        self, method: str, path: str, *, retry: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send with retries; return the first non-5xx response, 4xx included."""
        attempts = self.retries + 1 if retry else 1
        last: ComfyUnreachable | None = None
        for attempt in range(attempts):
            self._wait(attempt)
            try:
                response = self._send(method, path, **kwargs)
            except ComfyUnreachable as exc:
                last = exc
                continue
            if response.status_code >= 500:
                last = ComfyUnreachable(
                    f"{method} {path} on {self.base_url} answered {response.status_code}",
                    url=self.base_url,
                )
                continue
            return response
        assert last is not None
        raise last

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise ComfyProtocolError(
                f"Malformed JSON from {response.request.method} {response.url}",
                status_code=response.status_code,
            ) from exc

    @staticmethod
    def _check(response: requests.Response) -> None:
        if response.status_code >= 400:
            raise ComfyProtocolError(
                f"{response.request.method} {response.url} answered {response.status_code}: "
                f"{response.text[:200]}",
                status_code=response.status_code,
            )

    def _get_json(self, path: str, **kwargs: Any) -> Any:
        response = self._request("GET", path, **kwargs)
        self._check(response)
        return self._json(response)

    # -- API -----------------------------------------------------------------------------

    def upload_image(self, data: bytes, filename: str, overwrite: bool = False) -> str:
        """Put an image in ComfyUI's input folder; return the name to use in the graph.

        ComfyUI renames on collision (``probe (1).png``), so the returned name, not the one
        we sent, is what ``LoadImage`` must reference. Retrying is safe: identical bytes
        under the same name are deduplicated by the server.
        """
        response = self._request(
            "POST",
            "/upload/image",
            files={"image": (filename, data, "image/png")},
            data={"overwrite": "true" if overwrite else "false", "type": "input"},
        )
        self._check(response)
        body = self._json(response)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ComfyProtocolError("Upload answer has no 'name'")
        subfolder = body.get("subfolder") or ""
        return f"{subfolder}/{body['name']}" if subfolder else body["name"]

    def queue_prompt(
        self,
        graph: dict[str, Any],
        prompt_id: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """Queue an API-format graph and return its prompt id.

        Without a ``prompt_id`` there is no way to tell whether a lost request was
        queued, so it is sent exactly once. With one, a failed attempt is followed by a
        check of ``/queue`` and ``/history`` before re-sending.
        """
        payload: dict[str, Any] = {"prompt": graph}
        if prompt_id is not None:
            payload["prompt_id"] = prompt_id
        if client_id is not None:
            payload["client_id"] = client_id
        if prompt_id is None:
            return self._post_prompt_once(payload)

        last: ComfyUnreachable | None = None
        for attempt in range(self.retries + 1):
            self._wait(attempt)
            if attempt > 0 and self._prompt_is_known(prompt_id):
                return prompt_id
            try:
                response = self._request("POST", "/prompt", retry=False, json=payload)
            except ComfyUnreachable as exc:  # no answer, or a 5xx
                last = exc
                continue
            if response.status_code == 400 and attempt > 0 and self._prompt_is_known(prompt_id):
                return prompt_id
            return self._prompt_answer(response)
        assert last is not None
        raise last

    def _post_prompt_once(self, payload: dict[str, Any]) -> str:
        return self._prompt_answer(self._request("POST", "/prompt", retry=False, json=payload))

    def _prompt_answer(self, response: requests.Response) -> str:
        if response.status_code == 400:
            body = self._json(response)
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                node_errors = body.get("node_errors")
                raise GraphRejected(
                    body["error"], node_errors if isinstance(node_errors, dict) else {}
                )
        self._check(response)
        body = self._json(response)
        if not isinstance(body, dict) or not isinstance(body.get("prompt_id"), str):
            raise ComfyProtocolError("POST /prompt answer has no 'prompt_id'")
        return body["prompt_id"]

    def _prompt_is_known(self, prompt_id: str) -> bool:
        """Whether the server already holds this prompt (queued, running or finished)."""
        try:
            response = self._request("GET", "/queue", retry=False)
            self._check(response)
            if prompt_id in parse_queue(self._json(response)):
                return True
            response = self._request("GET", f"/history/{quote(prompt_id)}", retry=False)
            self._check(response)
            body = self._json(response)
            return isinstance(body, dict) and prompt_id in body
        except (ComfyUnreachable, ComfyProtocolError):
            return False

    def get_history(self, prompt_id: str) -> HistoryEntry | None:
        """The finished prompt, or ``None`` while it is queued, running or unknown."""
        body = self._get_json(f"/history/{quote(prompt_id)}")
        if not isinstance(body, dict):
            raise ComfyProtocolError("History answer is not a JSON object")
        if prompt_id not in body:
            return None
        return parse_history_entry(prompt_id, body[prompt_id])

    def get_recent_history(self, max_items: int) -> dict[str, HistoryEntry]:
        """The ``max_items`` most recent finished prompts in one call, keyed by prompt id."""
        return parse_history(self._get_json("/history", params={"max_items": max_items}))

    def get_queue(self) -> QueueState:
        return parse_queue(self._get_json("/queue"))

    def download(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        """Fetch an output file by the triple history reported."""
        response = self._request(
            "GET", "/view", params={"filename": filename, "subfolder": subfolder, "type": type}
        )
        self._check(response)
        return response.content

    def download_output(self, output: OutputFile) -> bytes:
        return self.download(output.filename, output.subfolder, output.type)

    def cancel(self, prompt_id: str) -> None:
        """Drop a pending prompt, or interrupt it if it is already running.

        ``POST /interrupt`` carries the prompt id so a prompt that finished meanwhile
        does not get its successor interrupted.
        """
        response = self._request("POST", "/queue", json={"delete": [prompt_id]})
        self._check(response)
        if prompt_id in self.get_queue().running:
            response = self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
            self._check(response)

    def system_stats(self) -> SystemStats:
        """Cheap health probe; also tells whether the backend is the simulator."""
        return parse_system_stats(self._get_json("/system_stats"))

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        path = "/object_info" if node_class is None else f"/object_info/{quote(node_class)}"
        body = self._get_json(path)
        if not isinstance(body, dict):
            raise ComfyProtocolError("object_info answer is not a JSON object")
        return body
