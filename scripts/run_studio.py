"""Run the studio locally: the bundled ComfyUI simulator, the results worker and the web server.

Used by `make run`. The simulator is started only when COMFYUI_URLS is left at its
default (a real ComfyUI needs nothing from here). Ctrl+C stops all three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

DEFAULT_COMFYUI = "http://127.0.0.1:8188"
HOST = os.environ.get("STUDIO_HOST", "127.0.0.1")
PORT = os.environ.get("STUDIO_PORT", "8000")


def main() -> int:
    python = sys.executable
    children: list[subprocess.Popen] = []
    if os.environ.get("COMFYUI_URLS", DEFAULT_COMFYUI) == DEFAULT_COMFYUI:
        children.append(
            subprocess.Popen(
                [python, "manage.py", "comfyui_simulator", "--host", "127.0.0.1", "--port", "8188"]
            )
        )
    children.append(subprocess.Popen([python, "manage.py", "studio_worker"]))
    children.append(subprocess.Popen([python, "manage.py", "runserver", f"{HOST}:{PORT}"]))
    print(f"\nRYLA Studio: http://{HOST}:{PORT}/studio  (log in as the demo user above)\n")
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
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [c for c in children if c.returncode not in (0, -signal.SIGINT, None)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
