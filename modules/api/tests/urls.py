"""A URLconf with what validate_openapi refuses, for the tests of validate_openapi and generate_clients
(`--urlconf modules.api.tests.urls`): a view drf-spectacular cannot describe, without a docstring or an error answer,
and a view whose answer names a component that does not exist."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.api.schema import error_responses


class Undescribed(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class DanglingReference(APIView):
    """Described, with a documented error answer, but its 200 names a component the schema does not have."""

    permission_classes = (AllowAny,)

    @extend_schema(responses={200: {"$ref": "#/components/schemas/Missing"}, **error_responses({400: "Bad input"})})
    def get(self, request: Request) -> Response:
        body: dict[str, Any] = {}
        return Response(body)


urlpatterns = [
    path("undescribed/", Undescribed.as_view()),
    path("dangling/", DanglingReference.as_view()),
]
