"""Celery tasks: thin wrappers around services (see studio.services.rendering)."""

from __future__ import annotations

from celery import shared_task

from studio import services


@shared_task(name="studio.render", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def render(image_id: str) -> None:
    """Render one image on a backend of the worker that took it."""
    services.image_render(image_id=image_id)
