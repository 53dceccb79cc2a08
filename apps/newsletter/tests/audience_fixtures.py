"""Fixtures of the audience tests: a real SMTP sink, API clients, users, and a public double opt-in list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.newsletter.models import MailingList
from apps.newsletter.tests.factories import mailing_list_create
from modules.email.testing import SmtpSink, smtp_mailers, smtp_server

LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")


@pytest.fixture
def audience_smtp(settings: Any) -> Iterator[SmtpSink]:
    with smtp_server() as (sink, port):
        settings.MAILERS = smtp_mailers(port)
        yield sink


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def news_list(db: None) -> MailingList:
    return mailing_list_create(name="Weekly news", slug="weekly", double_opt_in=True)


@pytest.fixture
def open_list(db: None) -> MailingList:
    """A public list without double opt-in."""
    return mailing_list_create(name="Product updates", slug="updates", double_opt_in=False)


@pytest.fixture
def make_user(db: None) -> Any:
    def make(email: str, **fields: Any) -> Any:
        return get_user_model().objects.create_user(email=email, **fields)

    return make


def signed_in(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def confirm_link_in(text: str) -> str:
    match = LINK.search(text)
    assert match, f"no confirmation link in {text!r}"
    return match.group(0)
