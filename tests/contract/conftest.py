"""The contract suite: the whole cycle through a real ComfyUI server.

A real ComfyUI 0.3.64 (CPU, tiny random-weight models under the production file names) is
started once per session with `../shared/comfyui/real/comfyui-real`, or taken from
COMFYUI_CONTRACT_URL (any ComfyUI with the deployment's models; tests that must write into
the server's folders or restart it are skipped there, with the reason printed).

Not selected by a plain `pytest` (pyproject's `-m "not real_comfyui"`): run it with
`make test-contract`. Without an installed server it is skipped with a printed reason on a
developer machine and fails in CI.

Renders are kept cheap with the product's own settings: STUDIO_SIZE_SCALE 0.125 (a 9:16
draft is 64×128), 2 sampler steps, except where a test needs a job that runs for a while.

The server sends step previews (`--preview-method latent2rgb`: a few milliseconds a step at
these sizes), so every cycle also goes through the worker's preview path. For an outside
server, COMFYUI_CONTRACT_PREVIEW_METHOD says how it was started; without it the preview
tests are skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings

from tests.processes import ManagedProcess, process_env

ROOT = Path(django_settings.BASE_DIR)


def _script() -> Path:
    """COMFYUI_REAL, else the workplace's shared folder beside the checkout."""
    if os.environ.get("COMFYUI_REAL"):
        return Path(os.environ["COMFYUI_REAL"])
    candidates = [
        ROOT.parent / "shared" / "comfyui" / "real" / "comfyui-real",
        Path("/work/shared/comfyui/real/comfyui-real"),
    ]
    return next((path for path in candidates if path.exists()), candidates[0])


SCRIPT = _script()
HOME = Path(
    os.environ.get("COMFYUI_REAL_HOME") or Path(os.environ.get("TMPDIR", "/tmp")) / "comfyui-real"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PREVIEW_METHOD = "latent2rgb"  # cheap (a linear map of the latent) and needs no model file


def _unavailable(reason: str):
    message = f"contract suite needs a real ComfyUI: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message)
    print(message)
    pytest.skip(message)


class RealComfyUI:
    """The server under test; `managed` when this session started it (and may restart it)."""

    def __init__(
        self, url: str, port: int | None = None, *, preview_method: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.port = port
        self.managed = port is not None
        self.preview_method = preview_method  # as ComfyUI's --preview-method; None: off

    def _script(self, *args: str) -> str:
        result = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self) -> None:
        options = ["--", "--preview-method", self.preview_method] if self.preview_method else []
        self._script("start", "--port", str(self.port), *options)

    def stop(self) -> None:
        self._script("stop", "--port", str(self.port))

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def models(self) -> Path:
        return HOME / "base" / "models"

    def require_previews(self) -> None:
        if not self.preview_method:
            message = (
                "COMFYUI_CONTRACT_URL is an outside server not said to send previews "
                "(set COMFYUI_CONTRACT_PREVIEW_METHOD to its --preview-method)"
            )
            print(message)
            pytest.skip(message)

    def require_managed(self, why: str) -> None:
        if not self.managed:
            message = f"COMFYUI_CONTRACT_URL is an outside server: {why}"
            print(message)
            pytest.skip(message)


@pytest.fixture(scope="session")
def real_comfyui():
    url = os.environ.get("COMFYUI_CONTRACT_URL")
    if url:
        yield RealComfyUI(url, preview_method=os.environ.get("COMFYUI_CONTRACT_PREVIEW_METHOD"))
        return
    if not SCRIPT.exists():
        _unavailable(f"{SCRIPT} not found (set COMFYUI_REAL or COMFYUI_CONTRACT_URL)")
    if not (HOME / "venv" / "bin" / "python").exists():
        _unavailable(f"not installed in {HOME}: run `{SCRIPT} install` (about 70 s, 1.9 GB)")
    port = _free_port()
    server = RealComfyUI(f"http://127.0.0.1:{port}", port, preview_method=PREVIEW_METHOD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def contract(settings, real_comfyui, transactional_db):
    """The studio pointed at the real server, at contract-test sizes and step counts, with
    nothing left on the server by an earlier test."""
    requests.post(f"{real_comfyui.url}/queue", json={"clear": True}, timeout=30)
    requests.post(f"{real_comfyui.url}/interrupt", json={}, timeout=30)
    settings.COMFYUI_URLS = [real_comfyui.url]
    settings.COMFYUI_TIMEOUT = 60
    settings.COMFYUI_RETRIES = 1
    settings.STUDIO_SIZE_SCALE = 0.125
    settings.STUDIO_DRAFT_STEPS = 2
    settings.STUDIO_HQ_STEPS = 2
    settings.STUDIO_INPAINT_STEPS = 2
    return real_comfyui


@pytest.fixture
def start_worker(contract, settings, tmp_path):
    """Start `manage.py render_worker --backend <the real server>` as production runs it,
    with the test's settings as they are when called."""
    started: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        worker = ManagedProcess(
            ["manage.py", "render_worker", "--backend", contract.url],
            tmp_path / f"worker{len(started)}.out",
            process_env(),
        )
        started.append(worker)
        worker.wait_for_output("ready.")
        return worker

    yield start
    for worker in started:
        worker.stop()
        print(f"--- {worker.output.name} ---\n{worker.text()[-4000:]}")  # shown on failure
