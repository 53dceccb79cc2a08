from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from cfg.environment import Environment

# Where apps/accounts' create_dev_superuser (run by `make run` and `make superuser`) writes what it created.
DEV_SUPERUSER_FILE = "dev-superuser.txt"

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#0c4b33"/>'
    '<circle cx="16" cy="16" r="7" fill="none" stroke="#fff" stroke-width="3"/>'
    "</svg>"
)


def is_deployed() -> bool:
    return Environment(settings.ENVIRONMENT).is_deployed


@require_safe
def home(request: HttpRequest) -> HttpResponseBase:
    """Development: the project's name and where everything is. Deployed: the configured redirect, or a page
    with the name alone; the admin, docs and health endpoints are not advertised to the public."""
    if is_deployed():
        if settings.HOME_REDIRECT:
            return HttpResponseRedirect(settings.HOME_REDIRECT)
        return render(request, "pages/public.html", {"project_name": settings.PROJECT_NAME})
    context = {
        "project_name": settings.PROJECT_NAME,
        "environment": settings.ENVIRONMENT,
        "superuser": dev_superuser(),
        "docs": docs_links(),
    }
    return render(request, "pages/home.html", context)


def dev_superuser() -> dict[str, Any]:
    credentials = Path(settings.DATA_DIR) / DEV_SUPERUSER_FILE
    try:
        shown = credentials.relative_to(settings.BASE_DIR)
    except ValueError:
        shown = credentials
    return {"path": str(shown), "exists": credentials.exists()}


def docs_links() -> dict[str, str]:
    """The API docs' URLs, when they are served (API_DOCS_ENABLED; off in production unless asked for)."""
    if not settings.API_DOCS_ENABLED:
        return {}
    return {"docs": reverse("api-docs"), "redoc": reverse("api-redoc"), "schema": reverse("api-schema")}


@require_safe
def api_root(request: HttpRequest) -> JsonResponse:
    """What an API client can start from, instead of a 404."""
    links = {**docs_links(), "health": reverse("healthz"), "ready": reverse("readyz")}
    return JsonResponse({name: request.build_absolute_uri(url) for name, url in links.items()})


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask every site for /favicon.ico; a 404 there is an error in every page's console."""
    return HttpResponse(FAVICON, content_type="image/svg+xml")
