"""Redoc, served so that it works under the project's Content-Security-Policy with every asset local."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition, require_safe

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# Redoc's sidebar always shows Redocly's logo from their CDN; img-src 'self' blocks it and the console reports
# the violation. With no source, the image fails without a request and Redoc removes it (the link stays).
REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def redoc_bundle() -> tuple[bytes, str]:
    """The sidecar's Redoc bundle without its remote logo, and its ETag."""
    found = finders.find(REDOC_BUNDLE)
    if not isinstance(found, str):
        raise LookupError(f"{REDOC_BUNDLE} not found: is drf_spectacular_sidecar installed?")
    content = Path(found).read_bytes().replace(REMOTE_LOGO.encode(), b"")
    return content, hashlib.sha256(content).hexdigest()[:20]


@require_safe
@cache_control(max_age=86400, public=True)
@condition(etag_func=lambda request: redoc_bundle()[1])
@gzip_page
def redoc_standalone(request: HttpRequest) -> HttpResponse:
    return HttpResponse(redoc_bundle()[0], content_type="text/javascript; charset=utf-8")
