"""Studio pages and their htmx partials: one view, two renders (page, or fragment for htmx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url, reswap, retarget

from gallery import storage
from gallery.models import Character, Image, ImageStatus
from studio import analytics, events, png, presets, services
from studio.errors import StudioError
from studio.forms import GalleryFilterForm, GenerateForm
from studio.pagination import InvalidCursor, images_filter, images_page


def _get_character_for_user(request: HttpRequest, character_id) -> Character:
    return get_object_or_404(Character.objects.visible_to(request.user), pk=character_id)


def _get_image_for_user(request: HttpRequest, character: Character, image_id) -> Image:
    return get_object_or_404(
        Image.objects.visible_to(request.user)
        .filter(character=character)
        .select_related("character", "source_image"),
        pk=image_id,
    )


def _gallery_context(request: HttpRequest, character: Character) -> dict:
    # Its own ids: the generate form beside it has fields of the same names.
    filters = GalleryFilterForm(request.GET or None, auto_id="filter-%s")
    images = images_filter(Image.objects.for_character(character), **filters.filters())
    cursor = filters.cleaned_data.get("cursor") if filters.is_bound and filters.is_valid() else None
    try:
        page, next_cursor = images_page(
            images, cursor=cursor, limit=settings.STUDIO_GALLERY_PAGE_SIZE
        )
    except InvalidCursor:
        page, next_cursor = [], None
    next_url = None
    if next_cursor:
        params = request.GET.copy()
        params["cursor"] = next_cursor
        next_url = f"{reverse('studio:gallery', args=[character.id])}?{params.urlencode()}"
    return {
        "character": character,
        "images": page,
        "next_url": next_url,
        "filter_form": filters,
    }


@login_required
@require_GET
def studio_index(request: HttpRequest) -> HttpResponse:
    characters = (
        Character.objects.visible_to(request.user).with_portrait().order_by("name", "created_at")
    )
    return render(request, "studio/index.html", {"characters": characters})


@login_required
@require_GET
def character_studio(request: HttpRequest, character_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    return _studio_page(request, character)


def _partial_wanted(request: HttpRequest) -> bool:
    """An htmx swap; not a reload, and not htmx restoring history it had no copy of."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _settings_key(character: Character) -> str:
    return f"studio:last-settings:{character.id}"


def _generate_form(request: HttpRequest, character: Character, **initial) -> GenerateForm:
    """The generate form with this character's last settings (kept in the session)."""
    remembered = request.session.get(_settings_key(character), {})
    return GenerateForm(character=character, initial={**remembered, **initial})


def _studio_page(
    request: HttpRequest,
    character: Character,
    *,
    detail: dict | None = None,
    status: int = 200,
    form: GenerateForm | None = None,
) -> HttpResponse:
    """The studio page in any state a creator can reach by URL: the gallery with its
    filters, an open image (`detail`), the editor over it (`detail["editing"]`)."""
    analytics.capture(
        "studio_opened", user_id=request.user.id, properties={"characterId": str(character.id)}
    )
    context = {
        **_gallery_context(request, character),
        "form": form or _generate_form(request, character),
        "outfits": presets.OUTFITS.values(),
        "detail": detail,
    }
    return render(request, "studio/character_studio.html", context, status=status)


@login_required
@require_POST
def generate(request: HttpRequest, character_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    form = GenerateForm(request.POST, character=character)
    if form.is_valid():
        try:
            services.generation_start(
                user=request.user, character=character, options=form.options()
            )
        except StudioError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
    if form.is_valid():
        request.session[_settings_key(character)] = form.remembered()
        if request.htmx:
            # The gallery with the new pack, and a fresh form in place of the old one so
            # that no message of an earlier failed try stays on screen.
            context = {
                **_gallery_context(request, character),
                "form": _generate_form(request, character),
                "outfits": presets.OUTFITS.values(),
                "form_oob": True,
            }
            response = render(request, "studio/_generate_started.html", context)
            response["HX-Trigger-After-Swap"] = json.dumps(
                {"ryla:pack-started": {"count": form.cleaned_data["count"]}}
            )
            return response
        return redirect("studio:character", character_id=character.id)
    context = {"form": form, "character": character, "outfits": presets.OUTFITS.values()}
    if request.htmx:
        # htmx swaps only 2xx answers: the form with its errors comes back as a 200.
        response = render(request, "studio/_generate_form.html", context)
        return reswap(retarget(response, "#generate-form"), "outerHTML")
    context.update(_gallery_context(request, character))
    return render(request, "studio/character_studio.html", context, status=422)


@login_required
@require_GET
def gallery(request: HttpRequest, character_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    context = _gallery_context(request, character)
    studio_url = reverse("studio:character", args=[character.id])
    query = request.GET.copy()
    query.pop("cursor", None)
    filtered_url = f"{studio_url}?{query.urlencode()}" if query else studio_url
    if _partial_wanted(request):
        if "cursor" in request.GET:
            return render(request, "studio/_gallery_page.html", context)
        response = render(request, "studio/_gallery.html", context)
        if request.htmx.trigger == "gallery-filters":
            # The address bar shows the studio with these filters: a reload or a shared
            # link opens the same view (a refresh after a new image leaves it alone).
            push_url(response, filtered_url)
        return response
    return redirect(filtered_url)


@login_required
@require_GET
def image_card(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """One gallery card, from the database (render workers keep the row up to date)."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    return render(request, "studio/_image_card.html", {"image": image, "character": character})


@login_required
@require_GET
def pack_cards(request: HttpRequest, character_id, batch_id) -> HttpResponse:
    """The cards of one pack as out-of-band swaps: the page's fallback while its event
    stream is down (one database read per pack, not one per card)."""
    character = _get_character_for_user(request, character_id)
    images = Image.objects.for_character(character).filter(batch_id=batch_id).newest_first()
    return render(request, "studio/_pack_cards.html", {"images": images, "character": character})


@lru_cache(maxsize=2048)
def _card_render(image_id: str, updated_at: str, owner_id: int) -> str:
    """One image's card as of `updated_at`: every open tab of its owner gets the same
    HTML, rendered once per change in this process. Rendered without a request: a tab
    with live updates runs htmx, which sends the CSRF header on the retry form."""
    image = Image.objects.select_related("character").get(pk=image_id, character__owner_id=owner_id)
    return render_to_string(
        "studio/_image_card.html", {"image": image, "character": image.character}
    )


def _card_html(user, change: events.Change) -> str | None:
    """The card of a change on the user's own channel (or rows): rendered at most once per
    state and process, checked against the owner either way."""
    updated_at = change.updated_at
    try:
        if updated_at is None:
            row = Image.objects.visible_to(user).filter(pk=change.image_id)
            row = row.values("updated_at", "status").first()
            if row is None:
                return None
            if row["status"] == ImageStatus.PENDING:  # its position moves without the row
                return _card_render.__wrapped__(change.image_id, "", user.id)
            updated_at = row["updated_at"].isoformat()
        return _card_render(change.image_id, updated_at, user.id)
    except Image.DoesNotExist:
        return None


def _sse_message(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


async def _studio_event_stream(request: HttpRequest, user) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    async for change in events.image_changes(user.id):
        if change is None:
            yield ": keep-alive\n\n"
            continue
        html = await sync_to_async(_card_html)(user, change)
        if html is not None:
            yield _sse_message("card", html)


@login_required
@require_GET
async def studio_events(request: HttpRequest) -> StreamingHttpResponse:
    """One Server-Sent Events stream per studio tab: each change of one of the user's
    images arrives as its re-rendered card (event `card`), put in place by live.js."""
    user = await request.auser()
    return StreamingHttpResponse(
        _studio_event_stream(request, user),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@login_required
@require_POST
def image_cancel(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """Cancel from a card: the card comes back, failed as cancelled."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    try:
        image = services.image_cancel(user=request.user, image=image)
    except StudioError:
        image.refresh_from_db()  # it finished meanwhile: show how
    if request.htmx:
        return render(request, "studio/_image_card.html", {"image": image, "character": character})
    return redirect("studio:character", character_id=character.id)


@login_required
@require_POST
def image_delete(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """Delete (or dismiss, for a failed one) an image and its files."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    try:
        services.image_delete(user=request.user, image=image)
    except StudioError as error:
        if request.htmx:
            return HttpResponse(error.message, status=409)
        raise
    if request.htmx:
        # Wherever it was deleted from (its card, the open image), its card goes too.
        return HttpResponse(f'<div id="card-{image.id}" hx-swap-oob="delete"></div>')
    return redirect("studio:character", character_id=character.id)


@login_required
@require_POST
def image_favourite(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """Star or unstar; the card (and the open image's button) come back updated."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    image = services.image_favourite_set(
        user=request.user, image=image, favourite=request.POST.get("favourite") == "1"
    )
    if request.htmx:
        context = {
            "image": image,
            "character": character,
            "on_card": request.POST.get("on_card") == "1",
        }
        return render(request, "studio/_favourite.html", context)
    return redirect("studio:image_detail", character_id=character.id, image_id=image.id)


@login_required
@require_POST
def image_retry(request: HttpRequest, character_id, image_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    error = None
    try:
        services.image_retry(user=request.user, image=image)
    except StudioError as exc:
        error = exc.message
    if request.htmx:
        context = {**_gallery_context(request, character), "gallery_error": error}
        return render(request, "studio/_gallery.html", context)
    return redirect("studio:character", character_id=character.id)


def _image_detail_context(image: Image, character: Character) -> dict:
    """What the detail panel shows (its own `image` key, beside the page's)."""
    source = image.source_image
    return {
        "character": character,
        "image": image,
        "image_url": storage.file_url(image.image_key),
        "source_url": storage.file_url(source.image_key) if source else "",
        "source_thumbnail_url": storage.file_url(source.thumbnail_key) if source else "",
        "edits": image.edits.newest_first(),
        "scene": presets.SCENES.get(image.scene),
        "environment": presets.ENVIRONMENTS.get(image.environment),
    }


@login_required
@require_GET
def image_detail(request: HttpRequest, character_id, image_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    context = _image_detail_context(image, character)
    if _partial_wanted(request):
        return render(request, "studio/_image_detail.html", context)
    return _studio_page(request, character, detail=context)


@login_required
@require_GET
def image_edits(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """The list of an image's edits (the open image refreshes it as they progress)."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    context = {"character": character, "image": image, "edits": image.edits.newest_first()}
    return render(request, "studio/_edits.html", context)


@login_required
@require_GET
def image_mask(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """The mask an edit used, as a tinted overlay the size of the image."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    try:
        masked_png = storage.file_read(image.mask_key) if image.mask_key else None
    except FileNotFoundError:
        masked_png = None
    if masked_png is None:
        raise Http404("This image has no stored mask.")
    response = HttpResponse(png.mask_overlay_png(masked_png), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400, immutable"  # a mask never changes
    return response


@login_required
@require_GET
def image_reuse(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """The generate form filled with an image's settings ("use these settings"); with
    `?seed=1` its seed too, for one image ("same seed")."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    initial = {
        "scene": image.scene,
        "environment": image.environment,
        "outfit": image.outfit,
        "aspect_ratio": image.aspect_ratio,
        "quality_mode": image.quality_mode,
        "nsfw": image.nsfw and character.nsfw_enabled,
        "details": image.details,
    }
    same_seed = request.GET.get("seed") == "1"
    if same_seed:
        initial.update(seed=image.seed, count=1)
    form = _generate_form(request, character, **initial)
    if not _partial_wanted(request):
        return _studio_page(request, character, form=form)
    context = {"form": form, "character": character, "outfits": presets.OUTFITS.values()}
    response = render(request, "studio/_generate_form.html", context)
    response["HX-Trigger-After-Swap"] = json.dumps({"ryla:form-filled": {"seed": same_seed}})
    return response


@login_required
@require_GET
def image_edit(request: HttpRequest, character_id, image_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    if not image.image_key:
        context = {
            **_image_detail_context(image, character),
            "detail_error": "Only completed images can be edited.",
        }
        if _partial_wanted(request):
            return retarget(render(request, "studio/_image_detail.html", context), "#detail")
        return _studio_page(request, character, detail=context, status=409)
    analytics.capture(
        "image_edit_opened",
        user_id=request.user.id,
        properties={"characterId": str(character.id), "imageId": str(image.id)},
    )
    context = {
        "character": character,
        "image": image,
        "image_url": storage.file_url(image.image_key),
        "inpaint_url": reverse("studio:api_inpaint"),
    }
    if _partial_wanted(request):
        return render(request, "studio/_edit_modal.html", context)
    detail = {**_image_detail_context(image, character), "editing": context}
    return _studio_page(request, character, detail=detail)


@login_required
@require_GET
def image_preview(request: HttpRequest, character_id, image_id) -> HttpResponse:
    """The latest step preview of an image being rendered, for its card's placeholder
    (written by the render worker, so any web process can serve it). 404 when there is
    none: not started, finished, or not the user's."""
    character = _get_character_for_user(request, character_id)
    image = _get_image_for_user(request, character, image_id)
    preview = getattr(image, "step_preview", None) if image.is_in_flight else None
    if preview is None:
        raise Http404("This image has no preview.")
    response = HttpResponse(bytes(preview.jpeg), content_type="image/jpeg")
    # The card's URL names the frame (?v=); a newer one comes under a new URL.
    response["Cache-Control"] = "private, max-age=10"
    return response
