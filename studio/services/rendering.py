"""The render worker's side: take a job, run it on this worker's own ComfyUI backend,
follow it, store the output once, mark the row.

A worker process renders on one or more backends and never holds more jobs than it has
backends (Celery's concurrency equals their number, prefetch 1, late acknowledgement).
A job that its backend cannot finish goes back to the queue for another backend, up to
STUDIO_RENDER_MAX_ATTEMPTS times. Every step is safe to repeat: a redelivered job finds
its prompt on the backend instead of queueing it twice, and the row's claim lets only one
worker store an output.
"""

from __future__ import annotations

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

from comfy.client import ComfyClient
from comfy.errors import ComfyError, ComfyUnreachable, GraphRejected
from comfy.follow import Finished, Lost, Stopped, prompt_follow, prompt_locate
from comfy.health import backend_probe
from comfy.results import HistoryEntry
from comfy.workflows import LoraSpec, build_flux_inpaint_workflow, build_studio_image_workflow
from comfy.ws import EventStream
from gallery import storage
from gallery.models import Image
from studio import events
from studio.models import RenderWorker
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
    if _worker is None:
        raise RuntimeError("not a render worker: start it with `manage.py render_worker`")
    url = _worker.acquire(timeout=60)
    if url is None:  # more jobs than backends: cannot happen with concurrency = backends
        image = Image.objects.filter(pk=image_id).first()
        if image is not None:
            dispatch.image_requeue(image)
        return
    try:
        _render_on(url, image_id, claimant=f"{_worker.name}@{url}")
    finally:
        _worker.release(url)


def _graph(image: Image, uploaded_mask: str | None) -> dict:
    if image.workflow == "flux_inpaint":
        return build_flux_inpaint_workflow(
            prompt=image.prompt,
            negative_prompt=image.negative_prompt,
            image_filename=uploaded_mask or "",
            seed=image.seed,
            steps=image.steps,
            cfg=image.cfg,
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
                on_progress=_progress_writer(image, claimant),
                keep_going=_still_ours(image, claimant),
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
    if image.mask_key:
        # The upload and the prompt reach the same backend: LoadImage reads its input/.
        uploaded = client.upload_image(
            storage.file_read(image.mask_key), f"ryla_mask_{image.id}.png"
        )
    client.queue_prompt(_graph(image, uploaded), prompt_id=image.prompt_id, client_id=client_id)


PROGRESS_EVERY = 0.5  # seconds between two progress writes of one image (and events)


def _progress_writer(image: Image, claimant: str):
    """Progress into the row and to the user's tabs, at most every PROGRESS_EVERY seconds
    (a sampler step may take milliseconds); the last step always goes out."""
    last = [0.0]

    def write(value: int | float, maximum: int | float) -> None:
        percent = int(100 * value / maximum) if maximum > 0 else 0
        now = time.monotonic()
        if percent == image.progress or (now - last[0] < PROGRESS_EVERY and value < maximum):
            return
        last[0] = now
        if image.mark_progress(worker=claimant, percent=percent):
            events.image_changed(image)

    return write


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
