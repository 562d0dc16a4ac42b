"""200 viewers while 3 packs render: open studio tabs (one event stream each) and gallery
reads, against the studio under uvicorn with Redis, render workers on two simulators.

Counts the ComfyUI requests the web processes make (their COMFYUI_URLS is a simulator of
its own that nobody else calls; reads come from the database only), the events the tabs
receive, and the latency of gallery reads meanwhile.
Goals: 0 ComfyUI requests caused by viewers; gallery read p95 <= 100 ms.

    .venv/bin/python bench/viewers.py [--viewers 200] [--readers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

import aiohttp
import requests

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import header_print, percentile  # noqa: E402
from bench._stack import Stack, generate  # noqa: E402

USERS = 10


def session_cookie(base: str, username: str) -> str:
    session = requests.Session()
    login = session.get(f"{base}/login/", timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    session.post(
        f"{base}/login/",
        data={"username": username, "password": "pw-bench-1", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
    )
    return session.cookies["sessionid"]


async def viewer(base: str, cookie: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with aiohttp.ClientSession(cookies={"sessionid": cookie}) as http:  # noqa: SIM117
        async with http.get(f"{base}/studio/events", timeout=aiohttp.ClientTimeout(None)) as r:
            while not stop.is_set():
                try:
                    line = await asyncio.wait_for(r.content.readline(), 0.5)
                except TimeoutError:
                    continue
                if line.startswith(b"event: "):
                    counts[0] += 1


async def reader(base: str, token: str, character_id: str, stop: asyncio.Event, times: list):
    url = f"{base}/image-gallery/characters/{character_id}/images?limit=24"
    headers = {"Authorization": f"Token {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        while not stop.is_set():
            start = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                assert response.status == 200
            times.append((time.perf_counter() - start) * 1000)


async def load(base, cookies, readers, viewers, seconds, stack_info) -> tuple[list, int]:
    stop = asyncio.Event()
    counts = [0]
    times: list[float] = []
    tasks = [
        asyncio.create_task(viewer(base, cookies[n % len(cookies)], stop, counts))
        for n in range(viewers)
    ]
    await asyncio.sleep(2)  # every stream open
    tasks += [
        asyncio.create_task(reader(base, *stack_info[n % len(stack_info)], stop, times))
        for n in range(readers)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return times, counts[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args()
    header_print(f"{args.viewers} viewers while 3 packs render")
    with Stack(broker="redis", STUDIO_SIZE_SCALE="0.25") as stack:
        backends = [stack.simulator(step_ms=100, steps=5) for _ in range(2)]
        for url in backends:
            stack.worker(url)
        stack.workers_ready(2)
        sentinel = stack.simulator(step_ms=1, steps=1)
        base = stack.web(workers=2, comfyui_urls=sentinel)
        users = [stack.user(f"viewer{n}") for n in range(USERS)]
        cookies = [session_cookie(base, f"viewer{n}") for n in range(USERS)]
        sentinel_log = sorted(stack.tmp.glob("simulator-*.log"))[-1]
        calls_before = sentinel_log.read_text().count('HTTP/1.1"')
        for token, character_id in users[:3]:
            generate(base, token, character_id, count=10)
        times, events = asyncio.run(
            load(base, cookies, args.readers, args.viewers, args.seconds, users)
        )
        calls = sentinel_log.read_text().count('HTTP/1.1"') - calls_before
    print(
        f"gallery reads: {len(times)} in {args.seconds:.0f} s from {args.readers} readers: "
        f"median {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms"
    )
    print(f"events received by the {args.viewers} streams: {events}")
    print(f"ComfyUI requests from the web processes: {calls}")
    ok = calls == 0 and percentile(times, 95) <= 100
    print(f"goals 0 requests, p95 <= 100 ms: {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
