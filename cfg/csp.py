"""The admin's own Content-Security-Policy (SECURITY__ADMIN_CSP over SECURITY__CSP): the rest of the site runs
without 'unsafe-eval', which Unfold's Alpine.js needs on the admin's pages."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


class AdminCspMiddleware:
    """Sits after Django's ContentSecurityPolicyMiddleware, so it marks the response before that one writes the
    header: the same attribute Django's csp_override decorator sets."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        match = request.resolver_match
        if match is not None and "admin" in match.app_names:
            attribute = "_csp_ro_config" if getattr(settings, "SECURE_CSP_REPORT_ONLY", None) else "_csp_config"
            setattr(response, attribute, settings.ADMIN_CSP)
        return response
