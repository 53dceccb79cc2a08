"""POST /api/newsletter/subscribe/ and GET /api/newsletter/lists/: anyone may subscribe an address to public lists;
the answer never tells whether the address was known; double opt-in lists wait for the mailed link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.tasks import default_task_backend
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.newsletter.models import (
    ConsentAction,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from apps.newsletter.tests.factories import (
    mailing_list_create,
    signed_in,
    subscriber_create,
    subscription_create,
    user_create,
)
from apps.newsletter.tests.links import confirm_link_in
from modules.email.testing import SmtpSink

pytestmark = pytest.mark.django_db
URL = "/api/newsletter/subscribe/"
CONSENT = "Yes, send me the weekly news."


def body(**fields: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "lists": ["weekly"], "consent_text": CONSENT, **fields}


def subscribe(api: APIClient, capture: Any, **fields: Any) -> Any:
    with capture(execute=True):
        return api.post(URL, body(**fields), format="json", REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Tests/1")


def test_a_double_opt_in_list_waits_for_the_mailed_link(
    anon_api: APIClient,
    news_list: MailingList,
    smtp: SmtpSink,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "FROM_EMAIL": "news@example.com"}
    response = subscribe(anon_api, django_capture_on_commit_callbacks, name="Ada", consent_source="blog footer")
    assert response.status_code == 202, response.content
    subscription = Subscription.objects.get()
    assert subscription.status == SubscriptionStatus.PENDING
    assert subscription.subscriber.name == "Ada"
    record = ConsentRecord.objects.get()
    assert (record.action, record.source, record.form_text, record.ip_address, record.user_agent) == (
        ConsentAction.SUBSCRIBED,
        "blog footer",
        CONSENT,
        "198.51.100.4",
        "Tests/1",
    )
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ada@example.com"]
    assert mail.mail_from == settings.NEWSLETTER["FROM_EMAIL"]
    assert "Weekly news" in mail.subject
    assert confirm_link_in(mail.text) in mail.html


def test_a_known_subscriber_is_never_renamed_by_the_form(
    anon_api: APIClient, news_list: MailingList, open_list: MailingList, django_capture_on_commit_callbacks: Any
) -> None:
    nameless = subscriber_create(email="ada@example.com", name="")
    subscribe(anon_api, django_capture_on_commit_callbacks, name="Someone else", lists=["updates"])
    nameless.refresh_from_db()
    assert nameless.name == ""
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_a_list_without_double_opt_in_is_confirmed_at_once_and_mails_nothing(
    anon_api: APIClient, open_list: MailingList, smtp: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    response = subscribe(anon_api, django_capture_on_commit_callbacks, lists=["updates"])
    assert response.status_code == 202
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    assert list(ConsentRecord.objects.order_by("pk").values_list("action", flat=True)) == [
        ConsentAction.SUBSCRIBED,
        ConsentAction.CONFIRMED,
    ]
    assert smtp.messages == []


def test_the_answer_is_the_same_for_a_new_a_confirmed_and_a_suppressed_address(
    anon_api: APIClient, news_list: MailingList, smtp: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    subscription_create(subscriber=subscriber_create(email="known@example.com"), mailing_list=news_list)
    Suppression.objects.create(email="bounced@example.com", reason=SuppressionReason.HARD_BOUNCE)
    answers = [
        subscribe(anon_api, django_capture_on_commit_callbacks, email=email).json()
        for email in ("new@example.com", "Known@Example.com", "BOUNCED@example.com")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert [mail.rcpt_tos for mail in smtp.messages] == [["new@example.com"]]
    assert not Subscriber.objects.filter(email__iexact="bounced@example.com").exists()


def test_asking_again_resends_the_link_at_most_once_per_interval(
    anon_api: APIClient,
    news_list: MailingList,
    smtp: SmtpSink,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "CONFIRM_RESEND_SECONDS": 600}
    for _ in range(3):
        subscribe(anon_api, django_capture_on_commit_callbacks)
    assert len(smtp.messages) == 1
    Subscriber.objects.update(confirmation_sent_at=timezone.now() - timedelta(seconds=601))
    subscribe(anon_api, django_capture_on_commit_callbacks)
    assert len(smtp.messages) == 2
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


def test_an_unsubscribed_one_goes_back_to_pending(
    anon_api: APIClient, news_list: MailingList, smtp: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    subscriber = subscriber_create(email="ada@example.com")
    subscription_create(subscriber=subscriber, mailing_list=news_list, status=SubscriptionStatus.UNSUBSCRIBED)
    subscribe(anon_api, django_capture_on_commit_callbacks)
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.unsubscribed_at) == (SubscriptionStatus.PENDING, None)
    assert len(smtp.messages) == 1


def test_the_honeypot_answers_alike_and_does_nothing(
    anon_api: APIClient, news_list: MailingList, smtp: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    response = subscribe(anon_api, django_capture_on_commit_callbacks, website="http://spam.example")
    assert response.status_code == 202
    assert not Subscriber.objects.exists()
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"email": "a" * 250 + "@example.com"}, "email", "no more than 254"),
        ({"lists": []}, "lists", "at least 1"),
        ({"lists": ["nope"]}, "lists", "No public list named nope"),
        ({"lists": ["hidden"]}, "lists", "No public list named hidden"),
        ({"lists": [f"l{number}" for number in range(21)]}, "lists", "no more than 20"),
        ({"consent_text": ""}, "consent_text", "may not be blank"),
        ({"name": "x" * 201}, "name", "no more than 200"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    anon_api: APIClient, news_list: MailingList, fields: dict[str, Any], field: str, message: str
) -> None:
    mailing_list_create(slug="hidden", is_public=False)
    response = anon_api.post(URL, body(**fields), format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()
    assert response.json()["error_code"] == "invalid"
    assert not Subscription.objects.exists()


def test_a_body_that_is_not_json_is_a_400(anon_api: APIClient, news_list: MailingList) -> None:
    response = anon_api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_large_body_is_refused_unread(anon_api: APIClient, news_list: MailingList) -> None:
    response = anon_api.post(URL, body(consent_text="x" * 20_000), format="json")
    assert response.status_code == 413


def test_subscriptions_are_throttled_per_client_address(
    anon_api: APIClient, news_list: MailingList, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.NEWSLETTER = {**settings.NEWSLETTER, "THROTTLE_RATES": {"newsletter_subscribe": "2/hour"}}
    statuses = [
        anon_api.post(URL, body(email=f"p{number}@example.com"), format="json", REMOTE_ADDR="192.0.2.1").status_code
        for number in range(3)
    ]
    assert statuses == [202, 202, 429]
    other = anon_api.post(URL, body(email="q@example.com"), format="json", REMOTE_ADDR="192.0.2.2")
    assert other.status_code == 202


def test_a_signed_in_user_is_linked_only_to_their_own_address(
    news_list: MailingList, django_capture_on_commit_callbacks: Any
) -> None:
    user = user_create("me@example.com")
    api = signed_in(user)
    subscribe(api, django_capture_on_commit_callbacks, email="ME@example.com")
    subscribe(api, django_capture_on_commit_callbacks, email="someone-else@example.com")
    assert Subscriber.objects.get(email="me@example.com").user == user
    assert Subscriber.objects.get(email="someone-else@example.com").user is None


def test_staff_subscribe_as_anyone_does(news_list: MailingList) -> None:
    staff = user_create("staff@example.com", is_staff=True)
    response = signed_in(staff).post(URL, body(email="x@example.com"), format="json")
    assert response.status_code == 202
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


def test_the_public_lists_are_listed_in_constant_queries(anon_api: APIClient) -> None:
    mailing_list_create(slug="hidden", is_public=False)

    def queries_for(count: int) -> tuple[int, list[str]]:
        for _ in range(count):
            mailing_list_create()
        with CaptureQueriesContext(connection) as captured:
            response = anon_api.get("/api/newsletter/lists/")
        assert response.status_code == 200
        return len(captured), [item["slug"] for item in response.json()]

    few, _ = queries_for(2)
    many, more_slugs = queries_for(20)
    assert few == many
    assert "hidden" not in more_slugs
    assert len(more_slugs) == 22


@pytest.mark.parametrize("url", [URL, "/newsletter/subscribe/"], ids=["api", "page"])
def test_the_request_does_the_same_work_for_a_new_a_known_and_a_suppressed_address(
    client: Any, news_list: MailingList, settings: Any, url: str
) -> None:
    """The answers are alike, and so must their timing be: creating a subscriber, its subscriptions and consent
    records and queueing a mail took three times as long as finding a known or suppressed address, enough to tell
    from outside who is on the lists. The request only checks the input and queues the subscription; the worker
    does the rest."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    subscription_create(
        subscriber=subscriber_create(email="known@example.com"),
        mailing_list=news_list,
        status=SubscriptionStatus.CONFIRMED,
    )
    Suppression.objects.create(email="gone@example.com", reason=SuppressionReason.COMPLAINT)
    client.get("/newsletter/subscribe/")  # the CSRF cookie of the page (the test client does not check it)
    work = []
    for email in ("new@example.com", "known@example.com", "gone@example.com"):
        with CaptureQueriesContext(connection) as queries:
            if url == URL:
                response = client.post(url, body(email=email), content_type="application/json")
            else:
                response = client.post(url, {"email": email, "lists": ["weekly"], "consent": "on"})
        assert response.status_code in (200, 202), response.content
        work.append([query["sql"] for query in queries.captured_queries])

    assert [len(queries) for queries in work] == [len(work[0])] * 3
    newsletter_writes = [
        sql for sql in work[0] if sql.startswith(("INSERT", "UPDATE", "DELETE")) and '"newsletter_' in sql
    ]
    assert not newsletter_writes
    assert not Subscriber.objects.filter(email="new@example.com").exists()

    queued = list(default_task_backend.results)  # type: ignore[attr-defined]
    assert len(queued) == 3
    for result in queued:
        result.task.call(*result.args, **result.kwargs)
    assert Subscription.objects.get(subscriber__email="new@example.com").status == SubscriptionStatus.PENDING
    assert not Subscriber.objects.filter(email="gone@example.com").exists()
    record = ConsentRecord.objects.get(subscriber__email="new@example.com")
    assert record.form_text and record.ip_address == "127.0.0.1"
