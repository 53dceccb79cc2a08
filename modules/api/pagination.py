"""Page-number pagination with a page size the client may choose, up to API__MAX_PAGE_SIZE."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class PageSizePagination(PageNumberPagination):
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]  # DRF declares a plain attribute; read per request
        return int(settings.API_MAX_PAGE_SIZE)
