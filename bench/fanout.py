"""Fan-out: does a pack of 10 wait on ComfyUI? It should not: the request writes rows and
enqueues jobs, render workers talk to ComfyUI.

Measures the wall time of `POST /image/generate/studio` with count=10 against the studio
under uvicorn, once with the simulator adding 50 ms to every HTTP call it answers and once
with 0 ms, render workers draining the queue meanwhile. Goal: ratio <= 1.2.

    .venv/bin/python bench/fanout.py [--repetitions 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import header_print, percentile  # noqa: E402
from bench._stack import Stack, generate  # noqa: E402


def timed(latency_ms: float, repetitions: int) -> list[float]:
    with Stack(broker="redis", STUDIO_SIZE_SCALE="0.25") as stack:
        backend = stack.simulator(step_ms=1, steps=1, latency_ms=latency_ms)
        stack.worker(backend)
        base = stack.web(comfyui_urls=backend)
        token, character_id = stack.user("bench")
        generate(base, token, character_id, count=10)  # warm up
        times = []
        for _ in range(repetitions):
            start = time.perf_counter()
            generate(base, token, character_id, count=10)
            times.append((time.perf_counter() - start) * 1000)
        return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=20)
    args = parser.parse_args()
    header_print("Fan-out: POST generate count=10, simulator latency 50 ms vs 0 ms")
    slow = timed(50, args.repetitions)
    fast = timed(0, args.repetitions)
    ratio = statistics.median(slow) / statistics.median(fast)
    print(
        f"50 ms per ComfyUI call: median {statistics.median(slow):.1f} ms, p95 "
        f"{percentile(slow, 95):.1f} ms"
    )
    print(
        f" 0 ms per ComfyUI call: median {statistics.median(fast):.1f} ms, p95 "
        f"{percentile(fast, 95):.1f} ms"
    )
    print(f"ratio {ratio:.2f}: goal <= 1.2: {'PASS' if ratio <= 1.2 else 'MISS'}")
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
