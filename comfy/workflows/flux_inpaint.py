"""FLUX.1 Fill inpainting, the graph in ``flux_fill_inpaint.api.json``.

The uploaded PNG carries the mask in its alpha channel (LoadImage's MASK is
``1 - alpha``): transparent pixels are repainted, opaque ones kept. The final
``ImageCompositeMasked`` pastes the decoded result over the original through that mask,
so pixels outside it come back exactly as uploaded instead of through a VAE round trip.

``negative_prompt`` goes into node ``"6"`` as in the reference. FLUX Fill runs at
``cfg 1`` by default, where the sampler skips the negative branch; it only matters if
the caller raises ``cfg``.
"""

from __future__ import annotations

from typing import Any


def build_flux_inpaint_workflow(
    prompt: str,
    negative_prompt: str,
    image_filename: str,
    seed: int,
    steps: int = 20,
    cfg: float = 1.0,
    *,
    guidance: float = 30.0,
    unet_name: str = "flux1-fill-dev.safetensors",
    clip_name1: str = "clip_l.safetensors",
    clip_name2: str = "t5xxl_fp16.safetensors",
    vae_name: str = "ae.safetensors",
    sampler_name: str = "euler",
    scheduler: str = "normal",
    filename_prefix: str = "ryla/inpaint",
) -> dict[str, Any]:
    """Return the API-format graph; ``image_filename`` is the name the upload returned."""
    if not image_filename:
        raise ValueError("image_filename is required")
    return {
        "1": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": unet_name, "weight_dtype": "default"},
        },
        "2": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": clip_name1,
                "clip_name2": clip_name2,
                "type": "flux",
                "device": "default",
            },
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae_name}},
        "4": {"class_type": "LoadImage", "inputs": {"image": image_filename}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": prompt}},
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"clip": ["2", 0], "text": negative_prompt},
        },
        "7": {
            "class_type": "FluxGuidance",
            "inputs": {"conditioning": ["5", 0], "guidance": float(guidance)},
        },
        "8": {
            "class_type": "InpaintModelConditioning",
            "inputs": {
                "positive": ["7", 0],
                "negative": ["6", 0],
                "vae": ["3", 0],
                "pixels": ["4", 0],
                "mask": ["4", 1],
                "noise_mask": True,
            },
        },
        "9": {"class_type": "DifferentialDiffusion", "inputs": {"model": ["1", 0]}},
        "10": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["9", 0],
                "positive": ["8", 0],
                "negative": ["8", 1],
                "latent_image": ["8", 2],
                "seed": seed,
                "steps": steps,
                "cfg": float(cfg),
                "sampler_name": sampler_name,
                "scheduler": scheduler,
                "denoise": 1.0,
            },
        },
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["3", 0]}},
        "12": {
            "class_type": "ImageCompositeMasked",
            "inputs": {
                "destination": ["4", 0],
                "source": ["11", 0],
                "x": 0,
                "y": 0,
                "resize_source": False,
                "mask": ["4", 1],
            },
        },
        "13": {
            "class_type": "SaveImage",
            "inputs": {"images": ["12", 0], "filename_prefix": filename_prefix},
        },
    }
