"""Validate API-format graphs against node schemas the way ComfyUI's ``/prompt`` does.

Error types, messages and shapes follow ``validate_prompt``/``validate_inputs`` in
ComfyUI's ``execution.py``, so a graph rejected here is reported exactly as a real
server would report it, and the simulator can answer with the same 400 body.

Model-file enums are "open" by default: each deployment has its own files, so the
schema's list (taken from one server) says nothing about another server. ``LoadImage``'s
``image`` is checked against ``input_files`` instead, like ComfyUI's custom validation.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

DEFAULT_OPEN_ENUMS: frozenset[str] = frozenset(
    {
        "unet_name",
        "clip_name",
        "clip_name1",
        "clip_name2",
        "vae_name",
        "lora_name",
        "ckpt_name",
    }
)

# Inputs ComfyUI checks with the node's own VALIDATE_INPUTS instead of the enum list.
FILE_INPUTS: frozenset[tuple[str, str]] = frozenset(
    {("LoadImage", "image"), ("LoadImageMask", "image")}
)

Schemas = Mapping[str, Mapping[str, Any]]


@dataclass
class ValidationResult:
    """``error`` and ``node_errors`` are exactly what ComfyUI puts in its 400 body."""

    ok: bool
    error: dict[str, Any] | None = None
    node_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {"error": self.error, "node_errors": self.node_errors}


@lru_cache(maxsize=1)
def _load_shipped() -> dict[str, Any]:
    text = resources.files("comfy.schemas").joinpath("object_info.json").read_text("utf-8")
    return json.loads(text)


def load_schemas() -> dict[str, Any]:
    """The node schemas shipped with the package (trimmed ComfyUI 0.3.64 ``object_info``)."""
    return _load_shipped()


def _graph_error(type_: str, message: str, details: str = "") -> ValidationResult:
    return ValidationResult(
        ok=False,
        error={"type": type_, "message": message, "details": details, "extra_info": {}},
    )


def _input_spec(schema: Mapping[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(name, category, spec) for required then optional inputs, in ComfyUI's order."""
    inputs = schema.get("input", {})
    order = schema.get("input_order", {})
    specs = []
    for category in ("required", "optional"):
        declared = inputs.get(category, {}) or {}
        names = order.get(category) or list(declared)
        for name in names:
            if name in declared:
                specs.append((name, category, list(declared[name])))
    return specs


def _spec_type(spec: list[Any]) -> tuple[Any, dict[str, Any]]:
    input_type = spec[0]
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if input_type == "COMBO" and isinstance(extra.get("options"), list):
        input_type = extra["options"]
    return input_type, extra


def _types_compatible(received: Any, expected: Any) -> bool:
    """ComfyUI's ``validate_node_input``: equal, wildcard, or overlapping unions."""
    if received == expected or received == "*" or expected == "*":
        return True
    if isinstance(expected, list):
        return received == "COMBO" or isinstance(received, list)
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)


class _InnerException(Exception):
    """Mirrors the Python exception ComfyUI itself hits while following a bad link."""

    def __init__(self, message: str, exception_type: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


def _convert(input_type: Any, value: Any) -> Any:
    if input_type == "INT":
        return int(value)
    if input_type == "FLOAT":
        return float(value)
    if input_type == "STRING":
        return str(value)
    if input_type == "BOOLEAN":
        return bool(value)
    return value


class _Validator:
    def __init__(
        self,
        graph: Mapping[str, Any],
        schemas: Schemas,
        open_enums: Collection[str],
        input_files: Collection[str] | None,
    ) -> None:
        self.graph = graph
        self.schemas = schemas
        self.open_enums = open_enums
        self.input_files = set(input_files) if input_files is not None else None
        self.validated: dict[str, tuple[bool, list[dict[str, Any]]]] = {}
        self.in_progress: set[str] = set()

    def node(self, node_id: str) -> Mapping[str, Any]:
        return self.graph[node_id]

    def validate_node(self, node_id: str) -> tuple[bool, list[dict[str, Any]]]:
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in self.in_progress:
            raise _InnerException(f"Dependency cycle detected at node {node_id}", "RecursionError")
        self.in_progress.add(node_id)
        try:
            return self._validate_node(node_id)
        finally:
            self.in_progress.discard(node_id)

    def _validate_node(self, node_id: str) -> tuple[bool, list[dict[str, Any]]]:
        node = self.node(node_id)
        class_type = node["class_type"]
        schema = self.schemas[class_type]
        inputs = node.get("inputs") or {}
        errors: list[dict[str, Any]] = []
        valid = True
        for name, category, spec in _input_spec(schema):
            input_type, extra = _spec_type(spec)
            info = [input_type, extra]
            if name not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": name,
                            "extra_info": {"input_name": name},
                        }
                    )
                continue
            value = inputs[name]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": (
                                "Bad linked input, must be a length-2 list of [node_id, slot_index]"
                            ),
                            "details": name,
                            "extra_info": {
                                "input_name": name,
                                "input_config": info,
                                "received_value": value,
                            },
                        }
                    )
                    continue
                source_id, slot = str(value[0]), value[1]
                if source_id not in self.graph:
                    raise _InnerException(repr(source_id), "KeyError")
                outputs = self.schemas[self.node(source_id)["class_type"]].get("output", [])
                if not isinstance(slot, int) or isinstance(slot, bool):
                    raise _InnerException(
                        f"tuple indices must be integers or slices, not {type(slot).__name__}",
                        "TypeError",
                    )
                if not -len(outputs) <= slot < len(outputs):
                    raise _InnerException("tuple index out of range", "IndexError")
                received = outputs[slot]
                if not _types_compatible(received, input_type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": (
                                f"{name}, received_type({received}) "
                                f"mismatch input_type({input_type})"
                            ),
                            "extra_info": {
                                "input_name": name,
                                "input_config": info,
                                "received_type": received,
                                "linked_node": value,
                            },
                        }
                    )
                    continue
                try:
                    inner_ok, _ = self.validate_node(source_id)
                except _InnerException as exc:
                    self.validated[source_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(exc),
                                "extra_info": {
                                    "input_name": name,
                                    "input_config": info,
                                    "exception_message": str(exc),
                                    "exception_type": exc.exception_type,
                                    "traceback": [],
                                    "linked_node": value,
                                },
                            }
                        ],
                    )
                    inner_ok = False
                if not inner_ok:
                    valid = False
                continue

            try:
                value = _convert(input_type, value)
            except (TypeError, ValueError) as exc:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{name}, {value}, {exc}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": info,
                            "received_value": value,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue

            if (class_type, name) in FILE_INPUTS:
                if self.input_files is not None and value not in self.input_files:
                    errors.append(
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": f"{name} - Invalid image file: {value}",
                            "extra_info": {"input_name": name},
                        }
                    )
                continue

            if "min" in extra and value < extra["min"]:
                errors.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": f"Value {value} smaller than min of {extra['min']}",
                        "details": name,
                        "extra_info": {
                            "input_name": name,
                            "input_config": info,
                            "received_value": value,
                        },
                    }
                )
                continue
            if "max" in extra and value > extra["max"]:
                errors.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": f"Value {value} bigger than max of {extra['max']}",
                        "details": name,
                        "extra_info": {
                            "input_name": name,
                            "input_config": info,
                            "received_value": value,
                        },
                    }
                )
                continue
            if (
                isinstance(input_type, list)
                and name not in self.open_enums
                and value not in input_type
            ):
                too_long = len(input_type) > 20
                list_info = f"(list of length {len(input_type)})" if too_long else str(input_type)
                errors.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{name}: '{value}' not in {list_info}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": None if too_long else info,
                            "received_value": value,
                        },
                    }
                )
                continue

        if node_id in self.validated:
            return self.validated[node_id]  # a cycle back to this node already said why
        result = (not errors and valid, errors)
        self.validated[node_id] = result
        return result


def validate_graph(
    graph: Any,
    schemas: Schemas,
    *,
    open_enums: Collection[str] = DEFAULT_OPEN_ENUMS,
    input_files: Collection[str] | None = None,
) -> ValidationResult:
    """Check a graph as ``POST /prompt`` would; ``ok`` is True when at least one output
    node validates (ComfyUI then runs the good outputs and reports the rest in
    ``node_errors``).

    ``input_files`` lists names present in ComfyUI's input folder; when ``None``,
    ``LoadImage`` file names are not checked.
    """
    if not isinstance(graph, Mapping) or not graph:
        return _graph_error("prompt_no_outputs", "Prompt has no outputs")
    outputs: list[str] = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            return _graph_error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
        class_type = node["class_type"]
        if class_type not in schemas:
            return _graph_error(
                "invalid_prompt",
                f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'",
            )
        if schemas[class_type].get("output_node") is True:
            outputs.append(str(node_id))
    if not outputs:
        return _graph_error("prompt_no_outputs", "Prompt has no outputs")

    validator = _Validator(graph, schemas, open_enums, input_files)
    good: list[str] = []
    failed: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, dict[str, Any]] = {}
    for output_id in outputs:
        try:
            ok, reasons = validator.validate_node(output_id)
        except _InnerException as exc:
            ok = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc),
                    "extra_info": {"exception_type": exc.exception_type, "traceback": []},
                }
            ]
            validator.validated[output_id] = (False, reasons)
        if ok:
            good.append(output_id)
            continue
        failed.append((output_id, reasons))
        for node_id, (node_ok, node_reasons) in validator.validated.items():
            if node_ok or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {
                    "errors": node_reasons,
                    "dependent_outputs": [],
                    "class_type": graph[node_id]["class_type"],
                },
            )
            entry["dependent_outputs"].append(output_id)

    if not good:
        details = "\n".join(
            f"{reason['message']}: {reason['details']}"
            for _, reasons in failed
            for reason in reasons
        )
        return ValidationResult(
            ok=False,
            error={
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": details,
                "extra_info": {},
            },
            node_errors=node_errors,
        )
    return ValidationResult(ok=True, node_errors=node_errors, outputs=good)
