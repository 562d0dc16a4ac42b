from django.apps import AppConfig


class ComfyConfig(AppConfig):
    """Registered only so its management commands (``comfyui_simulator``, ``comfyui_check``)
    are discoverable."""

    name = "comfy"
    verbose_name = "ComfyUI"
