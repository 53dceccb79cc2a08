"""Permission callbacks for sidebar items (NavigationItem.permission): Unfold shows an item when it returns True."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def api_docs_enabled(request: HttpRequest) -> bool:
    return bool(settings.API_DOCS_ENABLED)
