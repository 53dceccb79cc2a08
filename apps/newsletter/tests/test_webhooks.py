"""Bounce and complaint webhooks through django-anymail, fed with the providers' own sample payloads (Postmark's
bounce and spam-complaint webhooks, Mailgun's "failed" event) and posted as the providers post them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from copy import deepcopy
from typing import Any

import pytest
from anymail.exceptions import AnymailAPIError
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from apps.newsletter.models import ConsentRecord, Subscription, SubscriptionStatus, Suppression, SuppressionReason
from apps.newsletter.tests.factories import subscriber_create, subscription_create
from apps.newsletter.webhooks import guarded

pytestmark = pytest.mark.django_db
SECRET = "hooks:s3cret-pass"
SIGNING_KEY = "key-mailgun-signing"
POSTMARK = "/newsletter/anymail/postmark/tracking/"
MAILGUN = "/newsletter/anymail/mailgun/tracking/"

# https://postmarkapp.com/developer/webhooks/bounce-webhook (sample payload)
POSTMARK_HARD_BOUNCE: dict[str, Any] = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "<Full dump of bounce>",
}
# https://postmarkapp.com/developer/webhooks/spam-complaint-webhook (sample payload)
POSTMARK_COMPLAINT: dict[str, Any] = {
    **POSTMARK_HARD_BOUNCE,
    "RecordType": "SpamComplaint",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "Description": "",
    "Details": "Test spam complaint details",
    "CanActivate": False,
    "Content": "<Abuse report dump>",
}
# https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/ ("failed", permanent)
MAILGUN_FAILED: dict[str, Any] = {
    "signature": {"timestamp": "1529006854", "token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"},
    "event-data": {
        "event": "failed",
        "id": "G9Bn5sl1TC6zBlDAJKGqhg",
        "timestamp": 1521233195.375624,
        "log-level": "error",
        "severity": "permanent",
        "reason": "suppress-bounce",
        "envelope": {"sender": "bob@sandbox.mailgun.org", "transport": "smtp", "targets": "john@example.com"},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "delivery-status": {
            "attempt-no": 1,
            "message": "",
            "code": 605,
            "description": "Not delivering to previously bounced address",
            "session-seconds": 0.0,
        },
        "message": {
            "headers": {
                "to": "John <john@example.com>",
                "message-id": "20130503182626.18666.16540@sandbox.mailgun.org",
                "from": "Bob <bob@sandbox.mailgun.org>",
                "subject": "Test permanent_fail webhook",
            },
            "attachments": [],
            "size": 111,
        },
        "recipient": "john@example.com",
        "recipient-domain": "example.com",
        "campaigns": [],
        "tags": ["my_tag_1", "my_tag_2"],
        "user-variables": {"my_var_1": "Mailgun Variable #1", "my-var-2": "awesome"},
    },
}


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture
def john() -> Subscription:
    return subscription_create(subscriber=subscriber_create(email="John@Example.com"))


def auth(secret: str = SECRET) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post(client: Client, url: str, payload: Any, **headers: Any) -> Any:
    return client.post(url, json.dumps(payload), content_type="application/json", **{**auth(), **headers})


def mailgun_signed(payload: dict[str, Any], key: str = SIGNING_KEY) -> dict[str, Any]:
    signed = deepcopy(payload)
    block = signed["signature"]
    block["signature"] = hmac.new(
        key.encode(), f"{block['timestamp']}{block['token']}".encode(), hashlib.sha256
    ).hexdigest()
    return signed


def test_a_postmark_hard_bounce_suppresses_and_unsubscribes(client: Client, john: Subscription) -> None:
    response = post(client, POSTMARK, POSTMARK_HARD_BOUNCE)
    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("john@example.com", SuppressionReason.HARD_BOUNCE)
    assert "Postmark bounced" in suppression.note
    john.refresh_from_db()
    assert john.status == SubscriptionStatus.UNSUBSCRIBED
    assert ConsentRecord.objects.get().source == "Postmark webhook (hard_bounce)"


def test_a_postmark_complaint_suppresses(client: Client, john: Subscription) -> None:
    assert post(client, POSTMARK, POSTMARK_COMPLAINT).status_code == 200
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINT
    john.refresh_from_db()
    assert john.status == SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize(("kind", "code"), [("SoftBounce", 4096), ("Transient", 2), ("DnsError", 8192)])
def test_postmark_soft_bounces_and_deferrals_change_nothing(
    client: Client, john: Subscription, kind: str, code: int
) -> None:
    response = post(client, POSTMARK, {**POSTMARK_HARD_BOUNCE, "Type": kind, "TypeCode": code})
    assert response.status_code == 200
    assert not Suppression.objects.exists()
    john.refresh_from_db()
    assert john.status == SubscriptionStatus.CONFIRMED


def test_the_same_bounce_twice_is_one_suppression(client: Client, john: Subscription) -> None:
    post(client, POSTMARK, POSTMARK_HARD_BOUNCE)
    post(client, POSTMARK, POSTMARK_COMPLAINT)
    assert Suppression.objects.get().reason == SuppressionReason.HARD_BOUNCE
    assert ConsentRecord.objects.count() == 1


def test_a_bounce_for_an_unknown_address_still_suppresses_it(client: Client) -> None:
    post(client, POSTMARK, {**POSTMARK_HARD_BOUNCE, "Email": "stranger@example.com"})
    assert Suppression.objects.get().email == "stranger@example.com"


def test_a_signed_mailgun_permanent_failure_suppresses(client: Client, john: Subscription) -> None:
    response = post(client, MAILGUN, mailgun_signed(MAILGUN_FAILED))
    assert response.status_code == 200
    assert Suppression.objects.get().reason == SuppressionReason.HARD_BOUNCE


def test_a_mailgun_temporary_failure_changes_nothing(client: Client, john: Subscription) -> None:
    temporary = deepcopy(MAILGUN_FAILED)
    temporary["event-data"].update({"severity": "temporary", "reason": "generic"})
    temporary["event-data"]["delivery-status"]["code"] = 452
    assert post(client, MAILGUN, mailgun_signed(temporary)).status_code == 200
    assert not Suppression.objects.exists()


def test_a_mailgun_event_with_a_wrong_signature_is_refused(client: Client, john: Subscription) -> None:
    response = post(client, MAILGUN, mailgun_signed(MAILGUN_FAILED, key="another-key"))
    assert response.status_code == 400
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [{}, auth("hooks:wrong"), auth("nobody:s3cret-pass"), {"HTTP_AUTHORIZATION": "Basic !!!"}],
    ids=["missing", "wrong-password", "wrong-user", "garbage"],
)
def test_wrong_or_missing_auth_is_refused(client: Client, john: Subscription, headers: dict[str, Any]) -> None:
    response = client.post(POSTMARK, json.dumps(POSTMARK_HARD_BOUNCE), content_type="application/json", **headers)
    assert response.status_code == 400
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("url", [POSTMARK, MAILGUN])
def test_no_secret_configured_refuses_every_call(client: Client, settings: Any, url: str) -> None:
    settings.ANYMAIL = {}
    response = post(client, url, POSTMARK_HARD_BOUNCE)
    assert response.status_code == 400
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ("[]", 400),
        ('"text"', 400),
        (b"\xff\xfe", 400),
        # Readable, but names no address: accepted (so the provider stops retrying), nothing suppressed.
        (json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "Email": None}), 200),
        (json.dumps({**POSTMARK_HARD_BOUNCE, "Email": "x" * 300 + "@example.com"}), 200),
    ],
    ids=["not-json", "a-list", "a-string", "not-utf8", "no-address", "address-too-long"],
)
def test_an_unreadable_body_is_a_400_never_a_500(client: Client, body: str, status: int) -> None:
    response = client.post(POSTMARK, body, content_type="application/json", **auth())
    assert response.status_code == status
    assert not Suppression.objects.exists()


def test_an_unreadable_mailgun_body_is_a_400(client: Client) -> None:
    response = client.post(MAILGUN, "{not json", content_type="application/json", **auth())
    assert response.status_code == 400


def test_get_is_not_allowed(client: Client) -> None:
    assert client.get(POSTMARK, **auth()).status_code == 405


AMAZON_SES = "/newsletter/anymail/amazon_ses/tracking/"
SNS_NOTIFICATION = {"Type": "Notification", "MessageId": "m-1", "Message": "not json"}


@pytest.mark.parametrize("headers", [auth(), auth("hooks:wrong"), {}], ids=["right-auth", "wrong-auth", "no-auth"])
def test_amazon_ses_calls_are_answered_without_a_500_whatever_is_installed(
    client: Client, headers: dict[str, Any]
) -> None:
    """anymail's SES view needs boto3 to be built at all (django-anymail[amazon-ses]); without it every call, even an
    anonymous one, was a 500 and a logged traceback. With or without it, a call that cannot be processed is a 4xx."""
    response = client.post(
        AMAZON_SES,
        json.dumps(SNS_NOTIFICATION),
        content_type="text/plain",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID="m-1",
        **headers,
    )
    assert 400 <= response.status_code < 500
    assert not Suppression.objects.exists()


def test_a_body_a_provider_check_cannot_read_is_a_400_not_a_500(rf: Any) -> None:
    """Some providers' request checks parse the body before the events are (SES's compares SNS headers with it) and
    raise anymail's API error on garbage: answered 400 like any unreadable body."""

    class ParsingCheck(PostmarkTrackingWebhookView):  # type: ignore[misc]  # anymail ships no types
        def validate_request(self, request: Any) -> None:
            raise AnymailAPIError("Malformed SNS message body")

    view = guarded(ParsingCheck, ()).as_view()
    request = rf.post(POSTMARK, "{not json", content_type="application/json", **auth())
    with pytest.raises(SuspiciousOperation):  # Django answers it 400 (anymail's AnymailWebhookValidationFailure)
        view(request)
