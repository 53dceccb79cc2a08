"""A body refused for its size answers a browser on a page with a page, and everything else with the API's JSON
(cfg.body_limit): a visitor posting a form without JavaScript must not be shown raw JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import Client

from config.asgi import application
from modules.api.testing import http_scope

PAGE = "/newsletter/subscribe/"
API = "/api/newsletter/subscribe/"
TOO_LARGE = 64 * 1024


def asgi_post(path: str, accept: str) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = http_scope(
        "POST",
        path,
        [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(TOO_LARGE).encode()),
            (b"accept", accept.encode()),
            (b"host", b"localhost"),
        ],
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * TOO_LARGE, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(application(scope, receive, send), timeout=30))
    return int(sent[0]["status"]), dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_posting_a_page_too_much_gets_a_page_under_asgi() -> None:
    status, headers, body = asgi_post(PAGE, BROWSER)
    assert status == 413
    assert headers[b"content-type"].startswith(b"text/html")
    assert b"shorten what you wrote" in body and b"at most" in body


@pytest.mark.parametrize(("path", "accept"), [(API, BROWSER), (PAGE, "application/json"), (PAGE, "*/*")])
def test_the_api_and_non_browsers_get_the_json_error_under_asgi(path: str, accept: str) -> None:
    status, headers, body = asgi_post(path, accept)
    assert status == 413
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body)["error_code"] == "payload_too_large"


@pytest.mark.django_db
def test_a_browser_posting_a_page_too_much_gets_a_page_under_wsgi() -> None:
    response = Client().post(PAGE, {"email": "x" * TOO_LARGE}, HTTP_ACCEPT=BROWSER)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"shorten what you wrote" in response.content
    api = Client().post(API, {"email": "x" * TOO_LARGE}, HTTP_ACCEPT=BROWSER)
    assert (api.status_code, api.json()["error_code"]) == (413, "payload_too_large")
