"""The dispatch's own bookkeeping: which render workers are alive, and the sweep's turn."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RenderWorkerQuerySet(models.QuerySet["RenderWorker"]):
    def alive(self, within_seconds: float) -> RenderWorkerQuerySet:
        since = timezone.now() - timezone.timedelta(seconds=within_seconds)
        return self.filter(seen_at__gte=since)


class RenderWorker(models.Model):
    """A render worker process, as its heartbeat last reported it."""

    name = models.CharField(max_length=300, primary_key=True)
    backends = models.JSONField(default=list, help_text="The ComfyUI URLs it renders on.")
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)
    healthy_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time one of its backends answered."
    )
    up_backends = models.JSONField(default=list)

    objects = RenderWorkerQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class SweepTurn(models.Model):
    """One row: when the last sweep started, so that one worker sweeps at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    swept_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sweep at {self.swept_at:%H:%M:%S}"


PREVIEW_MAX_BYTES = 256 * 1024


class ImagePreviewQuerySet(models.QuerySet["ImagePreview"]):
    def put(self, *, image_id, jpeg: bytes) -> None:
        """The image's latest step preview, in place of the one before."""
        if len(jpeg) > PREVIEW_MAX_BYTES:
            raise ValueError(f"a preview is at most {PREVIEW_MAX_BYTES} bytes")
        self.update_or_create(
            image_id=image_id, defaults={"jpeg": jpeg, "updated_at": timezone.now()}
        )


class ImagePreview(models.Model):
    """The latest step preview of an image being rendered, kept in the database so that
    any web process can serve it whichever machine renders; gone once the render ends."""

    image = models.OneToOneField(
        "gallery.Image", on_delete=models.CASCADE, primary_key=True, related_name="step_preview"
    )
    jpeg = models.BinaryField(max_length=PREVIEW_MAX_BYTES)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ImagePreviewQuerySet.as_manager()

    def __str__(self) -> str:
        return f"preview of {self.image_id}"
