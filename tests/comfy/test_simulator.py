import io
import time
import uuid

import pytest
import requests
from PIL import Image

from comfy.client import ComfyClient
from comfy.simulator.render import render_image
from comfy.workflows import build_flux_inpaint_workflow, build_studio_image_workflow
from comfy.ws import iter_events


def studio_graph(prompt="a red kite", seed=5, width=96, height=64):
    return build_studio_image_workflow(prompt, "", seed, width, height)


def post_prompt(sim, graph, **extra):
    return requests.post(f"{sim.url}/prompt", json={"prompt": graph, **extra}, timeout=5)


def run(sim, graph, **extra):
    response = post_prompt(sim, graph, **extra)
    assert response.status_code == 200, response.text
    prompt_id = response.json()["prompt_id"]
    sim.wait_idle()
    return prompt_id, requests.get(f"{sim.url}/history/{prompt_id}", timeout=5).json()[prompt_id]


def image_from(sim, output):
    response = requests.get(f"{sim.url}/view", params=output, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_inpaint_changes_no_pixel_outside_the_mask(simulator, client):
    source = Image.linear_gradient("L").resize((80, 60)).convert("RGBA")
    source.putpixel((3, 3), (1, 2, 3, 255))
    alpha = Image.new("L", source.size, 255)
    alpha.paste(0, (40, 10, 70, 50))
    alpha.paste(128, (10, 40, 20, 50))
    source.putalpha(alpha)
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    name = client.upload_image(buffer.getvalue(), "face.png")

    _, entry = run(simulator, build_flux_inpaint_workflow("add a cup", "", name, 11))

    out = image_from(simulator, entry["outputs"]["13"]["images"][0])
    assert out.mode == "RGB"
    assert out.size == source.size
    original = source.convert("RGB")
    out_px, orig_px, mask_px = out.load(), original.load(), alpha.load()
    kept = changed = 0
    for y in range(out.height):
        for x in range(out.width):
            if mask_px[x, y] == 255:
                assert out_px[x, y] == orig_px[x, y], (x, y)
                kept += 1
            elif mask_px[x, y] == 0 and out_px[x, y] != orig_px[x, y]:
                changed += 1
    assert kept > 0
    assert changed > 0.5 * 30 * 40


def test_inpaint_of_png_without_alpha_returns_it_unchanged(simulator, client, make_png):
    rgb = Image.new("RGB", (32, 32), (10, 20, 30))
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    name = client.upload_image(buffer.getvalue(), "opaque.png")

    _, entry = run(simulator, build_flux_inpaint_workflow("x", "", name, 1))

    out = image_from(simulator, entry["outputs"]["13"]["images"][0])
    assert out.tobytes() == rgb.tobytes()


def test_studio_image_has_graph_size_and_depends_on_seed_and_prompt(simulator):
    _, first = run(simulator, studio_graph(seed=1, width=96, height=64))
    _, again = run(simulator, studio_graph(seed=1, width=96, height=64))
    _, other_seed = run(simulator, studio_graph(seed=2, width=96, height=64))
    _, other_prompt = run(simulator, studio_graph(prompt="a blue kite", width=96, height=64))

    images = [
        image_from(simulator, entry["outputs"]["11"]["images"][0]).tobytes()
        for entry in (first, again, other_seed, other_prompt)
    ]
    assert image_from(simulator, first["outputs"]["11"]["images"][0]).size == (96, 64)
    assert images[0] == images[1]
    assert images[0] != images[2]
    assert images[0] != images[3]


def test_rendering_a_1024_square_is_fast():
    render_image("warm-up", 0, 64, 64)
    started = time.perf_counter()
    image = render_image("a portrait", 3, 1024, 1024)
    elapsed = time.perf_counter() - started

    assert image.size == (1024, 1024)
    assert elapsed < 0.25


def test_save_image_splits_prefix_into_subfolder_and_counts_up(simulator):
    _, first = run(simulator, studio_graph(seed=1))
    _, second = run(simulator, studio_graph(seed=2))

    assert first["outputs"]["11"]["images"] == [
        {"filename": "studio_00001_.png", "subfolder": "ryla", "type": "output"}
    ]
    assert second["outputs"]["11"]["images"][0]["filename"] == "studio_00002_.png"
    assert (simulator.output_dir / "ryla" / "studio_00002_.png").is_file()


def test_unknown_node_gets_400_with_comfyui_invalid_prompt_shape(simulator):
    response = post_prompt(simulator, {"1": {"class_type": "NoSuchNode", "inputs": {}}})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#1'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_invalid_graph_gets_400_with_node_errors(simulator):
    graph = {"3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}}

    response = post_prompt(simulator, graph)

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["3"]["errors"][0]["type"] == "required_input_missing"
    assert body["node_errors"]["3"]["dependent_outputs"] == ["3"]


def test_load_image_of_file_not_uploaded_gets_custom_validation_failed(simulator):
    response = post_prompt(simulator, build_flux_inpaint_workflow("x", "", "missing.png", 1))

    assert response.status_code == 400
    error = response.json()["node_errors"]["4"]["errors"][0]
    assert error["type"] == "custom_validation_failed"
    assert error["details"] == "image - Invalid image file: missing.png"


def test_body_without_prompt_is_rejected_with_no_prompt(simulator):
    response = requests.post(f"{simulator.url}/prompt", json={}, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "no_prompt"


def test_client_prompt_id_is_honoured_and_otherwise_a_uuid_is_made(simulator):
    chosen = str(uuid.uuid4())

    honoured = post_prompt(simulator, studio_graph(), prompt_id=chosen).json()
    generated = post_prompt(simulator, studio_graph()).json()

    assert honoured["prompt_id"] == chosen
    assert honoured["node_errors"] == {}
    assert uuid.UUID(generated["prompt_id"])
    assert generated["number"] == honoured["number"] + 1


def test_failed_job_history_has_error_status_and_execution_error(simulator):
    _, entry = run(simulator, studio_graph(prompt="portrait SIMULATE_FAILURE"))

    assert entry["outputs"] == {}
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["completed"] is False
    errors = [data for event, data in entry["status"]["messages"] if event == "execution_error"]
    assert len(errors) == 1
    assert errors[0]["node_type"] == "KSampler"
    assert errors[0]["exception_message"] == "Simulated failure"
    assert {"node_id", "exception_type", "traceback", "prompt_id"} <= errors[0].keys()


def test_fail_all_option_fails_every_job(make_simulator):
    sim = make_simulator(fail_all=True)

    _, entry = run(sim, studio_graph())

    assert entry["status"]["status_str"] == "error"


def test_custom_fail_marker_is_honoured(make_simulator):
    sim = make_simulator(fail_marker="BOOM")

    _, ok = run(sim, studio_graph(prompt="SIMULATE_FAILURE is just text here"))
    _, failed = run(sim, studio_graph(prompt="BOOM"))

    assert ok["status"]["status_str"] == "success"
    assert failed["status"]["status_str"] == "error"


def test_history_max_items_returns_the_most_recent_entries(simulator):
    ids = [run(simulator, studio_graph(seed=seed))[0] for seed in range(4)]

    recent = requests.get(f"{simulator.url}/history", params={"max_items": 2}, timeout=5).json()
    everything = requests.get(f"{simulator.url}/history", timeout=5).json()

    assert list(recent) == ids[2:]
    assert list(everything) == ids
    assert recent[ids[3]]["prompt"][1] == ids[3]


def test_history_delete_and_clear(simulator):
    first, _ = run(simulator, studio_graph(seed=1))
    second, _ = run(simulator, studio_graph(seed=2))

    requests.post(f"{simulator.url}/history", json={"delete": [first]}, timeout=5)
    assert list(requests.get(f"{simulator.url}/history", timeout=5).json()) == [second]
    requests.post(f"{simulator.url}/history", json={"clear": True}, timeout=5)
    assert requests.get(f"{simulator.url}/history", timeout=5).json() == {}


def test_history_of_unknown_prompt_is_empty_object(simulator):
    assert requests.get(f"{simulator.url}/history/nope", timeout=5).json() == {}


def upload(sim, data, name, **fields):
    return requests.post(
        f"{sim.url}/upload/image", files={"image": (name, data)}, data=fields, timeout=5
    )


def test_upload_renames_on_collision_and_dedupes_same_bytes(simulator, make_png):
    a, b = make_png(colour=(1, 1, 1)), make_png(colour=(2, 2, 2))

    names = [upload(simulator, data, "probe.png").json() for data in (a, b, a, b)]

    assert [n["name"] for n in names] == [
        "probe.png",
        "probe (1).png",
        "probe.png",
        "probe (1).png",
    ]
    assert names[0] == {"name": "probe.png", "subfolder": "", "type": "input"}


def test_upload_path_escaping_the_input_folder_is_400(simulator, make_png):
    assert upload(simulator, make_png(), "../evil.png").status_code == 400
    assert upload(simulator, make_png(), "x.png", subfolder="../../etc").status_code == 400


def test_upload_without_image_is_400(simulator):
    response = requests.post(f"{simulator.url}/upload/image", data={"x": "1"}, timeout=5)

    assert response.status_code == 400


def test_view_rejects_traversal_and_reports_missing_files(simulator):
    view = f"{simulator.url}/view"

    assert requests.get(view, params={"filename": "../x.png"}, timeout=5).status_code == 400
    escape = {"filename": "a.png", "subfolder": "../.."}
    assert requests.get(view, params=escape, timeout=5).status_code == 403
    assert requests.get(view, params={"filename": "none.png"}, timeout=5).status_code == 404


def test_queue_runs_one_job_at_a_time(make_simulator):
    sim = make_simulator(step_ms=30, steps=50)
    ids = [post_prompt(sim, studio_graph(seed=s)).json()["prompt_id"] for s in range(3)]

    queue = requests.get(f"{sim.url}/queue", timeout=5).json()

    assert [item[1] for item in queue["queue_running"]] == ids[:1]
    assert [item[1] for item in queue["queue_pending"]] == ids[1:]
    number, prompt_id, graph, extra, outputs = queue["queue_pending"][0]
    assert (prompt_id, outputs) == (ids[1], ["11"])
    requests.post(f"{sim.url}/queue", json={"clear": True}, timeout=5)
    requests.post(f"{sim.url}/interrupt", json={}, timeout=5)
    sim.wait_idle()
    history = requests.get(f"{sim.url}/history", timeout=5).json()
    assert list(history) == ids[:1]
    assert history[ids[0]]["status"]["status_str"] == "error"


def test_interrupt_for_another_prompt_id_does_not_stop_the_running_one(make_simulator):
    sim = make_simulator(step_ms=5, steps=20)
    prompt_id = post_prompt(sim, studio_graph()).json()["prompt_id"]

    requests.post(f"{sim.url}/interrupt", json={"prompt_id": "someone-else"}, timeout=5)
    sim.wait_idle()

    entry = requests.get(f"{sim.url}/history/{prompt_id}", timeout=5).json()[prompt_id]
    assert entry["status"]["status_str"] == "success"


def test_interrupted_prompt_records_execution_interrupted(make_simulator):
    sim = make_simulator(step_ms=20, steps=100)
    prompt_id = post_prompt(sim, studio_graph()).json()["prompt_id"]
    client = ComfyClient(sim.url, retries=0)
    while client.get_queue().running != [prompt_id]:
        time.sleep(0.005)

    requests.post(f"{sim.url}/interrupt", json={"prompt_id": prompt_id}, timeout=5)
    sim.wait_idle()

    entry = requests.get(f"{sim.url}/history/{prompt_id}", timeout=5).json()[prompt_id]
    events = [event for event, _ in entry["status"]["messages"]]
    assert events[-1] == "execution_interrupted"
    assert entry["status"] == {**entry["status"], "status_str": "error", "completed": False}


def test_websocket_events_go_to_the_queueing_client_and_status_to_all(simulator):
    mine = iter_events(simulator.url, "mine", timeout=2)
    other = iter_events(simulator.url, "other", timeout=0.5)
    assert next(mine).type == "status"
    assert next(other).type == "status"

    prompt_id = post_prompt(simulator, studio_graph(), client_id="mine").json()["prompt_id"]
    my_types = []
    for event in mine:
        my_types.append(event.type)
        if event.is_prompt_done and event.prompt_id == prompt_id:
            break
    other_types = {event.type for event in other}
    mine.close()

    assert {"execution_start", "progress", "executing", "executed", "execution_success"} <= set(
        my_types
    )
    assert other_types == {"status"}


def test_system_stats_and_object_info_keep_the_real_shapes(simulator):
    stats = requests.get(f"{simulator.url}/system_stats", timeout=5).json()
    info = requests.get(f"{simulator.url}/object_info/KSampler", timeout=5).json()
    everything = requests.get(f"{simulator.url}/object_info", timeout=5).json()

    assert stats["system"]["comfyui_version"] == "0.3.64"
    assert stats["system"]["simulator"] is True
    assert {"name", "type", "vram_total", "vram_free"} <= stats["devices"][0].keys()
    assert info["KSampler"]["input"]["required"]["steps"][0] == "INT"
    assert "LoadImage" in everything
    assert requests.get(f"{simulator.url}/object_info/Nope", timeout=5).json() == {}


def test_http_500_rate_fails_a_deterministic_share_of_calls(make_simulator):
    sim = make_simulator(http_500_rate=0.5)

    codes = [requests.get(f"{sim.url}/queue", timeout=5).status_code for _ in range(6)]

    assert codes.count(500) == 3
    assert codes.count(200) == 3


def test_client_retries_through_simulated_500s(make_simulator):
    sim = make_simulator(http_500_rate=0.5)
    client = ComfyClient(sim.url, retries=2, backoff=0)

    assert client.system_stats().is_simulator


def test_latency_applies_to_every_http_call(make_simulator):
    sim = make_simulator(latency_ms=60)

    started = time.perf_counter()
    requests.get(f"{sim.url}/system_stats", timeout=5)

    assert time.perf_counter() - started >= 0.06


def test_restart_keeps_files_but_forgets_queue_and_history(simulator, client, make_png):
    name = client.upload_image(make_png(), "kept.png")
    prompt_id, _ = run(simulator, studio_graph())
    port = simulator.port

    simulator.restart()

    assert simulator.port == port
    assert client.get_history(prompt_id) is None
    assert client.upload_image(make_png(), "kept.png") == name


def test_paused_simulator_refuses_connections_until_resumed(simulator):
    simulator.pause()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{simulator.url}/queue", timeout=2)

    simulator.resume()

    assert requests.get(f"{simulator.url}/queue", timeout=2).status_code == 200


def test_management_command_passes_options_to_the_simulator(monkeypatch):
    from comfy.management.commands import comfyui_simulator

    captured = {}
    monkeypatch.setattr(
        comfyui_simulator,
        "run_simulator",
        lambda host, port, options: captured.update(host=host, port=port, options=options),
    )
    monkeypatch.setattr(comfyui_simulator, "settings", type("S", (), {})())
    command = comfyui_simulator.Command()
    parser = command.create_parser("manage.py", "comfyui_simulator")
    args = parser.parse_args(
        ["--port", "9000", "--step-ms", "5", "--steps", "3", "--http-500-rate", "0.25"]
    )

    command.handle(**vars(args))

    assert (captured["host"], captured["port"]) == ("127.0.0.1", 9000)
    options = captured["options"]
    assert (options.step_ms, options.steps, options.http_500_rate) == (5, 3, 0.25)
    assert options.fail_marker == "SIMULATE_FAILURE"
