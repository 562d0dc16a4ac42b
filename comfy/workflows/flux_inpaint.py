"""FLUX.1 Fill inpainting, the graph in ``flux_fill_inpaint.api.json``, with the inpaint
controls: denoise strength, mask feather and "only masked".

The uploaded PNG carries the mask in its alpha channel (LoadImage's MASK is
``1 - alpha``): transparent pixels are repainted, opaque ones kept. The final
``ImageCompositeMasked`` pastes the decoded result over the original through that mask,
so pixels outside it come back exactly as uploaded instead of through a VAE round trip.

The controls keep that promise, with core nodes only:

- ``denoise`` goes to the sampler: below 1 the masked area keeps the original's
  composition (the latent is the encoded original, only partly re-noised).
- ``feather`` softens the composite inside the painted area only: the mask is blurred
  (MaskToImage → ImageBlur → ImageToMask) and then multiplied with the original mask
  (MaskComposite ``multiply``), so it is still exactly 0 wherever nothing was painted.
  The blend rises from about half strength at the painted edge to full strength
  ``feather`` pixels inside it. The model itself is conditioned on the hard mask, so the
  whole painted area is repainted; the feather only decides how it is blended back.
- ``crop`` ("only masked") renders a box around the mask instead of the whole image:
  ImageCrop + CropMask cut it out, ImageScale brings it to the model's working size (the
  long side ``working_size``, both sides multiples of 16), and after sampling ImageScale
  takes the result back to the box's size, to be composited onto the *original* full
  image at the box's corner. A face on a large image is so rendered with the model's full
  resolution. :func:`mask_crop_box` finds the box from the mask PNG.

``negative_prompt`` goes into node ``"6"`` as in the reference. FLUX Fill runs at
``cfg 1`` by default, where the sampler skips the negative branch; it only matters if
the caller raises ``cfg``.
"""

from __future__ import annotations

import io
import math
from typing import Any, NamedTuple

from PIL import Image as PILImage

# ImageBlur's limits (ComfyUI 0.3.64): blur_radius 1-31, sigma 0.1-10 on a kernel whose
# coordinates run from -1 to 1, so sigma 10 makes it a flat (2r+1)-pixel box.
BLUR_MAX_RADIUS = 31
BLUR_BOX_SIGMA = 10.0
SCALE_METHOD = "lanczos"
# A crop smaller than this is grown (within the image): too little context otherwise,
# and ImageBlur's reflect padding needs a side longer than its radius.
CROP_MIN_SIZE = 64


class CropBox(NamedTuple):
    """A box in source pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int


def mask_crop_box(
    masked_png: bytes | PILImage.Image,
    padding: int,
    *,
    align: int = 8,
    min_size: int = CROP_MIN_SIZE,
) -> CropBox | None:
    """The box "only masked" renders: the painted pixels' bounds (alpha below 255), grown
    by ``padding`` and out to multiples of ``align``, at least ``min_size`` a side, clamped
    to the image. None when nothing is painted (or the PNG has no alpha)."""
    if padding < 0:
        raise ValueError(f"padding must not be negative, got {padding}")
    if isinstance(masked_png, bytes | bytearray):
        with PILImage.open(io.BytesIO(masked_png)) as opened:
            return mask_crop_box(opened, padding, align=align, min_size=min_size)
    if "A" not in masked_png.getbands():
        return None
    painted = masked_png.getchannel("A").point(lambda a: 255 if a < 255 else 0)
    bounds = painted.getbbox()
    if bounds is None:
        return None
    width, height = masked_png.size
    left, right = _span(bounds[0], bounds[2], padding, align, min_size, width)
    top, bottom = _span(bounds[1], bounds[3], padding, align, min_size, height)
    return CropBox(left, top, right - left, bottom - top)


def _span(
    start: int, end: int, padding: int, align: int, min_size: int, limit: int
) -> tuple[int, int]:
    start = max(0, (start - padding) // align * align)
    end = min(limit, -(-(end + padding) // align) * align)
    missing = min(min_size, limit) - (end - start)
    if missing > 0:
        start = max(0, start - (missing + 1) // 2)
        end = min(limit, start + max(min_size, end - start))
        start = max(0, end - min_size)
    return start, end


def working_size_for(width: int, height: int, working_size: int) -> tuple[int, int]:
    """The box scaled so its long side is ``working_size``, both sides multiples of 16."""
    scale = working_size / max(width, height)
    return (
        max(16, round(width * scale / 16) * 16),
        max(16, round(height * scale / 16) * 16),
    )


def blur_passes(feather: int) -> list[int]:
    """Box-blur radii whose chain spreads an edge over ``feather`` pixels each way (one
    ImageBlur reaches 31; more passes also round the ramp's corners)."""
    if feather <= 0:
        return []
    count = math.ceil(feather / BLUR_MAX_RADIUS)
    base, extra = divmod(feather, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def build_flux_inpaint_workflow(
    prompt: str,
    negative_prompt: str,
    image_filename: str,
    seed: int,
    steps: int = 20,
    cfg: float = 1.0,
    *,
    denoise: float = 1.0,
    feather: int = 0,
    crop: tuple[int, int, int, int] | None = None,
    working_size: int = 1024,
    guidance: float = 30.0,
    unet_name: str = "flux1-fill-dev.safetensors",
    clip_name1: str = "clip_l.safetensors",
    clip_name2: str = "t5xxl_fp16.safetensors",
    vae_name: str = "ae.safetensors",
    sampler_name: str = "euler",
    scheduler: str = "normal",
    filename_prefix: str = "ryla/inpaint",
) -> dict[str, Any]:
    """Return the API-format graph; ``image_filename`` is the name the upload returned.

    With the defaults it is the reference graph node for node; the controls add nodes
    from ``"14"`` on. ``crop`` is ``(x, y, width, height)`` in source pixels.
    """
    if not image_filename:
        raise ValueError("image_filename is required")
    if not 0 < denoise <= 1:
        raise ValueError(f"denoise must be in (0, 1], got {denoise}")
    if feather < 0:
        raise ValueError(f"feather must not be negative, got {feather}")
    if working_size < 64 or working_size % 16:
        raise ValueError(
            f"working_size must be a multiple of 16 of at least 64, got {working_size}"
        )
    graph: dict[str, Any] = {
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
                "denoise": float(denoise),
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
    ids = iter(range(14, 1000))

    def add(class_type: str, **inputs: Any) -> list[Any]:
        node_id = str(next(ids))
        graph[node_id] = {"class_type": class_type, "inputs": inputs}
        return [node_id, 0]

    mask: list[Any] = ["4", 1]
    if crop is not None:
        x, y, width, height = (int(value) for value in crop)
        if x < 0 or y < 0 or width < 1 or height < 1:
            raise ValueError(f"crop must be (x >= 0, y >= 0, width >= 1, height >= 1), got {crop}")
        box = {"x": x, "y": y, "width": width, "height": height}
        pixels = add("ImageCrop", image=["4", 0], **box)
        mask = add("CropMask", mask=["4", 1], **box)
        scaled_width, scaled_height = working_size_for(width, height, working_size)
        scaled = add(
            "ImageScale",
            image=pixels,
            upscale_method=SCALE_METHOD,
            width=scaled_width,
            height=scaled_height,
            crop="disabled",
        )
        graph["8"]["inputs"].update(pixels=scaled, mask=mask)  # the mask is scaled inside
        back = add(
            "ImageScale",
            image=["11", 0],
            upscale_method=SCALE_METHOD,
            width=width,
            height=height,
            crop="disabled",
        )
        graph["12"]["inputs"].update(source=back, x=x, y=y, mask=mask)
    radii = blur_passes(feather)
    if radii:
        blurred = add("MaskToImage", mask=mask)
        for radius in radii:
            blurred = add("ImageBlur", image=blurred, blur_radius=radius, sigma=BLUR_BOX_SIGMA)
        soft = add("ImageToMask", image=blurred, channel="red")
        # Zero wherever the painted mask is zero: the feather only fades inward.
        inward = add("MaskComposite", destination=soft, source=mask, x=0, y=0, operation="multiply")
        graph["12"]["inputs"]["mask"] = inward
    return graph
