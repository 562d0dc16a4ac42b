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
