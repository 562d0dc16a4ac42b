"""The shipped node schemas against a live ComfyUI, and `manage.py comfyui_check` as an
operator runs it against their own server."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from comfy.check import schema_differences
from comfy.client import ComfyClient
from comfy.management.commands.comfyui_check import deployment_graphs
from comfy.validation import load_schemas

pytestmark = pytest.mark.real_comfyui


def _check(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "comfyui_check", url, *args],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_shipped_schema_agrees_with_the_live_server_for_every_node_and_input_used(
    real_comfyui,
):
    live = ComfyClient(real_comfyui.url, timeout=60).object_info()
    graphs = deployment_graphs("example_character.safetensors")
    assert schema_differences(load_schemas(), live, graphs) == []


def test_comfyui_check_of_the_real_server_is_clean(real_comfyui):
    result = _check(real_comfyui.url, "--lora", "example_character.safetensors")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ComfyUI 0.3.64" in result.stdout and "simulator" not in result.stdout
    assert "model files: all present" in result.stdout
    assert "OK: this server can run the studio's graphs" in result.stdout
    print(result.stdout)


def test_comfyui_check_names_a_model_file_that_is_absent(real_comfyui):
    real_comfyui.require_managed("this test moves a model file away on the server")
    vae = real_comfyui.models / "vae" / "ae.safetensors"
    hidden = vae.with_name("ae.safetensors.hidden-by-contract-test")
    vae.rename(hidden)
    try:
        result = _check(real_comfyui.url)
    finally:
        hidden.rename(vae)
    assert result.returncode == 1
    assert "missing model VAELoader.vae_name = 'ae.safetensors' (studio_image)" in result.stdout
    assert "missing model VAELoader.vae_name = 'ae.safetensors' (flux_inpaint)" in result.stdout
    assert "cannot run the studio's graphs" in result.stderr
    print(result.stdout)
