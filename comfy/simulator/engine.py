"""A tiny interpreter that "runs" a validated graph with Pillow instead of models.

Each node class the project uses gets a stand-in: loaders return nothing, text encoders
carry their text along, samplers carry seed, text and denoise, VAEDecode paints a
deterministic picture (blended with the encoded pixels when denoise is below 1). The
image and mask nodes (crop, scale, blur, image/mask conversions, MaskComposite,
ImageCompositeMasked) and SaveImage behave like the real nodes, in 8 bits. Unknown node
classes pass through the first input whose type matches each output, so graphs built
from other core nodes still produce an image.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .render import (
    blur,
    composite_masked,
    crop_clamped,
    encode_png,
    load_image_and_mask,
    mask_combine,
    render_image,
    scale,
)

SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})


@dataclass(frozen=True)
class Conditioning:
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Latent:
    width: int
    height: int
    batch: int = 1
    seed: int = 0
    texts: tuple[str, ...] = ()
    denoise: float = 1.0
    pixels: Image.Image | None = field(default=None, compare=False, repr=False)


@dataclass
class RunResult:
    """UI outputs per node, as they go into ``executed`` events and history."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def execution_order(graph: Mapping[str, Any], outputs: list[str]) -> list[str]:
    """Depth-first post-order from the output nodes: every node after its inputs."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen or node_id not in graph:
            return
        seen.add(node_id)
        for value in (graph[node_id].get("inputs") or {}).values():
            if is_link(value):
                visit(value[0])
        order.append(node_id)

    for output_id in outputs:
        visit(output_id)
    return order


def graph_strings(graph: Mapping[str, Any]) -> list[str]:
    return [
        value
        for node in graph.values()
        for value in (node.get("inputs") or {}).values()
        if isinstance(value, str)
    ]


def sampler_steps(graph: Mapping[str, Any], node_id: str) -> int:
    inputs = graph[node_id].get("inputs") or {}
    try:
        return max(1, int(inputs.get("steps", 1)))
    except (TypeError, ValueError):
        return 1


def _next_counter(folder: Path, filename: str) -> int:
    pattern = re.compile(re.escape(filename) + r"_(\d+)_")
    highest = 0
    if folder.is_dir():
        for entry in os.listdir(folder):
            match = pattern.match(entry)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def save_images(
    images: list[Image.Image],
    filename_prefix: str,
    base_dir: Path,
    folder_type: str,
    graph: Mapping[str, Any],
) -> list[dict[str, str]]:
    """SaveImage's naming: ``ryla/studio`` → subfolder ``ryla``, ``studio_00001_.png``."""
    normalised = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalised)
    filename = os.path.basename(normalised)
    folder = (base_dir / subfolder).resolve()
    if os.path.commonpath((str(base_dir), str(folder))) != str(base_dir):
        raise ValueError(
            "Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {folder}\n output_dir: {base_dir}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    counter = _next_counter(folder, filename)
    results = []
    for batch_number, image in enumerate(images):
        name = f"{filename.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        (folder / name).write_bytes(encode_png(image, {"prompt": json.dumps(graph)}))
        results.append({"filename": name, "subfolder": subfolder, "type": folder_type})
        counter += 1
    return results


class GraphRunner:
    """Evaluates one node at a time, keeping each node's outputs for its consumers."""

    def __init__(
        self,
        graph: Mapping[str, Any],
        schemas: Mapping[str, Any],
        *,
        input_dir: Path,
        output_dir: Path,
        temp_dir: Path,
    ) -> None:
        self.graph = graph
        self.schemas = schemas
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.temp_dir = temp_dir
        self.values: dict[str, tuple[Any, ...]] = {}

    def _inputs(self, node_id: str) -> dict[str, Any]:
        return dict(self.graph[node_id].get("inputs") or {})

    def _value(self, node_id: str, name: str, default: Any = None) -> Any:
        raw = self._inputs(node_id).get(name, default)
        if is_link(raw):
            outputs = self.values.get(raw[0], ())
            return outputs[raw[1]] if raw[1] < len(outputs) else None
        return raw

    def run_node(self, node_id: str) -> dict[str, Any] | None:
        """Run one node; return its UI output (``{"images": [...]}``) if it has one."""
        class_type = self.graph[node_id]["class_type"]
        handler = getattr(self, f"_node_{class_type}", None)
        if class_type in SAMPLERS:
            handler = self._sampler
        result = handler(node_id) if handler else self._passthrough(node_id)
        ui = None
        if isinstance(result, dict):
            ui, result = result, ()
        self.values[node_id] = tuple(result)
        return ui

    def _passthrough(self, node_id: str) -> tuple[Any, ...]:
        schema = self.schemas.get(self.graph[node_id]["class_type"], {})
        by_type: dict[str, Any] = {}
        for raw in self._inputs(node_id).values():
            if not is_link(raw) or raw[0] not in self.graph:
                continue
            source_schema = self.schemas.get(self.graph[raw[0]]["class_type"], {})
            source_outputs = source_schema.get("output", [])
            if raw[1] < len(source_outputs):
                value = self.values.get(raw[0], ())
                if raw[1] < len(value):
                    by_type.setdefault(source_outputs[raw[1]], value[raw[1]])
        return tuple(by_type.get(t) for t in schema.get("output", []))

    def _node_LoadImage(self, node_id: str) -> tuple[Any, ...]:
        name = str(self._value(node_id, "image"))
        path = (self.input_dir / name).resolve()
        if os.path.commonpath((str(self.input_dir), str(path))) != str(self.input_dir):
            raise ValueError(f"Invalid image file: {name}")
        image, mask = load_image_and_mask(path)
        return ([image], mask)

    def _empty_latent(self, node_id: str) -> tuple[Any, ...]:
        return (
            Latent(
                width=int(self._value(node_id, "width", 1024)),
                height=int(self._value(node_id, "height", 1024)),
                batch=int(self._value(node_id, "batch_size", 1)),
            ),
        )

    _node_EmptySD3LatentImage = _empty_latent
    _node_EmptyLatentImage = _empty_latent

    def _node_CLIPTextEncode(self, node_id: str) -> tuple[Any, ...]:
        return (Conditioning((str(self._value(node_id, "text", "")),)),)

    def _node_ConditioningZeroOut(self, node_id: str) -> tuple[Any, ...]:
        return (Conditioning(),)

    def _latent_from_pixels(self, images: Any) -> Latent:
        if isinstance(images, list) and images:
            width, height = images[0].size
            return Latent(width=width, height=height, batch=len(images), pixels=images[0])
        return Latent(width=1024, height=1024)

    def _node_InpaintModelConditioning(self, node_id: str) -> tuple[Any, ...]:
        return (
            self._value(node_id, "positive"),
            self._value(node_id, "negative"),
            self._latent_from_pixels(self._value(node_id, "pixels")),
        )

    def _node_VAEEncode(self, node_id: str) -> tuple[Any, ...]:
        return (self._latent_from_pixels(self._value(node_id, "pixels")),)

    def _sampler(self, node_id: str) -> tuple[Any, ...]:
        latent = self._value(node_id, "latent_image")
        if not isinstance(latent, Latent):
            latent = Latent(width=1024, height=1024)
        positive = self._value(node_id, "positive")
        texts = positive.texts if isinstance(positive, Conditioning) else ()
        seed = self._value(node_id, "seed", self._value(node_id, "noise_seed", 0))
        return (
            Latent(
                width=latent.width,
                height=latent.height,
                batch=latent.batch,
                seed=int(seed or 0),
                texts=texts,
                denoise=float(self._value(node_id, "denoise", 1.0)),
                pixels=latent.pixels,
            ),
        )

    def sampler_latent(self, node_id: str) -> Latent:
        """What sampler `node_id` will output (its inputs must have run): step previews
        show that picture."""
        return self._sampler(node_id)[0]

    def _node_VAEDecode(self, node_id: str) -> tuple[Any, ...]:
        latent = self._value(node_id, "samples")
        if not isinstance(latent, Latent):
            latent = Latent(width=1024, height=1024)
        prompt = " ".join(latent.texts)
        images = [
            render_image(prompt, latent.seed + i, latent.width, latent.height)
            for i in range(max(1, latent.batch))
        ]
        if latent.pixels is not None and latent.denoise < 1:
            # Partial denoise keeps some of the encoded picture: a blend stands in for it.
            original = latent.pixels.convert("RGB").resize((latent.width, latent.height))
            images = [Image.blend(original, image, latent.denoise) for image in images]
        return (images,)

    def _node_ImageCrop(self, node_id: str) -> tuple[Any, ...]:
        box = [int(self._value(node_id, name)) for name in ("x", "y", "width", "height")]
        return ([crop_clamped(image, *box) for image in self._value(node_id, "image") or []],)

    def _node_CropMask(self, node_id: str) -> tuple[Any, ...]:
        x, y, width, height = (
            int(self._value(node_id, name)) for name in ("x", "y", "width", "height")
        )
        mask = self._value(node_id, "mask")
        # A tensor slice, not ImageCrop: a corner outside the mask gives an empty mask.
        x, y = min(x, mask.width), min(y, mask.height)
        return (mask.crop((x, y, min(mask.width, x + width), min(mask.height, y + height))),)

    def _node_ImageScale(self, node_id: str) -> tuple[Any, ...]:
        method = str(self._value(node_id, "upscale_method", "bilinear"))
        width = int(self._value(node_id, "width", 512))
        height = int(self._value(node_id, "height", 512))
        crop = str(self._value(node_id, "crop", "disabled"))
        images = self._value(node_id, "image") or []
        return ([scale(image, method, width, height, crop) for image in images],)

    def _node_ImageBlur(self, node_id: str) -> tuple[Any, ...]:
        radius = int(self._value(node_id, "blur_radius", 1))
        sigma = float(self._value(node_id, "sigma", 1.0))
        return ([blur(image, radius, sigma) for image in self._value(node_id, "image") or []],)

    def _node_MaskToImage(self, node_id: str) -> tuple[Any, ...]:
        mask = self._value(node_id, "mask")
        return ([Image.merge("RGB", (mask, mask, mask))],)

    def _node_ImageToMask(self, node_id: str) -> tuple[Any, ...]:
        channel = str(self._value(node_id, "channel", "red"))
        image = (self._value(node_id, "image") or [])[0]
        band = {"red": "R", "green": "G", "blue": "B", "alpha": "A"}[channel]
        if band not in image.getbands():
            raise ValueError(
                f"index 3 is out of bounds for dimension 3 with size {len(image.getbands())}"
            )
        return (image.getchannel(band),)

    def _node_MaskComposite(self, node_id: str) -> tuple[Any, ...]:
        return (
            mask_combine(
                self._value(node_id, "destination"),
                self._value(node_id, "source"),
                int(self._value(node_id, "x", 0)),
                int(self._value(node_id, "y", 0)),
                str(self._value(node_id, "operation", "multiply")),
            ),
        )

    def _node_ImageCompositeMasked(self, node_id: str) -> tuple[Any, ...]:
        destinations = self._value(node_id, "destination") or []
        sources = self._value(node_id, "source") or []
        if not sources:
            return (destinations,)
        mask = self._value(node_id, "mask")
        x = int(self._value(node_id, "x", 0))
        y = int(self._value(node_id, "y", 0))
        resize = bool(self._value(node_id, "resize_source", False))
        out = [
            composite_masked(dest, sources[min(i, len(sources) - 1)], mask, x, y, resize)
            for i, dest in enumerate(destinations)
        ]
        return (out,)

    def _save(self, node_id: str, prefix: str, base_dir: Path, folder_type: str) -> dict:
        images = self._value(node_id, "images") or []
        return {"images": save_images(images, prefix, base_dir, folder_type, self.graph)}

    def _node_SaveImage(self, node_id: str) -> dict[str, Any]:
        prefix = str(self._value(node_id, "filename_prefix", "ComfyUI"))
        return self._save(node_id, prefix, self.output_dir, "output")

    def _node_PreviewImage(self, node_id: str) -> dict[str, Any]:
        return self._save(node_id, "ComfyUI_temp_sim", self.temp_dir, "temp")
