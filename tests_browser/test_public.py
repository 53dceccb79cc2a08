"""The pages outside the admin: the home page, the API's root, Swagger UI and Redoc."""

from __future__ import annotations

import re

import pytest

from tests_browser.browser import has_page

OPERATIONS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.mark.parametrize("path", ["/", "/api/"])
def test_public_page_opens(page, path):
    if not has_page(path):
        pytest.skip(f"{path} has no page yet (it is being added, issue 10)")
    response = page.goto(path)
    assert response is not None and response.status == 200


def _operations(page) -> list[dict]:
    response = page.request.get("/api/schema/?format=json")
    assert response.status == 200
    return [
        operation
        for item in response.json()["paths"].values()
        for method, operation in item.items()
        if method in OPERATIONS
    ]


def test_swagger_ui_renders_every_operation(page):
    operations = _operations(page)
    response = page.goto("/api/docs/")
    assert response is not None and response.status == 200
    blocks = page.locator(".opblock")
    blocks.first.wait_for()
    assert blocks.count() == len(operations)
    blocks.first.locator(".opblock-summary").click()
    blocks.first.locator(".opblock-body").wait_for()


def test_redoc_renders_and_its_search_finds_an_operation(page):
    operation = _operations(page)[-1]
    summary = operation.get("summary") or operation["operationId"]
    response = page.goto("/api/redoc/")
    assert response is not None and response.status == 200
    page.get_by_role("search").get_by_role("textbox").fill(summary)
    found = page.locator("[data-role='search:results'] [role=menuitem]", has_text=summary)
    found.first.click()
    assert re.search(rf"operation/{re.escape(operation['operationId'])}$", page.url), page.url
