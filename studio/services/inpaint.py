"""Starting an edit: validate the mask, keep it in storage, write the new row, enqueue it.

The mask is uploaded to ComfyUI by the render worker that takes the job, on its own
backend (LoadImage reads that backend's input folder).
"""

from __future__ import annotations

import io
import math
import uuid

from django.conf import settings
from django.db import transaction
from PIL import Image as PILImage

from gallery import storage
from gallery.models import EditType, Image, ImageStatus
from studio import analytics
from studio.errors import DispatchUnavailable, StudioError
from studio.png import decoded_png_check
from studio.services import dispatch
from studio.services.generation import in_flight_reserve, new_seed

INPAINT_CFG = 1.0

# The inpaint controls' ranges; the API serializer and the page's form read them here.
DENOISE_MIN, DENOISE_MAX, DENOISE_DEFAULT = 0.05, 1.0, 1.0
FEATHER_MAX, FEATHER_DEFAULT = 64, 0
PADDING_MAX, PADDING_DEFAULT = 256, 32


def inpaint_settings_validate(*, denoise: float, mask_feather: int, mask_padding: int) -> None:
    """The controls' ranges, for callers that do not come through the API serializer."""
    if not (math.isfinite(denoise) and DENOISE_MIN <= denoise <= DENOISE_MAX):
        raise StudioError(
            f"Denoise must be between {DENOISE_MIN} and {DENOISE_MAX}.", field="denoise"
        )
    if not 0 <= mask_feather <= FEATHER_MAX:
        raise StudioError(
            f"Mask feather must be between 0 and {FEATHER_MAX} pixels.", field="maskFeather"
        )
    if not 0 <= mask_padding <= PADDING_MAX:
        raise StudioError(
            f"Mask padding must be between 0 and {PADDING_MAX} pixels.", field="maskPadding"
        )


def mask_validate(*, masked_png: bytes, width: int, height: int) -> None:
    """Check the RGBA PNG whose alpha is the mask (0 = repaint) before anything is stored.

    The header is checked before any pixel is decoded, so a decompression bomb costs
    nothing.
    """
    field = "maskedImageBase64Png"
    if len(masked_png) > settings.STUDIO_MASK_MAX_BYTES:
        raise StudioError(
            f"The mask image is larger than {settings.STUDIO_MASK_MAX_BYTES} bytes.", field=field
        )
    if not masked_png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise StudioError("The mask image must be a PNG.", field=field)
    try:
        picture = PILImage.open(io.BytesIO(masked_png), formats=["PNG"])
    except Exception:
        raise StudioError("The mask image could not be read as a PNG.", field=field) from None
    with picture:
        if picture.width * picture.height > settings.STUDIO_MASK_MAX_PIXELS:
            raise StudioError("The mask image has too many pixels.", field=field)
        if picture.mode != "RGBA":
            raise StudioError(
                f"The mask image must be RGBA (its alpha is the mask), not {picture.mode}.",
                field=field,
            )
        if picture.size != (width, height):
            raise StudioError(
                f"The mask image is {picture.width}×{picture.height}; "
                f"the source image is {width}×{height}.",
                field=field,
            )
        try:
            picture.load()
            decoded_png_check(picture, masked_png)
        except Exception:
            raise StudioError("The mask image is damaged or incomplete.", field=field) from None
        low, high = picture.getchannel("A").getextrema()
    if low != 0:
        raise StudioError("The mask is empty: paint the area to change.", field=field)
    if high != 255:
        raise StudioError("The whole image is masked: leave some of it unpainted.", field=field)


def inpaint_start(
    *,
    user,
    source_image: Image,
    prompt: str,
    negative_prompt: str = "",
    masked_png: bytes,
    seed: int | None = None,
    denoise: float = DENOISE_DEFAULT,
    mask_feather: int = FEATHER_DEFAULT,
    only_masked: bool = False,
    mask_padding: int = PADDING_DEFAULT,
) -> Image:
    """Enqueue a FLUX Fill edit of `source_image` as a new image; the source never changes.

    The inpaint controls are stored on the row; the render worker builds the graph from
    them (and, for `only_masked`, finds the crop box in the stored mask).
    """
    if source_image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if source_image.status != ImageStatus.COMPLETED:
        raise StudioError("Only completed images can be edited.", field="sourceImageId")
    inpaint_settings_validate(denoise=denoise, mask_feather=mask_feather, mask_padding=mask_padding)
    mask_validate(masked_png=masked_png, width=source_image.width, height=source_image.height)
    image = Image(
        character=source_image.character,
        batch_id=uuid.uuid4(),
        scene=source_image.scene,
        environment=source_image.environment,
        outfit=source_image.outfit,
        aspect_ratio=source_image.aspect_ratio,
        quality_mode=source_image.quality_mode,
        nsfw=source_image.nsfw,
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed if seed is not None else new_seed(),
        width=source_image.width,
        height=source_image.height,
        steps=settings.STUDIO_INPAINT_STEPS,
        cfg=INPAINT_CFG,
        workflow="flux_inpaint",
        prompt_id=str(uuid.uuid4()),
        source_image=source_image,
        edit_type=EditType.INPAINT,
        denoise=denoise,
        mask_feather=mask_feather,
        only_masked=only_masked,
        mask_padding=mask_padding,
    )
    # Stored before the row exists: a worker that takes the job finds its mask.
    image.mask_key = storage.mask_store(
        character_id=image.character_id, image_id=image.id, png_bytes=masked_png
    )
    properties = {
        "characterId": str(source_image.character_id),
        "imageId": str(image.id),
        "sourceImageId": str(source_image.id),
        "promptLength": len(prompt),
    }
    try:
        with transaction.atomic():
            queued = in_flight_reserve(user, 1)
            image.queue_urgency = dispatch.urgency_for(
                quality_mode=image.quality_mode, queued_before=queued
            )
            dispatch.enqueue_on_commit([image])
            image.save(force_insert=True)
    except Exception as error:
        storage.files_delete([image.mask_key])
        if isinstance(error, DispatchUnavailable):
            analytics.capture(
                "inpaint_failed", user_id=user.id, properties={**properties, "reason": str(error)}
            )
        raise
    analytics.capture("inpaint_started", user_id=user.id, properties=properties)
    return image
