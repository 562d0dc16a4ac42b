"""Request body limits per view, judged by Content-Length before a byte is read.

Django's DATA_UPLOAD_MAX_MEMORY_SIZE is one number for the whole site, and exceeding it
gives an HTML 400; this middleware gives every view its own limit and a JSON 413.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class BodySizeLimitMiddleware:
    """413 for a body over the limit, judged by Content-Length before anything is read.

    A view may raise its own limit by naming a setting in `max_body_setting` (the inpaint
    endpoint does); every other view gets REQUEST_MAX_BODY_BYTES.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        setting = getattr(view_class, "max_body_setting", None)
        limit = getattr(settings, setting) if setting else settings.REQUEST_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length."}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body too large: {length} bytes, the limit is {limit}."},
                status=413,
            )
        return None
