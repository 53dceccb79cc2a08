"""The error body in the OpenAPI schema: the `Error` component, and the documented error answers that use it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error answer. A validation error adds one list of messages per field."""

    detail = serializers.CharField(help_text="What went wrong, in one line meant for people")
    error_code = serializers.CharField(
        help_text="A stable name for the error: invalid (a validation error), not_authenticated, throttled, ..."
    )


class ErrorSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]  # registers the extension
    """The field-keyed message lists of a validation error are the component's additional properties."""

    target_class = ErrorSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super().map_serializer(auto_schema, direction)
        schema["additionalProperties"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "A validation error's messages for one field (non_field_errors for the rest)",
        }
        return schema


def error_responses(descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    """Documented error answers, all with the Error body: error_responses({400: "Bad identifier", 429: ...})."""
    return {code: OpenApiResponse(ErrorSerializer, description=text) for code, text in descriptions.items()}
