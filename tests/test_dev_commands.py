"""The development helpers: django-extensions where installed, create_token, check_endpoints, clear_constance."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from constance import config
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import StreamingHttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken

from config.config import ProjectConfig
from modules.live_settings.models import LiveSettingChange

BASE_DIR = Path(__file__).resolve().parent.parent
STRONG_KEY = "k" * 20 + "Zq8-Xw2_Lp5vN7rT0yB4mC6dF9hJ3sG1aE"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/app",
    "SECURITY__ALLOWED_HOSTS": "example.com",
}


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def one_line(error: CommandError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


# django-extensions


def test_django_extensions_is_installed_in_development_and_tests_only(tmp_path):
    def installed(environ: dict[str, str]) -> bool:
        return "django_extensions" in ProjectConfig.load(tmp_path, environ=environ).get_all_settings()["INSTALLED_APPS"]

    assert installed({"DJANGO_ENV": "development"})
    assert installed({"DJANGO_ENV": "test"})
    assert not installed(PRODUCTION)
    assert not installed({**PRODUCTION, "DJANGO_ENV": "staging"})


@pytest.mark.slow
def test_show_urls_lists_the_projects_urls_in_development():
    result = manage("show_urls", env={"DJANGO_ENV": "development"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line for line in result.stdout.splitlines()}
    assert "support:tickets" in rows["/api/support/tickets/"]
    assert "/api/accounts/me/" in rows


# create_token


@pytest.fixture
def development(settings: Any) -> None:
    settings.ENVIRONMENT = "development"


@pytest.mark.django_db
def test_create_token_prints_a_working_pair_that_is_recorded(development, capsys):
    user = get_user_model().objects.create_user(email="ada@example.com")
    call_command("create_token", "  Ada@Example.com ", json=True)
    pair = json.loads(capsys.readouterr().out)
    assert set(pair) == {"access", "refresh"}
    assert str(AccessToken(pair["access"])["user_id"]) == str(user.pk)
    # Issued by the accounts service: the refresh token is outstanding like a sign-in's, so it can be revoked.
    assert OutstandingToken.objects.filter(user=user, token=pair["refresh"]).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    me = api.get("/api/accounts/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


@pytest.mark.django_db
def test_create_token_says_how_to_use_the_pair(development, capsys):
    get_user_model().objects.create_user(email="root@example.com", is_staff=True)
    call_command("create_token", "root@example.com")
    output = capsys.readouterr().out
    assert output.startswith("Tokens for root@example.com (staff):")
    assert 'curl -H "Authorization: Bearer ' in output


@pytest.mark.django_db
def test_create_token_refuses_an_unknown_an_inactive_and_a_malformed_email(development):
    get_user_model().objects.create_user(email="gone@example.com", is_active=False)
    with pytest.raises(CommandError) as unknown:
        call_command("create_token", "nobody@example.com")
    assert one_line(unknown.value) == "no user with the email address nobody@example.com"
    with pytest.raises(CommandError) as inactive:
        call_command("create_token", "gone@example.com")
    assert one_line(inactive.value) == "the user gone@example.com is inactive; activate them in the admin first"
    with pytest.raises(CommandError) as malformed:
        call_command("create_token", "+15551234567")
    assert "is not an email address" in one_line(malformed.value)
    assert not OutstandingToken.objects.exists()


@pytest.mark.django_db
def test_create_token_refuses_outside_development():
    get_user_model().objects.create_user(email="ada@example.com")
    with pytest.raises(CommandError) as refused:
        call_command("create_token", "ada@example.com")
    assert one_line(refused.value) == "create_token runs in development only (this is test)"
    assert not OutstandingToken.objects.exists()


@pytest.mark.slow
def test_create_token_exits_1_with_one_line_in_production():
    result = manage("create_token", "ada@example.com", env=PRODUCTION)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: create_token runs in development only (this is production)"
    ]


# check_endpoints


@pytest.mark.django_db
def test_check_endpoints_passes_on_the_project_and_leaves_no_user_behind(capsys):
    from apps.leads.tests.factories import lead_create
    from apps.support.tests.factories import ticket_create
    from apps.tasks.tests.factories import make_run

    requester = get_user_model().objects.create_user(email="ada@example.com")
    ticket = ticket_create(requester)
    lead = lead_create()
    run = make_run()
    users = set(get_user_model().objects.values_list("pk", flat=True))

    call_command("check_endpoints", json=True)

    report = json.loads(capsys.readouterr().out)
    assert report["server_errors"] == 0
    calls = {(call["path"], call["who"]): call for call in report["calls"]}
    # Every GET operation of the schema, as each of the three.
    for who in ("anonymous", "user", "staff"):
        assert calls[("/api/accounts/me/", who)]["status"] == (401 if who == "anonymous" else 200)
    # Path parameters take real rows from the lists above them: staff reads them, a user may not.
    assert calls[(f"/api/support/queue/{ticket.number}/", "staff")]["status"] == 200
    assert calls[(f"/api/support/queue/{ticket.number}/", "user")]["status"] == 403
    assert calls[(f"/api/leads/{lead.pk}/", "staff")]["status"] == 200
    assert calls[(f"/api/tasks/runs/{run.pk}/", "staff")]["status"] == 200
    # The live endpoints answer a page of JSON, not a stream that would never end.
    assert calls[(f"/api/support/queue/{ticket.number}/events/", "staff")]["status"] == 200
    # Where no row exists, a placeholder that names none.
    assert calls[("/api/agents/runs/999999999/", "staff")]["status"] == 404
    assert set(get_user_model().objects.values_list("pk", flat=True)) == users


@pytest.mark.django_db
def test_check_endpoints_prints_a_table(capsys):
    call_command("check_endpoints")
    output = capsys.readouterr().out
    assert "/api/accounts/me/" in output and "anonymous" in output
    assert "0 answered 5xx." in output


class Broken(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("the test view fails")


class Fine(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Endless(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> StreamingHttpResponse:
        return StreamingHttpResponse(itertools.repeat(b"data: {}\n\n"), content_type="text/event-stream")


urlpatterns = [
    path("api/broken/", Broken.as_view()),
    path("api/fine/", Fine.as_view()),
    path("api/endless/", Endless.as_view()),
]


@pytest.mark.django_db
def test_check_endpoints_exits_1_naming_each_5xx(settings, capsys):
    settings.ROOT_URLCONF = __name__
    with pytest.raises(CommandError) as failed:
        call_command("check_endpoints")
    message = one_line(failed.value)
    assert message.startswith("3 call(s) answered 5xx: GET /api/broken/ as anonymous → 500 (RuntimeError: the test")
    assert "GET /api/broken/ as staff → 500" in message
    assert "/api/fine/" not in message
    output = capsys.readouterr().out
    assert "RuntimeError: the test view fails" in output and "3 answered 5xx." in output


@pytest.mark.django_db
def test_check_endpoints_does_not_read_a_stream(settings, capsys):
    settings.ROOT_URLCONF = __name__
    with pytest.raises(CommandError):
        call_command("check_endpoints", json=True)
    calls = json.loads(capsys.readouterr().out)["calls"]
    endless = [(call["who"], call["status"], call["streaming"]) for call in calls if call["path"] == "/api/endless/"]
    assert endless == [("anonymous", 200, True), ("user", 200, True), ("staff", 200, True)]


def test_check_endpoints_refuses_production(settings):
    settings.ENVIRONMENT = "production"
    with pytest.raises(CommandError) as refused:
        call_command("check_endpoints")
    assert one_line(refused.value) == (
        "check_endpoints creates users and calls every endpoint: it does not run in production"
    )


# clear_constance


@pytest.mark.django_db
def test_clear_constance_resets_a_changed_value_and_records_it(capsys):
    config.SUPPORT_EMAIL = "help@example.com"
    config.MAINTENANCE_MODE = True
    LiveSettingChange.objects.all().delete()

    call_command("clear_constance", yes=True)

    assert (config.SUPPORT_EMAIL, config.MAINTENANCE_MODE) == ("", False)
    output = capsys.readouterr().out
    assert '"help@example.com"' in output and "Reset 2 live setting(s): " in output
    changes = {change.name: (change.old_value, change.new_value) for change in LiveSettingChange.objects.all()}
    assert changes == {"SUPPORT_EMAIL": ("help@example.com", ""), "MAINTENANCE_MODE": (True, False)}

    call_command("clear_constance", yes=True)
    assert "nothing to reset" in capsys.readouterr().out


@pytest.mark.slow
def test_clear_constance_refuses_without_a_terminal_and_without_yes():
    result = manage("clear_constance", env={"DJANGO_ENV": "development"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: no terminal to confirm the reset in: pass --yes to reset the live settings"
    ]
