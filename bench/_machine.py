"""What every benchmark prints first: the machine it ran on and the command."""

from __future__ import annotations

import os
import platform
import shlex
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
