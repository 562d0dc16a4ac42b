"""What the studio's services refuse, in words for the user; no HTTP here.

The API's exception handler (ryla.errors) and the pages (form errors) turn these into
answers; `field` names the input at fault, if any.
"""

from __future__ import annotations


class StudioError(Exception):
    """A request the studio refuses as given (bad input, wrong state)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(StudioError):
    """The user may not do this (e.g. NSFW on a character without it)."""


class TooManyInFlight(StudioError):
    """The user already has as many images in progress as allowed."""


class DispatchUnavailable(StudioError):
    """The job queue (broker) cannot take work right now; nothing was left behind."""
