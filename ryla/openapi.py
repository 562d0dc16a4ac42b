"""Schema post-processing: document the error answers every API operation can give.

Views declare their successful answers and the errors particular to them; the answers that
come from DRF and the middleware (bad input, authentication, a foreign or unknown id, a body
over the size limit, throttling) are added here to every operation they apply to, with the
body shape DRF really sends.
"""

from __future__ import annotations

from typing import Any

DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "field": {"type": "string"}},
    "required": ["detail"],
}
# DRF's validation errors: field name → messages (or {"detail": ...} for non-field errors).
FIELD_ERRORS = {"type": "object", "additionalProperties": True}

COMMON = {
    "400": ("Invalid input: field → messages", FIELD_ERRORS),
    "401": ("Not authenticated", DETAIL),
    "403": ("Not allowed", DETAIL),
    "404": ("No such object among yours", DETAIL),
    "413": ("Request body over the size limit", DETAIL),
    "429": ("Too many requests", DETAIL),
}


def _applicable(operation: dict, method: str) -> set[str]:
    codes = {"403", "429"}
    parameters = operation.get("parameters", [])
    if "requestBody" in operation or parameters:
        codes.add("400")
    if "requestBody" in operation or method in ("post", "put", "patch"):
        codes.add("413")
    if any(p.get("in") == "path" for p in parameters):
        codes.add("404")
    if any(requirement for requirement in operation.get("security", [])):
        codes.add("401")
    return codes


def error_responses_add(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for code in _applicable(operation, method):
                description, schema = COMMON[code]
                response = responses.setdefault(code, {"description": description})
                response.setdefault("content", {"application/json": {"schema": schema}})
    return result
