"""Putting render jobs on the queue and keeping them there.

One message per image on STUDIO_RENDER_QUEUE, published after the rows are committed (a
worker must find its row), with a priority: drafts before HQ, and each user's first queued
images before their later ones, so one long queue cannot starve everybody else. The sweep
puts back what a dead worker or a broker that lost its data left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from amqp.exceptions import NotFound as AmqpNotFound
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import ChannelError

from gallery.models import Image, ImageStatus, QualityMode
from ryla.celery import app as celery_app
from studio.errors import DispatchUnavailable
from studio.models import RenderWorker, SweepTurn

logger = logging.getLogger(__name__)

RENDER_TASK = "studio.render"
FAIR_STEP = 2  # every FAIR_STEP images a user already has queued lower the next one's urgency


def urgency_for(*, quality_mode: str, queued_before: int) -> int:
    """0-9, higher first: drafts (5-9) always before HQ (0-4); within each, a user's first
    queued images before their later ones."""
    base = 5 if quality_mode == QualityMode.DRAFT else 0
    return base + max(0, 4 - queued_before // FAIR_STEP)


def _broker_priority(urgency: int) -> int | None:
    scheme = celery_app.conf.broker_url.split("://", 1)[0]
    if scheme.startswith("redis") or scheme.startswith("rediss"):
        return 9 - urgency  # kombu's Redis transport serves 0 first
    if "amqp" in scheme:
        return urgency  # RabbitMQ serves the highest first
    return None  # the embedded broker is first in, first out


def broker_has_priorities() -> bool:
    """Whether the broker serves jobs by priority (Redis, RabbitMQ) or in arrival order."""
    return _broker_priority(0) is not None


def jobs_publish(images: Iterable[Image]) -> None:
    """One render message per image, over one broker connection."""
    with celery_app.producer_or_acquire() as producer:
        for image in images:
            celery_app.send_task(
                RENDER_TASK,
                args=(str(image.id),),
                queue=settings.STUDIO_RENDER_QUEUE,
                priority=_broker_priority(image.queue_urgency),
                producer=producer,
            )


def _publish_or_undo(images: list[Image]) -> None:
    try:
        jobs_publish(images)
    except Exception as exc:
        logger.warning("dispatch: broker unreachable, %d image(s) withdrawn: %s", len(images), exc)
        Image.objects.filter(
            pk__in=[image.pk for image in images], status=ImageStatus.PENDING, claimed_by=""
        ).delete()
        raise DispatchUnavailable(
            "The studio's job queue is unreachable right now; nothing was started. "
            "Try again in a minute."
        ) from exc


def enqueue_on_commit(images: list[Image]) -> None:
    """Publish once the caller's transaction commits; if the broker refuses, the rows are
    deleted again and DispatchUnavailable propagates from the commit."""
    now = timezone.now()
    for offset, image in enumerate(images):
        # A microsecond apart, in publishing order: the broker's order among equals.
        image.enqueued_at = image.enqueued_at or now + timedelta(microseconds=offset)
    transaction.on_commit(lambda: _publish_or_undo(images))


def image_requeue(image: Image) -> bool:
    """Put a job back on the queue (worker side); if the broker is down, the sweep will."""
    try:
        jobs_publish([image])
    except Exception:
        logger.exception("dispatch: could not re-enqueue %s; the sweep will", image.pk)
        return False
    return True


def broker_queue_size() -> int | None:
    """Messages waiting on the render queue: 0 when the broker does not know the queue
    (it lost its data), None when the broker cannot be asked."""
    try:
        with celery_app.connection_for_read() as connection:
            declared = connection.default_channel.queue_declare(
                queue=settings.STUDIO_RENDER_QUEUE, passive=True
            )
            return int(declared.message_count)
    except (ChannelError, AmqpNotFound):
        return 0
    except Exception:
        return None


@dataclass
class SweepReport:
    taken_back: list[str] = field(default_factory=list)
    re_enqueued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _sweep_turn_take(now) -> bool:
    """Compare-and-set on one row: only one process sweeps per interval."""
    SweepTurn.objects.get_or_create(pk=1, defaults={"swept_at": now - timedelta(days=1)})
    interval = timedelta(seconds=settings.STUDIO_SWEEP_SECONDS * 0.9)
    return bool(SweepTurn.objects.filter(pk=1, swept_at__lt=now - interval).update(swept_at=now))


def renders_sweep(*, force: bool = False) -> SweepReport | None:
    """Put back what nothing is working on; fail what no backend could take in time.

    1. A job whose worker stopped beating is taken back and enqueued again.
    2. When the broker holds fewer messages than there are queued rows (it lost data, or a
       publish failed), every queued row is enqueued again: a duplicate is harmless, the
       first worker to claim the row wins and the others drop it.
    3. When no worker has reached a backend for COMFYUI_WAIT_SECONDS, rows queued longer
       than that fail with a message instead of waiting for ever.
    """
    now = timezone.now()
    if not force and not _sweep_turn_take(now):
        return None
    report = SweepReport()
    stale = now - timedelta(seconds=settings.STUDIO_RENDER_STALE_SECONDS)
    for image in Image.objects.filter(status=ImageStatus.GENERATING, heartbeat_at__lt=stale):
        if Image.objects.filter(
            pk=image.pk, status=ImageStatus.GENERATING, heartbeat_at__lt=stale
        ).update(status=ImageStatus.PENDING, claimed_by="", progress=0, updated_at=now):
            image.refresh_from_db()
            image_requeue(image)
            report.taken_back.append(str(image.pk))

    settle = now - timedelta(seconds=2)  # publishing happens right after the commit
    queued = list(
        Image.objects.queued()
        .filter(enqueued_at__lt=settle)
        .order_by("-queue_urgency", "enqueued_at")
    )
    waiting = broker_queue_size()
    if queued and waiting is not None and waiting < len(queued):
        for image in queued:
            if image_requeue(image):
                report.re_enqueued.append(str(image.pk))

    wait = timedelta(seconds=settings.COMFYUI_WAIT_SECONDS)
    healthy = RenderWorker.objects.filter(healthy_at__gte=now - wait).exists()
    if not healthy:
        waited = settings.COMFYUI_WAIT_SECONDS
        span = f"{waited / 60:.0f} min" if waited >= 120 else f"{waited:.0f} s"
        message = (
            f"No ComfyUI backend could take this image for {span} (none was reachable). "
            "Try again later."
        )
        for image in Image.objects.queued().filter(enqueued_at__lt=now - wait):
            image.mark_failed(message)
            if image.status == ImageStatus.FAILED:
                report.failed.append(str(image.pk))
    if report.taken_back or report.re_enqueued or report.failed:
        logger.info(
            "sweep: %d taken back, %d re-enqueued, %d failed",
            len(report.taken_back),
            len(report.re_enqueued),
            len(report.failed),
        )
    return report
