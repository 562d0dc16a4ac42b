"""JSON shapes of the studio API (camelCase on the wire, kebab-case preset ids)."""

from __future__ import annotations

import base64
import binascii

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gallery import storage
from gallery.models import Image, ImageStatus
from studio import presets
from studio.ids import to_kebab, to_snake
from studio.services import MAX_SEED


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
    aspectRatio = serializers.ChoiceField(choices=list(presets.ASPECT_RATIOS))
    qualityMode = serializers.ChoiceField(choices=list(presets.QUALITY_MODES), default="draft")
    count = serializers.IntegerField(min_value=1, max_value=10)
    nsfw = serializers.BooleanField(default=False)

    def validate_scene(self, value: str) -> str:
        return _preset_id(value, presets.SCENES, "scene")

    def validate_environment(self, value: str) -> str:
        return _preset_id(value, presets.ENVIRONMENTS, "environment")

    def validate_outfit(self, value: str) -> str:
        cleaned = " ".join(value.split())
        if any(ch in cleaned for ch in "<>{}"):
            raise serializers.ValidationError("Use plain words: no <, >, { or }.")
        return cleaned


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

    @staticmethod
    def from_image(image: Image, request=None) -> dict:
        return {
            "status": RESULT_STATUS[image.status],
            "progress": image.progress,
            "images": image_files(image, request),
            "imageId": image.id,
            "batchId": image.batch_id,
            "index": image.batch_index,
            "total": image.batch_size,
            "error": image.error_message,
        }


class ImageOut(serializers.Serializer):
    id = serializers.UUIDField()
    characterId = serializers.UUIDField(source="character_id")
    batchId = serializers.UUIDField(source="batch_id")
    index = serializers.IntegerField(source="batch_index")
    total = serializers.IntegerField(source="batch_size")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    error = serializers.CharField(source="error_message")
    scene = serializers.SerializerMethodField()
    environment = serializers.SerializerMethodField()
    outfit = serializers.CharField()
    aspectRatio = serializers.CharField(source="aspect_ratio")
    qualityMode = serializers.CharField(source="quality_mode")
    nsfw = serializers.BooleanField()
    prompt = serializers.CharField()
    negativePrompt = serializers.CharField(source="negative_prompt")
    seed = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    steps = serializers.IntegerField()
    cfg = serializers.FloatField()
    workflow = serializers.CharField()
    promptId = serializers.CharField(source="prompt_id")
    sourceImageId = serializers.UUIDField(source="source_image_id", allow_null=True)
    editType = serializers.CharField(source="edit_type", allow_null=True)
    url = serializers.SerializerMethodField()
    thumbnailUrl = serializers.SerializerMethodField()
    s3Key = serializers.CharField(source="image_key")
    createdAt = serializers.DateTimeField(source="created_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)

    def get_scene(self, image: Image) -> str:
        return to_kebab(image.scene)

    def get_environment(self, image: Image) -> str:
        return to_kebab(image.environment)

    def get_url(self, image: Image) -> str:
        return _absolute(self.context.get("request"), storage.file_url(image.image_key))

    def get_thumbnailUrl(self, image: Image) -> str:
        return _absolute(self.context.get("request"), storage.file_url(image.thumbnail_key))


# What a gallery page loads of each row: the columns ImageOut shows.
IMAGE_OUT_COLUMNS = (
    "id", "character_id", "batch_id", "batch_index", "batch_size", "status", "progress",
    "error_message", "scene", "environment", "outfit", "aspect_ratio", "quality_mode", "nsfw",
    "prompt", "negative_prompt", "seed", "width", "height", "steps", "cfg", "workflow",
    "prompt_id", "source_image_id", "edit_type", "image_key", "thumbnail_key", "created_at",
    "completed_at",
)  # fmt: skip


def _iso(value, zone) -> str:
    """What DRF's DateTimeField answers: ISO 8601 in the current time zone, UTC as Z."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def images_out(rows: list[dict], request=None) -> list[dict]:
    """`ImageOut(images, many=True).data` of `.values(*IMAGE_OUT_COLUMNS)` rows, faster.

    A gallery page is 50 images of 29 fields: model instances and DRF's per-field machinery
    were most of its cost. ImageOut stays the documented shape (OpenAPI), and a test holds
    the two equal.
    """
    keys = [key for row in rows for key in (row["image_key"], row["thumbnail_key"])]
    urls = storage.file_urls(keys)
    origin = request.build_absolute_uri("/")[:-1] if request is not None else ""
    urls = [origin + url if url.startswith("/") else url for url in urls]
    zone = timezone.get_current_timezone()
    out = []
    for i, row in enumerate(rows):
        source_id, completed_at = row["source_image_id"], row["completed_at"]
        out.append(
            {
                "id": str(row["id"]),
                "characterId": str(row["character_id"]),
                "batchId": str(row["batch_id"]),
                "index": row["batch_index"],
                "total": row["batch_size"],
                "status": row["status"],
                "progress": row["progress"],
                "error": row["error_message"],
                "scene": to_kebab(row["scene"]),
                "environment": to_kebab(row["environment"]),
                "outfit": row["outfit"],
                "aspectRatio": row["aspect_ratio"],
                "qualityMode": row["quality_mode"],
                "nsfw": row["nsfw"],
                "prompt": row["prompt"],
                "negativePrompt": row["negative_prompt"],
                "seed": row["seed"],
                "width": row["width"],
                "height": row["height"],
                "steps": row["steps"],
                "cfg": float(row["cfg"]),
                "workflow": row["workflow"],
                "promptId": row["prompt_id"],
                "sourceImageId": str(source_id) if source_id else None,
                "editType": row["edit_type"],
                "url": urls[2 * i],
                "thumbnailUrl": urls[2 * i + 1],
                "s3Key": row["image_key"],
                "createdAt": _iso(row["created_at"], zone),
                "completedAt": _iso(completed_at, zone) if completed_at else None,
            }
        )
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
