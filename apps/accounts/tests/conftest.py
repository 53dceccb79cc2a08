from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import User
from modules.api import after_response
from modules.email.testing import SmtpSink
from modules.telegram.testing import FakeTelegram, telegram_server, telegram_settings
from modules.twilio.testing import FakeTwilio, twilio_server, twilio_settings

CODE = re.compile(r"\b(\d{6})\b")


class Inline(Executor):
    """Runs work handed over after a response at once, in the test's thread and database transaction."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.fixture(autouse=True)
def _work_after_responses_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(after_response, "executor", Inline())


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def telegram(settings: Any) -> Iterator[FakeTelegram]:
    with telegram_server() as fake:
        settings.TELEGRAM = telegram_settings(fake)
        yield fake


@pytest.fixture
def twilio(settings: Any) -> Iterator[FakeTwilio]:
    with twilio_server() as fake:
        settings.TWILIO = twilio_settings(fake)
        yield fake


def url(name: str) -> str:
    return reverse(f"accounts:{name}")


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match, f"no code in {text!r}"
    return match.group(1)


def request_code(api: APIClient, identifier: str, channel: str = "email", **extra: Any) -> Any:
    return api.post(url("otp-request"), {"identifier": identifier, "channel": channel}, format="json", **extra)


def verify(api: APIClient, identifier: str, code: str, **extra: Any) -> Any:
    return api.post(url("otp-verify"), {"identifier": identifier, "code": code}, format="json", **extra)


def sign_in_by_email(api: APIClient, smtp: SmtpSink, address: str) -> dict[str, Any]:
    assert request_code(api, address).status_code == 200
    code = code_in(smtp.messages[-1].text)
    response = verify(api, address, code)
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


def bearer(api: APIClient, access: str) -> APIClient:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def signed_in_as(user: User) -> APIClient:
    return bearer(APIClient(), str(RefreshToken.for_user(user).access_token))


def delete_account(client: APIClient, smtp: SmtpSink) -> Any:
    """Ask for a deletion code by email and confirm it: the answer to the confirmation."""
    assert client.post(url("me-delete")).status_code == 200
    return client.post(url("me-delete-confirm"), {"code": code_in(smtp.messages[-1].text)}, format="json")


def other_code(code: str) -> str:
    """A six-digit code that is not `code`: a wrong guess."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user(email="ada@example.com", first_name="Ada")


@pytest.fixture
def signed_in(api: APIClient, user: User) -> APIClient:
    return bearer(api, str(RefreshToken.for_user(user).access_token))


@pytest.fixture
def admin_client(client: Any, db: Any) -> Any:
    admin = User.objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(admin)
    return client
