"""The newsletter's public pages in Chromium: subscribe on the form, follow the confirmation link from the mail the
real SMTP sink received, confirm, change preferences, and unsubscribe with the link of a campaign mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.newsletter import links
from apps.newsletter.models import Subscriber, Subscription, SubscriptionStatus
from apps.newsletter.tests.factories import mailing_list_create
from modules.email.testing import SmtpSink, smtp_mailers, smtp_server

CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^/\s]+/")


@pytest.fixture
def sink(settings: Any) -> Iterator[SmtpSink]:
    with smtp_server() as (received, port):
        settings.MAILERS = smtp_mailers(port)
        yield received


@pytest.fixture
def lists(live_server: Any, settings: Any) -> None:
    settings.SITE_URL = live_server.url
    mailing_list_create(name="Weekly news", slug="weekly", double_opt_in=True)
    mailing_list_create(name="Product updates", slug="updates", double_opt_in=False)


def test_subscribe_confirm_manage_and_unsubscribe(page: Page, sink: SmtpSink, lists: None) -> None:
    page.goto("/newsletter/subscribe/")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Weekly news").check()
    page.get_by_label(re.compile("I agree to receive")).check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    [mail] = sink.messages
    match = CONFIRM_LINK.search(mail.text)
    assert match, mail.text
    page.goto(match.group(0))
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING  # opening the link confirms nothing
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED

    page.get_by_role("link", name="Manage your subscriptions").click()
    expect(page.get_by_role("heading", name="Your subscriptions")).to_be_visible()
    expect(page.get_by_label("Weekly news")).to_be_checked()
    page.get_by_label("Product updates").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your preferences are saved.")).to_be_visible()
    assert set(Subscription.objects.values_list("mailing_list__slug", "status")) == {
        ("weekly", SubscriptionStatus.CONFIRMED),
        ("updates", SubscriptionStatus.CONFIRMED),
    }

    weekly = Subscription.objects.get(mailing_list__slug="weekly")
    page.goto(links.unsubscribe_url(weekly, campaign_id=None))
    expect(page.get_by_role("heading", name="Unsubscribe?")).to_be_visible()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    weekly.refresh_from_db()
    assert weekly.status == SubscriptionStatus.UNSUBSCRIBED
    assert Subscriber.objects.get().name == "Ada"


def test_a_form_sent_without_consent_shows_the_message(page: Page, browser_problems: Any, lists: None) -> None:
    browser_problems.expect_status(400, "/newsletter/subscribe/")
    page.goto("/newsletter/subscribe/")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Weekly news").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Tick the box to give your consent.")).to_be_visible()
    assert not Subscriber.objects.exists()
