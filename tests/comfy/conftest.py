import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfy.client import ComfyClient
from comfy.simulator import SimulatorOptions
from comfy.simulator.testing import SimulatorThread
from comfy.validation import load_schemas

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def schemas() -> dict[str, Any]:
    return load_schemas()


@pytest.fixture
def reference_graph() -> Callable[[str], dict[str, Any]]:
    """Load one of the graphs a real ComfyUI 0.3.64 accepted (copied from /work/shared)."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((FIXTURES / name).read_text())

    return load


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., SimulatorThread]]:
    """Start simulators on free ports; fast by default (5 ms x 4 steps)."""
    started: list[SimulatorThread] = []

    def start(**options: Any) -> SimulatorThread:
        options.setdefault("step_ms", 5)
        options.setdefault("steps", 4)
        sim = SimulatorThread(SimulatorOptions(**options)).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(make_simulator: Callable[..., SimulatorThread]) -> SimulatorThread:
    return make_simulator()


@pytest.fixture
def client(simulator: SimulatorThread) -> ComfyClient:
    return ComfyClient(simulator.url, timeout=5, retries=1, backoff=0)


def png_bytes(
    size: tuple[int, int] = (64, 48),
    colour: tuple[int, int, int] = (200, 30, 40),
    transparent_box: tuple[int, int, int, int] | None = None,
) -> bytes:
    """An RGBA PNG, opaque except ``transparent_box`` (the area to repaint)."""
    image = Image.new("RGBA", size, (*colour, 255))
    if transparent_box is not None:
        image.paste((0, 0, 0, 0), transparent_box)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    return png_bytes
