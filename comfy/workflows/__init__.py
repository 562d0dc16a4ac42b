"""Workflow builders: pure functions returning API-format graphs, registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .flux_inpaint import build_flux_inpaint_workflow
from .studio_image import LoraSpec, build_studio_image_workflow

__all__ = [
    "WORKFLOWS",
    "LoraSpec",
    "UnknownWorkflow",
    "build_flux_inpaint_workflow",
    "build_studio_image_workflow",
    "get_workflow",
]

WORKFLOWS: dict[str, Callable[..., dict[str, Any]]] = {
    "studio_image": build_studio_image_workflow,
    "flux_inpaint": build_flux_inpaint_workflow,
}


class UnknownWorkflow(KeyError):
    """A workflow name that is not registered (a typo in settings or a stored row)."""

    def __str__(self) -> str:
        name = self.args[0] if self.args else ""
        return f"Unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}"


def get_workflow(name: str) -> Callable[..., dict[str, Any]]:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise UnknownWorkflow(name) from None
