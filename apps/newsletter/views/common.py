"""What the subscribers' pages share, some of it with the audience API: where a request comes from, how a page that
carries a token is answered, and the download of a subscriber's data."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.newsletter.models import Subscriber
from apps.newsletter.services.audience import Consent, subscriber_export
from cfg.client_ip import client_ip

# A few form fields: more is refused unread (cfg.body_limit).
PAGE_BODY_BYTES = 8 * 1024


def consent_from(request: HttpRequest, *, source: str, form_text: str = "") -> Consent:
    return Consent(
        source=source,
        form_text=form_text,
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


def page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """A subscriber's page. Its URL holds a token that acts for the subscriber: it must not leak to other sites
    through the Referer header, nor be kept by shared caches or indexed. (Not "no-referrer": Chromium then sends
    `Origin: null` with the page's own form posts, which Django's CSRF check refuses.)"""
    response = render(request, template, {"project_name": settings.PROJECT_NAME, **(context or {})}, status=status)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def bad_link(request: HttpRequest, message: str, **context: Any) -> HttpResponse:
    return page(request, "newsletter/bad_link.html", {"message": message, **context}, status=400)


def data_download(subscriber: Subscriber) -> HttpResponse:
    """Everything kept about the subscriber as a JSON file (services.audience.subscriber_export)."""
    body = json.dumps(subscriber_export(subscriber=subscriber), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="newsletter-data.json"'
    response["Cache-Control"] = "private, no-store"
    return response
