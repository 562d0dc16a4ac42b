from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from comfy.check import schema_for_shipping, server_check
from comfy.client import ComfyClient
from comfy.errors import ComfyError
from comfy.validation import load_schemas
from comfy.workflows import LoraSpec, build_flux_inpaint_workflow, build_studio_image_workflow


def deployment_graphs(lora_name: str | None) -> dict[str, dict[str, Any]]:
    """Both graphs as this deployment builds them (its model files, a small size); the
    inpaint graph with every control on, so each node type it can use is checked."""
    lora = LoraSpec(name=lora_name, strength=0.8) if lora_name else None
    return {
        "studio_image": build_studio_image_workflow(
            "check",
            "",
            1,
            64,
            64,
            2,
            lora=lora,
            unet_name=settings.COMFYUI_ZIMAGE_UNET,
            clip_name=settings.COMFYUI_ZIMAGE_CLIP,
            vae_name=settings.COMFYUI_VAE,
        ),
        "flux_inpaint": build_flux_inpaint_workflow(
            "check",
            "",
            "check.png",
            1,
            2,
            denoise=0.8,
            feather=40,  # two blur passes
            crop=(0, 0, 64, 64),
            working_size=64,
            unet_name=settings.COMFYUI_FLUX_FILL_UNET,
            clip_name1=settings.COMFYUI_FLUX_CLIP_L,
            clip_name2=settings.COMFYUI_FLUX_T5XXL,
            vae_name=settings.COMFYUI_VAE,
        ),
    }


class Command(BaseCommand):
    help = (
        "Check a ComfyUI server against this deployment: every node the two graphs use, every "
        "model file they name (COMFYUI_* settings), and both graphs validated against the "
        "server's own /object_info. Exit status 1 when the server cannot run them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", help="the ComfyUI server, e.g. http://gpu-1:8188")
        parser.add_argument("--lora", help="also check this LoRA file (a character's)")
        parser.add_argument(
            "--refresh-schema",
            metavar="PATH",
            nargs="?",
            const="",
            help="write the server's schemas of the nodes we use (default: the shipped "
            "comfy/schemas/object_info.json) after the check",
        )
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, url: str, lora: str | None, refresh_schema: str | None, **options):
        client = ComfyClient(url, timeout=options["timeout"], retries=1)
        try:
            stats = client.system_stats()
            live = client.object_info()
        except ComfyError as exc:
            raise CommandError(f"{url}: {exc}") from exc
        graphs = deployment_graphs(lora)
        shipped = load_schemas()
        report = server_check(live, graphs, shipped=shipped)
        kind = " (the bundled simulator)" if stats.is_simulator else ""
        self.stdout.write(f"ComfyUI {stats.comfyui_version} at {url}{kind}: {len(live)} node types")
        self.stdout.write(
            f"nodes used by the graphs: {len(report.node_types)}, "
            + ("all present" if not report.missing_nodes else "MISSING:")
        )
        for entry in report.missing_nodes:
            self.stdout.write(f"  missing node {entry}")
        self.stdout.write(
            "model files: " + ("all present" if not report.missing_models else "MISSING:")
        )
        for entry in report.missing_models:
            self.stdout.write(f"  missing model {entry}")
        for name in graphs:
            problems = report.rejected.get(name)
            if problems is None and any(name in e for e in report.missing_nodes):
                self.stdout.write(f"{name}: cannot run (missing nodes)")
            elif problems:
                self.stdout.write(f"{name}: REFUSED")
                for problem in problems:
                    self.stdout.write(f"  {problem}")
            else:
                self.stdout.write(f"{name}: validates")
        if report.schema_differences:
            self.stdout.write("shipped schema differs from this server (inputs the graphs use):")
            for difference in report.schema_differences:
                self.stdout.write(f"  {difference}")
        else:
            self.stdout.write("shipped schema: agrees for every node and input the graphs use")
        if refresh_schema is not None:
            node_types = set(shipped) | set(report.node_types)
            path = Path(refresh_schema) if refresh_schema else _shipped_path()
            path.write_text(
                json.dumps(schema_for_shipping(live, node_types), indent=1, sort_keys=True) + "\n"
            )
            self.stdout.write(f"wrote the schemas of {len(node_types)} node types to {path}")
        if not report.ok:
            raise CommandError("this server cannot run the studio's graphs (see above)")
        self.stdout.write(self.style.SUCCESS("OK: this server can run the studio's graphs"))


def _shipped_path() -> Path:
    return Path(str(resources.files("comfy.schemas").joinpath("object_info.json")))
