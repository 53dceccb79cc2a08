from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import User
from modules.email.testing import SmtpSink, smtp_mailers, smtp_server
from modules.telegram.testing import FakeTelegram, telegram_server, telegram_settings
from modules.twilio.testing import FakeTwilio, twilio_server, twilio_settings

CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    with smtp_server() as (sink, port):
        settings.MAILERS = smtp_mailers(port)
        yield sink


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


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match, f"no code in {text!r}"
    return match.group(1)


def request_code(api: APIClient, identifier: str, channel: str = "email", **extra: Any) -> Any:
    return api.post("/api/auth/otp/request/", {"identifier": identifier, "channel": channel}, format="json", **extra)


def verify(api: APIClient, identifier: str, code: str, **extra: Any) -> Any:
    return api.post("/api/auth/otp/verify/", {"identifier": identifier, "code": code}, format="json", **extra)


def sign_in_by_email(api: APIClient, smtp: SmtpSink, address: str) -> dict[str, Any]:
    assert request_code(api, address).status_code == 200
    code = code_in(smtp.messages[-1].text)
    response = verify(api, address, code)
    assert response.status_code == 200, response.json()
    return response.json()


def bearer(api: APIClient, access: str) -> APIClient:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user(email="ada@example.com", first_name="Ada")


@pytest.fixture
def signed_in(api: APIClient, user: User) -> APIClient:
    from rest_framework_simplejwt.tokens import RefreshToken

    return bearer(api, str(RefreshToken.for_user(user).access_token))
