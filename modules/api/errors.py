"""Every bad request body answers a JSON 4xx: the cases Django and DRF would turn into an HTML page or a 500.

Installed for the whole API by cfg/settings/api.py (DEFAULT_PARSER_CLASSES and EXCEPTION_HANDLER)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json raises RecursionError (not ValueError) for a body like [[[[…]]]]: DRF would answer 500.
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus the request-size limits Django raises while the body is read (an HTML 400 otherwise)."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge("The request body is larger than this server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).")
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = ParseError(str(exc))
    return drf_exception_handler(exc, context)
