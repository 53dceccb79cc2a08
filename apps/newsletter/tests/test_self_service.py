"""The subscriber's own page (by the signed preferences link) and /api/newsletter/me/ for a signed-in user: change
lists and name, unsubscribe from everything, download and delete their data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.newsletter import links
from apps.newsletter.models import (
    CampaignStatus,
    ConsentAction,
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from apps.newsletter.selectors.audience import is_suppressed
from apps.newsletter.tests.factories import (
    campaign_create,
    mailing_list_create,
    signed_in,
    subscriber_create,
    subscription_create,
    user_create,
)
from apps.newsletter.tests.links import site_path

pytestmark = pytest.mark.django_db


def preferences_path(subscriber: Subscriber) -> str:
    return site_path(links.preferences_url(subscriber))


@pytest.fixture
def ada(news_list: MailingList) -> Subscriber:
    subscriber = subscriber_create(email="ada@example.com", name="Ada")
    subscription_create(subscriber=subscriber, mailing_list=news_list)
    return subscriber


# The page


def test_the_page_shows_the_lists_with_the_subscribed_ones_ticked(
    client: Client, ada: Subscriber, open_list: MailingList
) -> None:
    response = client.get(preferences_path(ada))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="weekly"' in html and 'value="updates"' in html
    assert 'value="weekly" id="id_lists_1" checked' in html or 'value="weekly" id="id_lists_0" checked' in html
    assert "ada@example.com" in html
    assert response["Referrer-Policy"] == "same-origin"


def test_saving_changes_lists_and_name_with_consent_records(
    client: Client, ada: Subscriber, open_list: MailingList, news_list: MailingList
) -> None:
    response = client.post(preferences_path(ada), {"action": "save", "name": "Ada L.", "lists": ["updates"]})
    assert response.status_code == 200
    assert b"Your preferences are saved." in response.content
    statuses = dict(Subscription.objects.values_list("mailing_list__slug", "status"))
    assert statuses == {"weekly": SubscriptionStatus.UNSUBSCRIBED, "updates": SubscriptionStatus.CONFIRMED}
    ada.refresh_from_db()
    assert ada.name == "Ada L."
    actions = set(ConsentRecord.objects.values_list("mailing_list__slug", "action"))
    assert actions == {
        ("weekly", ConsentAction.UNSUBSCRIBED),
        ("updates", ConsentAction.SUBSCRIBED),
        ("updates", ConsentAction.CONFIRMED),
    }


def test_a_private_list_is_neither_offered_nor_changed(client: Client, ada: Subscriber) -> None:
    private = mailing_list_create(name="Beta testers", slug="beta", is_public=False)
    subscription_create(subscriber=ada, mailing_list=private)
    page = client.get(preferences_path(ada)).content
    assert b'value="beta"' not in page
    assert b"Also subscribed to: Beta testers" in page
    client.post(preferences_path(ada), {"action": "save", "lists": ["beta"]})
    assert Subscription.objects.get(mailing_list=private).status == SubscriptionStatus.CONFIRMED


def test_unsubscribe_from_everything_and_never_again(client: Client, ada: Subscriber) -> None:
    private = mailing_list_create(slug="beta", is_public=False)
    subscription_create(subscriber=ada, mailing_list=private)
    path = preferences_path(ada)
    client.post(path, {"action": "unsubscribe_all"})
    assert set(Subscription.objects.values_list("status", flat=True)) == {SubscriptionStatus.UNSUBSCRIBED}
    assert not is_suppressed(email="ada@example.com")
    client.post(path, {"action": "unsubscribe_all", "never_again": "1"})
    assert Suppression.objects.get().reason == SuppressionReason.UNSUBSCRIBED
    assert ConsentRecord.objects.filter(action=ConsentAction.UNSUBSCRIBED).count() == 2  # idempotent


def test_the_export_is_a_json_download_of_everything_kept(client: Client, ada: Subscriber) -> None:
    ConsentRecord.objects.create(subscriber=ada, action=ConsentAction.SUBSCRIBED, source="form", form_text="Yes")
    response = client.get(preferences_path(ada) + "export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="newsletter-data.json"'
    data = json.loads(response.content)
    assert data["subscriber"]["email"] == "ada@example.com"
    assert [item["list"] for item in data["subscriptions"]] == ["weekly"]
    assert data["consent_records"][0]["form_text"] == "Yes"
    assert data["suppressed"] is False


def test_deleting_needs_the_box_ticked_then_keeps_only_a_suppression(client: Client, ada: Subscriber) -> None:
    path = preferences_path(ada)
    refused = client.post(path, {"action": "delete"})
    assert refused.status_code == 400
    assert b"Tick the box" in refused.content
    assert Subscriber.objects.exists()
    deleted = client.post(path, {"action": "delete", "confirm_delete": "yes"})
    assert deleted.status_code == 200
    assert not Subscriber.objects.exists()
    assert not Subscription.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert Suppression.objects.get().reason == SuppressionReason.DELETED
    assert client.get(path).status_code == 400  # the link of a deleted subscriber


def test_deleting_erases_the_address_from_the_send_log_of_past_campaigns(
    client: Client, ada: Subscriber, news_list: MailingList
) -> None:
    """The suppression is the one place the address may stay; the campaigns keep their row (their statistics do not
    change) without it."""
    campaign = campaign_create(mailing_list=news_list, status=CampaignStatus.SENT)
    Delivery.objects.create(campaign=campaign, subscriber=ada, email="Ada@Example.com", status=DeliveryStatus.SENT)

    client.post(preferences_path(ada), {"action": "delete", "confirm_delete": "yes"})

    [row] = Delivery.objects.filter(campaign=campaign)
    assert "ada" not in row.email.lower() and row.status == DeliveryStatus.SENT
    assert Suppression.objects.get().email == "ada@example.com"


def test_the_page_post_checks_csrf(ada: Subscriber) -> None:
    response = Client(enforce_csrf_checks=True).post(preferences_path(ada), {"action": "unsubscribe_all"})
    assert response.status_code == 403
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


@pytest.mark.parametrize("suffix", ["", "export/"])
def test_a_tampered_or_foreign_token_is_a_400(client: Client, ada: Subscriber, suffix: str) -> None:
    subscription = Subscription.objects.get()
    for token in (links.preferences_token(ada)[:-4] + "abcd", links.unsubscribe_token(subscription)):
        response = client.get(f"/newsletter/preferences/{token}/{suffix}")
        assert response.status_code == 400
        assert b"This link is not valid" in response.content


def test_an_unknown_action_or_list_is_a_400(client: Client, ada: Subscriber) -> None:
    path = preferences_path(ada)
    assert client.post(path, {"action": "explode"}).status_code == 400
    response = client.post(path, {"action": "save", "lists": ["nope"]})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_the_page_reads_in_constant_queries(client: Client, ada: Subscriber) -> None:
    path = preferences_path(ada)

    def queries_with(lists: int) -> int:
        for _ in range(lists):
            subscription_create(subscriber=ada, mailing_list=mailing_list_create())
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    assert queries_with(1) == queries_with(15)


# The API


def test_me_needs_a_signed_in_user(anon_api: APIClient) -> None:
    for method in ("get", "patch", "delete"):
        assert getattr(anon_api, method)("/api/newsletter/me/").status_code == 401
    assert anon_api.get("/api/newsletter/me/export/").status_code == 401


def test_me_is_the_subscriber_with_the_accounts_address(ada: Subscriber) -> None:
    api = signed_in(user_create("ADA@example.com"))
    response = api.get("/api/newsletter/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert [item["list"] for item in response.json()["subscriptions"]] == ["weekly"]


def test_me_prefers_the_linked_subscriber(ada: Subscriber) -> None:
    user = user_create("other@example.com")
    linked = subscriber_create(email="alias@example.com", user=user)
    response = signed_in(user).get("/api/newsletter/me/")
    assert response.json()["email"] == linked.email


def test_another_user_sees_nothing_of_ada(ada: Subscriber) -> None:
    api = signed_in(user_create("mallory@example.com"))
    assert api.get("/api/newsletter/me/").status_code == 404
    assert api.get("/api/newsletter/me/export/").status_code == 404
    assert api.patch("/api/newsletter/me/", {"lists": []}, format="json").status_code == 404
    response = api.delete("/api/newsletter/me/")
    assert response.status_code == 404
    assert response.json()["error_code"] == "not_subscribed"
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_staff_get_their_own_subscriber_only(ada: Subscriber) -> None:
    staff = signed_in(user_create("boss@example.com", is_staff=True, is_superuser=True))
    assert staff.get("/api/newsletter/me/").status_code == 404


def test_patch_changes_lists_and_name(ada: Subscriber, open_list: MailingList) -> None:
    api = signed_in(user_create("ada@example.com"))
    response = api.patch("/api/newsletter/me/", {"name": "A.", "lists": ["updates"]}, format="json")
    assert response.status_code == 200
    statuses = {item["list"]: item["status"] for item in response.json()["subscriptions"]}
    assert statuses == {"updates": "confirmed", "weekly": "unsubscribed"}
    assert response.json()["name"] == "A."


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"lists": ["nope"]}, "lists", "No public list named nope"),
        ({"email": "x@example.com"}, "non_field_errors", "cannot be changed: email"),
        ({"name": "x" * 201}, "name", "no more than 200"),
        ({"lists": "weekly"}, "lists", "Expected a list"),
    ],
)
def test_patch_refuses_bad_input(ada: Subscriber, payload: dict[str, Any], field: str, message: str) -> None:
    response = signed_in(user_create("ada@example.com")).patch("/api/newsletter/me/", payload, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


def test_export_and_delete_through_the_api(ada: Subscriber) -> None:
    api = signed_in(user_create("ada@example.com"))
    export = api.get("/api/newsletter/me/export/")
    assert export.status_code == 200
    assert json.loads(export.content)["subscriber"]["email"] == "ada@example.com"
    # Personal data, as the page's download: kept by no cache (a session cookie is no Authorization header).
    assert export["Cache-Control"] == "private, no-store"
    assert api.delete("/api/newsletter/me/").status_code == 204
    assert not Subscriber.objects.exists()
    assert is_suppressed(email="ada@example.com")
    assert api.get("/api/newsletter/me/").status_code == 404


def test_me_reads_in_constant_queries(ada: Subscriber) -> None:
    api = signed_in(user_create("ada@example.com"))
    api.get("/api/newsletter/me/")  # the first request of a user records its activity: not a per-list cost

    def queries_with(lists: int) -> int:
        for _ in range(lists):
            subscription_create(subscriber=ada, mailing_list=mailing_list_create())
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/newsletter/me/").status_code == 200
        return len(captured)

    assert queries_with(1) == queries_with(15)
