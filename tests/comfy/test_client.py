import io
import json
import threading
import uuid

import pytest
import requests
import responses
from PIL import Image

from comfy.client import ComfyClient
from comfy.errors import ComfyProtocolError, ComfyUnreachable, GraphRejected
from comfy.workflows import build_flux_inpaint_workflow, build_studio_image_workflow
from comfy.ws import iter_events

BASE = "http://comfy.test:8188"
GRAPH = {"1": {"class_type": "SaveImage", "inputs": {}}}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def wire_client(sleeps):
    return ComfyClient(BASE, timeout=3, retries=2, backoff=0.5, sleep=sleeps.append)


def studio_graph(prompt="a lighthouse at dawn", seed=1):
    return build_studio_image_workflow(prompt, "", seed, 64, 48)


# -- at the wire (responses) --------------------------------------------------------------


@responses.activate
def test_get_queue_retries_5xx_with_exponential_backoff_then_succeeds(wire_client, sleeps):
    responses.get(f"{BASE}/queue", status=502)
    responses.get(f"{BASE}/queue", status=503)
    responses.get(f"{BASE}/queue", json={"queue_running": [], "queue_pending": []})

    state = wire_client.get_queue()

    assert state.length == 0
    assert len(responses.calls) == 3
    assert sleeps == [0.5, 1.0]


@responses.activate
def test_gives_up_after_bounded_retries_with_comfy_unreachable(wire_client):
    responses.get(f"{BASE}/system_stats", status=500)

    with pytest.raises(ComfyUnreachable):
        wire_client.system_stats()

    assert len(responses.calls) == 3


@responses.activate
def test_timeouts_are_retried_and_then_raise_comfy_unreachable(wire_client):
    responses.get(f"{BASE}/queue", body=requests.ReadTimeout("slow"))

    with pytest.raises(ComfyUnreachable, match="Timed out"):
        wire_client.get_queue()

    assert len(responses.calls) == 3


def test_every_call_is_sent_with_the_configured_timeout():
    seen = []

    class RecordingSession(requests.Session):
        def request(self, method, url, **kwargs):
            seen.append(kwargs.get("timeout"))
            raise requests.ConnectionError("nobody home")

    client = ComfyClient(BASE, timeout=(1.5, 7), retries=0, session=RecordingSession())
    for call in (
        client.get_queue,
        client.system_stats,
        lambda: client.get_history("x"),
        lambda: client.get_recent_history(3),
        lambda: client.download("a.png", "", "output"),
        lambda: client.upload_image(b"png", "a.png"),
        lambda: client.queue_prompt(GRAPH),
        lambda: client.cancel("x"),
    ):
        with pytest.raises(ComfyUnreachable):
            call()

    assert seen and all(timeout == (1.5, 7) for timeout in seen)


@responses.activate
def test_queue_prompt_without_prompt_id_is_never_retried_on_5xx(wire_client):
    responses.post(f"{BASE}/prompt", status=500)

    with pytest.raises(ComfyUnreachable):
        wire_client.queue_prompt(GRAPH)

    assert len(responses.calls) == 1


@responses.activate
def test_queue_prompt_without_prompt_id_is_never_retried_on_connection_error(wire_client):
    responses.post(f"{BASE}/prompt", body=requests.ConnectionError("reset"))

    with pytest.raises(ComfyUnreachable):
        wire_client.queue_prompt(GRAPH)

    assert len(responses.calls) == 1


@responses.activate
def test_queue_prompt_with_prompt_id_checks_server_before_resending(wire_client):
    responses.post(f"{BASE}/prompt", status=500)
    responses.get(f"{BASE}/queue", json={"queue_running": [], "queue_pending": []})
    responses.get(f"{BASE}/history/p-1", json={})
    responses.post(f"{BASE}/prompt", json={"prompt_id": "p-1", "number": 0, "node_errors": {}})

    assert wire_client.queue_prompt(GRAPH, prompt_id="p-1", client_id="c") == "p-1"

    calls = [(c.request.method, c.request.url.removeprefix(BASE)) for c in responses.calls]
    assert calls == [
        ("POST", "/prompt"),
        ("GET", "/queue"),
        ("GET", "/history/p-1"),
        ("POST", "/prompt"),
    ]
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {"prompt": GRAPH, "prompt_id": "p-1", "client_id": "c"}


@responses.activate
def test_queue_prompt_retry_finds_prompt_already_queued_and_does_not_resend(wire_client):
    responses.post(f"{BASE}/prompt", body=requests.ReadTimeout("answer lost"))
    responses.get(
        f"{BASE}/queue",
        json={"queue_running": [], "queue_pending": [[0, "p-2", GRAPH, {}, ["1"]]]},
    )

    assert wire_client.queue_prompt(GRAPH, prompt_id="p-2") == "p-2"

    assert [c.request.method for c in responses.calls].count("POST") == 1


@responses.activate
def test_queue_prompt_retry_rejected_because_id_exists_counts_as_success(wire_client):
    responses.post(f"{BASE}/prompt", status=502)
    responses.get(f"{BASE}/queue", json={"queue_running": [], "queue_pending": []})
    responses.get(f"{BASE}/history/p-3", json={})
    responses.post(
        f"{BASE}/prompt",
        status=400,
        json={"error": {"type": "duplicate", "message": "exists"}, "node_errors": {}},
    )
    responses.get(f"{BASE}/queue", json={"queue_running": [[0, "p-3", GRAPH, {}, []]]})

    assert wire_client.queue_prompt(GRAPH, prompt_id="p-3") == "p-3"


@responses.activate
def test_graph_rejected_carries_comfyui_error_and_node_errors(wire_client):
    body = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "3": {
                "errors": [
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": "images",
                        "extra_info": {"input_name": "images"},
                    }
                ],
                "dependent_outputs": ["3"],
                "class_type": "SaveImage",
            }
        },
    }
    responses.post(f"{BASE}/prompt", status=400, json=body)

    with pytest.raises(GraphRejected) as excinfo:
        wire_client.queue_prompt(GRAPH, prompt_id="p-4")

    assert excinfo.value.error == body["error"]
    assert excinfo.value.node_errors == body["node_errors"]
    assert "node 3 (SaveImage): Required input is missing: images" in str(excinfo.value)
    assert len(responses.calls) == 1


@responses.activate
def test_malformed_json_raises_protocol_error(wire_client):
    responses.get(f"{BASE}/queue", body="<html>proxy error</html>", status=200)

    with pytest.raises(ComfyProtocolError):
        wire_client.get_queue()


@responses.activate
def test_unexpected_json_shape_raises_protocol_error(wire_client):
    responses.get(f"{BASE}/queue", json=["not", "a", "queue"])
    responses.get(f"{BASE}/history/x", json={"x": {"status": "done"}})

    with pytest.raises(ComfyProtocolError):
        wire_client.get_queue()
    with pytest.raises(ComfyProtocolError):
        wire_client.get_history("x")


@responses.activate
def test_other_4xx_raise_protocol_error_without_retry(wire_client):
    responses.get(f"{BASE}/view", status=404)

    with pytest.raises(ComfyProtocolError) as excinfo:
        wire_client.download("gone.png", "", "output")

    assert excinfo.value.status_code == 404
    assert len(responses.calls) == 1


@responses.activate
def test_history_error_gives_node_and_message_but_never_the_traceback(wire_client):
    entry = {
        "prompt": [0, "p", GRAPH, {}, ["1"]],
        "outputs": {},
        "status": {
            "status_str": "error",
            "completed": False,
            "messages": [
                ["execution_start", {"prompt_id": "p"}],
                [
                    "execution_error",
                    {
                        "prompt_id": "p",
                        "node_id": "1",
                        "node_type": "VAELoader",
                        "exception_message": "Error while deserializing header: header too small\n",
                        "exception_type": "safetensors_rust.SafetensorError",
                        "traceback": ['  File "secret/path.py", line 1\n'],
                    },
                ],
            ],
        },
        "meta": {},
    }
    responses.get(f"{BASE}/history/p", json={"p": entry})

    history = wire_client.get_history("p")

    assert history.status_str == "error"
    assert not history.completed
    assert history.outputs == []
    assert history.error.node_id == "1"
    assert history.error.user_message == (
        "VAELoader: Error while deserializing header: header too small"
    )
    assert "secret" not in repr(history)


@responses.activate
def test_unknown_or_unfinished_prompt_has_no_history(wire_client):
    responses.get(f"{BASE}/history/p", json={})

    assert wire_client.get_history("p") is None


# -- against the simulator over real sockets ----------------------------------------------


def test_full_cycle_upload_queue_progress_history_download(client, simulator, make_png):
    stored = client.upload_image(make_png(transparent_box=(0, 0, 32, 48)), "probe.png")
    graph = build_flux_inpaint_workflow("add a cup", "", stored, 7)
    client_id = uuid.uuid4().hex
    prompt_id = str(uuid.uuid4())
    events = iter_events(simulator.url, client_id, timeout=5)
    assert next(events).type == "status"

    assert client.queue_prompt(graph, prompt_id, client_id) == prompt_id
    seen = []
    for event in events:
        seen.append(event)
        if event.is_prompt_done and event.prompt_id == prompt_id:
            break
    events.close()

    progress = [e.data for e in seen if e.type == "progress"]
    assert [p["value"] for p in progress] == [1, 2, 3, 4]
    assert all(p["max"] == 4 and p["prompt_id"] == prompt_id for p in progress)
    types = [e.type for e in seen]
    assert types.index("execution_start") < types.index("progress") < types.index("executed")
    assert types.index("executed") < types.index("execution_success")
    history = client.get_history(prompt_id)
    assert history.succeeded
    assert history.error is None
    [output] = history.outputs
    assert (output.subfolder, output.type) == ("ryla", "output")
    assert output.filename == "inpaint_00001_.png"
    executed = next(e for e in seen if e.type == "executed")
    assert executed.data["output"]["images"][0]["filename"] == output.filename
    data = client.download_output(output)
    assert data == (simulator.output_dir / "ryla" / output.filename).read_bytes()
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_upload_of_different_bytes_under_taken_name_is_renamed(client, make_png):
    first = client.upload_image(make_png(colour=(1, 2, 3)), "probe.png")
    second = client.upload_image(make_png(colour=(4, 5, 6)), "probe.png")
    third = client.upload_image(make_png(colour=(7, 8, 9)), "probe.png")

    assert (first, second, third) == ("probe.png", "probe (1).png", "probe (2).png")


def test_upload_of_same_bytes_under_same_name_is_deduplicated(client, make_png):
    data = make_png()

    assert client.upload_image(data, "same.png") == "same.png"
    assert client.upload_image(data, "same.png") == "same.png"


def test_upload_with_overwrite_keeps_the_name_and_replaces_the_file(client, simulator, make_png):
    client.upload_image(make_png(colour=(1, 1, 1)), "mine.png")
    replacement = make_png(colour=(9, 9, 9))

    assert client.upload_image(replacement, "mine.png", overwrite=True) == "mine.png"
    assert (simulator.input_dir / "mine.png").read_bytes() == replacement


def test_cancel_pending_prompt_removes_it_before_it_ever_runs(make_simulator):
    sim = make_simulator(step_ms=40, steps=50)
    client = ComfyClient(sim.url, timeout=5, retries=0)
    running = client.queue_prompt(studio_graph(seed=1))
    pending = client.queue_prompt(studio_graph(seed=2))
    assert client.get_queue().pending == [pending]

    client.cancel(pending)

    assert pending not in client.get_queue()
    client.cancel(running)
    sim.wait_idle()
    assert client.get_history(pending) is None
    assert pending not in client.get_recent_history(10)


def test_cancel_running_prompt_interrupts_it(make_simulator):
    sim = make_simulator(step_ms=40, steps=50)
    client = ComfyClient(sim.url, timeout=5, retries=0)
    prompt_id = client.queue_prompt(studio_graph())
    started = threading.Event()
    for _ in range(200):
        if client.get_queue().running == [prompt_id]:
            started.set()
            break
        started.wait(0.01)
    assert started.is_set()

    client.cancel(prompt_id)
    sim.wait_idle()

    history = client.get_history(prompt_id)
    assert history.status_str == "error"
    assert not history.completed
    assert history.interrupted
    assert history.outputs == []


def test_system_stats_says_it_is_the_simulator(client):
    stats = client.system_stats()

    assert stats.is_simulator
    assert stats.comfyui_version == "0.3.64"
    assert "simulator" in stats.devices[0].name


def test_failed_job_is_reported_through_history(client, simulator):
    prompt_id = client.queue_prompt(studio_graph(prompt="SIMULATE_FAILURE please"))
    simulator.wait_idle()

    history = client.get_history(prompt_id)

    assert not history.succeeded
    assert history.error.user_message == "KSampler: Simulated failure"


def test_recent_history_returns_many_prompts_in_one_call(client, simulator):
    ids = [client.queue_prompt(studio_graph(seed=s)) for s in range(3)]
    simulator.wait_idle()

    recent = client.get_recent_history(2)

    assert list(recent) == ids[1:]
    assert all(entry.succeeded for entry in recent.values())


def test_unreachable_backend_raises_comfy_unreachable(dead_url):
    client = ComfyClient(dead_url, timeout=1, retries=1, backoff=0)

    with pytest.raises(ComfyUnreachable):
        client.get_queue()
