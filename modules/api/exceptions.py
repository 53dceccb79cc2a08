"""The base of the apps' errors. Kept apart from the exception handler (modules.api.errors), which DRF imports
while it loads its settings: an app's errors can be imported at any time."""

from __future__ import annotations

from rest_framework import status


class ServiceError(Exception):
    """The base of every app's errors: what went wrong, for the client, with the HTTP status that says so.

    Subclasses set `status_code`, `code` and a default `message`; raising one with a message overrides it. One that
    is about a single field of the request names it in `field`: the body then carries the message under that field,
    as a validation error would."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "invalid"
    message: str = "The request could not be done."
    field: str | None = None

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)
