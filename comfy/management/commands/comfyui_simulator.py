from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from comfy.simulator import SimulatorOptions, run_simulator
from comfy.simulator.server import PREVIEW_METHODS


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return rate


class Command(BaseCommand):
    help = "Run the ComfyUI simulator (NOT a real ComfyUI): same protocol, Pillow pictures."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8188)
        parser.add_argument(
            "--latency-ms", type=float, default=0.0, help="delay on every HTTP call"
        )
        parser.add_argument("--step-ms", type=float, default=50.0, help="time per sampler step")
        parser.add_argument("--steps", type=int, default=None, help="override the graph's steps")
        parser.add_argument(
            "--fail-marker",
            default="SIMULATE_FAILURE",
            help="a prompt containing this text fails at execution",
        )
        parser.add_argument("--fail-all", action="store_true", help="every job fails")
        parser.add_argument(
            "--http-500-rate",
            type=_rate,
            default=0.0,
            help="fraction of HTTP calls answered with 500 (deterministic)",
        )
        parser.add_argument(
            "--preview-method",
            choices=PREVIEW_METHODS,
            default="none",
            help="as ComfyUI's: anything but none sends a JPEG preview after every step",
        )
        parser.add_argument(
            "--data-dir",
            default=None,
            help="input/output folders (default: settings.COMFYUI_SIMULATOR_DATA_DIR, else a "
            "temp dir removed on exit)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Only translates options into ``SimulatorOptions``; the server lives in the core."""
        if options["steps"] is not None and options["steps"] < 1:
            raise CommandError("--steps must be at least 1")
        run_simulator(
            options["host"],
            options["port"],
            SimulatorOptions(
                latency_ms=options["latency_ms"],
                step_ms=options["step_ms"],
                steps=options["steps"],
                fail_marker=options["fail_marker"],
                fail_all=options["fail_all"],
                http_500_rate=options["http_500_rate"],
                preview_method=options["preview_method"],
                data_dir=options["data_dir"]
                or getattr(settings, "COMFYUI_SIMULATOR_DATA_DIR", None)
                or None,
            ),
        )
