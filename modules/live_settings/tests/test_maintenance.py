"""Maintenance mode: a live setting that closes the site and the API with a 503, except for what must stay open."""

from __future__ import annotations

from typing import Any

import pytest
from constance import config
from constance.codecs import dumps
from constance.models import Constance
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from modules.live_settings.middleware import RETRY_AFTER_SECONDS
from modules.live_settings.values import cached_setting, defaults, snapshot_replace

pytestmark = pytest.mark.django_db

MESSAGE = "Back at 14:00 UTC: we are moving to a bigger database."


@pytest.fixture
def maintenance() -> None:
    config.MAINTENANCE_MODE = True
    config.MAINTENANCE_MESSAGE = MESSAGE


def bearer_for(**fields: Any) -> APIClient:
    user = get_user_model().objects.create_user(**fields)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def test_the_api_answers_503_in_json_with_the_message(maintenance, client):
    response = client.get("/api/accounts/me/")
    assert response.status_code == 503
    assert response.json() == {"detail": MESSAGE, "error_code": "maintenance"}
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]


def test_a_signed_in_user_who_is_not_staff_is_closed_out_too(maintenance):
    assert bearer_for(email="ada@example.com").get("/api/accounts/me/").status_code == 503


def test_pages_answer_503_with_a_small_html_page(maintenance, client, settings):
    response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    page = response.content.decode()
    assert MESSAGE in page and settings.PROJECT_NAME in page
    # It passes through Django's own middleware on its way out: their headers are on it.
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response


def test_an_empty_message_falls_back_to_a_plain_one(client):
    config.MAINTENANCE_MODE = True
    config.MAINTENANCE_MESSAGE = "  "
    assert "down for maintenance" in client.get("/api/").json()["detail"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_health_endpoints_answer_as_they_would(client, path):
    before = client.get(path)
    config.MAINTENANCE_MODE = True
    during = client.get(path)
    assert during.status_code == before.status_code
    assert during.json()["status"] == before.json()["status"]


def test_the_icon_browsers_ask_for_stays_served(client):
    config.MAINTENANCE_MODE = True
    assert client.get("/favicon.ico").status_code == 200


def test_the_admin_stays_open_so_staff_can_sign_in_and_switch_it_off(maintenance, client):
    assert client.get("/admin/login/").status_code == 200
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_staff_signed_in_to_the_admin_see_the_site(maintenance, client):
    staff = get_user_model().objects.create_user(email="staff@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get("/").status_code == 200
    assert client.get("/api/accounts/me/").status_code == 200


def test_staff_with_an_api_token_use_the_api(maintenance):
    response = bearer_for(email="staff@example.com", is_staff=True).get("/api/accounts/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "staff@example.com"


def test_a_bad_token_is_simply_closed_out(maintenance):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api.get("/api/accounts/me/").json()["error_code"] == "maintenance"


def test_switched_off_everything_answers_as_usual(client):
    config.MAINTENANCE_MODE = True
    assert client.get("/").status_code == 503
    config.MAINTENANCE_MODE = False
    assert client.get("/").status_code == 200
    assert client.get("/api/accounts/me/").status_code == 401


def test_a_change_made_by_another_process_applies_once_the_copy_is_due(client):
    """Another process saved the setting: this one's copy knows nothing of it until SNAPSHOT_SECONDS have passed."""
    Constance.objects.create(key="MAINTENANCE_MODE", value=dumps(True))
    assert client.get("/").status_code == 200
    snapshot_replace(defaults(), seconds=0)  # the copy is due
    assert client.get("/").status_code == 503


def test_a_request_reads_no_database_while_the_copy_is_fresh_and_one_query_when_due():
    with CaptureQueriesContext(connection) as fresh:
        assert cached_setting("MAINTENANCE_MODE") is False
    assert len(fresh) == 0
    snapshot_replace(defaults(), seconds=0)
    with CaptureQueriesContext(connection) as due:
        assert cached_setting("MAINTENANCE_MODE") is False
        assert cached_setting("MAINTENANCE_MESSAGE")  # the same copy: every live setting in one read
    assert len(due) == 1


def test_staff_see_in_the_admin_header_that_maintenance_is_on(admin_client):
    assert "maintenance on" not in admin_client.get("/admin/").content.decode()
    config.MAINTENANCE_MODE = True
    assert "maintenance on" in admin_client.get("/admin/").content.decode()
