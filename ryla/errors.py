"""Every error answer of the API is JSON.

Two places turn failures into answers: DRF's exception handler for everything raised in
an API view (whatever DEBUG says), and Django's handler400/403/404/500 for what happens
outside one (an unknown URL, a refused host), which answer JSON to clients that do not
ask for HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler

from studio.errors import DispatchUnavailable, NotAllowed, StudioError, TooManyInFlight

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class NestingLimitedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 instead of 500 for absurdly deep nesting.

    Python's decoder recurses once per level and raises RecursionError (10 KB of ``[``
    is enough), which DRF's parser does not catch.
    """

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


# Service errors know nothing of HTTP; this is where they get their status codes.
STUDIO_ERROR_STATUS = {
    NotAllowed: status.HTTP_403_FORBIDDEN,
    TooManyInFlight: status.HTTP_429_TOO_MANY_REQUESTS,
    DispatchUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def studio_error_response(error: StudioError) -> Response:
    code = next(
        (code for kind, code in STUDIO_ERROR_STATUS.items() if isinstance(error, kind)),
        status.HTTP_400_BAD_REQUEST,
    )
    if code == status.HTTP_400_BAD_REQUEST and error.field:
        return Response({error.field: [error.message]}, status=code)
    body = {"detail": error.message}
    if error.field:
        body["field"] = error.field
    return Response(body, status=code)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's handler, the studio's refusals, and JSON for what DRF leaves to Django's HTML
    error pages."""
    if isinstance(exc, StudioError):
        return studio_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Bad request.")
    response = exception_handler(exc, context)
    if response is not None:
        return response
    logger.error("Unhandled error in %s", context.get("view"), exc_info=exc)
    return Response({"detail": "Internal server error."}, status=500)


def _wants_html(request: HttpRequest) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "Not allowed."}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_html(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "Internal server error."}, status=500)
