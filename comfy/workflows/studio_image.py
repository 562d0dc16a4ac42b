"""Z-Image Turbo text-to-image, the graph in ``z_image_turbo.api.json``.

About ``negative_prompt``: Z-Image Turbo is distilled to run at ``cfg 1``, and at
``cfg 1`` ComfyUI's sampler never evaluates the negative branch, so a negative prompt
cannot change the picture. The reference graph therefore feeds the sampler a
``ConditioningZeroOut`` of the positive, and so does this builder. Only when the caller
raises ``cfg`` above 1 *and* gives a non-empty negative prompt is it encoded (node
``"12"``) and wired to the sampler, because only then can it have an effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoraSpec:
    """A character LoRA applied to the diffusion model only."""

    name: str
    strength: float = 1.0


def _check_size(name: str, value: int) -> None:
    if value < 16 or value % 16:
        raise ValueError(f"{name} must be a positive multiple of 16, got {value}")


def build_studio_image_workflow(
    prompt: str,
    negative_prompt: str,
    seed: int,
    width: int,
    height: int,
    steps: int = 9,
    cfg: float = 1.0,
    lora: LoraSpec | None = None,
    *,
    unet_name: str = "z_image_turbo_bf16.safetensors",
    clip_name: str = "qwen_3_4b.safetensors",
    vae_name: str = "ae.safetensors",
    sampler_name: str = "res_multistep",
    scheduler: str = "simple",
    shift: float = 3.0,
    filename_prefix: str = "ryla/studio",
) -> dict[str, Any]:
    """Return the API-format graph; node ids match the reference graph."""
    _check_size("width", width)
    _check_size("height", height)
    model_source = ["1", 0]
    graph: dict[str, Any] = {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": unet_name, "weight_dtype": "default"},
        },
        "2": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": clip_name, "type": "lumina2", "device": "default"},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae_name}},
    }
    if lora is not None:
        graph["4"] = {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {
                "model": ["1", 0],
                "lora_name": lora.name,
                "strength_model": float(lora.strength),
            },
        }
        model_source = ["4", 0]
    graph["5"] = {
        "class_type": "ModelSamplingAuraFlow",
        "inputs": {"model": model_source, "shift": float(shift)},
    }
    graph["6"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": prompt}}
    graph["7"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["6", 0]}}
    graph["8"] = {
        "class_type": "EmptySD3LatentImage",
        "inputs": {"width": width, "height": height, "batch_size": 1},
    }
    negative_source = ["7", 0]
    if cfg > 1.0 and negative_prompt.strip():
        negative_source = ["12", 0]
    graph["9"] = {
        "class_type": "KSampler",
        "inputs": {
            "model": ["5", 0],
            "positive": ["6", 0],
            "negative": negative_source,
            "latent_image": ["8", 0],
            "seed": seed,
            "steps": steps,
            "cfg": float(cfg),
            "sampler_name": sampler_name,
            "scheduler": scheduler,
            "denoise": 1.0,
        },
    }
    graph["10"] = {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["3", 0]}}
    graph["11"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["10", 0], "filename_prefix": filename_prefix},
    }
    if negative_source == ["12", 0]:
        graph["12"] = {
            "class_type": "CLIPTextEncode",
            "inputs": {"clip": ["2", 0], "text": negative_prompt},
        }
    return graph
