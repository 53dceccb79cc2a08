"""Categories: the list documents and searches can be filed and filtered by (staff create them in the admin)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from apps.knowbase import selectors
from apps.knowbase.api.common import NOT_SIGNED_IN, CategorySerializer
from apps.knowbase.models import Category
from modules.api.schema import error_responses


class CategoryListView(generics.ListAPIView[Category]):
    serializer_class = CategorySerializer

    def get_queryset(self) -> QuerySet[Category]:
        return selectors.category_list()

    @extend_schema(
        tags=["knowbase"],
        summary="List categories",
        description="Every category, by name, paginated. Staff add them in the admin.",
        responses={200: CategorySerializer(many=True), **error_responses({**NOT_SIGNED_IN, 404: "No such page"})},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
