"""What the benchmarks share: the header they print (machine, command), ports, percentiles."""

from __future__ import annotations

import math
import os
import platform
import shlex
import socket
import sys


def machine_describe() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"machine: {os.cpu_count()} CPUs, {model}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def header_print(title: str) -> None:
    print(f"== {title}")
    print(machine_describe())
    print("command: " + " ".join(shlex.quote(arg) for arg in [sys.executable, *sys.argv]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
