"""A ComfyUI simulator: same HTTP/websocket protocol, Pillow pictures instead of models.

It is the embedded default backend for local runs and the backend of the test suite.
Everything it serves says it is a simulator (``/system_stats``, the startup banner, a
label drawn on every image).
"""

from .server import BANNER, SimulatorOptions, create_app, run_simulator

__all__ = ["BANNER", "SimulatorOptions", "create_app", "run_simulator"]
