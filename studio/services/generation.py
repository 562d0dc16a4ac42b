"""Starting a pack: check, compose the prompt, write one row per image, enqueue them."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from gallery.models import Character, Image
from studio import analytics, presets
from studio.errors import DispatchUnavailable, NotAllowed, TooManyInFlight
from studio.services import dispatch

MAX_SEED = 2**53 - 1


@dataclass(frozen=True)
class GenerationOptions:
    scene: str
    environment: str
    outfit: str
    aspect_ratio: str
    quality_mode: str
    count: int
    nsfw: bool
    details: str = ""
    seed: int | None = None  # the first image's seed; the others count up from it


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED)


def _seeds(count: int, first: int | None) -> list[int]:
    """`count` distinct seeds: random, or `first`, `first + 1`... ("same seed" reuse)."""
    if first is not None:
        return [(first + index) % MAX_SEED for index in range(count)]
    seeds: set[int] = set()
    while len(seeds) < count:
        seeds.add(new_seed())
    return list(seeds)


def in_flight_reserve(user, adding: int) -> int:
    """Refuse `adding` more images past the user's in-flight cap; call inside `atomic()`.

    Counting and inserting must not interleave between two requests of one user, or each
    sees room for itself: the user's row stays locked until the caller's transaction
    commits its new rows (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the immediate
    transaction already holds the database's write lock). Answers how many of the user's
    images are waiting in the queue (for their urgency).
    """
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    cap = settings.STUDIO_MAX_IN_FLIGHT_PER_USER
    mine = Image.objects.visible_to(user)
    in_flight = mine.in_flight().count()
    if in_flight + adding > cap:
        room = max(0, cap - in_flight)
        raise TooManyInFlight(
            f"You have {in_flight} image(s) in progress; the limit is {cap}, so you can "
            f"start {room} more now. Wait for some to finish."
        )
    return mine.queued().count()


def generation_start(*, user, character: Character, options: GenerationOptions) -> list[Image]:
    """Write one row per image (prompt ids chosen here) and enqueue them after commit.

    Nothing here talks to ComfyUI: render workers take the jobs from the queue. If the
    broker cannot take them, the rows are withdrawn and DispatchUnavailable is raised.
    """
    if character.owner_id != user.id:
        raise Character.DoesNotExist
    if options.nsfw and not character.nsfw_enabled:
        raise NotAllowed(
            f"{character.name} does not allow NSFW images. Enable NSFW on the character first.",
            field="nsfw",
        )
    width, height = presets.dimensions_for(
        options.aspect_ratio, options.quality_mode, scale=settings.STUDIO_SIZE_SCALE
    )
    prompt = presets.compose_prompt(
        appearance=character.appearance,
        scene=options.scene,
        environment=options.environment,
        outfit=options.outfit,
        quality_mode=options.quality_mode,
        nsfw=options.nsfw,
        details=options.details,
    )
    steps = presets.steps_for(
        options.quality_mode, draft=settings.STUDIO_DRAFT_STEPS, hq=settings.STUDIO_HQ_STEPS
    )
    batch_id = uuid.uuid4()
    now = timezone.now()
    images = [
        Image(
            character=character,
            batch_id=batch_id,
            batch_index=index,
            batch_size=options.count,
            scene=options.scene,
            environment=options.environment,
            outfit=options.outfit,
            aspect_ratio=options.aspect_ratio,
            quality_mode=options.quality_mode,
            nsfw=options.nsfw,
            prompt=prompt,
            details=options.details,
            negative_prompt=presets.compose_negative_prompt(nsfw=options.nsfw),
            seed=seed,
            width=width,
            height=height,
            steps=steps,
            cfg=presets.CFG,
            workflow="studio_image",
            prompt_id=str(uuid.uuid4()),
            # One instant for the pack, a microsecond apart so that newest-first lists
            # show a pack in its own order: image 1, 2, 3...
            created_at=now - timedelta(microseconds=index),
        )
        for index, seed in enumerate(_seeds(options.count, options.seed))
    ]
    properties = {
        "characterId": str(character.id),
        "batchId": str(batch_id),
        "imageIds": [str(i.id) for i in images],
        "scene": options.scene,
        "environment": options.environment,
        "aspectRatio": options.aspect_ratio,
        "qualityMode": options.quality_mode,
        "count": options.count,
        "nsfw": options.nsfw,
    }
    try:
        with transaction.atomic():
            queued = in_flight_reserve(user, options.count)
            for index, image in enumerate(images):
                image.queue_urgency = dispatch.urgency_for(
                    quality_mode=options.quality_mode, queued_before=queued + index
                )
            dispatch.enqueue_on_commit(images)
            Image.objects.bulk_create(images)
    except DispatchUnavailable as error:
        analytics.capture(
            "generation_failed", user_id=user.id, properties={**properties, "reason": str(error)}
        )
        raise
    analytics.capture("generation_started", user_id=user.id, properties=properties)
    return images
