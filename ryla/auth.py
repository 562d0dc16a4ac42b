"""Login protection: the client address that throttles and lockouts key on, and the answer
a locked-out client gets (JSON for the API, a page for browsers)."""

from __future__ import annotations

import math

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest) -> str:
    """The address DRF's throttles use: REMOTE_ADDR, or X-Forwarded-For's entry written by
    the nearest of NUM_PROXIES trusted proxies. One definition for throttles and lockouts."""
    return BaseThrottle().get_ident(request)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, math.ceil(seconds / 60))
    message = (
        "Too many failed login attempts for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    headers = {"Retry-After": str(seconds)} if seconds else {}
    if request.path.startswith("/auth/") or "text/html" not in request.headers.get("Accept", ""):
        return JsonResponse({"detail": message}, status=429, headers=headers)
    response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    for name, value in headers.items():
        response[name] = value
    return response
