"""The unsubscribe link: GET shows a page and changes nothing; POST (RFC 8058 one-click, no CSRF token) unsubscribes
at once, records it, and tells the campaigns once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from apps.newsletter import links, signals
from apps.newsletter.models import ConsentAction, ConsentRecord, Subscription, SubscriptionStatus
from apps.newsletter.tests.factories import subscription_create
from apps.newsletter.tests.links import site_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def received() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    signals.unsubscribed.connect(listen, dispatch_uid="test-unsubscribe")
    yield calls
    signals.unsubscribed.disconnect(dispatch_uid="test-unsubscribe")


def test_get_shows_a_button_and_changes_nothing(client: Client, received: list[Any]) -> None:
    subscription = subscription_create()
    response = client.get(site_path(links.unsubscribe_url(subscription, campaign_id=7)))
    assert response.status_code == 200
    assert b"Unsubscribe</button>" in response.content
    assert subscription.mailing_list.name.encode() in response.content
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CONFIRMED
    assert not ConsentRecord.objects.exists()
    assert received == []
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_one_click_post_needs_no_csrf_token_and_unsubscribes_at_once(received: list[Any]) -> None:
    subscription = subscription_create()
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        site_path(links.unsubscribe_url(subscription, campaign_id=7)),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="Gmail one-click",
    )
    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert subscription.unsubscribed_at is not None
    record = ConsentRecord.objects.get()
    assert (record.action, record.source, record.ip_address, record.user_agent) == (
        ConsentAction.UNSUBSCRIBED,
        "one-click",
        "203.0.113.9",
        "Gmail one-click",
    )
    assert record.mailing_list == subscription.mailing_list
    assert [(call["subscription"].pk, call["campaign_id"]) for call in received] == [(subscription.pk, 7)]


def test_the_page_button_posts_without_a_campaign(client: Client, received: list[Any]) -> None:
    subscription = subscription_create()
    response = client.post(site_path(links.unsubscribe_url(subscription)))
    assert response.status_code == 200
    assert ConsentRecord.objects.get().source == "unsubscribe page"
    assert received[0]["campaign_id"] is None


def test_the_unsubscribed_page_leads_to_the_subscribers_other_lists(client: Client) -> None:
    """Someone who left one list may want to leave them all, or stay on another: the page says where."""
    subscription = subscription_create()

    response = client.post(site_path(links.unsubscribe_url(subscription)))

    assert response.status_code == 200
    assert f'href="{links.preferences_url(subscription.subscriber)}"' in response.content.decode()


def test_a_second_post_changes_nothing_more(client: Client, received: list[Any]) -> None:
    subscription = subscription_create()
    path = site_path(links.unsubscribe_url(subscription, campaign_id=3))
    first = client.post(path, {"List-Unsubscribe": "One-Click"})
    unsubscribed_at = Subscription.objects.get().unsubscribed_at
    second = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert ConsentRecord.objects.count() == 1
    assert len(received) == 1
    assert Subscription.objects.get().unsubscribed_at == unsubscribed_at


def test_get_of_an_unsubscribed_one_says_so_without_a_button(client: Client) -> None:
    subscription = subscription_create(status=SubscriptionStatus.UNSUBSCRIBED)
    response = client.get(site_path(links.unsubscribe_url(subscription)))
    assert response.status_code == 200
    assert b"already unsubscribed" in response.content
    assert b"<button" not in response.content


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token[: len(token) // 2],
        lambda token: "not-a-token",
        lambda token: links.preferences_token(Subscription.objects.get().subscriber),
        lambda token: links.confirm_token(Subscription.objects.get().subscriber, [1]),
    ],
    ids=["altered", "cut", "garbage", "preferences-token", "confirm-token"],
)
def test_a_tampered_token_is_a_400_page_and_changes_nothing(
    client: Client, method: str, mangle: Any, received: list[Any]
) -> None:
    subscription = subscription_create()
    token = mangle(links.unsubscribe_token(subscription))
    response = getattr(client, method)(f"/newsletter/unsubscribe/{token}/")
    assert response.status_code == 400
    assert b"This link is not valid" in response.content
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CONFIRMED
    assert received == []


def test_the_link_of_a_deleted_subscriber_answers_that_nothing_is_left(client: Client) -> None:
    subscription = subscription_create()
    path = site_path(links.unsubscribe_url(subscription))
    subscription.subscriber.delete()
    for response in (client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})):
        assert response.status_code == 200
        assert b"no longer on our lists" in response.content


def test_a_failing_receiver_does_not_take_the_unsubscribe_back(client: Client) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        Subscription.objects.raw("SELECT nothing FROM nowhere")[0]  # a database error inside the receiver

    signals.unsubscribed.connect(broken, dispatch_uid="test-broken")
    try:
        subscription = subscription_create()
        response = client.post(site_path(links.unsubscribe_url(subscription)))
    finally:
        signals.unsubscribed.disconnect(dispatch_uid="test-broken")
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED


def test_put_is_not_allowed(client: Client) -> None:
    subscription = subscription_create()
    response = client.put(site_path(links.unsubscribe_url(subscription)))
    assert response.status_code == 405
