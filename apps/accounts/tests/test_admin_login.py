"""The admin's password form: wrong guesses lock the username and IP pair out (django-axes) with a 429, and every
attempt, right or wrong, is in the activity log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from apps.accounts.admin_login import USERNAME_MAX_LENGTH, attempted_username
from apps.accounts.models import Activity, ActivityLog, User
from cfg.exceptions import ConfigurationError
from config.config import ProjectConfig

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
EMAIL = "boss@example.com"
PASSWORD = "right-password-123"
IP = "203.0.113.7"
AGENT = "Mozilla/5.0 (admin test)"


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_superuser(email=EMAIL, password=PASSWORD)


@pytest.fixture
def limit(settings) -> int:
    value: int = settings.AXES_FAILURE_LIMIT
    return value


def sign_in(client: Client, password: str, *, username: str = EMAIL, ip: str = IP, **headers: Any):
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=ip, HTTP_USER_AGENT=AGENT, **headers)


def guess_wrong(client: Client, times: int, **kwargs: Any) -> list[int]:
    return [sign_in(client, f"wrong-{n}", **kwargs).status_code for n in range(times)]


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_then_the_right_one_is_refused_with_a_429_page(client, staff, limit):
    # The form answers each wrong guess until the limit; the guess that reaches it is already refused.
    assert guess_wrong(client, limit) == [200] * (limit - 1) + [429]
    response = sign_in(client, PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)
    page = response.content.decode()
    assert "Too many wrong passwords" in page
    assert "unfold/css/styles.css" in page  # Unfold's sign-in look, not a bare text answer
    assert int(response["Retry-After"]) == 15 * 60
    assert response["Content-Security-Policy"]  # the page still went through Django's middleware


def test_after_the_cooloff_the_right_password_works(client, staff, limit):
    guess_wrong(client, limit)
    attempts = apps.get_model("axes", "AccessAttempt").objects
    attempts.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    response = sign_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in(client)


def test_axes_reset_username_lifts_the_lock(client, staff, limit):
    guess_wrong(client, limit)
    assert sign_in(client, PASSWORD).status_code == 429
    call_command("axes_reset_username", EMAIL)
    assert sign_in(client, PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_count(client, staff, limit):
    guess_wrong(client, limit - 1)
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    assert guess_wrong(client, limit - 1) == [200] * (limit - 1)
    assert sign_in(client, PASSWORD).status_code == 302


def test_the_lock_is_per_username_and_ip_pair(client, staff, limit):
    guess_wrong(client, limit)
    other_ip = Client()
    assert sign_in(other_ip, PASSWORD, ip="198.51.100.9").status_code == 302
    other_user = Client()
    User.objects.create_superuser(email="second@example.com", password=PASSWORD)
    assert sign_in(other_user, PASSWORD, username="second@example.com").status_code == 302


def test_changing_the_case_of_the_username_buys_no_more_guesses(client, staff, limit):
    variants = [EMAIL.upper(), EMAIL.capitalize(), f" {EMAIL} ", EMAIL]
    codes = [sign_in(client, f"wrong-{n}", username=variants[n % len(variants)]).status_code for n in range(limit)]
    assert codes[-1] == 429
    assert sign_in(client, PASSWORD).status_code == 429


def test_a_forged_x_forwarded_for_does_not_change_the_counted_ip(client, staff, limit, settings):
    settings.TRUSTED_PROXIES = []
    codes = [sign_in(client, f"wrong-{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}").status_code for n in range(limit)]
    assert codes[-1] == 429
    assert sign_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429
    assert set(ActivityLog.objects.values_list("ip", flat=True)) == {IP}


def test_behind_a_trusted_proxy_each_forwarded_client_counts_apart(client, staff, limit, settings):
    proxy = "10.0.0.2"
    settings.TRUSTED_PROXIES = [proxy]
    guess_wrong(client, limit, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert sign_in(client, PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429
    assert sign_in(Client(), PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 302
    assert set(ActivityLog.objects.values_list("ip", flat=True)) == {"192.0.2.1", "192.0.2.2"}


def test_the_activity_log_has_each_failure_and_the_success(client, staff):
    sign_in(client, "wrong-1")
    sign_in(client, "wrong-2", username="nobody@example.com")
    sign_in(client, PASSWORD)
    success, unknown, failure = ActivityLog.objects.order_by("-id")
    assert (failure.action, failure.user, failure.ip, failure.user_agent) == (
        Activity.ADMIN_SIGN_IN_FAILED,
        staff,
        IP,
        AGENT,
    )
    assert failure.details == {"username": EMAIL, "locked_out": False}
    assert (unknown.action, unknown.user, unknown.details["username"]) == (
        Activity.ADMIN_SIGN_IN_FAILED,
        None,
        "nobody@example.com",
    )
    assert (success.action, success.user, success.ip, success.user_agent) == (Activity.ADMIN_SIGN_IN, staff, IP, AGENT)


def test_refusals_during_the_lock_are_logged_as_locked_out(client, staff, limit):
    guess_wrong(client, limit)
    sign_in(client, PASSWORD)
    logged = list(ActivityLog.objects.order_by("id").values_list("action", "details__locked_out"))
    failed = Activity.ADMIN_SIGN_IN_FAILED
    assert logged == [(failed, False)] * (limit - 1) + [(failed, True), (failed, True)]


def test_sign_ins_outside_the_admin_form_are_not_logged_here(client, staff):
    client.force_login(staff)
    assert not ActivityLog.objects.exists()


def test_the_attempted_username_is_normalised_and_bounded():
    from django.test import RequestFactory

    request = RequestFactory().post(LOGIN, {"username": " Boss@Example.COM "})
    assert attempted_username(request, None) == EMAIL
    assert attempted_username(request, {"username": "x" * 5000}) == "x" * USERNAME_MAX_LENGTH
    assert attempted_username(request, {"password": "********"}) is None


def test_the_limit_and_cooloff_come_from_the_config(tmp_path: Path):
    environ = {
        "DJANGO_ENV": "test",
        "SECURITY__ADMIN_LOGIN_FAILURE_LIMIT": "3",
        "SECURITY__ADMIN_LOGIN_COOLOFF_MINUTES": "60",
    }
    settings = ProjectConfig.load(tmp_path, environ=environ).get_all_settings()
    assert settings["AXES_FAILURE_LIMIT"] == 3
    assert settings["AXES_COOLOFF_TIME"] == timedelta(hours=1)
    assert settings["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]
    assert settings["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    assert settings["MIDDLEWARE"][-1] == "axes.middleware.AxesMiddleware"
    assert "axes" in settings["INSTALLED_APPS"]
    with pytest.raises(ConfigurationError, match="admin_login_failure_limit"):
        ProjectConfig.load(tmp_path, environ={**environ, "SECURITY__ADMIN_LOGIN_FAILURE_LIMIT": "0"})
