"""Character pages and the login-checked file view for local storage."""

from __future__ import annotations

import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.files.storage import storages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from gallery import services, storage
from gallery.forms import CharacterForm
from gallery.models import Character


def _get_character_for_user(request: HttpRequest, character_id) -> Character:
    return get_object_or_404(Character.objects.visible_to(request.user), pk=character_id)


@login_required
def character_list(request: HttpRequest) -> HttpResponse:
    characters = (
        Character.objects.visible_to(request.user).with_portrait().order_by("name", "created_at")
    )
    return render(request, "gallery/character_list.html", {"characters": characters})


@login_required
@require_http_methods(["GET", "POST"])
def character_create(request: HttpRequest) -> HttpResponse:
    form = CharacterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        character = services.character_create(owner=request.user, **form.cleaned_data)
        return redirect("studio:character", character_id=character.id)
    return render(request, "gallery/character_form.html", {"form": form, "character": None})


@login_required
@require_http_methods(["GET", "POST"])
def character_edit(request: HttpRequest, character_id) -> HttpResponse:
    character = _get_character_for_user(request, character_id)
    form = CharacterForm(request.POST or None, instance=character)
    if request.method == "POST" and form.is_valid():
        services.character_update(character=character, **form.cleaned_data)
        return redirect("gallery:character_list")
    return render(request, "gallery/character_form.html", {"form": form, "character": character})


@login_required
@require_http_methods(["POST"])
def character_delete(request: HttpRequest, character_id) -> HttpResponse:
    services.character_delete(character=_get_character_for_user(request, character_id))
    return redirect("gallery:character_list")


def media_file(request: HttpRequest, key: str) -> HttpResponse:
    """Serve a locally stored file for a signed, unexpired URL (what `storage.file_url`
    hands out, like an S3 presigned URL); anything else gets a 404.

    On S3 clients get presigned URLs instead and this view is never linked.
    """
    character_id = storage.character_id_from_key(key)
    if character_id is None or not storage.storage_is_local():
        raise Http404
    if not storage.local_url_is_valid(
        key, request.GET.get("expires", ""), request.GET.get("signature", "")
    ):
        raise Http404
    backend = storages["default"]
    if not backend.exists(key):
        raise Http404
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    # One read, not a FileResponse: under the ASGI server a file iterator is read chunk by
    # chunk in a thread each; these are images of a few MB at most.
    with backend.open(key, "rb") as handle:
        response = HttpResponse(handle.read(), content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
