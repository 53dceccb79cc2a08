"""Fixtures of the newsletter tests: a real SMTP server as the mailer, API clients for each kind of caller, lists with
and without double opt-in, a list with a few confirmed subscribers, and the tasks app's real worker (the ReArq
backend on the local Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.newsletter.models import MailingList, Subscription
from apps.newsletter.tests.factories import (
    CAMPAIGN_PERMISSIONS,
    audience_create,
    grant,
    mailing_list_create,
    signed_in,
    user_create,
)
from apps.tasks.tests.conftest import (  # noqa: F401  (fixtures: the ReArq backend and a worker subprocess)
    queue_name,
    rearq,
    redis_client,
    start_worker,
)


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def member_api(db: None) -> APIClient:
    return signed_in(user_create())


@pytest.fixture
def bare_staff_api(db: None) -> APIClient:
    """Staff without any permission of the newsletter app."""
    return signed_in(user_create(is_staff=True))


@pytest.fixture
def campaign_staff_api(bare_staff_api: APIClient) -> APIClient:
    """Staff with the campaign permissions, as a marketer's account is set up."""
    grant(bare_staff_api.user, *CAMPAIGN_PERMISSIONS)  # type: ignore[attr-defined]
    return bare_staff_api


@pytest.fixture
def news_list(db: None) -> MailingList:
    return mailing_list_create(name="Weekly news", slug="weekly", double_opt_in=True)


@pytest.fixture
def open_list(db: None) -> MailingList:
    """A public list without double opt-in."""
    return mailing_list_create(name="Product updates", slug="updates", double_opt_in=False)


@pytest.fixture
def readers_list(db: None) -> MailingList:
    return mailing_list_create(name="Readers", slug="readers")


@pytest.fixture
def readers(readers_list: MailingList) -> list[Subscription]:
    return audience_create(readers_list, 3)


@pytest.fixture
def fast_sending(settings: Any) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "SEND_RATE": 10_000, "BATCH_SIZE": 50}
