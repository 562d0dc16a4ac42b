"""A ComfyUI-compatible HTTP + websocket server that runs graphs with Pillow.

Same endpoints, status codes and JSON shapes as the real server (see PROTOCOL.md);
graphs are validated with ``comfy.validation`` against the shipped node schemas. One job
runs at a time, taking ``step_ms`` per sampler step, like a single-GPU ComfyUI. With a
``preview_method`` (ComfyUI's ``--preview-method``) every sampler step also sends a JPEG
preview as a binary websocket frame, framed as ComfyUI frames it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ..validation import load_schemas, validate_graph
from .engine import SAMPLERS, GraphRunner, execution_order, graph_strings, sampler_steps
from .render import render_preview

logger = logging.getLogger(__name__)

COMFYUI_VERSION = "0.3.64"
MAXIMUM_HISTORY_SIZE = 10000
BANNER = "ComfyUI SIMULATOR (not a real ComfyUI) listening on {url}"
# ComfyUI's --preview-method choices; the simulator draws the same preview for all but none.
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
# protocol.BinaryEventTypes and the image format numbers of ComfyUI's server.send_image
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA, JPEG = 1, 4, 1
SERVER_FEATURE_FLAGS = {"supports_preview_metadata": True, "max_upload_size": 100 * 1024 * 1024}


@dataclass
class SimulatorOptions:
    """Knobs for speed and fault injection; defaults behave like a quick, healthy server."""

    latency_ms: float = 0.0
    step_ms: float = 50.0
    steps: int | None = None
    fail_marker: str = "SIMULATE_FAILURE"
    fail_all: bool = False
    http_500_rate: float = 0.0
    # /view answers a PNG cut after its signature: an output the caller cannot decode.
    broken_outputs: bool = False
    # ComfyUI's --preview-method: anything but "none" sends a preview after every step.
    preview_method: str = "none"
    data_dir: str | None = None
    schemas: Mapping[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.preview_method not in PREVIEW_METHODS:
            raise ValueError(f"preview_method must be one of {', '.join(PREVIEW_METHODS)}")


class _Interrupted(Exception):
    pass


class _Failed(Exception):
    def __init__(self, message: str, exception_type: str, tb: list[str]) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.traceback = tb


QueueItem = list[Any]  # [number, prompt_id, graph, extra_data, outputs_to_execute]


class Simulator:
    """State of one simulated server: folders, queue, history, websockets, one worker."""

    def __init__(self, options: SimulatorOptions, data_dir: Path) -> None:
        self.options = options
        self.schemas: Mapping[str, Any] = options.schemas or load_schemas()
        self.data_dir = data_dir.resolve()
        self.input_dir = self.data_dir / "input"
        self.output_dir = self.data_dir / "output"
        self.temp_dir = self.data_dir / "temp"
        for folder in (self.input_dir, self.output_dir, self.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.pending: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.number = 0
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.feature_flags: dict[str, dict[str, Any]] = {}  # what each client announced
        self.interrupt_requested = False
        self.current_node: str | None = None
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._http_500_budget = 0.0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        self._wake = asyncio.Event()
        self._worker = asyncio.create_task(self._work())

    async def close_websockets(self, _app: web.Application | None = None) -> None:
        for ws in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")
        self.sockets.clear()

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    # -- helpers ---------------------------------------------------------------------

    def folder_for(self, folder_type: str | None) -> Path | None:
        return {
            "input": self.input_dir,
            "output": self.output_dir,
            "temp": self.temp_dir,
        }.get(folder_type or "input")

    def input_files(self) -> set[str]:
        names = set()
        for root, _dirs, files in os.walk(self.input_dir):
            rel = os.path.relpath(root, self.input_dir)
            for name in files:
                names.add(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
        return names

    def queue_remaining(self) -> int:
        return len(self.pending) + (1 if self.running is not None else 0)

    def should_fail_http(self) -> bool:
        """Deterministic fault injection: every 1/rate-th call answers 500."""
        rate = self.options.http_500_rate
        if rate <= 0:
            return False
        self._http_500_budget += min(rate, 1.0)
        if self._http_500_budget >= 1.0 - 1e-9:
            self._http_500_budget -= 1.0
            return True
        return False

    async def send(self, event: str, data: dict[str, Any], sid: str | None) -> None:
        """To one client id, or to everybody when ``sid`` is None."""
        targets = list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]
        for ws in targets:
            if ws is None or ws.closed:
                continue
            try:
                await ws.send_json({"type": event, "data": data})
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("websocket send failed: %s", exc)

    async def send_bytes(self, event: int, payload: bytes, sid: str | None) -> None:
        """A binary frame as ComfyUI's ``encode_bytes``: the event type, big-endian."""
        targets = list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]
        for ws in targets:
            if ws is None or ws.closed:
                continue
            try:
                await ws.send_bytes(struct.pack(">I", event) + payload)
            except (ConnectionError, RuntimeError) as exc:
                logger.debug("websocket send failed: %s", exc)

    @property
    def previews(self) -> bool:
        return self.options.preview_method != "none"

    def wants_metadata(self, sid: str) -> bool:
        return self.feature_flags.get(sid, {}).get("supports_preview_metadata") is True

    async def broadcast_status(self) -> None:
        await self.send(
            "status", {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}, None
        )

    def put(self, item: QueueItem) -> None:
        self.pending.append(item)
        self.pending.sort(key=lambda queued: queued[0])
        if self._wake is not None:
            self._wake.set()

    # -- worker ----------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            while not self.pending:
                self._wake.clear()
                await self._wake.wait()
            item = self.pending.pop(0)
            self.running = item
            self.interrupt_requested = False
            await self.broadcast_status()
            try:
                await self._execute(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("simulator worker crashed on %s", item[1])
            finally:
                self.running = None
                self.current_node = None
            # As ComfyUI's prompt worker: the queue update, then "executing" with no node.
            await self.broadcast_status()
            await self.send(
                "executing", {"node": None, "prompt_id": item[1]}, item[3].get("client_id")
            )

    async def _execute(self, item: QueueItem) -> None:
        number, prompt_id, graph, extra_data, outputs = item
        client_id = extra_data.get("client_id")
        messages: list[list[Any]] = []

        async def message(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            if client_id is not None or broadcast:
                await self.send(event, data, client_id)

        await message("execution_start", {"prompt_id": prompt_id})
        await message("execution_cached", {"nodes": [], "prompt_id": prompt_id})
        node_states: dict[str, dict[str, Any]] = {}

        async def progress_state(node_id: str, value: float, maximum: float, state: str) -> None:
            """ComfyUI's progress registry: every node past pending, on every change."""
            node_states[node_id] = {
                "value": value,
                "max": maximum,
                "state": state,
                "node_id": node_id,
                "prompt_id": prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            if client_id:
                nodes = {key: dict(entry) for key, entry in node_states.items()}
                await self.send(
                    "progress_state", {"prompt_id": prompt_id, "nodes": nodes}, client_id
                )

        order = execution_order(graph, outputs)
        fail = self.options.fail_all or any(
            self.options.fail_marker and self.options.fail_marker in text
            for text in graph_strings(graph)
        )
        fail_node = next((n for n in order if graph[n]["class_type"] in SAMPLERS), order[-1])
        runner = GraphRunner(
            graph,
            self.schemas,
            input_dir=self.input_dir,
            output_dir=self.output_dir,
            temp_dir=self.temp_dir,
        )
        loop = asyncio.get_running_loop()
        ui_outputs: dict[str, Any] = {}
        executed: list[str] = []
        current = order[0] if order else ""
        try:
            for node_id in order:
                current = node_id
                if self.interrupt_requested:
                    raise _Interrupted
                display = {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}
                self.current_node = node_id
                await progress_state(node_id, 0.0, 1.0, "running")
                if client_id:
                    await self.send("executing", display, client_id)
                if fail and node_id == fail_node:
                    raise _Failed(
                        "Simulated failure",
                        "RuntimeError",
                        [f'  File "comfy/simulator", line 1, in {graph[node_id]["class_type"]}\n'],
                    )
                if graph[node_id]["class_type"] in SAMPLERS:
                    await self._sample(graph, node_id, prompt_id, client_id, progress_state, runner)
                try:
                    ui = await loop.run_in_executor(None, runner.run_node, node_id)
                except Exception as exc:
                    raise _Failed(
                        str(exc), type(exc).__name__, traceback.format_tb(exc.__traceback__)
                    ) from exc
                executed.append(node_id)
                if ui is not None:
                    ui_outputs[node_id] = ui
                    if client_id:
                        await self.send(
                            "executed",
                            {**display, "output": ui},
                            client_id,
                        )
                maximum = node_states[node_id]["max"]
                await progress_state(node_id, maximum, maximum, "finished")
            await message("execution_success", {"prompt_id": prompt_id})
            status = {"status_str": "success", "completed": True, "messages": messages}
        except _Interrupted:
            ui_outputs = {}
            await message(
                "execution_interrupted",
                {
                    "prompt_id": prompt_id,
                    "node_id": current,
                    "node_type": graph[current]["class_type"] if current else "",
                    "executed": executed,
                },
                broadcast=True,
            )
            status = {"status_str": "error", "completed": False, "messages": messages}
        except _Failed as exc:
            ui_outputs = {}
            await message(
                "execution_error",
                {
                    "prompt_id": prompt_id,
                    "node_id": current,
                    "node_type": graph[current]["class_type"],
                    "executed": executed,
                    "exception_message": str(exc),
                    "exception_type": exc.exception_type,
                    "traceback": exc.traceback,
                    "current_inputs": {},
                    "current_outputs": [],
                },
            )
            status = {"status_str": "error", "completed": False, "messages": messages}
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        self.history.pop(prompt_id, None)
        self.history[prompt_id] = {
            "prompt": [number, prompt_id, graph, extra_data, outputs],
            "outputs": ui_outputs,
            "status": status,
            "meta": {
                node_id: {
                    "node_id": node_id,
                    "display_node": node_id,
                    "parent_node": None,
                    "real_node_id": node_id,
                }
                for node_id in ui_outputs
            },
        }

    async def _sample(
        self,
        graph: Mapping[str, Any],
        node_id: str,
        prompt_id: str,
        client_id: str | None,
        progress_state: Any,
        runner: GraphRunner,
    ) -> None:
        steps = self.options.steps or sampler_steps(graph, node_id)
        latent = runner.sampler_latent(node_id) if self.previews and client_id else None
        for step in range(1, steps + 1):
            if self.options.step_ms > 0:
                await asyncio.sleep(self.options.step_ms / 1000)
            if self.interrupt_requested:
                raise _Interrupted
            preview = None
            if latent is not None:
                preview = await asyncio.get_running_loop().run_in_executor(
                    None,
                    render_preview,
                    " ".join(latent.texts),
                    latent.seed,
                    latent.width,
                    latent.height,
                    step,
                    steps,
                )
            # ComfyUI's progress hook: the registry's update (with the preview for a client
            # that asked for metadata), then the step event (then the older preview frame).
            await progress_state(node_id, step, steps, "running")
            with_metadata = client_id is not None and self.wants_metadata(client_id)
            if preview is not None and with_metadata:
                await self._send_preview(preview, prompt_id, node_id, client_id)
            if client_id:
                progress = {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id}
                await self.send("progress", progress, client_id)
            if preview is not None and not with_metadata:
                await self._send_preview(preview, None, node_id, client_id)

    async def _send_preview(
        self, jpeg: bytes, prompt_id: str | None, node_id: str, client_id: str | None
    ) -> None:
        """ComfyUI's two frames: ``PREVIEW_IMAGE`` (format, image) for a client that did not
        announce ``supports_preview_metadata``; otherwise ``PREVIEW_IMAGE_WITH_METADATA``
        (JSON length, JSON naming prompt and node, image)."""
        if prompt_id is None:
            await self.send_bytes(PREVIEW_IMAGE, struct.pack(">I", JPEG) + jpeg, client_id)
            return
        metadata = {
            "node_id": node_id,
            "prompt_id": prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
            "image_type": "image/jpeg",
        }
        encoded = json.dumps(metadata).encode()
        payload = struct.pack(">I", len(encoded)) + encoded + jpeg
        await self.send_bytes(PREVIEW_IMAGE_WITH_METADATA, payload, client_id)


SIMULATOR_KEY = web.AppKey("simulator", Simulator)


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR_KEY]


@web.middleware
async def _faults(request: web.Request, handler: Any) -> web.StreamResponse:
    sim = _sim(request)
    if request.path not in ("/ws", "/api/ws"):
        if sim.options.latency_ms > 0:
            await asyncio.sleep(sim.options.latency_ms / 1000)
        if sim.should_fail_http():
            return web.Response(status=500, text="500 Internal Server Error (simulated)")
    response = await handler(request)
    response.headers["X-ComfyUI-Simulator"] = "1"
    return response


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def root(request: web.Request) -> web.Response:
    return web.Response(text="ComfyUI SIMULATOR (not a real ComfyUI). See /system_stats.\n")


async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
    sim = _sim(request)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    sid = request.query.get("clientId") or uuid.uuid4().hex
    sim.sockets[sid] = ws
    sim.feature_flags[sid] = {}
    try:
        status = {"exec_info": {"queue_remaining": sim.queue_remaining()}}
        await ws.send_json({"type": "status", "data": {"status": status, "sid": sid}})
        running = sim.running
        if running is not None and running[3].get("client_id") == sid and sim.current_node:
            data = {"node": sim.current_node, "prompt_id": running[1]}
            await ws.send_json({"type": "executing", "data": data})
        first_message = True
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
            if msg.type != WSMsgType.TEXT:
                continue
            # As ComfyUI: a first message {"type": "feature_flags"} sets the client's flags
            # (previews with metadata) and is answered with the server's.
            with contextlib.suppress(ValueError, AttributeError):
                message = json.loads(msg.data)
                if first_message and message.get("type") == "feature_flags":
                    flags = message.get("data")
                    sim.feature_flags[sid] = flags if isinstance(flags, dict) else {}
                    await ws.send_json({"type": "feature_flags", "data": SERVER_FEATURE_FLAGS})
            first_message = False
    finally:
        if sim.sockets.get(sid) is ws:
            sim.sockets.pop(sid, None)
            sim.feature_flags.pop(sid, None)
    return ws


async def upload_image(request: web.Request) -> web.Response:
    sim = _sim(request)
    post = await request.post()
    image = post.get("image")
    if not isinstance(image, web.FileField) or not image.filename:
        return web.Response(status=400)
    folder_type = str(post.get("type") or "input")
    upload_dir = sim.folder_for(folder_type)
    if upload_dir is None:
        upload_dir, folder_type = sim.input_dir, "input"
    subfolder = str(post.get("subfolder") or "")
    full_folder = os.path.join(str(upload_dir), os.path.normpath(subfolder))
    filename = image.filename
    filepath = os.path.abspath(os.path.join(full_folder, filename))
    if os.path.commonpath((str(upload_dir), filepath)) != str(upload_dir):
        return web.Response(status=400)
    os.makedirs(full_folder, exist_ok=True)
    data = image.file.read()
    overwrite = str(post.get("overwrite") or "") in ("true", "1")
    duplicate = False
    if not overwrite:
        stem, ext = os.path.splitext(filename)
        i = 1
        while os.path.exists(filepath):
            with open(filepath, "rb") as existing:
                if hashlib.sha256(existing.read()).digest() == hashlib.sha256(data).digest():
                    duplicate = True
                    break
            filename = f"{stem} ({i}){ext}"
            filepath = os.path.join(full_folder, filename)
            i += 1
    if not duplicate:
        with open(filepath, "wb") as out:
            out.write(data)
    return web.json_response({"name": filename, "subfolder": subfolder, "type": folder_type})


async def post_prompt(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        error = {
            "type": "invalid_prompt",
            "message": "Invalid JSON body",
            "details": "",
            "extra_info": {},
        }
        return web.json_response({"error": error, "node_errors": {}}, status=400)
    if "number" in body:
        number: float | int = float(body["number"])
    else:
        number = sim.number
        if body.get("front"):
            number = -number
        sim.number += 1
    if "prompt" not in body:
        error = {
            "type": "no_prompt",
            "message": "No prompt provided",
            "details": "No prompt provided",
            "extra_info": {},
        }
        return web.json_response({"error": error, "node_errors": {}}, status=400)
    graph = body["prompt"]
    prompt_id = str(body.get("prompt_id") or uuid.uuid4())
    result = validate_graph(graph, sim.schemas, input_files=sim.input_files())
    if not result.ok:
        return web.json_response(result.as_response(), status=400)
    extra_data = dict(body.get("extra_data") or {})
    if "client_id" in body:
        extra_data["client_id"] = body["client_id"]
    sim.put([number, prompt_id, graph, extra_data, result.outputs])
    await sim.broadcast_status()
    return web.json_response(
        {"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors}
    )


async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response({"exec_info": {"queue_remaining": _sim(request).queue_remaining()}})


async def get_history(request: web.Request) -> web.Response:
    sim = _sim(request)
    try:
        max_items = int(request.query["max_items"]) if "max_items" in request.query else None
        offset = int(request.query.get("offset", -1))
    except ValueError:
        return web.Response(status=400)
    if offset < 0 and max_items is not None:
        offset = len(sim.history) - max_items
    out = {}
    for i, (prompt_id, entry) in enumerate(sim.history.items()):
        if i >= offset:
            out[prompt_id] = entry
            if max_items is not None and len(out) >= max_items:
                break
    return web.json_response(out)


async def get_history_item(request: web.Request) -> web.Response:
    sim = _sim(request)
    prompt_id = request.match_info["prompt_id"]
    entry = sim.history.get(prompt_id)
    return web.json_response({prompt_id: entry} if entry is not None else {})


async def post_history(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _json_body(request) or {}
    if body.get("clear"):
        sim.history.clear()
    for prompt_id in body.get("delete", []) or []:
        sim.history.pop(prompt_id, None)
    return web.Response(status=200)


async def get_queue(request: web.Request) -> web.Response:
    sim = _sim(request)
    running = [sim.running] if sim.running is not None else []
    return web.json_response({"queue_running": running, "queue_pending": list(sim.pending)})


async def post_queue(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _json_body(request) or {}
    changed = False
    if body.get("clear"):
        changed = bool(sim.pending)
        sim.pending.clear()
    for prompt_id in body.get("delete", []) or []:
        for index, item in enumerate(sim.pending):
            if item[1] == prompt_id:
                del sim.pending[index]
                changed = True
                break
    if changed:
        await sim.broadcast_status()
    return web.Response(status=200)


async def post_interrupt(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _json_body(request) or {}
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    if sim.running is not None and (not prompt_id or sim.running[1] == prompt_id):
        sim.interrupt_requested = True
    return web.Response(status=200)


async def view(request: web.Request) -> web.Response:
    sim = _sim(request)
    filename = request.query.get("filename")
    if filename is None:
        return web.Response(status=404)
    if not filename or filename.startswith("/") or ".." in filename:
        return web.Response(status=400)
    base = sim.folder_for(request.query.get("type", "output"))
    if base is None:
        return web.Response(status=400)
    folder = str(base)
    subfolder = request.query.get("subfolder")
    if subfolder:
        full = os.path.join(folder, subfolder)
        if os.path.commonpath((os.path.abspath(full), folder)) != folder:
            return web.Response(status=403)
        folder = full
    path = os.path.join(folder, os.path.basename(filename))
    if not os.path.isfile(path):
        return web.Response(status=404)
    with open(path, "rb") as handle:
        data = handle.read()
    if sim.options.broken_outputs:
        data = data[:8]
    content_type = "image/png" if path.lower().endswith(".png") else "application/octet-stream"
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"Content-Disposition": f'filename="{os.path.basename(filename)}"'},
    )


async def system_stats(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "system": {
                "os": os.name,
                "ram_total": 17179869184,
                "ram_free": 8589934592,
                "comfyui_version": COMFYUI_VERSION,
                "required_frontend_version": "",
                "installed_templates_version": None,
                "required_templates_version": "",
                "python_version": sys.version,
                "pytorch_version": "none (simulator)",
                "embedded_python": False,
                "argv": ["comfyui_simulator"],
                "simulator": True,
            },
            "devices": [
                {
                    "name": f"ComfyUI simulator on {platform.machine() or 'cpu'} (no GPU)",
                    "type": "cpu",
                    "index": None,
                    "vram_total": 0,
                    "vram_free": 0,
                    "torch_vram_total": 0,
                    "torch_vram_free": 0,
                }
            ],
        }
    )


async def object_info(request: web.Request) -> web.Response:
    return web.json_response(dict(_sim(request).schemas))


async def object_info_node(request: web.Request) -> web.Response:
    schemas = _sim(request).schemas
    name = request.match_info["node_class"]
    return web.json_response({name: schemas[name]} if name in schemas else {})


def create_app(
    options: SimulatorOptions | None = None, *, data_dir: str | Path | None = None
) -> web.Application:
    """The aiohttp application. Without a data dir, files live in a temp dir removed on
    cleanup."""
    options = options or SimulatorOptions()
    owned = None
    folder = data_dir or options.data_dir
    if folder is None:
        owned = tempfile.mkdtemp(prefix="comfyui-simulator-")
        folder = owned
    sim = Simulator(options, Path(folder))
    app = web.Application(middlewares=[_faults], client_max_size=100 * 1024 * 1024)
    app[SIMULATOR_KEY] = sim
    app.on_startup.append(sim.start)
    app.on_shutdown.append(sim.close_websockets)
    app.on_cleanup.append(sim.stop)
    if owned is not None:

        async def remove_temp(_app: web.Application) -> None:
            shutil.rmtree(owned, ignore_errors=True)

        app.on_cleanup.append(remove_temp)
    app.router.add_get("/", root)
    routes = [
        ("GET", "/ws", websocket_handler),
        ("POST", "/upload/image", upload_image),
        ("POST", "/prompt", post_prompt),
        ("GET", "/prompt", get_prompt),
        ("GET", "/history", get_history),
        ("GET", "/history/{prompt_id}", get_history_item),
        ("POST", "/history", post_history),
        ("GET", "/queue", get_queue),
        ("POST", "/queue", post_queue),
        ("POST", "/interrupt", post_interrupt),
        ("GET", "/view", view),
        ("GET", "/system_stats", system_stats),
        ("GET", "/object_info", object_info),
        ("GET", "/object_info/{node_class}", object_info_node),
    ]
    # ComfyUI serves every API route also under /api (what its own frontend calls).
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, f"/api{path}", handler)
    return app


def simulator_of(app: web.Application) -> Simulator:
    return app[SIMULATOR_KEY]


async def serve(host: str, port: int, options: SimulatorOptions | None = None) -> None:
    """Serve until cancelled or SIGTERM, printing the banner with the real bound address."""
    app = create_app(options)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    for address in runner.addresses:
        bound_host, bound_port = address[0], address[1]
        print(BANNER.format(url=f"http://{bound_host}:{bound_port}"), flush=True)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_simulator(
    host: str = "127.0.0.1", port: int = 8188, options: SimulatorOptions | None = None
) -> None:
    """Blocking entry point for the management command; Ctrl-C stops it."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port, options))
