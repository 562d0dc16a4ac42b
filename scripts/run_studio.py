"""Run the studio locally: the bundled ComfyUI simulator, render workers and the web server.

Used by `make run`. Everything runs on embedded defaults (SQLite, local files, the job
queue in a SQLite file), so Python and make are all it needs. Environment:

- COMFYUI_URLS: real ComfyUI servers to render on; the simulator is started only when it
  is unset. One render worker is started per URL.
- STUDIO_HOST, STUDIO_PORT: where the web server listens (127.0.0.1:8000).

Ctrl+C stops everything.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

SIMULATOR_HOST, SIMULATOR_PORT = "127.0.0.1", 8188
HOST = os.environ.get("STUDIO_HOST", "127.0.0.1")
PORT = os.environ.get("STUDIO_PORT", "8000")


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)  # `kill` stops everything, as Ctrl+C does
    python = sys.executable
    urls = [url.strip() for url in os.environ.get("COMFYUI_URLS", "").split(",") if url.strip()]
    children: list[subprocess.Popen] = []
    if not urls:
        if _port_taken(SIMULATOR_HOST, SIMULATOR_PORT):
            print(
                f"make run: {SIMULATOR_HOST}:{SIMULATOR_PORT} is taken, so the ComfyUI "
                "simulator cannot start there. Stop what uses it, or render on it with "
                f"COMFYUI_URLS=http://{SIMULATOR_HOST}:{SIMULATOR_PORT} make run."
            )
            return 1
        children.append(
            subprocess.Popen(
                [
                    python,
                    "manage.py",
                    "comfyui_simulator",
                    "--host",
                    SIMULATOR_HOST,
                    "--port",
                    str(SIMULATOR_PORT),
                    "--preview-method",
                    "auto",
                ]
            )
        )
        urls = [f"http://{SIMULATOR_HOST}:{SIMULATOR_PORT}"]
    for number, url in enumerate(urls, start=1):
        children.append(
            subprocess.Popen(
                [
                    python,
                    "manage.py",
                    "render_worker",
                    "--backend",
                    url,
                    "--name",
                    f"local-{number}",
                    "--loglevel",
                    "WARNING",
                ]
            )
        )
    # The ASGI server of production (uvicorn): pages, the API and the live event streams.
    children.append(
        subprocess.Popen(
            [python, "-m", "uvicorn", "ryla.asgi:application", "--host", HOST, "--port", PORT]
        )
    )
    print(f"\nRYLA Studio: http://{HOST}:{PORT}/studio  (log in as the demo user above)")
    print(f"Rendering on: {', '.join(urls)}\n")
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c for c in children if c.returncode not in (0, -signal.SIGINT, None)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
