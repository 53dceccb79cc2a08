"""The body limit as middleware (cfg.body_limit.BodyLimitMiddleware): under WSGI it refuses a declared length over
the limit of the view the path leads to; under ASGI, once BodyLimit has checked the request, it checks nothing again."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from cfg.body_limit import CHECKED_SCOPE_KEY, NO_VIEW_BODY_BYTES, BodyLimitMiddleware

API = "/api/newsletter/subscribe/"
TOO_LARGE = 64 * 1024  # over the subscription's limit (16 KB)


def answered(request: HttpRequest) -> HttpResponse:
    return HttpResponse("answered")


def large_post(path: str, size: int = TOO_LARGE) -> HttpRequest:
    return RequestFactory().post(path, data=b"x" * size, content_type="application/json")


def test_a_declared_length_over_the_views_limit_is_refused_before_anything_reads_it() -> None:
    response = BodyLimitMiddleware(answered)(large_post(API))
    assert response.status_code == 413
    assert b"payload_too_large" in response.content


def test_a_path_with_no_view_takes_no_large_body_under_wsgi() -> None:
    response = BodyLimitMiddleware(answered)(large_post("/no/such/page/", NO_VIEW_BODY_BYTES + 1))
    assert response.status_code == 413
    assert str(NO_VIEW_BODY_BYTES).encode() in response.content


def test_a_body_within_the_limit_and_a_request_without_one_pass() -> None:
    small = RequestFactory().post(API, data=b"{}", content_type="application/json")
    assert BodyLimitMiddleware(answered)(small).content == b"answered"
    assert BodyLimitMiddleware(answered)(RequestFactory().get(API)).content == b"answered"


def test_a_request_that_bodylimit_checked_under_asgi_is_not_checked_again() -> None:
    request = large_post(API)
    request.scope = {CHECKED_SCOPE_KEY: 16 * 1024}  # type: ignore[attr-defined]
    assert BodyLimitMiddleware(answered)(request).content == b"answered"


@pytest.mark.django_db
def test_the_test_client_meets_the_middleware_in_the_project() -> None:
    response = Client().post(API, data=b"x" * TOO_LARGE, content_type="application/json")
    assert response.status_code == 413
