"""Fairness: user B's first draft while user A has 30 HQ images queued.

One backend, one render worker. A starts 30 HQ images; once the first is rendering, B
starts one draft. Drafts go before HQ and a user's first job before another's later ones,
so B's draft should wait for at most the job already on the backend: done within 2 job
durations of B's click. On Redis (priorities); the embedded broker (first in, first out)
is shown for comparison.

    .venv/bin/python bench/fairness.py [--job-ms 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

from bench._machine import header_print  # noqa: E402
from bench._stack import Stack, generate  # noqa: E402


def _result(base: str, token: str, prompt_id: str) -> dict:
    response = requests.get(
        f"{base}/image/comfyui/{prompt_id}/results",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    return response.json()


def run(broker: str, job_ms: float) -> tuple[float, int, float]:
    """Seconds from B's click to B's image done, B's queue position at submit, and the
    measured duration of one job (a claim to its row completed, median)."""
    with Stack(broker=broker, STUDIO_SIZE_SCALE="0.25") as stack:
        backend = stack.simulator(step_ms=job_ms / 4, steps=4)
        stack.worker(backend)
        stack.workers_ready(1)
        base = stack.web()
        a_token, a_character = stack.user("a")
        b_token, b_character = stack.user("b")
        a_prompts = []
        for _ in range(3):
            pack = generate(base, a_token, a_character, count=10, qualityMode="hq")
            a_prompts += pack["promptIds"]
        while _result(base, a_token, a_prompts[0])["status"] == "in_progress":
            if _result(base, a_token, a_prompts[0])["queuePosition"] == 0:
                break
            time.sleep(0.05)
        clicked = time.monotonic()
        (b_prompt,) = generate(base, b_token, b_character, count=1)["promptIds"]
        position = _result(base, b_token, b_prompt)["queuePosition"]
        while _result(base, b_token, b_prompt)["status"] != "completed":
            time.sleep(0.05)
        waited = time.monotonic() - clicked
        measured = stack.manage(
            "shell",
            "-c",
            "import statistics; from gallery.models import Image; "
            "print(statistics.median((i.completed_at - i.started_at).total_seconds() "
            "for i in Image.objects.filter(status='completed')))",
        )
        return waited, position, float(measured.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-ms", type=float, default=1000.0)
    args = parser.parse_args()
    header_print("Fairness: B's first draft behind A's 30 HQ images")
    waited, position, job = run("redis", args.job_ms)
    print(
        f"Redis:    B's draft done {waited:.2f} s after the click = {waited / job:.2f} job "
        f"durations of {job:.2f} s measured (queue position at submit: {position})"
    )
    fifo, fifo_position, fifo_job = run("embedded", args.job_ms)
    print(
        f"embedded: B's draft done {fifo:.2f} s after the click = {fifo / fifo_job:.2f} job "
        f"durations (position {fifo_position}; that broker has no priorities)"
    )
    ok = waited <= 2 * job
    print(f"goal <= 2 job durations on Redis: {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
