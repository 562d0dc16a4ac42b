"""What happens to an image after it started: where it is in the queue, how it ends
(completed, failed, cancelled), and trying a failed one again. Database only: nothing here
talks to ComfyUI (a running job's render worker sees a cancel and interrupts it)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from gallery import services as gallery_services
from gallery import storage
from gallery.models import EditType, Image, ImageStatus
from studio import analytics, events
from studio.errors import StudioError
from studio.models import ImagePreview, RenderWorker
from studio.services.dispatch import broker_has_priorities
from studio.services.generation import GenerationOptions, generation_start
from studio.services.inpaint import inpaint_start

DURATION_SAMPLE = 50  # recent renders of a kind whose median is the estimate
DEFAULT_DURATION_SECONDS = 30.0  # before anything of that kind has finished


@dataclass(frozen=True)
class QueueInsight:
    position: int | None  # 1 = next to start; 0 = on a backend now; None = finished
    estimate_seconds: int | None  # until it is done


def _median_duration(image: Image) -> float:
    rows = (
        Image.objects.filter(
            status=ImageStatus.COMPLETED,
            workflow=image.workflow,
            quality_mode=image.quality_mode,
            started_at__isnull=False,
        )
        .order_by("-completed_at")
        .values_list("started_at", "completed_at")[:DURATION_SAMPLE]
    )
    durations = [(done - started).total_seconds() for started, done in rows]
    return statistics.median(durations) if durations else DEFAULT_DURATION_SECONDS


def _live_backends() -> int:
    workers = RenderWorker.objects.alive(settings.STUDIO_RENDER_STALE_SECONDS)
    return max(1, sum(len(worker.up_backends or worker.backends) for worker in workers))


def image_queue_insight(image: Image) -> QueueInsight:
    """Position and an estimate from measured durations of the same kind of render."""
    if not image.is_in_flight:
        return QueueInsight(None, None)
    duration = _median_duration(image)
    if image.status == ImageStatus.GENERATING:
        return QueueInsight(0, math.ceil(duration * (1 - image.progress / 100)))
    if broker_has_priorities():
        ahead = Image.objects.ahead_of(image).count()
    else:  # the embedded broker serves jobs in arrival order
        enqueued_at = image.enqueued_at or image.created_at
        ahead = Image.objects.queued().filter(enqueued_at__lt=enqueued_at).count()
    rounds = ahead // _live_backends() + 1
    return QueueInsight(ahead + 1, math.ceil(rounds * duration))


def image_finished(image: Image) -> None:
    """Tell the browser and the analytics that `image` has ended, either way; its step
    preview is of no more use (also when the sweep fails it after its worker died)."""
    ImagePreview.objects.filter(image_id=image.pk).delete()
    events.image_changed(image)
    _capture_finished(image)


def image_fail(image: Image, message: str) -> Image:
    """Fail an image in flight (no-op if it finished meanwhile)."""
    image.mark_failed(message)
    if image.status == ImageStatus.FAILED and image.error_message == message[:2000]:
        image_finished(image)
    return image


def _capture_finished(image: Image) -> None:
    user_id = image.character.owner_id
    duration_ms = (
        int((image.completed_at - image.created_at).total_seconds() * 1000)
        if image.completed_at
        else None
    )
    properties = {
        "characterId": str(image.character_id),
        "imageId": str(image.id),
        "batchId": str(image.batch_id),
        "durationMs": duration_ms,
    }
    completed = image.status == ImageStatus.COMPLETED
    if image.edit_type == EditType.INPAINT:
        event = "inpaint_completed" if completed else "inpaint_failed"
        if not completed:
            properties["reason"] = image.error_message
        analytics.capture(event, user_id=user_id, properties=properties)
        return
    if completed:
        analytics.capture("generation_image_completed", user_id=user_id, properties=properties)
    else:
        analytics.capture(
            "generation_failed",
            user_id=user_id,
            properties={**properties, "reason": image.error_message},
        )
    batch = Image.objects.in_batch(image.batch_id)
    if not batch.in_flight().exists():
        counts = {
            status: batch.filter(status=status).count()
            for status in (ImageStatus.COMPLETED, ImageStatus.FAILED)
        }
        first = batch.order_by("created_at").values_list("created_at", flat=True).first()
        analytics.capture(
            "generation_pack_completed",
            user_id=user_id,
            properties={
                "characterId": str(image.character_id),
                "batchId": str(image.batch_id),
                "completed": counts[ImageStatus.COMPLETED],
                "failed": counts[ImageStatus.FAILED],
                "durationMs": int((timezone.now() - first).total_seconds() * 1000)
                if first
                else None,
            },
        )


def image_cancel(*, user, image: Image) -> Image:
    """Stop an image in flight. A queued job will never start; a running one is interrupted
    on its backend by the worker that holds it, which sees the cancel within a second."""
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if not image.is_in_flight:
        raise StudioError("Only images in progress can be cancelled.", field="imageId")
    return image_fail(image, "Cancelled.")


def image_favourite_set(*, user, image: Image, favourite: bool) -> Image:
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    image.favourite = favourite
    image.save(update_fields=["favourite", "updated_at"])
    return image


def image_delete(*, user, image: Image) -> None:
    """Delete one of the user's images (files too). One in progress is cancelled first."""
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if image.is_in_flight:
        raise StudioError("Cancel this image before deleting it.", field="imageId")
    gallery_services.image_delete(image=image)


def image_retry(*, user, image: Image) -> list[Image]:
    """Try a failed image again, in its place: the same options (a new pack of one) or the
    same edit, and the failed one is gone."""
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if image.status != ImageStatus.FAILED:
        raise StudioError("Only failed images can be retried.", field="imageId")
    if image.edit_type == EditType.INPAINT:
        if image.source_image is None or not image.mask_key:
            raise StudioError("The source of this edit is gone; it cannot be retried.")
        started = [
            inpaint_start(
                user=user,
                source_image=image.source_image,
                prompt=image.prompt,
                negative_prompt=image.negative_prompt,
                masked_png=storage.file_read(image.mask_key),
            )
        ]
    else:
        options = GenerationOptions(
            scene=image.scene,
            environment=image.environment,
            outfit=image.outfit,
            aspect_ratio=image.aspect_ratio,
            quality_mode=image.quality_mode,
            count=1,
            nsfw=image.nsfw,
        )
        started = generation_start(user=user, character=image.character, options=options)
    gallery_services.image_delete(image=image)
    return started
