"""Check a ComfyUI server against the graphs the builders make: nodes, inputs, model files.

Pure functions over a server's ``/object_info`` (fetch it with ``ComfyClient.object_info``):
the ``comfyui_check`` management command prints their report for any URL, and the contract
suite holds the shipped ``object_info.json`` to a live server with them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .validation import DEFAULT_OPEN_ENUMS, validate_graph

Graphs = Mapping[str, Mapping[str, Any]]
Schemas = Mapping[str, Mapping[str, Any]]

# What a shipped schema keeps of a server's answer: enough to validate, no help texts.
SCHEMA_KEYS = (
    "api_node",
    "deprecated",
    "experimental",
    "category",
    "display_name",
    "input",
    "input_order",
    "name",
    "output",
    "output_is_list",
    "output_name",
    "output_node",
    "python_module",
)
OPTION_KEYS_DROPPED = ("tooltip",)


@dataclass
class ServerReport:
    node_types: list[str]
    missing_nodes: list[str] = field(default_factory=list)
    missing_models: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    schema_differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The server can run every graph (schema differences alone are only reported)."""
        return not (self.missing_nodes or self.missing_models or self.rejected)


def _inputs(schema: Mapping[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """input name → (section, spec) over required and optional inputs."""
    found: dict[str, tuple[str, list[Any]]] = {}
    for section in ("required", "optional"):
        for name, spec in (schema.get("input", {}).get(section) or {}).items():
            found[name] = (section, list(spec) if isinstance(spec, list | tuple) else [spec])
    return found


def used_inputs(graphs: Graphs) -> dict[str, set[str]]:
    """node type → the inputs the graphs set on it."""
    used: dict[str, set[str]] = {}
    for graph in graphs.values():
        for node in graph.values():
            used.setdefault(node["class_type"], set()).update(node.get("inputs", {}))
    return used


def _describe(spec: list[Any]) -> tuple[str, dict[str, Any]]:
    kind = spec[0] if spec else None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    options = {k: v for k, v in options.items() if k in ("default", "min", "max", "step")}
    return ("enum" if isinstance(kind, list) else str(kind)), options


def schema_differences(shipped: Schemas, live: Schemas, graphs: Graphs) -> list[str]:
    """Where ``live`` disagrees with ``shipped`` on a node type or input the graphs use.

    Enum values are not compared (model files differ per server; the values the graphs
    send are checked by validation); types, sections, defaults and ranges are.
    """
    differences: list[str] = []
    for node_type, names in sorted(used_inputs(graphs).items()):
        if node_type not in shipped:
            differences.append(f"{node_type}: not in the shipped schema")
            continue
        if node_type not in live:
            differences.append(f"{node_type}: not on the server")
            continue
        ours, theirs = _inputs(shipped[node_type]), _inputs(live[node_type])
        for name in sorted(names):
            if name not in ours:
                differences.append(f"{node_type}.{name}: not in the shipped schema")
            elif name not in theirs:
                differences.append(f"{node_type}.{name}: not on the server")
            elif ours[name][0] != theirs[name][0]:
                differences.append(
                    f"{node_type}.{name}: {ours[name][0]} here, {theirs[name][0]} on the server"
                )
            elif _describe(ours[name][1]) != _describe(theirs[name][1]):
                differences.append(
                    f"{node_type}.{name}: {_describe(ours[name][1])} here, "
                    f"{_describe(theirs[name][1])} on the server"
                )
        for name, (section, _) in sorted(theirs.items()):
            if section == "required" and name not in ours:
                differences.append(f"{node_type}.{name}: required on the server, unknown here")
    return differences


def server_check(live: Schemas, graphs: Graphs, *, shipped: Schemas | None = None) -> ServerReport:
    """Can the server behind ``live`` (its ``/object_info``) run every graph?

    Model-file inputs are checked against the server's own file lists, so a missing model
    is named as such rather than as a refused value.
    """
    report = ServerReport(node_types=sorted(used_inputs(graphs)))
    for name, graph in graphs.items():
        for node_id, node in graph.items():
            node_type = node["class_type"]
            if node_type not in live:
                entry = f"{node_type} (node {node_id} of {name})"
                if entry not in report.missing_nodes:
                    report.missing_nodes.append(entry)
                continue
            inputs = _inputs(live[node_type])
            for input_name, value in node.get("inputs", {}).items():
                if input_name not in DEFAULT_OPEN_ENUMS or input_name not in inputs:
                    continue
                choices = inputs[input_name][1][0] if inputs[input_name][1] else None
                if isinstance(choices, list) and value not in choices:
                    report.missing_models.append(
                        f"{node_type}.{input_name} = {value!r} ({name}); the server has: "
                        + (", ".join(map(str, choices)) or "none")
                    )
        if any(node["class_type"] not in live for node in graph.values()):
            continue
        result = validate_graph(graph, live, open_enums=DEFAULT_OPEN_ENUMS)
        if not result.ok:
            report.rejected[name] = _messages(result.error, result.node_errors)
    if shipped is not None:
        report.schema_differences = schema_differences(shipped, live, graphs)
    return report


def _messages(error: Mapping[str, Any] | None, node_errors: Mapping[str, Any]) -> list[str]:
    messages = []
    for node_id, entry in node_errors.items():
        for reason in entry.get("errors", []):
            messages.append(
                f"node {node_id} ({entry.get('class_type')}): {reason.get('message')}: "
                f"{reason.get('details')}"
            )
    if not messages and error:
        messages.append(f"{error.get('message')}: {error.get('details')}")
    return messages


def schema_for_shipping(live: Schemas, node_types: Iterable[str]) -> dict[str, Any]:
    """The part of a server's ``/object_info`` worth shipping: the given node types, with
    help texts dropped, keys sorted (a stable file to diff)."""
    shipped: dict[str, Any] = {}
    for node_type in sorted(set(node_types)):
        if node_type not in live:
            continue
        source = copy.deepcopy(live[node_type])
        schema = {key: source[key] for key in SCHEMA_KEYS if key in source}
        for section in schema.get("input", {}).values():
            for spec in (section or {}).values():
                if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
                    for key in OPTION_KEYS_DROPPED:
                        spec[1].pop(key, None)
        shipped[node_type] = schema
    return shipped


def lora_files(object_info: Mapping[str, Any]) -> list[str]:
    """The LoRA files a server offers: the choices of ``LoraLoader.lora_name`` in its
    ``/object_info`` (a plain list, or ComfyUI's newer ``["COMBO", {"options": [...]}]``)."""
    spec = object_info.get("LoraLoader", {}).get("input", {}).get("required", {}).get("lora_name")
    if not spec:
        return []
    choices = spec[0]
    if choices == "COMBO" and len(spec) > 1 and isinstance(spec[1], Mapping):
        choices = spec[1].get("options", [])
    return sorted(str(name) for name in choices) if isinstance(choices, list) else []
