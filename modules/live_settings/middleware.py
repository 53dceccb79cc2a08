"""Maintenance mode: while the live setting MAINTENANCE_MODE is on, the site and the API answer 503."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from modules.live_settings.values import cached_setting

RETRY_AFTER_SECONDS = 300
FALLBACK_MESSAGE = "The site is down for maintenance. Please try again in a few minutes."


@cache
def exempt_paths() -> tuple[frozenset[str], str]:
    """The health endpoints (the orchestrator must not restart a web tier that is merely closed), the icon browsers
    ask for with every page (the maintenance page's own included) and the admin's prefix (staff sign in there to
    switch maintenance off)."""
    return frozenset({reverse("healthz"), reverse("readyz"), reverse("favicon")}), reverse("admin:index")


class MaintenanceMiddleware:
    """Answers 503 with MAINTENANCE_MESSAGE and Retry-After while MAINTENANCE_MODE is on: JSON under /api/ (the API's
    error body) and to clients that take no HTML, a small page otherwise. The health endpoints, the admin and
    signed-in staff (by session, or by the API's token) pass.

    Placed after AuthenticationMiddleware, so request.user is there; it is looked at only while maintenance is on.
    Off, a request costs a read of this process's copy of the live settings (modules.live_settings.values)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not cached_setting("MAINTENANCE_MODE") or passes(request):
            return self.get_response(request)
        return maintenance_response(request, str(cached_setting("MAINTENANCE_MESSAGE")).strip() or FALLBACK_MESSAGE)


def passes(request: HttpRequest) -> bool:
    paths, admin_prefix = exempt_paths()
    if request.path in paths or request.path.startswith(admin_prefix):
        return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    if is_api(request) and "HTTP_AUTHORIZATION" in request.META:
        token_user = api_token_user(request)
        return token_user is not None and bool(token_user.is_active and token_user.is_staff)
    return False


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or not request.accepts("text/html")


def api_token_user(request: HttpRequest) -> Any:
    """The user the API's own authentication finds in the request's credentials (a JWT), or None. The session's
    user is request.user already."""
    classes = cast("list[type[BaseAuthentication]]", api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    api_request = Request(request)  # reads headers only: the body stays for the view
    for authentication in classes:
        if issubclass(authentication, SessionAuthentication):
            continue
        try:
            found = authentication().authenticate(api_request)
        except APIException:  # a bad or expired token: not staff
            return None
        if found is not None:
            return found[0]
    return None


def maintenance_response(request: HttpRequest, message: str) -> HttpResponse:
    response: HttpResponse
    if is_api(request):
        response = JsonResponse({"detail": message, "error_code": "maintenance"}, status=503)
    else:
        page = render_to_string(
            "live_settings/maintenance.html", {"message": message, "project_name": settings.PROJECT_NAME}
        )
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
