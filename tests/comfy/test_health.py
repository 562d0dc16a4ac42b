"""comfy.health: one quick look at each backend, concurrently."""

from __future__ import annotations

from comfy.health import backends_probe


def test_probe_reports_each_backend(make_simulator, dead_url):
    alive = make_simulator()
    ok, dead = backends_probe([alive.url + "/", dead_url], timeout=2)
    assert (ok.url, ok.ok, ok.error, ok.queue_length, ok.is_simulator) == (
        alive.url,
        True,
        None,
        0,
        True,
    )
    assert (dead.url, dead.ok, dead.queue_length) == (dead_url, False, None)
    assert "Cannot connect" in dead.error


def test_probe_of_nothing_is_empty():
    assert backends_probe([" ", ""]) == []
