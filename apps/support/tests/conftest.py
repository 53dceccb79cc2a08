"""Fixtures of the support tests: customers and staff with their API clients, a ticket, the private storage in a
directory of the test's own, the stand-in for Telegram, and Redis database 14."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.storage import FileSystemStorage
from rest_framework.test import APIClient

from apps.support.models import Attachment, Ticket
from apps.support.tests.factories import REDIS_URL, agent_create, client_for, staff_create, ticket_create, user_create
from modules.telegram.testing import FakeTelegram, telegram_server, telegram_settings

SUPPORT_CHAT = "-3003"


@pytest.fixture(autouse=True)
def private_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Attachments are written to a directory of the test's own, which the test can look into. The file field
    took its storage when the model was defined, so the test's storage is given to the field itself."""
    location = tmp_path / "private"
    monkeypatch.setattr(Attachment._meta.get_field("file"), "storage", FileSystemStorage(location=location))
    return location


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def customer(db: Any) -> Any:
    return user_create("ada.customer@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def other_customer(db: Any) -> Any:
    return user_create("bob.customer@example.com", first_name="Bob")


@pytest.fixture
def phone_customer(db: Any) -> Any:
    """A customer who signed up with a phone number only: no email address to write to."""
    return user_create(None, phone="+447700900123", first_name="Pat")


@pytest.fixture
def staff(db: Any) -> Any:
    return staff_create("sam.staff@example.com", first_name="Sam", last_name="Agent")


@pytest.fixture
def other_staff(db: Any) -> Any:
    return staff_create("olu.staff@example.com", first_name="Olu")


@pytest.fixture
def agent(db: Any) -> Any:
    """A staff member who works on support: reads and changes tickets, and nothing else."""
    return agent_create("alex.agent@example.com", first_name="Alex", last_name="Agent")


@pytest.fixture
def other_team(db: Any) -> Any:
    """A staff member of another team: no support permissions."""
    return staff_create("other.team@example.com", permissions=(), first_name="Otto")


@pytest.fixture
def other_team_api(other_team: Any) -> APIClient:
    return client_for(other_team)


@pytest.fixture
def customer_api(customer: Any) -> APIClient:
    return client_for(customer)


@pytest.fixture
def other_customer_api(other_customer: Any) -> APIClient:
    return client_for(other_customer)


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return client_for(staff)


@pytest.fixture
def agent_api(agent: Any) -> APIClient:
    return client_for(agent)


@pytest.fixture
def ticket(customer: Any) -> Ticket:
    return ticket_create(customer)


@pytest.fixture
def redis_14() -> Iterator[redis.Redis]:
    """Redis database 14 (REDIS_URL), emptied after the test; the test is skipped without a Redis here."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def telegram(settings: Any) -> Iterator[FakeTelegram]:
    """Telegram configured against a local fake; SLA breaches go to SUPPORT_CHAT."""
    with telegram_server() as fake:
        settings.TELEGRAM = telegram_settings(fake, chat_id="-1001")
        settings.SUPPORT = {**settings.SUPPORT, "TELEGRAM_CHAT_ID": SUPPORT_CHAT}
        yield fake
