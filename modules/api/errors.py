"""One error body for the whole API: the exception handler and the parser that make every error a JSON answer.

Every error answers JSON of one shape, the `Error` component of the schema:

    {"detail": "identifier: This field is required.", "error_code": "invalid",
     "identifier": ["This field is required."]}

`detail` is one human-readable line, `error_code` a stable machine-readable name. A validation error also carries
DRF's field-keyed lists of messages (`non_field_errors` for the rest; nested fields as `parent.child`). The code is
not named `code` because a field of that name exists (the sign-in code), and field names share the body's keys.

Apps raise a ServiceError subclass (modules.api.exceptions: their own vocabulary, each class with its status and
message) from services; views never translate them. The schema documents the body as modules.api.schema's Error.
Installed for the whole API by cfg/settings/api.py (DEFAULT_PARSER_CLASSES and EXCEPTION_HANDLER)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from modules.api.exceptions import ServiceError


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json raises RecursionError (not ValueError) for a body like [[[[…]]]]: DRF would answer 500.
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler for the status and headers (Retry-After, WWW-Authenticate), with the body in the one shape.

    Also answers the request-size limits Django raises while the body is read (an HTML 400 otherwise) and the
    apps' ServiceErrors. Anything else is left to Django: a 500."""
    api_error = as_api_exception(exc)
    if api_error is None:
        return None
    response = drf_exception_handler(api_error, context)
    if response is not None:
        response.data = error_body(api_error)
    return response


def as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, ServiceError):
        api_error = (
            exceptions.ValidationError({exc.field: [exc.message]}, code=exc.code)
            if exc.field is not None
            else exceptions.APIException(exc.message, code=exc.code)
        )
        # The app's status and code, on this instance only.
        api_error.status_code = exc.status_code
        api_error.default_code = exc.code
        return api_error
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("The request body is larger than this server accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).")
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return exceptions.ParseError(str(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    return None


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The body for `exc`: {"detail", "error_code"}, plus the field-keyed messages of a validation error."""
    if isinstance(exc, exceptions.ValidationError):
        fields = field_messages(exc.detail)
        summary = " ".join(
            message if name == api_settings.NON_FIELD_ERRORS_KEY else f"{name}: {message}"
            for name, messages in fields.items()
            for message in messages
        )
        return {**fields, "detail": summary or "Invalid input.", "error_code": str(exc.default_code)}
    detail: Any = exc.detail
    if isinstance(detail, dict):  # simplejwt's token errors: {"detail", "code", "messages": [{...}]}
        return {
            "detail": str(detail.get("detail", exc.default_detail)),
            "error_code": str(detail.get("code", exc.default_code)),
        }
    if isinstance(detail, list):
        return {"detail": " ".join(str(item) for item in detail), "error_code": str(exc.default_code)}
    return {"detail": str(detail), "error_code": str(getattr(detail, "code", None) or exc.default_code)}


def field_messages(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's validation detail as flat lists of strings per field (nested fields as `parent.child`, list items as
    `items.0.name`), so every validation error fits the one schema: an object of string arrays."""
    key = prefix or api_settings.NON_FIELD_ERRORS_KEY
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for name, value in detail.items():
            flat.update(field_messages(value, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(field_messages(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    if isinstance(detail, list):
        return {key: [str(item) for item in detail]}
    return {key: [str(detail)]}
