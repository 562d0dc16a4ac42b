"""JSON shapes of the studio API (camelCase on the wire, kebab-case preset ids)."""

from __future__ import annotations

import base64
import binascii
import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gallery import storage
from gallery.models import AspectRatio, Image, ImageStatus, QualityMode
from studio import presets
from studio.ids import to_kebab, to_snake
from studio.services import inpaint
from studio.services.generation import MAX_SEED


def _plain_words(value: str) -> str:
    try:
        return presets.plain_words(value)
    except ValueError as error:
        raise serializers.ValidationError(str(error)) from None


def _preset_id(value: str, vocabulary: dict, what: str) -> str:
    try:
        key = to_snake(value)
    except ValueError:
        key = ""
    if key not in vocabulary:
        choices = ", ".join(to_kebab(k) for k in vocabulary)
        raise serializers.ValidationError(f"Unknown {what} {value!r}. Choose one of: {choices}.")
    return key


def _preset_schema(vocabulary: dict, what: str) -> dict:
    """The schema lists the kebab-case ids; the snake_case spelling is accepted too."""
    return {
        "type": "string",
        "enum": [to_kebab(key) for key in vocabulary],
        "description": f"{what} id (kebab-case; snake_case is accepted too)",
    }


@extend_schema_field(_preset_schema(presets.SCENES, "Scene"))
class SceneIdField(serializers.CharField):
    pass


@extend_schema_field(_preset_schema(presets.ENVIRONMENTS, "Environment"))
class EnvironmentIdField(serializers.CharField):
    pass


class StudioGenerateInput(serializers.Serializer):
    characterId = serializers.UUIDField()
    scene = SceneIdField(max_length=64)
    environment = EnvironmentIdField(max_length=64)
    outfit = serializers.CharField(
        max_length=presets.OUTFIT_MAX_LENGTH,
        allow_blank=True,
        required=False,
        default="",
        help_text="An outfit preset id or the creator's own words.",
    )
    aspectRatio = serializers.ChoiceField(choices=AspectRatio.values)
    qualityMode = serializers.ChoiceField(choices=QualityMode.values, default=QualityMode.DRAFT)
    count = serializers.IntegerField(min_value=1, max_value=10)
    nsfw = serializers.BooleanField(default=False)
    details = serializers.CharField(
        max_length=presets.DETAILS_MAX_LENGTH,
        allow_blank=True,
        required=False,
        default="",
        help_text="Optional words added to the prompt and stored with each image.",
    )
    seed = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SEED,
        required=False,
        allow_null=True,
        default=None,
        help_text="The first image's seed (the others count up from it); random if absent.",
    )

    def validate_scene(self, value: str) -> str:
        return _preset_id(value, presets.SCENES, "scene")

    def validate_environment(self, value: str) -> str:
        return _preset_id(value, presets.ENVIRONMENTS, "environment")

    def validate_outfit(self, value: str) -> str:
        return _plain_words(value)

    def validate_details(self, value: str) -> str:
        return _plain_words(value)


class StudioGenerateOutput(serializers.Serializer):
    promptIds = serializers.ListField(child=serializers.CharField())
    imageIds = serializers.ListField(child=serializers.UUIDField())
    batchId = serializers.UUIDField()
    status = serializers.CharField()


class InpaintInput(serializers.Serializer):
    characterId = serializers.UUIDField()
    sourceImageId = serializers.UUIDField()
    prompt = serializers.CharField(max_length=2000)
    negativePrompt = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, default=""
    )
    maskedImageBase64Png = serializers.CharField(
        help_text=(
            "The source image as an RGBA PNG at its natural size, base64 (a data: URL prefix "
            "is accepted). Alpha is the mask: transparent pixels are repainted, opaque kept."
        ),
    )
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, required=False)
    denoise = serializers.FloatField(
        min_value=inpaint.DENOISE_MIN,
        max_value=inpaint.DENOISE_MAX,
        default=inpaint.DENOISE_DEFAULT,
        help_text=(
            "How strongly the masked area is repainted: 1 replaces it, lower values keep "
            "more of the original's shapes and colours."
        ),
    )
    maskFeather = serializers.IntegerField(
        min_value=0,
        max_value=inpaint.FEATHER_MAX,
        default=inpaint.FEATHER_DEFAULT,
        help_text=(
            "Pixels over which the edit fades in from the mask's edge, inside the painted "
            "area; pixels outside the mask never change."
        ),
    )
    onlyMasked = serializers.BooleanField(
        default=False,
        help_text=(
            "Render only a box around the mask, at the model's working resolution, and "
            "paste it back: more detail for a small area of a large image."
        ),
    )
    maskPadding = serializers.IntegerField(
        min_value=0,
        max_value=inpaint.PADDING_MAX,
        default=inpaint.PADDING_DEFAULT,
        help_text="With onlyMasked: pixels of context kept around the mask's bounds.",
    )

    def validate_denoise(self, value: float) -> float:
        if not math.isfinite(value):
            raise serializers.ValidationError("A valid number is required.")
        return value

    def validate_maskedImageBase64Png(self, value: str) -> bytes:
        if value.startswith("data:"):
            header, _, value = value.partition(",")
            if not header.startswith("data:image/png;base64"):
                raise serializers.ValidationError("Expected a base64 PNG data URL.")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not valid base64.") from None


class InpaintOutput(serializers.Serializer):
    promptId = serializers.CharField()
    imageId = serializers.UUIDField()
    status = serializers.CharField()


class ImageFileOut(serializers.Serializer):
    url = serializers.CharField()
    thumbnailUrl = serializers.CharField()
    s3Key = serializers.CharField()


def _absolute(request, url: str) -> str:
    if request is not None and url.startswith("/"):
        return request.build_absolute_uri(url)
    return url


def image_files(image: Image, request=None) -> list[dict]:
    if image.status != ImageStatus.COMPLETED or not image.image_key:
        return []
    return [
        {
            "url": _absolute(request, storage.file_url(image.image_key)),
            "thumbnailUrl": _absolute(request, storage.file_url(image.thumbnail_key)),
            "s3Key": image.image_key,
        }
    ]


RESULT_STATUS = {
    ImageStatus.PENDING: "in_progress",
    ImageStatus.GENERATING: "in_progress",
    ImageStatus.COMPLETED: "completed",
    ImageStatus.FAILED: "failed",
}


class PromptResultsOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["completed", "in_progress", "failed"])
    progress = serializers.IntegerField(min_value=0, max_value=100)
    images = ImageFileOut(many=True)
    imageId = serializers.UUIDField()
    batchId = serializers.UUIDField()
    index = serializers.IntegerField(help_text="Position of this image in its pack, from 0.")
    total = serializers.IntegerField(help_text="Number of images in its pack.")
    error = serializers.CharField(allow_blank=True)
    queuePosition = serializers.IntegerField(
        allow_null=True,
        help_text="1 = the next job to start; 0 = on a ComfyUI backend now; null when done.",
    )
    estimatedSeconds = serializers.IntegerField(
        allow_null=True,
        help_text="Until it is done, from measured durations of this kind of render.",
    )

    @staticmethod
    def from_image(image: Image, request=None, insight=None) -> dict:
        return {
            "queuePosition": insight.position if insight else None,
            "estimatedSeconds": insight.estimate_seconds if insight else None,
            "status": RESULT_STATUS[image.status],
            "progress": image.progress,
            "images": image_files(image, request),
            "imageId": image.id,
            "batchId": image.batch_id,
            "index": image.batch_index,
            "total": image.batch_size,
            "error": image.error_message,
        }


class PresetIdOut(serializers.CharField):
    """A stored snake_case preset id, kebab-case on the wire."""

    def to_representation(self, value: str) -> str:
        return to_kebab(value)


class FileUrlOut(serializers.CharField):
    """A storage key as a URL a client can fetch (presigned on S3, signed locally)."""

    def to_representation(self, value: str) -> str:
        return _absolute(self.context.get("request"), storage.file_url(value))


class ImageOut(serializers.Serializer):
    """The one declaration of an image on the wire: the OpenAPI schema, single images, and
    (through `images_out`) gallery pages all come from these fields."""

    id = serializers.UUIDField()
    characterId = serializers.UUIDField(source="character_id")
    batchId = serializers.UUIDField(source="batch_id")
    index = serializers.IntegerField(source="batch_index")
    total = serializers.IntegerField(source="batch_size")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    error = serializers.CharField(source="error_message")
    scene = PresetIdOut()
    environment = PresetIdOut()
    outfit = serializers.CharField()
    aspectRatio = serializers.CharField(source="aspect_ratio")
    qualityMode = serializers.CharField(source="quality_mode")
    nsfw = serializers.BooleanField()
    prompt = serializers.CharField()
    negativePrompt = serializers.CharField(source="negative_prompt")
    details = serializers.CharField()
    seed = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    steps = serializers.IntegerField()
    cfg = serializers.FloatField()
    workflow = serializers.CharField()
    promptId = serializers.CharField(source="prompt_id")
    sourceImageId = serializers.UUIDField(source="source_image_id", allow_null=True)
    editType = serializers.CharField(source="edit_type", allow_null=True)
    favourite = serializers.BooleanField()
    reviewStatus = serializers.CharField(source="review_status")
    denoise = serializers.FloatField(help_text="Inpaint strength (edits; 1 for generations).")
    maskFeather = serializers.IntegerField(
        source="mask_feather", help_text="Inpaint mask feather in pixels (edits)."
    )
    onlyMasked = serializers.BooleanField(
        source="only_masked", help_text="Whether only a box around the mask was rendered."
    )
    maskPadding = serializers.IntegerField(
        source="mask_padding", help_text="Context pixels around the mask with onlyMasked."
    )
    url = FileUrlOut(source="image_key")
    thumbnailUrl = FileUrlOut(source="thumbnail_key")
    s3Key = serializers.CharField(source="image_key")
    createdAt = serializers.DateTimeField(source="created_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)


_IMAGE_OUT_FIELDS = [(name, field.source, field) for name, field in ImageOut().fields.items()]
# What a gallery page loads of each row (`.values(*IMAGE_OUT_COLUMNS)`): ImageOut's sources.
IMAGE_OUT_COLUMNS = tuple(dict.fromkeys(source for _, source, _ in _IMAGE_OUT_FIELDS))


def images_out(rows: list[dict], request=None) -> list[dict]:
    """`ImageOut(images, many=True).data` of `.values(*IMAGE_OUT_COLUMNS)` rows, faster.

    A gallery page is 50 images of 30 fields: model instances and DRF's per-row serializer
    machinery were most of its cost. Each value still goes through ImageOut's own field
    (so the shape has one source), and file URLs are signed in one pass.
    """
    url_sources = [
        source for _, source, field in _IMAGE_OUT_FIELDS if isinstance(field, FileUrlOut)
    ]
    urls = iter(storage.file_urls([row[source] for row in rows for source in url_sources]))
    origin = request.build_absolute_uri("/")[:-1] if request is not None else ""
    out = []
    for row in rows:
        item = {}
        for name, source, field in _IMAGE_OUT_FIELDS:
            value = row[source]
            if isinstance(field, FileUrlOut):
                url = next(urls)
                item[name] = origin + url if url.startswith("/") else url
            else:
                item[name] = None if value is None else field.to_representation(value)
        out.append(item)
    return out


class GalleryPageOutput(serializers.Serializer):
    images = ImageOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, or null.")


class GalleryQueryInput(serializers.Serializer):
    cursor = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100)
    scene = SceneIdField(required=False, max_length=64)
    environment = EnvironmentIdField(required=False, max_length=64)
    edited = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_scene(self, value: str) -> str:
        return _preset_id(value, presets.SCENES, "scene")

    def validate_environment(self, value: str) -> str:
        return _preset_id(value, presets.ENVIRONMENTS, "environment")


class CancelOutput(serializers.Serializer):
    imageId = serializers.UUIDField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)


class BackendHealthOut(serializers.Serializer):
    url = serializers.CharField()
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    queueLength = serializers.IntegerField(allow_null=True)
    simulator = serializers.BooleanField()


class RenderWorkerOut(serializers.Serializer):
    name = serializers.CharField()
    backends = serializers.ListField(child=serializers.CharField())
    upBackends = serializers.ListField(child=serializers.CharField())
    seenAt = serializers.DateTimeField()


class HealthOutput(serializers.Serializer):
    """Anyone but staff gets `ok` alone."""

    ok = serializers.BooleanField()
    database = serializers.CharField(required=False)
    storage = serializers.CharField(required=False)
    static = serializers.CharField(required=False)
    comfyuiCheckedAt = serializers.DateTimeField(
        required=False, help_text="When the last backend probe finished (absent before one)."
    )
    comfyui = BackendHealthOut(many=True, required=False)
    broker = serializers.CharField(required=False, help_text="The job queue: ok or why not.")
    workers = RenderWorkerOut(
        many=True, required=False, help_text="Render workers whose heartbeat is recent."
    )
