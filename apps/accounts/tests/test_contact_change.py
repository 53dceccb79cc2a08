"""The email address and the phone number sign in, so changing one takes a code from the new one and one from the
account's existing channel, like the Telegram link. Real SMTP, Twilio and Telegram stand-ins on loopback."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import contact_change, otp
from apps.accounts.activity import Client
from apps.accounts.identifiers import parse_identifier
from apps.accounts.models import Activity, ActivityLog, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import code_in, other_code, request_code, signed_in_as, url, verify
from apps.accounts.tests.factories import otp_request_create

pytestmark = pytest.mark.django_db

EMAIL = url("me-email")
EMAIL_CONFIRM = url("me-email-confirm")
PHONE = url("me-phone")
PHONE_CONFIRM = url("me-phone-confirm")
# 95 characters as sent, 305 once the domain is in its xn-- form.
LONG_IDN = "a@" + ".".join(["üx"] * 30) + ".com"


def change_email(api: APIClient, email: str, **extra: Any) -> Any:
    return api.post(EMAIL, {"email": email}, format="json", **extra)


def change_phone(api: APIClient, phone: str, channel: str | None = None, **extra: Any) -> Any:
    body = {"phone": phone} if channel is None else {"phone": phone, "channel": channel}
    return api.post(PHONE, body, format="json", **extra)


def confirm(api: APIClient, new_code: str, account_code: str, path: str = EMAIL_CONFIRM, **extra: Any) -> Any:
    return api.post(path, {"new_code": new_code, "account_code": account_code}, format="json", **extra)


def mail_to(smtp: Any, address: str) -> list[Any]:
    return [mail for mail in smtp.messages if mail.rcpt_tos == [address]]


def sms_to(twilio: Any, number: str) -> list[str]:
    return [message["Body"] for message in twilio.messages() if message["To"] == number]


def start_email_change(api: APIClient, smtp: Any, new: str = "grace@example.com") -> tuple[str, str]:
    """Start a change from ada@example.com and return (new_code, account_code) read from the mails."""
    response = change_email(api, new)
    assert response.status_code == 200, response.json()
    [new_mail] = mail_to(smtp, new)
    owner_mail = mail_to(smtp, "ada@example.com")[-1]
    return code_in(new_mail.text), code_in(owner_mail.text)


def test_email_change_end_to_end(signed_in, user, smtp):
    started = change_email(signed_in, " Grace@Example.COM ")
    assert started.status_code == 200, started.json()
    body = started.json()
    assert body["account_channel"] == "email"
    assert body["expires_in_minutes"] == 10
    assert "grace@example.com" in body["detail"] and url("me-email-confirm") in body["detail"]
    [new_mail] = mail_to(smtp, "grace@example.com")  # canonical: lower case, trimmed
    [owner_mail] = mail_to(smtp, "ada@example.com")
    assert "email change" in new_mail.subject
    assert "grace@example.com" in owner_mail.text  # the owner is told what is being asked
    new_code, account_code = code_in(new_mail.text), code_in(owner_mail.text)
    assert new_code in new_mail.html and account_code in owner_mail.html
    user.refresh_from_db()
    assert user.email == "ada@example.com"  # nothing changes before confirmation

    confirmed = confirm(signed_in, new_code, account_code)
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["email"] == "grace@example.com"
    user.refresh_from_db()
    assert user.email == "grace@example.com"
    assert set(OtpRequest.objects.filter(user=user).values_list("status", flat=True)) == {OtpStatus.USED}

    # The old address is told, and names the new one.
    notice = mail_to(smtp, "ada@example.com")[-1]
    assert "was changed" in notice.subject
    assert "grace@example.com" in notice.text and "grace@example.com" in notice.html

    # Sign-in now works with the new address, into this account ...
    anonymous = APIClient()
    assert request_code(anonymous, "grace@example.com").status_code == 200
    signed = verify(anonymous, "grace@example.com", code_in(mail_to(smtp, "grace@example.com")[-1].text))
    assert signed.status_code == 200
    assert signed.json()["user"]["id"] == user.pk
    # ... and the old address no longer reaches it (self-registration makes it a new, separate account).
    assert request_code(anonymous, "ada@example.com").status_code == 200
    other = verify(anonymous, "ada@example.com", code_in(mail_to(smtp, "ada@example.com")[-1].text))
    assert other.status_code == 200
    assert other.json()["created"] is True
    assert other.json()["user"]["id"] != user.pk


def test_outstanding_sign_in_codes_of_the_old_address_stop_working(api, signed_in, user, smtp):
    assert request_code(api, "ada@example.com").status_code == 200
    old_sign_in = code_in(smtp.messages[-1].text)
    new_code, account_code = start_email_change(signed_in, smtp)
    assert confirm(signed_in, new_code, account_code).status_code == 200
    assert OtpRequest.objects.get(purpose=OtpPurpose.SIGN_IN).status == OtpStatus.SUPERSEDED
    response = verify(api, "ada@example.com", old_sign_in)
    assert response.status_code == 400
    assert not User.objects.filter(email="ada@example.com").exists()


def test_phone_change_by_sms(twilio):
    user = User.objects.create_user(phone="+15551234567")
    api = signed_in_as(user)
    started = change_phone(api, "+1 (555) 765-4321")
    assert started.status_code == 200, started.json()
    assert started.json()["account_channel"] == "sms"
    [new_sms] = sms_to(twilio, "+15557654321")
    [owner_sms] = sms_to(twilio, "+15551234567")
    assert "+15557654321" in owner_sms
    response = confirm(api, code_in(new_sms), code_in(owner_sms), PHONE_CONFIRM)
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "+15557654321"
    user.refresh_from_db()
    assert user.phone == "+15557654321"
    notice = sms_to(twilio, "+15551234567")[-1]
    assert "was changed" in notice and "+15557654321" in notice
    assert ActivityLog.objects.get(user=user, action=Activity.PHONE_CHANGED).details == {
        "phone": "+15557654321",
        "previous": "+15551234567",
    }
    # The new number signs in to this account.
    anonymous = APIClient()
    assert request_code(anonymous, "+15557654321", "sms").status_code == 200
    signed = verify(anonymous, "+15557654321", code_in(sms_to(twilio, "+15557654321")[-1]))
    assert signed.json()["user"]["id"] == user.pk


def test_an_email_account_adds_a_phone_over_whatsapp(signed_in, user, smtp, twilio):
    started = change_phone(signed_in, "+447700900123", "whatsapp")
    assert started.status_code == 200, started.json()
    assert started.json()["account_channel"] == "email"
    [message] = twilio.messages()
    assert message["To"] == "whatsapp:+447700900123"
    [owner_mail] = smtp.messages
    assert "phone change" in owner_mail.subject and "+447700900123" in owner_mail.text
    assert confirm(signed_in, code_in(message["Body"]), code_in(owner_mail.text), PHONE_CONFIRM).status_code == 200
    user.refresh_from_db()
    assert (user.email, user.phone) == ("ada@example.com", "+447700900123")
    assert len(twilio.messages()) == 1  # there was no old number to tell


def test_a_wrong_code_is_named(signed_in, smtp):
    new_code, account_code = start_email_change(signed_in, smtp)
    response = confirm(signed_in, other_code(new_code), account_code)
    assert response.status_code == 400
    assert "new_code" in response.json()["detail"] and "account_code" not in response.json()["detail"]
    assert OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_NEW).attempts == 1
    assert OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_OWNER).attempts == 0
    response = confirm(signed_in, new_code, other_code(account_code))
    assert "account_code" in response.json()["detail"] and "new_code" not in response.json()["detail"]
    # Right codes still work: a wrong guess costs an attempt, not the change.
    assert confirm(signed_in, new_code, account_code).status_code == 200


def test_a_stolen_token_runs_out_of_attempts_on_the_owner_code(signed_in, user, smtp):
    new_code, account_code = start_email_change(signed_in, smtp, "thief@example.com")
    for _ in range(5):
        response = confirm(signed_in, new_code, other_code(account_code))
        assert response.status_code == 400
        assert "account_code" in response.json()["detail"]
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "No email change is waiting" in response.json()["detail"]  # the exhausted code is no longer pending
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_OWNER).status == OtpStatus.EXHAUSTED
    assert ActivityLog.objects.filter(user=user, action=Activity.EMAIL_CHANGE_FAILED).count() == 6


def test_an_expired_code_is_named(signed_in, user, smtp):
    new_code, account_code = start_email_change(signed_in, smtp)
    OtpRequest.objects.filter(purpose=OtpPurpose.EMAIL_NEW).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "Wrong, expired or used up: new_code." in response.json()["detail"]
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    failed = ActivityLog.objects.get(user=user, action=Activity.EMAIL_CHANGE_FAILED)
    assert failed.details == {"reasons": {"new_code": "code expired"}}


def test_used_codes_do_not_work_twice(signed_in, smtp):
    new_code, account_code = start_email_change(signed_in, smtp)
    assert confirm(signed_in, new_code, account_code).status_code == 200
    again = confirm(signed_in, new_code, account_code)
    assert again.status_code == 400
    assert "No email change is waiting" in again.json()["detail"]


def test_an_address_of_another_account_is_not_revealed_at_start_and_refused_at_confirm(signed_in, user, smtp, twilio):
    """A 400 at start would let any signed-in user ask whether an address or number has an account."""
    bob = User.objects.create_user(email="bob@example.com", phone="+15559999999")
    taken = change_email(signed_in, "BOB@example.com")
    assert taken.status_code == 200, taken.json()
    assert len(mail_to(smtp, "bob@example.com")) == 1  # as to any new address: its owner proves control with it
    free = change_email(signed_in, "free@example.com")
    assert free.status_code == 200
    assert taken.json() == {**free.json(), "detail": free.json()["detail"].replace("free@", "bob@")}

    assert change_email(signed_in, "bob@example.com").status_code == 200  # replaces the pending change
    new_code = code_in(mail_to(smtp, "bob@example.com")[-1].text)
    account_code = code_in(mail_to(smtp, "ada@example.com")[-1].text)
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "This email address is already used by another account. Nothing changed; the codes are spent."
    )
    user.refresh_from_db()
    bob.refresh_from_db()
    assert (user.email, bob.email) == ("ada@example.com", "bob@example.com")
    assert not OtpRequest.objects.filter(user=user, status=OtpStatus.SENT).exists()

    started = change_phone(signed_in, "+15559999999")
    assert started.status_code == 200, started.json()
    [new_sms] = sms_to(twilio, "+15559999999")
    response = confirm(signed_in, code_in(new_sms), code_in(mail_to(smtp, "ada@example.com")[-1].text), PHONE_CONFIRM)
    assert response.status_code == 400
    assert "phone number is already used by another account" in response.json()["detail"]
    user.refresh_from_db()
    assert user.phone is None


def test_an_address_taken_between_start_and_confirm_is_a_400(signed_in, user, smtp):
    new_code, account_code = start_email_change(signed_in, smtp)
    User.objects.create_user(email="Grace@example.com")  # someone registers it meanwhile
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "already used by another account" in response.json()["detail"]
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert not OtpRequest.objects.filter(user=user, status=OtpStatus.SENT).exists()  # nothing pending
    failed = ActivityLog.objects.get(user=user, action=Activity.EMAIL_CHANGE_FAILED)
    assert failed.details == {"reasons": {"email": "taken by another account"}}
    assert len(mail_to(smtp, "ada@example.com")) == 1  # no "changed" notice


def test_the_unique_constraint_decides_a_race_past_the_check_as_a_400(signed_in, user, smtp, monkeypatch):
    new_code, account_code = start_email_change(signed_in, smtp)
    User.objects.create_user(email="grace@example.com")
    # The other account commits between the check and the write: only the database sees it.
    monkeypatch.setattr(contact_change, "user_identifier_taken", lambda **kwargs: False)
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "already used by another account" in response.json()["detail"]
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert ActivityLog.objects.filter(user=user, action=Activity.EMAIL_CHANGE_FAILED).exists()


def test_the_current_value_is_refused(signed_in, user, smtp, twilio):
    response = change_email(signed_in, "ADA@Example.com")
    assert response.status_code == 400
    assert response.json()["detail"] == "This is already your account's email address."
    phone_user = User.objects.create_user(phone="+15551234567")
    response = change_phone(signed_in_as(phone_user), "+1 555 123 4567")
    assert response.status_code == 400
    assert response.json()["detail"] == "This is already your account's phone number."
    assert smtp.messages == [] and twilio.messages() == []


def test_a_channel_not_configured_is_a_400_naming_it(signed_in, smtp, twilio, settings):
    settings.TWILIO = {**settings.TWILIO, "WHATSAPP_FROM": ""}
    response = change_phone(signed_in, "+15557654321", "whatsapp")
    assert response.status_code == 400
    assert "The whatsapp channel is not configured" in response.json()["detail"]
    settings.TWILIO = {**settings.TWILIO, "FROM_NUMBER": ""}
    response = change_phone(signed_in, "+15557654321")
    assert response.status_code == 400
    assert "(sms, whatsapp) is configured" in response.json()["detail"]
    assert "Available: email" in response.json()["detail"]
    settings.ACCOUNTS = {**settings.ACCOUNTS, "OTP_CHANNELS": ["sms"]}
    response = change_email(signed_in, "grace@example.com")
    assert response.status_code == 400
    assert "new email address (email) is configured" in response.json()["detail"]
    assert smtp.messages == [] and twilio.messages() == []


def test_bad_input_is_a_clear_400(signed_in, twilio):
    assert change_email(signed_in, "+15557654321").json()["email"] == ["Enter an email address, e.g. ada@example.com."]
    assert change_email(signed_in, "\u017fam@example.com").json()["email"][0].startswith("Enter an email address")
    assert change_phone(signed_in, "ada@example.com").json()["phone"] == [
        "Enter a phone number in international form, e.g. +15551234567."
    ]
    assert change_phone(signed_in, "+15557654321", "fax").json()["channel"] == ["Choose sms or whatsapp."]
    response = signed_in.post(EMAIL_CONFIRM, {"new_code": "12", "account_code": "abcdef"}, format="json")
    assert response.json() == {
        "new_code": ["The code is 6 digits."],
        "account_code": ["The code is 6 digits."],
        "detail": "new_code: The code is 6 digits. account_code: The code is 6 digits.",
        "error_code": "invalid",
    }
    response = confirm(signed_in, "123456", "123456", PHONE_CONFIRM)
    assert response.status_code == 400
    assert "No phone change is waiting" in response.json()["detail"]


def test_a_new_address_that_refuses_the_mail_is_a_503_and_nothing_is_pending(signed_in, smtp):
    smtp.refuse_with = "554 Transaction failed"
    response = change_email(signed_in, "grace@example.com")
    assert response.status_code == 503
    assert "nothing is pending" in response.json()["detail"]
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()


def test_a_new_address_whose_mailbox_is_refused_is_a_503_and_nothing_is_pending(signed_in, smtp):
    """The caller owns the account: unlike sign-in, there is nothing to hide, so the refusal is reported."""
    smtp.refuse_recipients["grace@example.com"] = "550 5.1.1 No such user here"
    response = change_email(signed_in, "grace@example.com")
    assert response.status_code == 503
    assert "nothing is pending" in response.json()["detail"]
    assert smtp.messages == []
    assert OtpRequest.objects.get().status == OtpStatus.FAILED


def test_an_unsent_account_code_leaves_no_half_change(twilio, smtp):
    """The new address got its code, the owner's SMS failed: the new code must not stay pending."""
    user = User.objects.create_user(phone="+15551234567")
    api = signed_in_as(user)
    twilio.fail_next(500)
    response = change_email(api, "grace@example.com")
    assert response.status_code == 503
    [new_mail] = smtp.messages
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()
    assert OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_NEW).status == OtpStatus.SUPERSEDED
    response = confirm(api, code_in(new_mail.text), "000000")
    assert "No email change is waiting" in response.json()["detail"]
    user.refresh_from_db()
    assert user.email is None


def test_a_notice_the_old_address_refuses_is_logged_not_raised(signed_in, user, smtp, caplog):
    new_code, account_code = start_email_change(signed_in, smtp)
    smtp.refuse_with = "550 Mailbox gone"
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == "grace@example.com"
    assert any("could not tell the old email" in record.getMessage() for record in caplog.records)


def test_a_new_request_replaces_the_pending_one(signed_in, user, smtp):
    first = start_email_change(signed_in, smtp, "one@example.com")
    second = start_email_change(signed_in, smtp, "two@example.com")
    if first != second:
        assert confirm(signed_in, *first).status_code == 400
    assert confirm(signed_in, *second).status_code == 200
    user.refresh_from_db()
    assert user.email == "two@example.com"


def test_change_codes_do_not_sign_in(api, signed_in, smtp):
    new_code, account_code = start_email_change(signed_in, smtp)
    for identifier, code in (("grace@example.com", new_code), ("ada@example.com", account_code)):
        assert verify(api, identifier, code).status_code == 400
    assert not User.objects.filter(email="grace@example.com").exists()


def test_activity_is_recorded_without_codes(signed_in, user, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    new_code, account_code = start_email_change(signed_in, smtp)
    confirm(signed_in, other_code(new_code), account_code)
    confirm(signed_in, new_code, account_code)
    log = {entry.action: entry.details for entry in ActivityLog.objects.filter(user=user)}
    assert log[Activity.EMAIL_CHANGE_REQUESTED] == {"email": "grace@example.com", "owner": "email", "channel": "email"}
    assert log[Activity.EMAIL_CHANGE_FAILED] == {"reasons": {"new_code": "wrong code"}}
    assert log[Activity.EMAIL_CHANGED] == {"email": "grace@example.com", "previous": "ada@example.com"}
    listed = signed_in.get(url("me-activity")).json()["results"]
    assert {entry["action"] for entry in listed} >= {"email_change_requested", "email_change_failed", "email_changed"}
    ours = [record for record in caplog.records if record.name.startswith("apps.accounts")]
    assert ours, "expected our own log lines"
    for record in ours:
        assert new_code not in record.getMessage() and account_code not in record.getMessage()


@pytest.mark.parametrize("path", [EMAIL, EMAIL_CONFIRM, PHONE, PHONE_CONFIRM])
def test_signed_out_is_401(api, path):
    body = {"email": "a@example.com", "phone": "+15557654321", "new_code": "123456", "account_code": "123456"}
    response = api.post(path, body, format="json")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_change_requests_and_confirmations_are_throttled_per_user(signed_in, smtp, settings):
    rates = {**settings.ACCOUNTS["THROTTLE_RATES"], "contact_change": "2/hour", "contact_confirm": "2/hour"}
    settings.ACCOUNTS = {**settings.ACCOUNTS, "THROTTLE_RATES": rates}
    assert change_email(signed_in, "one@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert change_email(signed_in, "two@example.com", REMOTE_ADDR="10.0.0.2").status_code == 200
    blocked = change_email(signed_in, "three@example.com", REMOTE_ADDR="10.0.0.3")
    assert blocked.status_code == 429
    assert mail_to(smtp, "three@example.com") == []
    for _ in range(2):
        assert confirm(signed_in, "000000", "000000", REMOTE_ADDR="10.0.0.4").status_code == 400
    assert confirm(signed_in, "000000", "000000", PHONE_CONFIRM, REMOTE_ADDR="10.0.0.5").status_code == 429
    # Another user has an allowance of their own.
    bob = signed_in_as(User.objects.create_user(email="bob@example.com"))
    assert change_email(bob, "b2@example.com").status_code == 200


def test_patch_still_refuses_email_and_phone_and_points_to_the_endpoints(signed_in, user):
    for field, value, path in (("email", "eve@example.com", EMAIL), ("phone", "+15550000666", PHONE)):
        response = signed_in.patch(url("me"), {field: value}, format="json")
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert f"cannot be changed here: {field}" in detail
        assert f"POST {path}" in detail
    user.refresh_from_db()
    assert (user.email, user.phone) == ("ada@example.com", None)


def test_the_endpoints_are_in_the_schema_with_their_bodies(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    components = schema["components"]["schemas"]

    def body_of(path: str, part: str) -> dict[str, Any]:
        operation = schema["paths"][path]["post"]
        content = operation["requestBody"] if part == "request" else operation["responses"]["200"]
        body: dict[str, Any] = components[content["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]
        return body

    assert set(body_of(EMAIL, "request")["required"]) == {"email"}
    assert set(body_of(PHONE, "request")["properties"]) == {"phone", "channel"}
    for path in (EMAIL, PHONE):
        assert set(body_of(path, "response")["properties"]) == {"detail", "account_channel", "expires_in_minutes"}
        assert {"200", "400", "401", "429", "503"} <= set(schema["paths"][path]["post"]["responses"])
    for path in (EMAIL_CONFIRM, PHONE_CONFIRM):
        assert set(body_of(path, "request")["required"]) == {"new_code", "account_code"}
        assert "email" in body_of(path, "response")["properties"]


# An owner code confirms only the change its message named.


@pytest.mark.django_db(transaction=True)
def test_two_changes_started_at_once_do_not_pair_one_owner_code_with_the_other_new_code(monkeypatch):
    """Sends end in the order newA, newB, ownerB, ownerA: change A (whose owner code came last) is pending, with
    both its codes; B's new code with A's owner code (which named a@) is refused."""
    user = User.objects.create_user(email="ada@example.com")
    codes: dict[tuple[str, str], str] = {}
    a_owner_sending, b_done = threading.Event(), threading.Event()

    def deliver(channel: str, destination: str, code: str, minutes: int, *, purpose: str, target: str = "") -> None:
        codes[(purpose, target or destination)] = code
        if purpose == OtpPurpose.EMAIL_NEW and destination == "b@example.com":
            assert a_owner_sending.wait(10)
        if purpose == OtpPurpose.EMAIL_OWNER and target == "a@example.com":
            a_owner_sending.set()
            assert b_done.wait(10)

    monkeypatch.setattr(otp, "deliver_code", deliver)

    def start(address: str, done: threading.Event | None = None) -> None:
        try:
            fresh = User.objects.get(pk=user.pk)
            contact_change.contact_change_start(
                flow=contact_change.EMAIL,
                user=fresh,
                identifier=parse_identifier(address),
                channel=None,
                client=Client(),
            )
        finally:
            if done:
                done.set()
            connection.close()

    threads = [
        threading.Thread(target=start, args=("a@example.com",)),
        threading.Thread(target=start, args=("b@example.com", b_done)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(codes) == 4

    api = signed_in_as(user)
    crossed = confirm(
        api, codes[(OtpPurpose.EMAIL_NEW, "b@example.com")], codes[(OtpPurpose.EMAIL_OWNER, "a@example.com")]
    )
    assert crossed.status_code == 400
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    matching = confirm(
        api, codes[(OtpPurpose.EMAIL_NEW, "a@example.com")], codes[(OtpPurpose.EMAIL_OWNER, "a@example.com")]
    )
    assert matching.status_code == 200, matching.json()
    user.refresh_from_db()
    assert user.email == "a@example.com"
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()


def test_an_owner_code_tied_to_another_new_code_is_no_pending_change(signed_in, user, smtp):
    """Both codes entered are right and outstanding, but the owner code approves another (replaced) new code: no
    change is pending, and no attempt is counted."""
    assert change_email(signed_in, "grace@example.com").status_code == 200
    new_code, account_code = code_in(smtp.messages[0].text), code_in(smtp.messages[1].text)
    owner_otp = OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_OWNER)
    new_otp = OtpRequest.objects.get(purpose=OtpPurpose.EMAIL_NEW)
    assert owner_otp.approves_id == new_otp.pk
    replaced = otp_request_create(
        identifier="x@example.com", purpose=OtpPurpose.EMAIL_NEW, user=user, status=OtpStatus.SUPERSEDED
    )
    OtpRequest.objects.filter(pk=owner_otp.pk).update(approves=replaced)
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "No email change is waiting" in response.json()["detail"]
    assert not OtpRequest.objects.filter(attempts__gt=0).exists()
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_an_email_change_to_a_too_long_address_is_a_400(signed_in, smtp):
    response = change_email(signed_in, LONG_IDN)
    assert response.status_code == 400
    assert "too long" in response.json()["email"][0]
    assert smtp.messages == [] and not OtpRequest.objects.exists()


def test_the_email_to_the_new_address_names_it(signed_in, user, smtp):
    assert change_email(signed_in, "new@example.com").status_code == 200
    [to_new] = [mail for mail in smtp.messages if mail.rcpt_tos == ["new@example.com"]]
    assert "asked to make new@example.com its email address" in to_new.text
    assert "<strong>new@example.com</strong>" in to_new.html
