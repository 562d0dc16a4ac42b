import threading
import uuid

import pytest

from comfy.client import ComfyClient
from comfy.errors import ComfyUnreachable
from comfy.pool import BackendPool
from comfy.workflows import build_flux_inpaint_workflow, build_studio_image_workflow


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def fast_client(url):
    return ComfyClient(url, timeout=2, retries=0, backoff=0)


def graph(seed=1):
    return build_studio_image_workflow("a fox", "", seed, 64, 64)


def test_from_env_string_splits_strips_and_normalises_urls():
    pool = BackendPool.from_env_string(" http://a:8188/ , http://b:8188,, ")

    assert pool.urls == ["http://a:8188", "http://b:8188"]


def test_pool_needs_at_least_one_url():
    with pytest.raises(ValueError):
        BackendPool.from_env_string(" , ")


def test_new_job_goes_to_the_backend_with_the_shortest_queue(make_simulator):
    busy = make_simulator(step_ms=50, steps=100)
    idle = make_simulator()
    busy_client = fast_client(busy.url)
    for seed in range(3):
        busy_client.queue_prompt(graph(seed))
    pool = BackendPool([busy.url, idle.url], client_factory=fast_client)

    prompt_id = str(uuid.uuid4())
    url = pool.queue(graph(), prompt_id, "client-1")

    assert url == idle.url
    idle.wait_idle()
    assert pool.client_for(url).get_history(prompt_id).succeeded
    for item in busy_client.get_queue().pending + busy_client.get_queue().running:
        busy_client.cancel(item)


def test_dead_backend_is_skipped_and_marked_down(make_simulator, dead_url):
    alive = make_simulator()
    pool = BackendPool([dead_url, alive.url], client_factory=fast_client)

    assert pool.queue(graph(), str(uuid.uuid4())) == alive.url
    assert pool.is_down(dead_url)
    assert not pool.is_down(alive.url)


def test_all_backends_down_raises_comfy_unreachable(dead_url):
    pool = BackendPool([dead_url], client_factory=fast_client)

    with pytest.raises(ComfyUnreachable):
        pool.queue(graph(), str(uuid.uuid4()))
    with pytest.raises(ComfyUnreachable, match="cooling down"):
        pool.choose()


def test_backend_is_retried_only_after_the_cooldown(make_simulator):
    first = make_simulator()
    second = make_simulator()
    clock = FakeClock()
    pool = BackendPool(
        [first.url, second.url], cooldown_seconds=30, client_factory=fast_client, clock=clock
    )
    first.pause()
    assert pool.choose() == second.url
    first.resume()

    clock.now += 29
    assert pool.choose() == second.url
    assert pool.is_down(first.url)

    clock.now += 2
    assert pool.choose() == first.url
    assert not pool.is_down(first.url)


def test_client_for_reuses_clients_and_serves_unconfigured_urls():
    pool = BackendPool(["http://a:8188"], client_factory=fast_client)

    assert pool.client_for("http://a:8188/") is pool.client_for("http://a:8188")
    assert pool.client_for("http://old-box:8188").base_url == "http://old-box:8188"


def test_choose_then_upload_and_queue_on_the_same_backend(make_simulator, make_png):
    first = make_simulator()
    second = make_simulator()
    pool = BackendPool([first.url, second.url], client_factory=fast_client)

    url = pool.choose()
    client = pool.client_for(url)
    name = client.upload_image(make_png(transparent_box=(0, 0, 8, 8)), "in.png")
    prompt_id = client.queue_prompt(build_flux_inpaint_workflow("x", "", name, 1))

    sim = first if url == first.url else second
    sim.wait_idle()
    assert client.get_history(prompt_id).succeeded


def test_concurrent_queueing_from_threads_lands_every_job(make_simulator):
    sims = [make_simulator(step_ms=1, steps=1), make_simulator(step_ms=1, steps=1)]
    pool = BackendPool([s.url for s in sims], client_factory=fast_client)
    results: dict[str, str] = {}
    errors: list[Exception] = []

    def submit(seed):
        prompt_id = str(uuid.uuid4())
        try:
            results[prompt_id] = pool.queue(graph(seed), prompt_id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sim in sims:
        sim.wait_idle()

    assert errors == []
    assert len(results) == 12
    for prompt_id, url in results.items():
        assert pool.client_for(url).get_history(prompt_id).succeeded


def test_concurrent_queue_calls_spread_over_equally_idle_backends(make_simulator):
    first = make_simulator(latency_ms=100)
    second = make_simulator(latency_ms=100)
    pool = BackendPool([first.url, second.url], client_factory=fast_client)
    chosen: list[str] = []
    barrier = threading.Barrier(6)

    def submit(seed: int) -> None:
        barrier.wait()
        chosen.append(pool.queue(graph(seed), str(uuid.uuid4())))

    threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(chosen.count(url) for url in (first.url, second.url)) == [3, 3]
