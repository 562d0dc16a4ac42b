"""The studio's REST API: one APIView per operation (input → service → output)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from gallery.models import Character, Image
from studio import services
from studio.health import health_report
from studio.pagination import InvalidCursor, images_filter, images_page
from studio.serializers import (
    IMAGE_OUT_COLUMNS,
    CancelOutput,
    GalleryPageOutput,
    GalleryQueryInput,
    HealthOutput,
    InpaintInput,
    InpaintOutput,
    PromptResultsOutput,
    StudioGenerateInput,
    StudioGenerateOutput,
    images_out,
)

ERRORS = {
    400: OpenApiResponse(description="Invalid input: field → messages"),
    403: OpenApiResponse(description="Not allowed (e.g. NSFW on a character without it)"),
    404: OpenApiResponse(description="No such object among yours"),
    429: OpenApiResponse(description="Too many requests or too many images in progress"),
    503: OpenApiResponse(description="The job queue is unreachable; nothing was started"),
}


class StudioStartThrottle(UserRateThrottle):
    scope = "studio_start"


class StudioGenerateApi(APIView):
    throttle_classes = [StudioStartThrottle]

    @extend_schema(
        request=StudioGenerateInput,
        responses={202: StudioGenerateOutput, **ERRORS},
        summary="Start a pack of images of one of your characters",
    )
    def post(self, request: Request) -> Response:
        data = StudioGenerateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        character = get_object_or_404(
            Character.objects.visible_to(request.user), pk=values["characterId"]
        )
        options = services.GenerationOptions(
            scene=values["scene"],
            environment=values["environment"],
            outfit=values["outfit"],
            aspect_ratio=values["aspectRatio"],
            quality_mode=values["qualityMode"],
            count=values["count"],
            nsfw=values["nsfw"],
            details=values["details"],
            seed=values["seed"],
        )
        images = services.generation_start(user=request.user, character=character, options=options)
        body = {
            "promptIds": [image.prompt_id for image in images],
            "imageIds": [image.id for image in images],
            "batchId": images[0].batch_id,
            "status": "queued",
        }
        return Response(StudioGenerateOutput(body).data, status=status.HTTP_202_ACCEPTED)


class InpaintApi(APIView):
    throttle_classes = [StudioStartThrottle]
    # The only endpoint with a large body: a base64 PNG at the image's natural size.
    max_body_setting = "STUDIO_INPAINT_MAX_BODY_BYTES"

    @extend_schema(
        request=InpaintInput,
        responses={202: InpaintOutput, **ERRORS},
        summary="Edit one of your images by inpainting the transparent area of a mask",
    )
    def post(self, request: Request) -> Response:
        data = InpaintInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        character = get_object_or_404(
            Character.objects.visible_to(request.user), pk=values["characterId"]
        )
        source = get_object_or_404(
            Image.objects.visible_to(request.user).select_related("character"),
            pk=values["sourceImageId"],
        )
        if source.character_id != character.id:
            raise ValidationError({"sourceImageId": ["This image belongs to another character."]})
        image = services.inpaint_start(
            user=request.user,
            source_image=source,
            prompt=values["prompt"],
            negative_prompt=values["negativePrompt"],
            masked_png=values["maskedImageBase64Png"],
            seed=values.get("seed"),
            denoise=values["denoise"],
            mask_feather=values["maskFeather"],
            only_masked=values["onlyMasked"],
            mask_padding=values["maskPadding"],
        )
        body = {"promptId": image.prompt_id, "imageId": image.id, "status": "queued"}
        return Response(InpaintOutput(body).data, status=status.HTTP_202_ACCEPTED)


class PromptResultsApi(APIView):
    @extend_schema(
        responses={200: PromptResultsOutput, 404: ERRORS[404]},
        summary="State of one image by its ComfyUI prompt id, with its place in the queue",
        description="Read from the database only: render workers keep it up to date.",
    )
    def get(self, request: Request, prompt_id: str) -> Response:
        image = get_object_or_404(Image.objects.visible_to(request.user), prompt_id=prompt_id)
        insight = services.image_queue_insight(image)
        body = PromptResultsOutput.from_image(image, request, insight)
        return Response(PromptResultsOutput(body).data)


class CharacterImagesApi(APIView):
    @extend_schema(
        parameters=[GalleryQueryInput],
        responses={200: GalleryPageOutput, 400: ERRORS[400], 404: ERRORS[404]},
        summary="A character's images, newest first (cursor pagination)",
    )
    def get(self, request: Request, character_id: uuid.UUID) -> Response:
        query = GalleryQueryInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        limit = values.get("limit") or settings.STUDIO_GALLERY_PAGE_SIZE
        # Scoped to the user in the same query; the character is looked up only when the
        # page is empty, to tell "none yet" from "not yours" (404).
        images = images_filter(
            Image.objects.visible_to(request.user)
            .filter(character_id=character_id)
            .values(*IMAGE_OUT_COLUMNS),
            scene=values.get("scene"),
            environment=values.get("environment"),
            edited=values.get("edited"),
        )
        try:
            page, cursor = images_page(images, cursor=values.get("cursor"), limit=limit)
        except InvalidCursor as error:
            raise ValidationError({"cursor": [str(error)]}) from None
        if not page:
            get_object_or_404(Character.objects.visible_to(request.user), pk=character_id)
        next_url = None
        if cursor:
            params = request.query_params.copy()
            params["cursor"] = cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        body = {
            "images": images_out(page, request),
            "next": next_url,
        }
        return Response(body)


class ImageCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CancelOutput, 400: ERRORS[400], 404: ERRORS[404]},
        summary="Cancel one of your images in progress",
        description=(
            "A queued image never starts; a running one is interrupted on its ComfyUI "
            "backend (that prompt only) by the worker that holds it, within a second."
        ),
    )
    def post(self, request: Request, image_id: uuid.UUID) -> Response:
        image = get_object_or_404(
            Image.objects.visible_to(request.user).select_related("character"), pk=image_id
        )
        image = services.image_cancel(user=request.user, image=image)
        body = {"imageId": image.id, "status": image.status, "error": image.error_message}
        return Response(CancelOutput(body).data)


class HealthApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: HealthOutput, 503: HealthOutput},
        summary="Is the service up? (database, storage, static files; ComfyUI for staff)",
        description=(
            "Public, for load balancers: anyone else but staff gets only `ok`. Staff also "
            "get each check and the last background probe of the ComfyUI backends (a down "
            "backend is reported, not fatal). Never waits on a backend."
        ),
        auth=[],
    )
    def get(self, request: Request) -> Response:
        report = health_report(detail=request.user.is_staff)
        return Response(HealthOutput(report).data, status=200 if report["ok"] else 503)
