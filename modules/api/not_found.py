"""The project's 404 page: under /api/ it is the API's JSON error body, as every API error is; elsewhere Django's
own page. Django uses it when DEBUG is off (config/urls.py's handler404)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        # Never the exception's text: Django's says which URL patterns were tried.
        return JsonResponse({"detail": "Not found.", "error_code": "not_found"}, status=404)
    return page_not_found(request, exception or Exception())
