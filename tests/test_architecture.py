"""The dependency rules of DESIGN.md, checked on the source: studio → gallery, studio → comfy.

`gallery` and `comfy` never import `studio`; `comfy`'s core (everything but its app config
and management commands) imports nothing from Django, so it can be used on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Top-level package names imported by a module (relative imports are the package's own)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules(app: str) -> list[Path]:
    return sorted(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("app", ["gallery", "comfy"])
def test_gallery_and_comfy_never_import_studio(app):
    offenders = [str(p.relative_to(ROOT)) for p in _modules(app) if "studio" in _imports(p)]
    assert offenders == []


def test_comfy_core_imports_nothing_from_django():
    core = [
        p
        for p in _modules("comfy")
        if p.name != "apps.py" and "management" not in p.relative_to(ROOT / "comfy").parts
    ]
    assert len(core) >= 8, core  # the client, pool, workflows, validation, simulator...
    forbidden = {"django", "rest_framework", "gallery", "studio", "ryla"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & forbidden)
        for p in core
        if _imports(p) & forbidden
    }
    assert offenders == {}
