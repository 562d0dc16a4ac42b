"""manage.py comfyui_check against the bundled simulator over HTTP (the contract suite runs
it against a real ComfyUI)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from comfy.validation import load_schemas


def _check(*args: str) -> str:
    out = StringIO()
    call_command("comfyui_check", *args, stdout=out)
    return out.getvalue()


def test_check_of_a_server_that_has_everything_is_clean(comfyui):
    report = _check(comfyui.url)
    assert "(the bundled simulator)" in report
    assert "model files: all present" in report
    assert "studio_image: validates" in report and "flux_inpaint: validates" in report
    assert "shipped schema: agrees" in report
    assert "OK: this server can run the studio's graphs" in report


def test_check_names_a_missing_model_and_fails(comfyui, settings):
    settings.COMFYUI_FLUX_FILL_UNET = "flux1-fill-dev-fp8.safetensors"
    out = StringIO()
    with pytest.raises(CommandError, match="cannot run the studio's graphs"):
        call_command("comfyui_check", comfyui.url, stdout=out)
    assert (
        "missing model UNETLoader.unet_name = 'flux1-fill-dev-fp8.safetensors' (flux_inpaint)"
        in out.getvalue()
    )


def test_check_of_an_unreachable_server_says_so(dead_url):
    with pytest.raises(CommandError, match="Cannot connect"):
        _check(dead_url, "--timeout", "2")


def test_refresh_writes_the_servers_schemas_of_the_nodes_we_use(comfyui, tmp_path):
    target = tmp_path / "object_info.json"
    report = _check(comfyui.url, "--refresh-schema", str(target))
    assert "wrote the schemas of" in report
    assert json.loads(target.read_text()) == json.loads(json.dumps(dict(load_schemas())))
