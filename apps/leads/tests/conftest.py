"""Fixtures of the leads tests: users and clients, and the stand-ins for Telegram, SMTP and Turnstile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.leads.testing import FakeTurnstile, turnstile_server, turnstile_settings
from apps.leads.tests.factories import client_for, staff_create, user_create
from modules.telegram.testing import FakeTelegram, telegram_server, telegram_settings


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def ada(db: Any) -> Any:
    return user_create("ada.user@example.com")


@pytest.fixture
def staff(db: Any) -> Any:
    return staff_create("staff@example.com", first_name="Sam")


@pytest.fixture
def other_staff(db: Any) -> Any:
    return staff_create("other.staff@example.com", first_name="Olu")


@pytest.fixture
def ada_api(ada: Any) -> APIClient:
    return client_for(ada)


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return client_for(staff)


@pytest.fixture
def telegram(settings: Any) -> Iterator[FakeTelegram]:
    with telegram_server() as fake:
        settings.TELEGRAM = telegram_settings(fake, chat_id="-1001")
        settings.LEADS = {**settings.LEADS, "TELEGRAM_CHAT_ID": "-2002"}
        yield fake


@pytest.fixture
def turnstile(settings: Any) -> Iterator[FakeTurnstile]:
    with turnstile_server() as fake:
        settings.LEADS = {**settings.LEADS, **turnstile_settings(fake)}
        yield fake
