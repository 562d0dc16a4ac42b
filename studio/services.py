"""The studio's side effects: start a pack, start an inpaint, reconcile results, cancel.

Everything that talks to ComfyUI or writes image rows across requests lives here; the API,
the pages and the worker call these functions and nothing else.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from comfy.client import ComfyClient
from comfy.errors import ComfyError, ComfyUnreachable, GraphRejected
from comfy.pool import BackendPool
from comfy.results import HistoryEntry, QueueState
from comfy.workflows import LoraSpec, build_flux_inpaint_workflow, build_studio_image_workflow
from gallery import storage
from gallery.models import Character, EditType, Image, ImageStatus
from studio import analytics, presets
from studio.png import decoded_png_check

logger = logging.getLogger(__name__)

MAX_SEED = 2**53 - 1
INPAINT_CFG = 1.0


class StudioError(Exception):
    """A request the studio refuses; `field` names the input at fault, if any."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NsfwNotAllowed(StudioError):
    status_code = 403


class TooManyInFlight(StudioError):
    status_code = 429


class ComfyUnavailable(StudioError):
    status_code = 503


class ComfyRefused(StudioError):
    """ComfyUI rejected a graph we built: our bug or a backend missing a node or model."""

    status_code = 502


@dataclass(frozen=True)
class GenerationOptions:
    scene: str
    environment: str
    outfit: str
    aspect_ratio: str
    quality_mode: str
    count: int
    nsfw: bool


# --- ComfyUI pool ------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: BackendPool | None = None
_pool_key: tuple | None = None


def comfy_pool() -> BackendPool:
    """The process's backend pool, rebuilt when the ComfyUI settings change (tests do)."""
    global _pool, _pool_key
    key = (
        tuple(settings.COMFYUI_URLS),
        settings.COMFYUI_TIMEOUT,
        settings.COMFYUI_RETRIES,
        settings.COMFYUI_COOLDOWN_SECONDS,
    )
    with _pool_lock:
        if _pool is None or _pool_key != key:
            timeout, retries = settings.COMFYUI_TIMEOUT, settings.COMFYUI_RETRIES
            _pool = BackendPool(
                settings.COMFYUI_URLS,
                cooldown_seconds=settings.COMFYUI_COOLDOWN_SECONDS,
                client_factory=lambda url: ComfyClient(url, timeout=timeout, retries=retries),
            )
            _pool_key = key
        return _pool


def _new_seed() -> int:
    return secrets.randbelow(MAX_SEED)


def _distinct_seeds(count: int) -> list[int]:
    seeds: set[int] = set()
    while len(seeds) < count:
        seeds.add(_new_seed())
    return list(seeds)


def _in_flight_reserve(user, adding: int) -> None:
    """Refuse `adding` more images past the user's in-flight cap; call inside `atomic()`.

    Counting and inserting must not interleave between two requests of one user, or each
    sees room for itself: the user's row stays locked until the caller's transaction
    commits its new rows (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the immediate
    transaction already holds the database's write lock).
    """
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    cap = settings.STUDIO_MAX_IN_FLIGHT_PER_USER
    in_flight = Image.objects.visible_to(user).in_flight().count()
    if in_flight + adding > cap:
        raise TooManyInFlight(
            f"You have {in_flight} image(s) in progress; the limit is {cap}. "
            "Wait for some to finish."
        )


# --- Generation --------------------------------------------------------------------------


def _studio_graph(image: Image, character: Character) -> dict:
    lora = (
        LoraSpec(name=character.lora_name, strength=character.lora_strength)
        if character.lora_name
        else None
    )
    return build_studio_image_workflow(
        prompt=image.prompt,
        negative_prompt=image.negative_prompt,
        seed=image.seed,
        width=image.width,
        height=image.height,
        steps=image.steps,
        cfg=image.cfg,
        lora=lora,
        unet_name=settings.COMFYUI_ZIMAGE_UNET,
        clip_name=settings.COMFYUI_ZIMAGE_CLIP,
        vae_name=settings.COMFYUI_VAE,
    )


def _queue_one(pool: BackendPool, graph: dict, prompt_id: str) -> str | ComfyError:
    try:
        return pool.queue(graph, prompt_id=prompt_id, client_id=settings.COMFYUI_CLIENT_ID)
    except ComfyError as exc:
        return exc


def generation_start(*, user, character: Character, options: GenerationOptions) -> list[Image]:
    """Create one row per image (prompt ids chosen here), then queue all graphs at once.

    Rows exist before anything is queued, so a crash between the two leaves rows that the
    reconciler finds (or fails as lost), never an image ComfyUI renders for nobody.
    """
    if character.owner_id != user.id:
        raise Character.DoesNotExist
    if options.nsfw and not character.nsfw_enabled:
        raise NsfwNotAllowed(
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
    )
    negative_prompt = presets.compose_negative_prompt(nsfw=options.nsfw)
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
            negative_prompt=negative_prompt,
            seed=seed,
            width=width,
            height=height,
            steps=presets.steps_for(
                options.quality_mode, draft=settings.STUDIO_DRAFT_STEPS, hq=settings.STUDIO_HQ_STEPS
            ),
            cfg=presets.CFG,
            workflow="studio_image",
            prompt_id=str(uuid.uuid4()),
            # Same instant for the pack, ordered by index inside it (newest-first lists
            # break ties on id, so keep created_at distinct and in pack order).
            created_at=now + timedelta(microseconds=index),
        )
        for index, seed in enumerate(_distinct_seeds(options.count))
    ]
    graphs = [_studio_graph(image, character) for image in images]
    with transaction.atomic():
        _in_flight_reserve(user, options.count)
        Image.objects.bulk_create(images)

    pool = comfy_pool()
    with ThreadPoolExecutor(max_workers=min(len(images), 10)) as executor:
        outcomes = list(
            executor.map(
                lambda pair: _queue_one(pool, *pair),
                zip(graphs, (i.prompt_id for i in images), strict=True),
            )
        )

    queued = []
    now = timezone.now()
    for image, outcome in zip(images, outcomes, strict=True):
        if isinstance(outcome, ComfyError):
            image.mark_failed(_queue_failure_message(outcome))
        else:
            image.backend_url = outcome
            image.last_seen_at = now
            queued.append(image)
    if queued:
        Image.objects.bulk_update(queued, ["backend_url", "last_seen_at"])

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
        "queued": len(queued),
    }
    if not queued:
        analytics.capture(
            "generation_failed",
            user_id=user.id,
            properties={
                **properties,
                "reason": images[0].error_message,
            },
        )
        if all(isinstance(o, ComfyUnreachable) for o in outcomes):
            raise ComfyUnavailable("ComfyUI is unreachable right now. Try again in a minute.")
        first = next(o for o in outcomes if isinstance(o, ComfyError))
        if isinstance(first, GraphRejected):
            raise ComfyRefused(f"ComfyUI refused the workflow: {first}")
        raise ComfyUnavailable(f"ComfyUI could not take the job: {first}")
    analytics.capture("generation_started", user_id=user.id, properties=properties)
    return images


def _queue_failure_message(error: ComfyError) -> str:
    if isinstance(error, ComfyUnreachable):
        return "ComfyUI was unreachable when the image was queued."
    if isinstance(error, GraphRejected):
        return f"ComfyUI refused the workflow: {error}"
    return f"ComfyUI error while queueing: {error}"


# --- Inpaint -----------------------------------------------------------------------------


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
) -> Image:
    """Queue a FLUX Fill edit of `source_image` as a new image; the source never changes."""
    if source_image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if source_image.status != ImageStatus.COMPLETED:
        raise StudioError("Only completed images can be edited.", field="sourceImageId")
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
        seed=seed if seed is not None else _new_seed(),
        width=source_image.width,
        height=source_image.height,
        steps=settings.STUDIO_INPAINT_STEPS,
        cfg=INPAINT_CFG,
        workflow="flux_inpaint",
        prompt_id=str(uuid.uuid4()),
        source_image=source_image,
        edit_type=EditType.INPAINT,
    )
    with transaction.atomic():
        _in_flight_reserve(user, 1)
        image.save(force_insert=True)
    properties = {
        "characterId": str(source_image.character_id),
        "imageId": str(image.id),
        "sourceImageId": str(source_image.id),
        "promptLength": len(prompt),
    }
    try:
        image.mask_key = storage.mask_store(
            character_id=image.character_id, image_id=image.id, png_bytes=masked_png
        )
    except Exception:
        image.mark_failed("The mask could not be stored.")
        raise
    image.save(update_fields=["mask_key", "updated_at"])
    pool = comfy_pool()
    backend_url = ""
    try:
        backend_url = pool.choose()
        client = pool.client_for(backend_url)
        # The upload and the prompt must reach the same backend: LoadImage reads its input/.
        uploaded_name = client.upload_image(masked_png, f"ryla_mask_{image.id}.png")
        graph = build_flux_inpaint_workflow(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image_filename=uploaded_name,
            seed=image.seed,
            steps=image.steps,
            cfg=image.cfg,
            unet_name=settings.COMFYUI_FLUX_FILL_UNET,
            clip_name1=settings.COMFYUI_FLUX_CLIP_L,
            clip_name2=settings.COMFYUI_FLUX_T5XXL,
            vae_name=settings.COMFYUI_VAE,
        )
        client.queue_prompt(graph, prompt_id=image.prompt_id, client_id=settings.COMFYUI_CLIENT_ID)
    except ComfyError as exc:
        if isinstance(exc, ComfyUnreachable) and backend_url:
            pool.mark_down(backend_url)
        image.mark_failed(_queue_failure_message(exc))
        analytics.capture(
            "inpaint_failed",
            user_id=user.id,
            properties={**properties, "reason": image.error_message},
        )
        if isinstance(exc, GraphRejected):
            raise ComfyRefused(image.error_message) from exc
        raise ComfyUnavailable("ComfyUI is unreachable right now. Try again in a minute.") from exc
    image.backend_url = backend_url
    image.last_seen_at = timezone.now()
    image.save(update_fields=["backend_url", "last_seen_at", "updated_at"])
    analytics.capture("inpaint_started", user_id=user.id, properties=properties)
    return image


# --- Reconcile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Observation:
    """What backends said about one prompt in this pass."""

    entry: HistoryEntry | None = None
    running: bool = False
    pending: bool = False
    reachable: bool = True


def _observe(client: ComfyClient, prompt_id: str, queue: QueueState | None = None) -> _Observation:
    entry = client.get_history(prompt_id)
    if entry is not None:
        return _Observation(entry=entry)
    queue = queue if queue is not None else client.get_queue()
    return _Observation(running=prompt_id in queue.running, pending=prompt_id in queue.pending)


def _observe_anywhere(pool: BackendPool, image: Image) -> tuple[_Observation, str]:
    """Where does this prompt live? Its own backend first, then (no backend yet) all of them."""
    urls = [image.backend_url] if image.backend_url else pool.urls
    reachable_any = False
    for url in urls:
        try:
            observation = _observe(pool.client_for(url), image.prompt_id)
        except ComfyError:
            continue
        reachable_any = True
        if observation.entry or observation.running or observation.pending:
            return observation, url
    return _Observation(reachable=reachable_any), image.backend_url


def prompt_reconcile(prompt_id: str) -> Image:
    """Bring one image row up to date with ComfyUI; safe to call any number of times."""
    image = Image.objects.select_related("character").get(prompt_id=prompt_id)
    if not image.is_in_flight:
        return image
    observation, url = _observe_anywhere(comfy_pool(), image)
    return _apply(image, observation, url)


def prompts_reconcile_in_flight(*, limit: int = 500) -> int:
    """One worker pass: every in-flight image, with one history and one queue read per backend.

    Answers how many images left the in-flight state in this pass.
    """
    images = list(
        Image.objects.in_flight().select_related("character").order_by("created_at")[:limit]
    )
    if not images:
        return 0
    pool = comfy_pool()
    by_backend: dict[str, list[Image]] = defaultdict(list)
    for image in images:
        by_backend[image.backend_url].append(image)
    finished = 0
    for url, group in by_backend.items():
        if not url:
            for image in group:
                observation, found_url = _observe_anywhere(pool, image)
                finished += not _apply(image, observation, found_url).is_in_flight
            continue
        client = pool.client_for(url)
        try:
            queue = client.get_queue()
            history = client.get_recent_history(max(64, 2 * len(group) + queue.length))
        except ComfyError:
            for image in group:
                finished += not _apply(image, _Observation(reachable=False), url).is_in_flight
            continue
        for image in group:
            if image.prompt_id in history:
                observation = _Observation(entry=history[image.prompt_id])
            elif image.prompt_id in queue:
                observation = _Observation(
                    running=image.prompt_id in queue.running,
                    pending=image.prompt_id in queue.pending,
                )
            else:
                # Older than the recent window, or gone: ask for it by id.
                try:
                    observation = _observe(client, image.prompt_id, queue)
                except ComfyError:
                    observation = _Observation(reachable=False)
            finished += not _apply(image, observation, url).is_in_flight
    return finished


def _apply(image: Image, observation: _Observation, url: str) -> Image:
    entry = observation.entry
    if entry is not None:
        if entry.succeeded and entry.outputs:
            try:
                return _complete(image, url, entry)
            except storage.UnreadableImage as exc:
                # Perhaps a truncated download: retried until the lost timeout, then failed.
                logger.warning("reconcile: output of %s unreadable: %s", image.prompt_id, exc)
                if _silent_too_long(image):
                    return _fail(image, "ComfyUI's output could not be read as an image.")
                return image
            except Exception:
                # Download or storage failed: the row stays in flight and the next pass
                # stores it (under the same keys, so never twice).
                logger.exception("reconcile: could not store the output of %s", image.prompt_id)
                return image
        if entry.succeeded:
            return _fail(image, "ComfyUI finished without an output image.")
        if entry.interrupted:
            return _fail(image, "Cancelled.")
        if entry.error is not None:
            return _fail(image, entry.error.user_message)
        if entry.status_str == "error":
            return _fail(image, "ComfyUI reported an error without details.")
        return image  # still being written to history
    if observation.running or observation.pending:
        image.mark_seen(running=observation.running)
        return image
    if _silent_too_long(image):
        reason = (
            "Lost: ComfyUI no longer knows this image (the backend restarted or dropped it)."
            if observation.reachable
            else "Lost: the ComfyUI backend holding this image has been unreachable too long."
        )
        return _fail(image, reason)
    return image


def _silent_too_long(image: Image) -> bool:
    """No backend has said anything useful about this image for the lost timeout."""
    last_seen = image.last_seen_at or image.created_at
    return timezone.now() - last_seen > timedelta(seconds=settings.COMFYUI_LOST_AFTER_SECONDS)


def _complete(image: Image, url: str, entry: HistoryEntry) -> Image:
    output = entry.outputs[-1]
    data = comfy_pool().client_for(url).download(output.filename, output.subfolder, output.type)
    with transaction.atomic():
        locked = Image.objects.select_for_update().select_related("character").get(pk=image.pk)
        if not locked.is_in_flight:
            return locked  # another reconciler stored it first
        stored = storage.image_store(
            character_id=locked.character_id, image_id=locked.id, png_bytes=data
        )
        locked.backend_url = url
        locked.save(update_fields=["backend_url"])
        locked.mark_completed(
            image_key=stored.image_key,
            thumbnail_key=stored.thumbnail_key,
            width=stored.width,
            height=stored.height,
        )
    _capture_finished(locked)
    return locked


def _fail(image: Image, message: str) -> Image:
    with transaction.atomic():
        locked = Image.objects.select_for_update().select_related("character").get(pk=image.pk)
        if not locked.is_in_flight:
            return locked
        locked.mark_failed(message)
    _capture_finished(locked)
    return locked


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


# --- Cancel ------------------------------------------------------------------------------


def image_cancel(*, user, image: Image) -> Image:
    """Stop an image in flight: remove it from ComfyUI's queue or interrupt it."""
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if not image.is_in_flight:
        raise StudioError("Only images in progress can be cancelled.", field="imageId")
    if image.backend_url:
        try:
            comfy_pool().client_for(image.backend_url).cancel(image.prompt_id)
        except ComfyError as exc:
            raise ComfyUnavailable("ComfyUI is unreachable; the image was not cancelled.") from exc
    return _fail(image, "Cancelled.")


def image_retry(*, user, image: Image) -> list[Image]:
    """Try a failed image again: the same options (a new pack of one) or the same edit."""
    if image.character.owner_id != user.id:
        raise Image.DoesNotExist
    if image.status != ImageStatus.FAILED:
        raise StudioError("Only failed images can be retried.", field="imageId")
    if image.edit_type == EditType.INPAINT:
        if image.source_image is None or not image.mask_key:
            raise StudioError("The source of this edit is gone; it cannot be retried.")
        return [
            inpaint_start(
                user=user,
                source_image=image.source_image,
                prompt=image.prompt,
                negative_prompt=image.negative_prompt,
                masked_png=storage.file_read(image.mask_key),
            )
        ]
    options = GenerationOptions(
        scene=image.scene,
        environment=image.environment,
        outfit=image.outfit,
        aspect_ratio=image.aspect_ratio,
        quality_mode=image.quality_mode,
        count=1,
        nsfw=image.nsfw,
    )
    return generation_start(user=user, character=image.character, options=options)
