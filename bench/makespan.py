"""Makespan: 4 ComfyUI backends, one of them 4x slower, 120 images from 3 users.

Pull (the studio): one render worker per backend takes a job from the broker only when its
backend is free, so the slow backend simply takes fewer jobs. Push (the design before
Celery, for comparison on the same machine): each job is sent at submit time to the
backend with the shortest queue, so every backend gets a quarter and the slow one finishes
long after the others. The ideal bound is total work / total speed.

    .venv/bin/python bench/makespan.py [--images 120] [--fast-ms 1000]

Goal: pull makespan <= 1.15 x the ideal bound.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import header_print  # noqa: E402
from bench._stack import Stack, generate  # noqa: E402

STEPS = 4
USERS = 3


def _backends(stack: Stack, fast_ms: float) -> tuple[list[str], float]:
    step = fast_ms / STEPS
    urls = [stack.simulator(step_ms=step, steps=STEPS) for _ in range(3)]
    urls.append(stack.simulator(step_ms=4 * step, steps=STEPS))
    speed = 3 + 0.25  # jobs per fast-job duration
    return urls, speed


def _completed(base: str, users: list[tuple[str, str]]) -> int:
    done = 0
    for token, character_id in users:
        url = f"{base}/image-gallery/characters/{character_id}/images?limit=100"
        while url:
            page = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=30)
            body = page.json()
            done += sum(1 for image in body["images"] if image["status"] == "completed")
            url = body["next"]
    return done


def run_pull(images: int, fast_ms: float) -> float:
    with Stack(broker="redis", STUDIO_SIZE_SCALE="0.25") as stack:
        urls, _ = _backends(stack, fast_ms)
        for url in urls:
            stack.worker(url)
        stack.workers_ready(len(urls))
        base = stack.web()
        users = [stack.user(f"user{n}") for n in range(USERS)]
        per_pack = 10
        start = time.monotonic()
        for _round in range(images // (per_pack * USERS)):  # users' packs interleaved
            for token, character_id in users:
                generate(base, token, character_id, count=per_pack)
        while _completed(base, users) < images:
            time.sleep(0.25)
        return time.monotonic() - start


def run_push(images: int, fast_ms: float) -> float:
    """Before Celery: the least-loaded backend at submit time gets the job."""
    from comfy.client import ComfyClient
    from comfy.workflows import build_studio_image_workflow

    with Stack(broker="embedded") as stack:
        urls, _ = _backends(stack, fast_ms)
        clients = [ComfyClient(url, timeout=30, retries=2) for url in urls]
        start = time.monotonic()
        prompts: list[tuple[ComfyClient, str]] = []
        for n in range(images):
            client = min(clients, key=lambda c: (c.get_queue().length, clients.index(c)))
            graph = build_studio_image_workflow("a woman", "", n, 192, 192, STEPS)
            prompt_id = str(uuid.uuid4())
            client.queue_prompt(graph, prompt_id=prompt_id)
            prompts.append((client, prompt_id))

        def finished(pair) -> None:
            client, prompt_id = pair
            while client.get_history(prompt_id) is None:
                time.sleep(0.1)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(finished, prompts))
        return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--fast-ms", type=float, default=1000.0)
    args = parser.parse_args()
    header_print("Makespan: 4 backends, one 4x slower, pull vs push")
    ideal = args.images * (args.fast_ms / 1000) / 3.25
    print(
        f"{args.images} images from {USERS} users; a job takes {args.fast_ms:.0f} ms on a "
        f"fast backend, {4 * args.fast_ms:.0f} ms on the slow one; ideal bound {ideal:.1f} s"
    )
    pull = run_pull(args.images, args.fast_ms)
    print(f"pull (render workers on Celery): {pull:.1f} s = {pull / ideal:.2f} x ideal")
    push = run_push(args.images, args.fast_ms)
    print(f"push (least-loaded at submit):   {push:.1f} s = {push / ideal:.2f} x ideal")
    ok = pull <= 1.15 * ideal
    print(f"goal pull <= 1.15 x ideal: {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
