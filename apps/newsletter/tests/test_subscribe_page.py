"""The subscribe page and the confirmation link, end to end through the real SMTP sink: a plain HTML form, a mailed
link whose GET only shows a Confirm button, and a POST that confirms."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from apps.newsletter import links
from apps.newsletter.models import (
    ConsentAction,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from apps.newsletter.tests.factories import mailing_list_create, subscriber_create, subscription_create
from apps.newsletter.tests.links import confirm_link_in, site_path
from apps.newsletter.views.subscribe import CONSENT_TEXT
from modules.email.testing import SmtpSink

pytestmark = pytest.mark.django_db
PAGE = "/newsletter/subscribe/"


def form(**fields: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "name": "Ada", "lists": ["weekly"], "consent": "on", **fields}


def post_form(client: Client, capture: Any, **fields: Any) -> Any:
    with capture(execute=True):
        return client.post(PAGE, form(**fields), REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Browser/1")


def test_the_page_offers_the_public_lists_only(client: Client, news_list: MailingList) -> None:
    mailing_list_create(name="Staff only", slug="staff", is_public=False)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert b"Weekly news" in response.content
    assert b"Staff only" not in response.content
    assert b"csrfmiddlewaretoken" in response.content
    assert CONSENT_TEXT.encode() in response.content


def test_subscribe_then_confirm_through_the_mailed_link(
    client: Client,
    news_list: MailingList,
    smtp: SmtpSink,
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = post_form(client, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert b"Check your inbox" in response.content
    record = ConsentRecord.objects.get()
    assert (record.source, record.form_text, record.ip_address) == ("subscribe page", CONSENT_TEXT, "198.51.100.7")

    link = site_path(confirm_link_in(smtp.messages[0].text))
    shown = client.get(link)
    assert shown.status_code == 200
    assert b"Confirm</button>" in shown.content
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING  # a scanner's GET confirms nothing

    confirmed = client.post(link, REMOTE_ADDR="198.51.100.8")
    assert confirmed.status_code == 200
    assert b"You are subscribed" in confirmed.content
    subscription = Subscription.objects.get()
    assert subscription.status == SubscriptionStatus.CONFIRMED
    assert subscription.confirmed_at is not None
    last = ConsentRecord.objects.order_by("-pk").first()
    assert last is not None
    assert (last.action, last.ip_address) == (ConsentAction.CONFIRMED, "198.51.100.8")
    assert b"/newsletter/preferences/" in confirmed.content

    again = client.post(link)
    assert again.status_code == 200
    assert ConsentRecord.objects.filter(action=ConsentAction.CONFIRMED).count() == 1


def test_the_confirmation_post_checks_csrf(news_list: MailingList) -> None:
    subscriber = subscriber_create()
    subscription_create(subscriber=subscriber, mailing_list=news_list, status=SubscriptionStatus.PENDING)
    response = Client(enforce_csrf_checks=True).post(site_path(links.confirm_url(subscriber, [news_list.pk])))
    assert response.status_code == 403
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_confirmation_link_is_a_400_page(client: Client, news_list: MailingList, method: str) -> None:
    subscriber = subscriber_create()
    subscription_create(subscriber=subscriber, mailing_list=news_list, status=SubscriptionStatus.PENDING)
    token = links.confirm_token(subscriber, [news_list.pk])
    response = getattr(client, method)(f"/newsletter/confirm/{token[:-3]}xyz/")
    assert response.status_code == 400
    assert b"This link is not valid" in response.content
    assert b"/newsletter/subscribe/" in response.content
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


def test_an_expired_link_offers_a_new_one(
    client: Client,
    news_list: MailingList,
    smtp: SmtpSink,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscriber = subscriber_create(email="late@example.com")
    subscription_create(subscriber=subscriber, mailing_list=news_list, status=SubscriptionStatus.PENDING)
    made_at = time.time() - settings.NEWSLETTER["CONFIRM_MAX_AGE"] - 60
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: made_at)
        old = links.confirm_url(subscriber, [news_list.pk])
    path = site_path(old)

    for response in (client.get(path), client.post(path)):
        assert response.status_code == 400
        assert b"expired" in response.content
        assert b"Send me a new link" in response.content
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(path, {"resend": "1"})
    assert resent.status_code == 200
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["late@example.com"]
    assert client.post(site_path(confirm_link_in(mail.text))).status_code == 200
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_the_link_of_a_deleted_subscriber_is_a_400_page(client: Client, news_list: MailingList) -> None:
    subscriber = subscriber_create()
    path = site_path(links.confirm_url(subscriber, [news_list.pk]))
    subscriber.delete()
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 400
        assert b"no longer on our lists" in response.content


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "nope"}, b"Enter a valid email address."),
        ({"lists": []}, b"Choose at least one list."),
        ({"lists": ["hidden"]}, b"Select a valid choice."),
        ({"consent": ""}, b"Tick the box to give your consent."),
    ],
)
def test_bad_input_shows_the_form_again_with_a_400(
    client: Client, news_list: MailingList, fields: dict[str, Any], message: bytes
) -> None:
    mailing_list_create(slug="hidden", is_public=False)
    response = client.post(PAGE, form(**fields))
    assert response.status_code == 400
    assert message in response.content
    assert not Subscriber.objects.exists()


def test_the_honeypot_shows_the_same_thanks_and_does_nothing(
    client: Client, news_list: MailingList, smtp: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    response = post_form(client, django_capture_on_commit_callbacks, website="buy now")
    assert response.status_code == 200
    assert b"Check your inbox" in response.content
    assert not Subscriber.objects.exists()
    assert smtp.messages == []


def test_the_page_is_throttled_per_address(client: Client, news_list: MailingList, settings: Any) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "THROTTLE_RATES": {"newsletter_subscribe": "1/hour"}}
    assert client.post(PAGE, form(), REMOTE_ADDR="192.0.2.9").status_code == 200
    refused = client.post(PAGE, form(email="b@example.com"), REMOTE_ADDR="192.0.2.9")
    assert refused.status_code == 429
    assert b"Too many subscriptions" in refused.content
    assert int(refused["Retry-After"]) > 0
    assert Subscriber.objects.count() == 1


def test_a_queue_that_cannot_take_the_subscription_is_a_503_page_not_a_500(
    client: Client, news_list: MailingList, settings: Any
) -> None:
    unreachable = {"redis_url": "redis://127.0.0.1:1/0"}
    queues = [settings.NEWSLETTER["QUEUE"]]
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": queues, "OPTIONS": unreachable}
    }
    response = client.post(PAGE, form(), REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "briefly unavailable" in response.content.decode()
    assert not Subscriber.objects.exists()
