"""A URL that matches nothing: the API's JSON error under /api/, Django's page elsewhere (DEBUG off, as deployed)."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.parametrize(
    "path", ["/api/agents/runs/abc/", "/api/agents/runs/-1/", "/api/knowbase/documents/x/", "/api/nothing/"]
)
def test_an_api_url_that_matches_nothing_is_a_json_404(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "error_code": "not_found"}


def test_another_url_that_matches_nothing_is_djangos_page(client: Client) -> None:
    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
