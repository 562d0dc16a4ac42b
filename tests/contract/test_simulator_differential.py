"""The simulator against a real ComfyUI: the same requests to both, the same answers.

Compared are shapes, not pictures: status codes, content types, keys, value types, error
types and messages, and the order of websocket events. A difference is either fixed in the
simulator or excused here with `known(...)`, which only accepts a difference listed (with
its reason) in `comfy.simulator.KNOWN_DIFFERENCES`.
"""

from __future__ import annotations

import io
import json
import struct
import time
import uuid
from typing import Any

import pytest
import requests
import websocket
from PIL import Image as PILImage

from comfy.simulator import KNOWN_DIFFERENCES, SimulatorOptions
from comfy.simulator.testing import SimulatorThread
from comfy.workflows import build_flux_inpaint_workflow, build_studio_image_workflow
from comfy.ws import FEATURE_FLAGS, parse_binary_frame

pytestmark = pytest.mark.real_comfyui

OPEN_ENUMS = {"unet_name", "clip_name", "clip_name1", "clip_name2", "vae_name", "lora_name"}


def known(name: str) -> str:
    """Excuse a difference: it must be documented in the simulator."""
    assert name in KNOWN_DIFFERENCES, f"undocumented simulator difference {name!r}"
    return KNOWN_DIFFERENCES[name]


@pytest.fixture(scope="module")
def servers(real_comfyui):
    """Both with step previews when the real server sends them."""
    options = SimulatorOptions(step_ms=20, preview_method=real_comfyui.preview_method or "none")
    simulator = SimulatorThread(options).start()
    yield {"real": real_comfyui.url, "simulator": simulator.url}
    simulator.stop()


def both(servers, method: str, path: str, **kwargs) -> dict[str, requests.Response]:
    return {
        name: requests.request(method, url + path, timeout=60, **kwargs)
        for name, url in servers.items()
    }


def types(value: Any) -> Any:
    """The shape of a JSON value: dicts keep their keys, lists the distinct shapes of their
    elements in order (lengths differ with what a server did, not with its protocol)."""
    if isinstance(value, dict):
        return {key: types(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            if types(item) not in shapes:
                shapes.append(types(item))
        return shapes
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def graph(seed: int, steps: int = 2) -> dict:
    return build_studio_image_workflow("a woman in a cafe", "", seed, 64, 64, steps)


def _png() -> bytes:
    picture = PILImage.new("RGBA", (64, 64), (200, 120, 40, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 24, 24))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _queue(url: str, body: dict) -> str:
    response = requests.post(f"{url}/prompt", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["prompt_id"]


def _finished(url: str, prompt_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = requests.get(f"{url}/history/{prompt_id}", timeout=30).json()
        if entry:
            return entry[prompt_id]
        time.sleep(0.1)
    raise AssertionError(f"{prompt_id} did not finish on {url}")


def test_upload_answers_the_same(servers):
    answers = both(
        servers,
        "POST",
        "/upload/image",
        files={"image": ("ryla_differential.png", _png(), "image/png")},
        data={"overwrite": "true"},
    )
    real, simulator = answers["real"], answers["simulator"]
    assert real.status_code == simulator.status_code == 200
    assert (
        real.json()
        == simulator.json()
        == {
            "name": "ryla_differential.png",
            "subfolder": "",
            "type": "input",
        }
    )


def test_a_valid_prompt_answers_the_same_and_keeps_the_callers_id(servers):
    for name, url in servers.items():
        prompt_id = str(uuid.uuid4())
        response = requests.post(
            f"{url}/prompt", json={"prompt": graph(11), "prompt_id": prompt_id}, timeout=60
        )
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert types(body) == {"prompt_id": "str", "number": "number", "node_errors": {}}, name
        assert body["prompt_id"] == prompt_id, name
        _finished(url, prompt_id)


def _refusals() -> dict[str, dict]:
    bad_value = graph(12)
    bad_value["9"]["inputs"]["steps"] = 0
    unknown_node = graph(12)
    unknown_node["9"]["class_type"] = "NoSuchNode"
    missing_input = graph(12)
    del missing_input["11"]["inputs"]["images"]
    bad_sampler = graph(12)
    bad_sampler["9"]["inputs"]["sampler_name"] = "no_such_sampler"
    missing_file = build_flux_inpaint_workflow("x", "", "does_not_exist.png", 1, 2)
    return {
        "invalid value": bad_value,
        "value not in list": bad_sampler,
        "unknown node": unknown_node,
        "missing input": missing_input,
        "missing input file": missing_file,
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_refused_prompts_answer_the_same_400(servers, case):
    answers = both(servers, "POST", "/prompt", json={"prompt": _refusals()[case]})
    real, simulator = (answers[name] for name in ("real", "simulator"))
    assert real.status_code == simulator.status_code == 400
    real_body, simulator_body = real.json(), simulator.json()
    # input_config quotes the schema, whose help texts the shipped one has not.
    known("no-help-texts")
    for body in (real_body, simulator_body):
        for entry in body["node_errors"].values():
            for error in entry["errors"]:
                config = error.get("extra_info", {}).get("input_config")
                if isinstance(config, list) and len(config) > 1 and isinstance(config[1], dict):
                    config[1].pop("tooltip", None)
                if error["extra_info"].get("input_name") == "image":
                    error["extra_info"].pop("input_config", None)  # LoadImage lists files
                    known("model-lists")
    assert types(real_body) == types(simulator_body)
    assert real_body["error"] == simulator_body["error"]
    assert real_body["node_errors"] == simulator_body["node_errors"]


def test_queue_delete_and_interrupt_answer_the_same(servers):
    running, pending = {}, {}
    for name, url in servers.items():
        running[name] = _queue(url, {"prompt": graph(21, steps=300), "client_id": "ryla-diff"})
        pending[name] = _queue(url, {"prompt": graph(22, steps=300), "client_id": "ryla-diff"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        queues = both(servers, "GET", "/queue")
        if all(q.json()["queue_running"] for q in queues.values()):
            break
        time.sleep(0.1)
    real, simulator = (queues[name].json() for name in ("real", "simulator"))
    assert types(real) == types(simulator)
    assert len(real["queue_running"][0]) == len(simulator["queue_running"][0]) == 5
    assert real["queue_pending"][0][1] == pending["real"]
    assert simulator["queue_pending"][0][1] == pending["simulator"]

    answers = {
        name: requests.post(f"{url}/queue", json={"delete": [pending[name]]}, timeout=30)
        for name, url in servers.items()
    }
    assert {a.status_code for a in answers.values()} == {200}
    assert {a.content for a in answers.values()} == {b""}
    answers = {
        name: requests.post(f"{url}/interrupt", json={"prompt_id": running[name]}, timeout=30)
        for name, url in servers.items()
    }
    assert {a.status_code for a in answers.values()} == {200}
    entries = {name: _finished(url, running[name]) for name, url in servers.items()}
    for entry in entries.values():
        assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}
    events = {
        name: [event for event, _ in entry["status"]["messages"]] for name, entry in entries.items()
    }
    assert (
        events["real"]
        == events["simulator"]
        == [
            "execution_start",
            "execution_cached",
            "execution_interrupted",
        ]
    )
    interrupted = {name: entry["status"]["messages"][-1][1] for name, entry in entries.items()}
    assert sorted(interrupted["real"]) == sorted(interrupted["simulator"])
    known("no-output-cache")  # how many nodes ran before the interrupt differs
    for data in interrupted.values():
        assert isinstance(data["executed"], list) and isinstance(data["node_type"], str)
    for name in servers:
        assert pending[name] not in json.dumps(requests.get(f"{servers[name]}/queue").json())
        assert requests.get(f"{servers[name]}/history/{pending[name]}").json() == {}


def test_history_and_view_answer_the_same(servers):
    entries, prompt_ids = {}, {}
    for name, url in servers.items():
        prompt_ids[name] = _queue(url, {"prompt": graph(31), "client_id": "ryla-diff"})
        entries[name] = _finished(url, prompt_ids[name])
    real, simulator = entries["real"], entries["simulator"]
    assert sorted(real) == sorted(simulator) == ["meta", "outputs", "prompt", "status"]
    assert types(real["prompt"]) == types(simulator["prompt"])
    assert types(real["outputs"]) == types(simulator["outputs"])
    assert types(real["meta"]) == types(simulator["meta"])
    assert types(real["status"])["messages"] and sorted(real["status"]) == sorted(
        simulator["status"]
    )
    assert [e for e, _ in real["status"]["messages"]] == [
        e for e, _ in simulator["status"]["messages"]
    ]
    for (event, real_data), (_, simulator_data) in zip(
        real["status"]["messages"], simulator["status"]["messages"], strict=True
    ):
        assert sorted(real_data) == sorted(simulator_data), event
    # Several recent entries in one call; an unknown id.
    for name, url in servers.items():
        recent = requests.get(f"{url}/history", params={"max_items": 1}, timeout=30).json()
        assert list(recent) == [prompt_ids[name]], name
        unknown = requests.get(f"{url}/history/{uuid.uuid4()}", timeout=30)
        assert (unknown.status_code, unknown.json()) == (200, {}), name

    views = {}
    for name, url in servers.items():
        output = entries[name]["outputs"]["11"]["images"][0]
        views[name] = requests.get(f"{url}/view", params=output, timeout=30)
    for name, response in views.items():
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == "image/png", name
        assert PILImage.open(io.BytesIO(response.content)).size == (64, 64), name
    missing = both(servers, "GET", "/view", params={"filename": "nope.png", "type": "output"})
    assert {r.status_code for r in missing.values()} == {404}


def _schema(url: str, node_type: str) -> dict:
    body = requests.get(f"{url}/object_info/{node_type}", timeout=30).json()[node_type]
    known("no-help-texts")
    body.pop("description", None)
    body.pop("output_tooltips", None)
    for section in body.get("input", {}).values():
        for name, spec in (section or {}).items():
            if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
                spec[1].pop("tooltip", None)
            if name in OPEN_ENUMS or (node_type == "LoadImage" and name == "image"):
                known("model-lists")
                spec[0] = "<files>"
    return body


def test_object_info_of_every_node_the_builders_use_is_the_same(servers):
    node_types = {
        node["class_type"]
        for built in (graph(1), build_flux_inpaint_workflow("x", "", "in.png", 1, 2))
        for node in built.values()
    } | {"LoraLoaderModelOnly"}
    for node_type in sorted(node_types):
        real = _schema(servers["real"], node_type)
        simulator = _schema(servers["simulator"], node_type)
        for key in ("api_node", "deprecated", "experimental"):  # V3 nodes' flags
            if key in simulator and key not in real:
                real[key] = simulator[key]
        assert real == simulator, node_type
    known("shipped-nodes-only")
    everything = both(servers, "GET", "/object_info")
    assert set(everything["simulator"].json()) <= set(everything["real"].json())


Event = tuple[str, tuple[str, ...], Any]  # type, data keys, data["node"]


def _binary(payload: bytes, previews: list) -> Event:
    """A binary frame as an event `binary<type>`; with metadata, its keys and node."""
    (event,) = struct.unpack(">I", payload[:4])
    preview = parse_binary_frame(payload)
    assert preview is not None, payload[:16]
    previews.append(preview)
    if event != 4:
        return (f"binary{event}", (), None)
    (length,) = struct.unpack(">I", payload[4:8])
    metadata = json.loads(payload[8 : 8 + length])
    return (f"binary{event}", tuple(sorted(metadata)), metadata["node_id"])


def _events(
    url: str, client_id: str, body: dict, *, flags: bool = False, previews: list | None = None
) -> list[Event]:
    """The events of one prompt; `flags`: announce supports_preview_metadata first."""
    ws_url = url.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    connection = websocket.create_connection(ws_url, timeout=120)
    events: list[Event] = []
    try:
        if flags:
            connection.send(json.dumps(FEATURE_FLAGS))
            while not events or events[-1][0] != "feature_flags":
                message = json.loads(connection.recv())
                events.append((message["type"], tuple(sorted(message["data"])), None))
        prompt_id = _queue(url, {**body, "client_id": client_id})
        while True:
            opcode, payload = connection.recv_data()
            if opcode != websocket.ABNF.OPCODE_TEXT:
                events.append(_binary(payload, previews if previews is not None else []))
                continue
            message = json.loads(payload)
            data = message["data"]
            events.append((message["type"], tuple(sorted(data)), data.get("node")))
            finished = message["type"] == "executing" and data.get("node") is None
            if finished and data.get("prompt_id") == prompt_id:
                return events
    finally:
        connection.close()


def _collapse(names: list[str]) -> list[str]:
    """Runs of progress_state count as one (a node's finish and the next one's start)."""
    return [
        n for i, n in enumerate(names) if not (n == "progress_state" and names[i - 1 : i] == [n])
    ]


def _structure(events: list[Event]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Events before the first node, each node's block (from its `executing` to the next
    node's), and events from `execution_success` on."""
    names = [name for name, _, _ in events]
    first = next(i for i, (n, _, node) in enumerate(events) if n == "executing" and node)
    end = names.index("execution_success")
    blocks: dict[str, list[str]] = {}
    current = None
    for name, _, node in events[first:end]:
        if name == "executing":
            current = node
            blocks[current] = []
        blocks[current].append(name)
    prefix = _collapse(names[:first])
    return prefix, {node: _collapse(block) for node, block in blocks.items()}, names[end:]


def test_the_websocket_sends_the_same_events_in_the_same_order(servers, real_comfyui):
    body = {"prompt": graph(int(time.time()), steps=3)}
    sequences = {
        name: _events(url, f"ryla-diff-{uuid.uuid4().hex[:6]}", body)
        for name, url in servers.items()
    }
    real, simulator = sequences["real"], sequences["simulator"]
    keys = {
        name: {(event, fields) for event, fields, _ in events} for name, events in sequences.items()
    }
    assert keys["real"] == keys["simulator"]
    real_prefix, real_blocks, real_suffix = _structure(real)
    sim_prefix, sim_blocks, sim_suffix = _structure(simulator)
    assert real_prefix == sim_prefix
    assert real_suffix == sim_suffix == ["execution_success", "status", "executing"]
    known("no-output-cache")  # the real server skips nodes it ran for an earlier prompt
    assert set(real_blocks) <= set(sim_blocks)
    for node, block in real_blocks.items():
        assert block == sim_blocks[node], node
    sampler = real_blocks["9"]
    # A client that announced no feature flags gets ComfyUI's older PREVIEW_IMAGE frames.
    step = ["progress_state", "progress"] + (["binary1"] if real_comfyui.preview_method else [])
    assert sampler == ["executing"] + step * 3 + ["progress_state"]
    assert real_blocks["11"] == ["executing", "executed", "progress_state"]


def test_previews_come_in_the_same_frames_order_and_size(servers, real_comfyui):
    """With supports_preview_metadata announced: PREVIEW_IMAGE_WITH_METADATA before each
    step's progress event, naming the prompt and the sampler; JPEGs scaled to 512 px."""
    real_comfyui.require_previews()
    body = {"prompt": graph(int(time.time()), steps=3)}
    previews: dict[str, list] = {"real": [], "simulator": []}
    sequences = {
        name: _events(url, f"ryla-diff-{uuid.uuid4().hex[:6]}", body, flags=True, previews=found)
        for (name, url), found in zip(servers.items(), previews.values(), strict=True)
    }
    keys = {name: {(e, fields) for e, fields, _ in events} for name, events in sequences.items()}
    assert keys["real"] == keys["simulator"]
    assert sequences["real"][:2] == sequences["simulator"][:2]
    assert [e[0] for e in sequences["real"][:2]] == ["status", "feature_flags"]
    _, real_blocks, _ = _structure(sequences["real"])
    _, sim_blocks, _ = _structure(sequences["simulator"])
    step = ["progress_state", "binary4", "progress"]
    assert real_blocks["9"] == sim_blocks["9"] == ["executing"] + step * 3 + ["progress_state"]
    for name, found in previews.items():
        assert len(found) == 3, name
        for preview in found:
            picture = PILImage.open(io.BytesIO(preview.image))
            assert (preview.mime, picture.format, picture.size) == (
                "image/jpeg",
                "JPEG",
                (512, 512),
            ), name
    known("preview-pictures")  # same frames and sizes, other pixels


def test_system_stats_and_the_api_prefix_answer_the_same(servers):
    stats = both(servers, "GET", "/system_stats")
    real, simulator = (stats[name].json() for name in ("real", "simulator"))
    assert sorted(real) == sorted(simulator) == ["devices", "system"]
    assert set(real["system"]) <= set(simulator["system"])
    assert sorted(real["devices"][0]) == sorted(simulator["devices"][0])
    known("system-figures")
    assert real["system"]["comfyui_version"] == simulator["system"]["comfyui_version"]
    for path in ("/api/queue", "/api/history?max_items=1", "/api/system_stats"):
        answers = both(servers, "GET", path)
        assert {a.status_code for a in answers.values()} == {200}, path
