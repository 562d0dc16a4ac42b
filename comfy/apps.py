from django.apps import AppConfig


class ComfyConfig(AppConfig):
    """Registered only so ``manage.py comfyui_simulator`` is discoverable."""

    name = "comfy"
    verbose_name = "ComfyUI"
