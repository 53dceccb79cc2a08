"""The audience's admin: lists with their counts, subscribers with their subscriptions and consent, import and export
with consent columns (an import records its consent and skips suppressed addresses), the suppression list."""

from __future__ import annotations

import re
from typing import Any

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from import_export.results import RowResult

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
from apps.newsletter.resources import SubscriberResource
from apps.newsletter.tests.factories import mailing_list_create, subscriber_create, subscription_create

pytestmark = pytest.mark.django_db
HEADER = "email,name,lists,consent_text,consent_source"


def import_csv(text: str, *, dry_run: bool = False) -> Any:
    return SubscriberResource().import_data(tablib.Dataset().load(text, format="csv"), dry_run=dry_run)


def messages(result: Any) -> str:
    texts = [str(error.error) for error in result.base_errors]
    texts += [str(error.error) for _, errors in result.row_errors() for error in errors]
    return " ".join(texts)


def test_the_lists_page_counts_subscriptions_in_constant_queries(admin_client: Client) -> None:
    admin_client.get("/admin/newsletter/mailinglist/")  # the first page of a session reads it: not per row

    def queries_with(lists: int) -> tuple[int, str]:
        for _ in range(lists):
            mailing_list = mailing_list_create()
            subscription_create(mailing_list=mailing_list)
            subscription_create(mailing_list=mailing_list, status=SubscriptionStatus.PENDING)
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get("/admin/newsletter/mailinglist/")
        assert response.status_code == 200
        return len(captured), response.content.decode()

    few, _ = queries_with(2)
    many, page = queries_with(12)
    assert few == many
    assert re.search(r'class="field-confirmed[^"]*">1</td>', page)
    assert re.search(r'class="field-pending[^"]*">1</td>', page)


def test_the_subscribers_page_reads_in_constant_queries(admin_client: Client, news_list: MailingList) -> None:
    admin_client.get("/admin/newsletter/subscriber/")

    def queries_with(subscribers: int) -> int:
        for _ in range(subscribers):
            subscription_create(mailing_list=news_list)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/newsletter/subscriber/").status_code == 200
        return len(captured)

    assert queries_with(2) == queries_with(15)


def test_a_subscriber_page_shows_subscriptions_and_consent(admin_client: Client, news_list: MailingList) -> None:
    subscription = subscription_create(mailing_list=news_list)
    ConsentRecord.objects.create(
        subscriber=subscription.subscriber, mailing_list=news_list, action="subscribed", form_text="I agree"
    )
    response = admin_client.get(f"/admin/newsletter/subscriber/{subscription.subscriber.pk}/change/")
    assert response.status_code == 200
    assert b"I agree" in response.content and b"Weekly news" in response.content


def test_consent_records_are_read_only(admin_client: Client) -> None:
    assert admin_client.get("/admin/newsletter/consentrecord/").status_code == 200
    assert admin_client.get("/admin/newsletter/consentrecord/add/").status_code == 403


def test_a_manual_suppression_is_stored_in_lower_case(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/newsletter/suppression/add/", {"email": "Someone@Example.COM", "reason": "manual", "note": "asked"}
    )
    assert response.status_code == 302
    assert Suppression.objects.get().email == "someone@example.com"


def test_members_without_staff_rights_are_sent_to_the_login(client: Client, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user(email="member@example.com")
    client.force_login(user)
    for page in ("mailinglist", "subscriber", "suppression", "consentrecord"):
        response = client.get(f"/admin/newsletter/{page}/")
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_an_import_confirms_records_consent_and_skips_suppressed(news_list: MailingList) -> None:
    Suppression.objects.create(email="gone@example.com", reason=SuppressionReason.DELETED)
    result = import_csv(
        f"{HEADER}\n"
        "Ann@Example.com,Ann,weekly,Signed up at the fair,paper form\n"
        "gone@example.com,Gone,weekly,Old list,\n"
    )
    assert not result.has_errors() and not result.has_validation_errors(), messages(result)
    assert [row.import_type for row in result.rows] == [RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_SKIP]
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "ann@example.com"
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    record = ConsentRecord.objects.get()
    assert (record.action, record.source, record.form_text) == (
        ConsentAction.IMPORTED,
        "paper form",
        "Signed up at the fair",
    )


def test_an_import_does_not_resubscribe_who_unsubscribed(news_list: MailingList) -> None:
    subscription = subscription_create(
        subscriber=subscriber_create(email="ann@example.com"), mailing_list=news_list, status="unsubscribed"
    )
    import_csv(f"{HEADER}\nann@example.com,,weekly,Old consent,\n")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("email,name\nann@example.com,Ann\n", "lacks the columns lists, consent_text"),
        (f"{HEADER},password\nann@example.com,,weekly,yes,,x\n", "does not read: password"),
        (f"{HEADER}\nann@example.com,,nope,yes,\n", "row 1 (line 2): no list named nope"),
        (f"{HEADER}\nann@example.com,,weekly,,\n", "row 1 (line 2): consent_text is empty"),
        (f"{HEADER}\nnot-an-address,,weekly,yes,\n", "'not-an-address' is not an email address"),
    ],
)
def test_a_bad_file_saves_nothing_and_says_why(news_list: MailingList, text: str, message: str) -> None:
    result = import_csv(text)
    assert result.has_errors() or result.has_validation_errors()
    assert message in messages(result)
    assert not Subscriber.objects.exists()


def test_a_file_with_wrong_columns_names_only_the_columns(news_list: MailingList) -> None:
    """Its rows are not checked against lists it never loaded: "no list named weekly (the lists are: none yet)" under
    "the file lacks the columns consent_text" sent the marketer looking for a problem that is not there."""
    result = import_csv("email,name,lists\nann@example.com,Ann,weekly\n")

    said = messages(result)
    assert "lacks the columns consent_text" in said
    assert "none yet" not in said and "no list named" not in said
    assert not list(result.row_errors()), said
    assert not Subscriber.objects.exists()


def test_an_export_has_the_consent_columns_in_constant_queries(news_list: MailingList) -> None:
    def export_with(subscribers: int) -> tuple[int, Any]:
        for _ in range(subscribers):
            subscription = subscription_create(mailing_list=news_list)
            ConsentRecord.objects.create(
                subscriber=subscription.subscriber, action="subscribed", source="form", form_text="Yes please"
            )
        with CaptureQueriesContext(connection) as captured:
            dataset = SubscriberResource().export()
        return len(captured), dataset

    few, _ = export_with(2)
    many, dataset = export_with(10)
    assert few == many
    assert dataset.headers == ["email", "name", "lists", "consent_text", "consent_source", "consent_at"]
    row = dict(zip(dataset.headers, dataset[0], strict=True))
    assert (row["lists"], row["consent_text"], row["consent_source"]) == ("weekly", "Yes please", "form")


def test_an_exported_file_imports_back_without_changes(news_list: MailingList) -> None:
    subscription = subscription_create(subscriber=subscriber_create(email="ann@example.com"), mailing_list=news_list)
    ConsentRecord.objects.create(subscriber=subscription.subscriber, action="subscribed", form_text="Yes")
    result = import_csv(SubscriberResource().export().csv)
    assert not result.has_errors() and not result.has_validation_errors(), messages(result)
    assert ConsentRecord.objects.count() == 1
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_the_admin_import_page_imports_a_csv(admin_client: Client, news_list: MailingList) -> None:
    upload = SimpleUploadedFile("subscribers.csv", f"{HEADER}\nann@example.com,Ann,weekly,Yes,fair\n".encode())
    response = admin_client.post(
        "/admin/newsletter/subscriber/import/",
        {"import_file": upload, "format": "0", "resource": "0"},
    )
    assert response.status_code == 200
    confirmed = admin_client.post(
        "/admin/newsletter/subscriber/process_import/", response.context["confirm_form"].initial
    )
    assert confirmed.status_code == 302
    assert ConsentRecord.objects.get().action == ConsentAction.IMPORTED


def test_the_admin_export_page_offers_the_consent_columns(admin_client: Client) -> None:
    page = admin_client.get("/admin/newsletter/subscriber/export/").content.decode()
    assert "consent_text" in page and "consent_at" in page
