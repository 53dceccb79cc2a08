"""Fixtures of the campaign tests: staff, member and anonymous API clients, a real SMTP sink as the mailer, a list
with a few confirmed subscribers, and the tasks app's real worker (the ReArq backend on the local Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from apps.newsletter.models import MailingList, Subscription
from apps.newsletter.tests.campaign_factories import audience_create
from apps.newsletter.tests.factories import mailing_list_create
from apps.tasks.tests.conftest import (  # noqa: F401  (fixtures: the ReArq backend and a worker subprocess)
    queue_name,
    rearq,
    redis_client,
    start_worker,
)
from modules.email.testing import SmtpSink, smtp_mailers, smtp_server


def _client(**flags: Any) -> APIClient:
    number = get_user_model().objects.count() + 1
    user = get_user_model().objects.create_user(email=f"campaign-user{number}@example.com", **flags)
    client = APIClient()
    client.force_authenticate(user)
    client.user = user  # type: ignore[attr-defined]
    return client


CAMPAIGN_PERMISSIONS = ("view_campaign", "add_campaign", "change_campaign", "delete_campaign")


def grant(user: Any, *codenames: str) -> None:
    """Give the user these permissions of the newsletter app (and forget the cached ones)."""
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="newsletter", codename__in=codenames))
    for cache in ("_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)


@pytest.fixture
def campaign_staff_api(db: None) -> APIClient:
    """Staff with the campaign permissions, as a marketer's account is set up."""
    client = _client(is_staff=True)
    grant(client.user, *CAMPAIGN_PERMISSIONS)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def bare_staff_api(db: None) -> APIClient:
    """Staff without any permission of the newsletter app."""
    return _client(is_staff=True)


@pytest.fixture
def campaign_member_api(db: None) -> APIClient:
    return _client()


@pytest.fixture
def campaign_anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def campaign_smtp(settings: Any) -> Iterator[SmtpSink]:
    """The default mailer sends to a real SMTP server on loopback, which keeps what it accepts."""
    with smtp_server() as (sink, port):
        settings.MAILERS = smtp_mailers(port)
        yield sink


@pytest.fixture
def readers_list(db: None) -> MailingList:
    return mailing_list_create(name="Readers", slug="readers")


@pytest.fixture
def readers(readers_list: MailingList) -> list[Subscription]:
    return audience_create(readers_list, 3)


@pytest.fixture
def fast_sending(settings: Any) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "SEND_RATE": 10_000, "BATCH_SIZE": 50}
