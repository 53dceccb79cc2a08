"""The URL mounts of the enabled apps and modules (the URL_MOUNTS setting, generated from the catalog)."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLResolver, include, path


def mounted_urlpatterns() -> list[URLResolver]:
    return [path(prefix, include(module)) for prefix, module in settings.URL_MOUNTS]
