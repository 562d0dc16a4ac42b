"""The render worker's side: take a job, run it on this worker's own ComfyUI backend,
follow it, store the output once, mark the row.

A worker process renders on one or more backends and never holds more jobs than it has
backends (Celery's concurrency equals their number, prefetch 1, late acknowledgement).
A job that its backend cannot finish goes back to the queue for another backend, up to
STUDIO_RENDER_MAX_ATTEMPTS times. Every step is safe to repeat: a redelivered job finds
its prompt on the backend instead of queueing it twice, and the row's claim lets only one
worker store an output.

While a job runs, its progress and its latest step preview (when the backend sends them)
go into the database, for any web process to show, and are announced to the user's tabs.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from comfy.check import lora_files
from comfy.client import ComfyClient
from comfy.errors import ComfyError, ComfyUnreachable, GraphRejected
from comfy.follow import Finished, Lost, Stopped, prompt_follow, prompt_locate
from comfy.health import backend_probe
from comfy.results import HistoryEntry
from comfy.workflows import LoraSpec, build_flux_inpaint_workflow, build_studio_image_workflow
from comfy.workflows.flux_inpaint import mask_crop_box
from comfy.ws import EventStream
from gallery import storage
from gallery.models import Image, LoraFile
from studio import events
from studio.models import PREVIEW_MAX_BYTES, ImagePreview, RenderWorker
from studio.services import dispatch
from studio.services.results import image_fail, image_finished

logger = logging.getLogger("studio.render")

BACKEND_DOWN_PAUSE = 2.0  # a worker whose backend is down waits this long before its next job


@dataclass
class WorkerState:
    """This process as a render worker: its name and its backends (one job each)."""

    name: str
    urls: list[str]
    free: queue.Queue = field(default_factory=queue.Queue)
    stop: threading.Event = field(default_factory=threading.Event)
    heartbeat: threading.Thread | None = None
    loras_reported_at: float | None = None  # time.monotonic() of the last LoRA report

    def acquire(self, timeout: float) -> str | None:
        try:
            return self.free.get(timeout=timeout)
        except queue.Empty:
            return None

    def release(self, url: str) -> None:
        self.free.put(url)


_worker: WorkerState | None = None


def render_worker_start(urls: list[str], *, name: str | None = None) -> WorkerState:
    """Make this process a render worker for `urls`; its heartbeat thread reports it alive,
    probes its backends and runs the sweep when it is its turn."""
    global _worker
    urls = [url.strip().rstrip("/") for url in urls if url.strip()]
    if not urls:
        raise ValueError("a render worker needs at least one ComfyUI URL")
    state = WorkerState(name=name or f"{socket.gethostname()}:{os.getpid()}", urls=urls)
    for url in urls:
        state.free.put(url)
    _worker = state
    threading.Thread(
        target=_heartbeat_loop, args=(state,), name="render-heartbeat", daemon=True
    ).start()
    return state


def render_worker_stop() -> None:
    global _worker
    if _worker is not None:
        _worker.stop.set()
        if _worker.heartbeat is not None:
            _worker.heartbeat.join(timeout=10)
        RenderWorker.objects.filter(name=_worker.name).delete()
        _worker = None


def worker_heartbeat(state: WorkerState) -> None:
    """Say this worker is alive and which of its backends answer."""
    up = [h.url for h in (backend_probe(url, timeout=2.0) for url in state.urls) if h.ok]
    now = timezone.now()
    defaults = {"backends": state.urls, "seen_at": now, "up_backends": up}
    if up:
        defaults["healthy_at"] = now
    RenderWorker.objects.update_or_create(name=state.name, defaults=defaults)
    due = state.loras_reported_at is None or (
        time.monotonic() - state.loras_reported_at >= settings.STUDIO_LORA_REPORT_SECONDS
    )
    if up and due:
        loras_report(up)
        state.loras_reported_at = time.monotonic()


def loras_report(urls: list[str]) -> None:
    """Record the LoRA files these backends offer, for the character form's choices."""
    for url in urls:
        client = ComfyClient(url, timeout=5.0, retries=0)
        try:
            names = lora_files(client.object_info("LoraLoader"))
        except ComfyError as error:
            logger.warning("LoRA list of %s not read: %s", url, error)
            continue
        LoraFile.report(names)


def _heartbeat_loop(state: WorkerState) -> None:
    while not state.stop.is_set():
        try:
            worker_heartbeat(state)
            dispatch.renders_sweep()
        except Exception:
            logger.exception("render worker %s: heartbeat failed", state.name)
        finally:
            close_old_connections()
        state.stop.wait(settings.STUDIO_WORKER_HEARTBEAT_SECONDS)


def image_render(*, image_id: str) -> None:
    """The render task: this worker's next job, on a free backend of its own."""
    worker = _worker  # stays this job's even if the worker is stopped meanwhile
    if worker is None:
        raise RuntimeError("not a render worker: start it with `manage.py render_worker`")
    url = worker.acquire(timeout=60)
    if url is None:  # more jobs than backends: cannot happen with concurrency = backends
        image = Image.objects.filter(pk=image_id).first()
        if image is not None:
            dispatch.image_requeue(image)
        return
    try:
        _render_on(url, image_id, claimant=f"{worker.name}@{url}")
    finally:
        worker.release(url)


INPAINT_WORKING_SIZE = 1024  # FLUX Fill's native resolution: the long side of an "only masked" box


def _graph(image: Image, uploaded_mask: str | None, mask_png: bytes = b"") -> dict:
    if image.workflow == "flux_inpaint":
        # "Only masked" renders the box around the painted pixels of the stored mask, at
        # FLUX's native size times the render-cost scale that also shrinks preset sizes.
        only_masked = image.only_masked and mask_png
        crop = mask_crop_box(mask_png, image.mask_padding) if only_masked else None
        working = max(64, round(INPAINT_WORKING_SIZE * settings.STUDIO_SIZE_SCALE / 16) * 16)
        return build_flux_inpaint_workflow(
            prompt=image.prompt,
            negative_prompt=image.negative_prompt,
            image_filename=uploaded_mask or "",
            seed=image.seed,
            steps=image.steps,
            cfg=image.cfg,
            denoise=image.denoise,
            feather=image.mask_feather,
            crop=crop,
            working_size=working,
            unet_name=settings.COMFYUI_FLUX_FILL_UNET,
            clip_name1=settings.COMFYUI_FLUX_CLIP_L,
            clip_name2=settings.COMFYUI_FLUX_T5XXL,
            vae_name=settings.COMFYUI_VAE,
        )
    character = image.character
    lora = LoraSpec(character.lora_name, character.lora_strength) if character.lora_name else None
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


def _render_on(url: str, image_id: str, *, claimant: str) -> None:
    image = Image.objects.select_related("character").filter(pk=image_id).first()
    if image is None or not image.is_in_flight:
        return  # cancelled, finished, deleted, or a duplicate of a job already done
    client = ComfyClient(url, timeout=settings.COMFYUI_TIMEOUT, retries=settings.COMFYUI_RETRIES)
    try:
        # Reachable? And did an earlier delivery already queue this prompt here?
        where = prompt_locate(client, image.prompt_id)
    except ComfyError as exc:
        logger.warning("render: backend %s unusable (%s); job %s goes back", url, exc, image.pk)
        dispatch.image_requeue(image)
        time.sleep(BACKEND_DOWN_PAUSE)
        return
    stale_before = timezone.now() - timedelta(seconds=settings.STUDIO_RENDER_STALE_SECONDS)
    if not image.claim(worker=claimant, backend_url=url, stale_before=stale_before):
        return  # another live worker holds it, or it ended meanwhile
    if image.attempts > settings.STUDIO_RENDER_MAX_ATTEMPTS:
        image_fail(image, f"ComfyUI could not render this image in {image.attempts - 1} attempts.")
        return
    events.image_changed(image)
    events.queue_moved()
    try:
        _follow(client, url, image, claimant, where)
    finally:
        ImagePreview.objects.filter(image_id=image.pk).delete()


def _follow(
    client: ComfyClient, url: str, image: Image, claimant: str, where: str | HistoryEntry
) -> None:
    """Queue the claimed job (unless the backend has it already), follow it, finish it."""
    live = _LiveCard(image, claimant)
    still_ours = _still_ours(image, claimant)

    def keep_going() -> bool:
        live.flush()  # what the throttle held back, so the last step's preview shows too
        return still_ours()

    stream = None
    try:
        stream = EventStream(url, client_id=claimant)
        if where == "unknown":
            _queue(client, image, client_id=claimant)
        outcome = (
            Finished(where)
            if isinstance(where, HistoryEntry)
            else prompt_follow(
                client,
                image.prompt_id,
                events=stream,
                on_progress=live.progress,
                on_preview=live.preview,
                keep_going=keep_going,
                dead_after=settings.COMFYUI_DEAD_AFTER_SECONDS,
            )
        )
    except GraphRejected as exc:
        image_fail(image, f"ComfyUI refused the workflow: {exc}")
        return
    except ComfyUnreachable as exc:
        outcome = Lost(f"the ComfyUI backend stopped answering ({exc})")
    finally:
        if stream is not None:
            stream.close()
    if isinstance(outcome, Stopped):
        return
    if isinstance(outcome, Lost):
        _give_back(image, claimant, outcome.reason)
        return
    _finish(client, image, claimant, outcome.entry)


def _queue(client: ComfyClient, image: Image, *, client_id: str) -> None:
    uploaded = None
    mask_png = b""
    if image.mask_key:
        # The upload and the prompt reach the same backend: LoadImage reads its input/.
        mask_png = storage.file_read(image.mask_key)
        uploaded = client.upload_image(mask_png, f"ryla_mask_{image.id}.png")
    graph = _graph(image, uploaded, mask_png)
    client.queue_prompt(graph, prompt_id=image.prompt_id, client_id=client_id)


PROGRESS_EVERY = 0.5  # seconds between two progress writes of one image (and events)
PREVIEW_SIDE = 512  # a preview too big to keep is stored at most this wide and high


class _LiveCard:
    """Progress and the latest step preview into the database and to the user's tabs, at
    most every PROGRESS_EVERY seconds (a sampler step may take milliseconds); the last
    step's progress always goes out. A write of either moves the row's `updated_at`,
    which names the card's state for open pages (and their cache of rendered cards)."""

    def __init__(self, image: Image, claimant: str) -> None:
        self.image = image
        self.claimant = claimant
        self.percent = image.progress
        self.jpeg: bytes | None = None  # received, not written yet
        self.last = 0.0

    def progress(self, value: int | float, maximum: int | float) -> None:
        self.percent = max(0, min(99, int(100 * value / maximum))) if maximum > 0 else 0
        self.flush(now=value >= maximum)

    def preview(self, image_bytes: bytes, mime: str) -> None:
        jpeg = preview_jpeg(image_bytes, mime)
        if jpeg is not None:
            self.jpeg = jpeg
            self.flush()

    def flush(self, *, now: bool = False) -> None:
        if self.jpeg is None and self.percent == self.image.progress:
            return
        if not now and time.monotonic() - self.last < PROGRESS_EVERY:
            return
        self.last = time.monotonic()
        if self.jpeg is not None:
            # Before the row moves: a card rendered for the new `updated_at` shows it.
            ImagePreview.objects.put(image_id=self.image.pk, jpeg=self.jpeg)
            self.jpeg = None
        if self.image.mark_progress(worker=self.claimant, percent=self.percent):
            events.image_changed(self.image)


def preview_jpeg(image_bytes: bytes, mime: str) -> bytes | None:
    """A preview as JPEG of at most PREVIEW_MAX_BYTES (ComfyUI sends JPEG, or PNG when
    asked); None when it is not a picture."""
    if mime == "image/jpeg" and len(image_bytes) <= PREVIEW_MAX_BYTES:
        return image_bytes
    try:
        with PILImage.open(io.BytesIO(image_bytes)) as picture:
            picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            buffer = io.BytesIO()
            picture.convert("RGB").save(buffer, format="JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        logger.debug("render: a preview that is not a picture (%s)", exc)
        return None
    jpeg = buffer.getvalue()
    return jpeg if len(jpeg) <= PREVIEW_MAX_BYTES else None


def _still_ours(image: Image, claimant: str):
    """Heartbeat once a second; False once the image was cancelled or taken back."""
    last = [0.0]
    alive = [True]

    def check() -> bool:
        if time.monotonic() - last[0] >= 1.0:
            last[0] = time.monotonic()
            alive[0] = image.heartbeat(worker=claimant)
        return alive[0]

    return check


def _give_back(image: Image, claimant: str, reason: str) -> None:
    """The backend failed the job: another backend tries, unless attempts are used up."""
    if image.attempts >= settings.STUDIO_RENDER_MAX_ATTEMPTS:
        image_fail(
            image, f"{reason[:1].upper()}{reason[1:]}; gave up after {image.attempts} attempts."
        )
        return
    if image.release(worker=claimant):
        logger.warning("render: %s goes back to the queue: %s", image.pk, reason)
        image.refresh_from_db()
        dispatch.image_requeue(image)
        events.image_changed(image)


def _finish(client: ComfyClient, image: Image, claimant: str, entry: HistoryEntry) -> None:
    if entry.succeeded and entry.outputs:
        _store(client, image, claimant, entry)
    elif entry.succeeded:
        image_fail(image, "ComfyUI finished without an output image.")
    elif entry.interrupted:
        image_fail(image, "Interrupted on the ComfyUI server.")
    elif entry.error is not None:
        image_fail(image, entry.error.user_message)
    else:
        image_fail(image, "ComfyUI reported an error without details.")


def _download(client: ComfyClient, output, tries: int = 3) -> bytes:
    """The output file; a backend answering 5xx for a moment is not a lost backend."""
    for attempt in range(1, tries):
        try:
            return client.download(output.filename, output.subfolder, output.type)
        except ComfyUnreachable:
            time.sleep(0.5 * attempt)
    return client.download(output.filename, output.subfolder, output.type)


def _store(client: ComfyClient, image: Image, claimant: str, entry: HistoryEntry) -> None:
    """Download, store image and thumbnail, mark completed: once, under the row's lock."""
    output = entry.outputs[-1]
    try:
        data = _download(client, output)
        with transaction.atomic():
            locked = Image.objects.select_for_update().select_related("character").get(pk=image.pk)
            if not locked.is_in_flight or locked.claimed_by != claimant:
                return  # cancelled, or taken back and finished elsewhere
            stored = storage.image_store(
                character_id=locked.character_id, image_id=locked.id, png_bytes=data
            )
            locked.mark_completed(
                image_key=stored.image_key,
                thumbnail_key=stored.thumbnail_key,
                width=stored.width,
                height=stored.height,
            )
    except storage.UnreadableImage as exc:
        logger.warning("render: output of %s unreadable: %s", image.pk, exc)
        image_fail(image, "ComfyUI's output could not be read as an image.")
        return
    except Exception as exc:
        # Download or storage failed: the output stays on the backend; the job goes back
        # and the next claim finds it finished there (same keys, so never stored twice).
        logger.exception("render: could not store the output of %s", image.pk)
        _give_back(image, claimant, f"the output could not be stored ({type(exc).__name__})")
        return
    image_finished(locked)
