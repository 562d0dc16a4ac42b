"""Preset ids: kebab-case on the wire, snake_case in the database; the API accepts either."""

from __future__ import annotations

import re

_ID = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")


def to_snake(value: str) -> str:
    """`mirror-selfie` or `mirror_selfie` → `mirror_selfie`; raises ValueError on anything else."""
    normalized = value.strip().lower()
    if not _ID.match(normalized):
        raise ValueError(f"{value!r} is not a preset id")
    return normalized.replace("-", "_")


def to_kebab(value: str) -> str:
    """`mirror_selfie` → `mirror-selfie` (what the API answers)."""
    return value.replace("_", "-")
