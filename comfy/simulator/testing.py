"""Run the simulator in a background thread, for tests and local scripts.

``pause()``/``resume()`` cut the network while the job keeps running (a partition);
``restart()`` kills the server and starts a fresh one on the same port with the same
files but empty queue and history, as a crashed-and-restarted ComfyUI would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from ..client import ComfyClient
from .server import Simulator, SimulatorOptions, create_app, simulator_of

T = TypeVar("T")


class SimulatorThread:
    def __init__(
        self, options: SimulatorOptions | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.options = options or SimulatorOptions(step_ms=5, steps=4)
        self.host = host
        self.port = port
        self._own_dir = self.options.data_dir is None
        self.data_dir = Path(self.options.data_dir or tempfile.mkdtemp(prefix="comfyui-sim-test-"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="comfyui-simulator", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._started = False

    # -- plumbing --------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start_runner(self) -> None:
        app = create_app(self.options, data_dir=self.data_dir)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._start_site()

    async def _start_site(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop_site(self) -> None:
        assert self._runner is not None
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self.simulator.close_websockets()
        server = self._runner.server
        if server is not None:
            await server.shutdown(0.2)

    async def _stop_runner(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    # -- public API ------------------------------------------------------------------

    def start(self) -> SimulatorThread:
        self._thread.start()
        self._call(self._start_runner())
        self._started = True
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def simulator(self) -> Simulator:
        """The live server state (queue, history, folders) for assertions."""
        assert self._runner is not None, "simulator is not running"
        return simulator_of(self._runner.app)

    def client(self) -> ComfyClient:
        """A client of this simulator for assertions (no retries)."""
        return ComfyClient(self.url, timeout=5, retries=0)

    @property
    def input_dir(self) -> Path:
        return self.data_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "output"

    def pause(self) -> None:
        """Stop listening and drop open connections; queued work continues inside."""
        self._call(self._stop_site())

    def resume(self) -> None:
        self._call(self._start_site())

    def restart(self) -> None:
        """Kill and start again on the same port: files survive, queue and history don't."""
        self._call(self._stop_runner())
        self._call(self._start_runner())

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until nothing is queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sim = self.simulator
            if not sim.pending and sim.running is None:
                return
            time.sleep(0.005)
        raise TimeoutError("simulator still busy")

    def stop(self) -> None:
        if self._started:
            with contextlib.suppress(Exception):
                self._call(self._stop_runner())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
            self._started = False
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
