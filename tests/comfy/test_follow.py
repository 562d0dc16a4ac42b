"""comfy.follow: a worker follows its prompt on a real socket to the simulator: progress,
outcome, a stop, a backend that restarts or goes away."""

from __future__ import annotations

import threading
import uuid

from comfy.client import ComfyClient
from comfy.follow import Finished, Lost, Stopped, prompt_follow, prompt_locate
from comfy.results import HistoryEntry
from comfy.workflows import build_studio_image_workflow
from comfy.ws import EventStream


def _client(url: str) -> ComfyClient:
    return ComfyClient(url, timeout=2, retries=0, backoff=0)


def _queue(client: ComfyClient, seed: int = 1, steps: int = 4, client_id: str = "w1") -> str:
    prompt_id = str(uuid.uuid4())
    graph = build_studio_image_workflow("a fox", "", seed, 64, 64, steps)
    client.queue_prompt(graph, prompt_id=prompt_id, client_id=client_id)
    return prompt_id


def test_locate_tells_pending_running_finished_and_unknown(make_simulator):
    sim = make_simulator(step_ms=100, steps=20)
    client = _client(sim.url)
    running, pending = _queue(client, 1), _queue(client, 2)
    threading.Event().wait(0.3)
    assert prompt_locate(client, running) == "running"
    assert prompt_locate(client, pending) == "pending"
    assert prompt_locate(client, str(uuid.uuid4())) == "unknown"
    client.cancel(pending)
    client.cancel(running)
    sim.wait_idle()
    assert isinstance(prompt_locate(client, running), HistoryEntry)


def test_follow_reports_progress_then_the_finished_entry(make_simulator):
    sim = make_simulator(step_ms=20, steps=5)
    client = _client(sim.url)
    stream = EventStream(sim.url, "w1")
    prompt_id = _queue(client, steps=5)
    progress: list[tuple] = []
    outcome = prompt_follow(
        client,
        prompt_id,
        events=stream,
        on_progress=lambda value, maximum: progress.append((value, maximum)),
        keep_going=lambda: True,
    )
    stream.close()
    assert isinstance(outcome, Finished) and outcome.entry.succeeded
    assert progress == [(step, 5) for step in range(1, 6)]


def test_follow_without_a_websocket_polls_history(make_simulator):
    sim = make_simulator()
    client = _client(sim.url)
    prompt_id = _queue(client)
    outcome = prompt_follow(
        client,
        prompt_id,
        events=None,
        on_progress=lambda *_: None,
        keep_going=lambda: True,
        poll_seconds=0.1,
    )
    assert isinstance(outcome, Finished) and outcome.entry.succeeded


def test_a_stop_takes_that_prompt_off_the_backend_and_nothing_else(make_simulator):
    sim = make_simulator(step_ms=100, steps=50)
    client = _client(sim.url)
    mine = _queue(client, 1)
    other = _queue(client, 2)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    outcome = prompt_follow(
        client,
        mine,
        events=None,
        on_progress=lambda *_: None,
        keep_going=lambda: not stop.is_set(),
        poll_seconds=0.1,
    )
    assert isinstance(outcome, Stopped)
    sim.wait_idle(timeout=30)
    assert client.get_history(mine).interrupted
    assert client.get_history(other).succeeded  # not interrupted in its place


def test_a_backend_that_restarts_has_forgotten_the_prompt(make_simulator):
    sim = make_simulator(step_ms=100, steps=50)
    client = _client(sim.url)
    prompt_id = _queue(client)
    threading.Timer(0.3, sim.restart).start()
    outcome = prompt_follow(
        client,
        prompt_id,
        events=None,
        on_progress=lambda *_: None,
        keep_going=lambda: True,
        poll_seconds=0.2,
    )
    assert isinstance(outcome, Lost) and "restarted" in outcome.reason


def test_a_backend_unreachable_for_too_long_is_given_up(make_simulator):
    sim = make_simulator(step_ms=100, steps=50)
    client = _client(sim.url)
    prompt_id = _queue(client)
    sim.pause()
    try:
        outcome = prompt_follow(
            client,
            prompt_id,
            events=None,
            on_progress=lambda *_: None,
            keep_going=lambda: True,
            poll_seconds=0.1,
            dead_after=1.0,
        )
    finally:
        sim.resume()
    assert isinstance(outcome, Lost) and "unreachable" in outcome.reason
