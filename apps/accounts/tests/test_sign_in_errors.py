"""Bad input answers 400 with a message; unconfigured channels 400 naming them; provider outages 503, nothing sent.

A sign-in code is sent after the answer (apps.accounts.services.otp_request): the answer rests on a probe of the
provider, the same for every identifier, and a send that fails later marks its code failed and is logged."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Activity, ActivityLog, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import code_in, request_code, url, verify
from modules.email.testing import free_port, smtp_mailers

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram"])
def test_unconfigured_channel_is_a_400_naming_it(api, channel):
    response = request_code(api, "+15551234567" if channel != "telegram" else "ada@example.com", channel)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert f"The {channel} channel is not configured" in detail
    assert "Available: email" in detail
    assert not OtpRequest.objects.exists()


def test_channel_switched_off_in_config_is_a_400(api, settings, twilio):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "OTP_CHANNELS": ["email"]}
    response = request_code(api, "+15551234567", "sms")
    assert response.status_code == 400
    assert "sms channel is not configured" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"identifier": "not an address"}, "identifier", "international form"),
        ({"identifier": "+12"}, "identifier", "international form"),
        ({}, "identifier", "required"),
        ({"identifier": "a@example.com", "channel": "fax"}, "channel", "not a valid choice"),
        ({"identifier": ["a@example.com"]}, "identifier", "Not a valid string"),
    ],
)
def test_bad_request_input_is_a_clear_400(api, payload, field, message):
    response = api.post(url("otp-request"), payload, format="json")
    assert response.status_code == 400
    assert message in response.json()[field][0]


def test_channel_and_identifier_must_fit(api, twilio):
    response = request_code(api, "a@example.com", "sms")
    assert response.status_code == 400
    assert "needs a phone number" in response.json()["detail"]
    response = request_code(api, "+15551234567", "email")
    assert response.status_code == 400
    assert "needs an email address" in response.json()["detail"]


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", "١٢٣٤٥٦"])  # the last: Arabic-Indic digits
def test_bad_code_format_is_a_400(api, code):
    response = verify(api, "a@example.com", code)
    assert response.status_code == 400
    assert response.json()["code"]


def test_a_message_the_smtp_server_refuses_after_the_answer_marks_the_code_failed(api, smtp, caplog):
    smtp.refuse_with = "554 Transaction failed"
    response = request_code(api, "a@example.com")
    assert response.status_code == 200  # the server answered the probe: the refusal comes with the send, after
    assert any("not delivered" in record.getMessage() for record in caplog.records)
    otp = OtpRequest.objects.get()
    assert otp.status == OtpStatus.FAILED
    assert otp.sent_at is None
    assert "SMTPDataError" in otp.error


def test_unreachable_smtp_server_is_a_503(api, settings):
    settings.MAILERS = smtp_mailers(free_port())
    assert request_code(api, "a@example.com").status_code == 503
    assert OtpRequest.objects.get().status == OtpStatus.FAILED


def test_twilio_outage_is_a_503_and_the_failed_code_cannot_be_used(api, twilio):
    twilio.fail_next(500)
    response = request_code(api, "+15551234567", "sms")
    assert response.status_code == 503
    assert "sms provider" in response.json()["detail"]
    otp = OtpRequest.objects.get()
    assert otp.status == OtpStatus.FAILED
    assert "500" in otp.error
    # Even a correct guess of the unsent code is refused: nothing is outstanding.
    assert verify(api, "+15551234567", "123456").status_code == 400


def test_telegram_outage_is_a_503(api, telegram, user):
    user.telegram_chat_id = "555"
    user.save()
    for _ in range(3):  # first try and both retries
        telegram.fail_next(502, "Bad Gateway")
    response = request_code(api, "ada@example.com", "telegram")
    assert response.status_code == 503
    assert OtpRequest.objects.get().status == OtpStatus.FAILED
    assert len(telegram.calls) == 3


def test_a_chat_that_blocked_the_bot_answers_like_an_unknown_account(api, telegram, user, caplog):
    """A 503 only for known accounts whose chat refuses would tell them apart from unknown identifiers."""
    user.telegram_chat_id = "555"
    user.save()
    telegram.fail_next(403, "Forbidden: bot was blocked by the user", method="sendMessage")
    known = request_code(api, "ada@example.com", "telegram")
    unknown = request_code(api, "nobody@example.com", "telegram")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 200
    otp = OtpRequest.objects.get(identifier="ada@example.com")
    assert (otp.status, otp.sent_at) == (OtpStatus.FAILED, None)
    assert "403" in otp.error
    # Each request probes (getMe) before its answer; after it, the known account's send (a refusal is not retried)
    # and, for the unknown identifier, a message built and another probe: the same work.
    assert [call.method for call in telegram.calls] == ["getMe", "sendMessage", "getMe", "getMe"]
    [refused] = [record for record in caplog.records if "not delivered" in record.getMessage()]
    assert code_in(telegram.calls[1].data["text"]) not in refused.getMessage()
    assert ActivityLog.objects.get(user=user, action=Activity.OTP_REQUESTED).details == {
        "channel": "telegram",
        "delivery": "queued",
    }
    assert verify(api, "ada@example.com", code_in(telegram.calls[1].data["text"])).status_code == 400


def test_a_mailbox_the_server_refuses_answers_like_a_sent_code(api, smtp, settings, caplog):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    User.objects.create_user(email="gone@example.com")
    smtp.refuse_recipients["gone@example.com"] = "550 5.1.1 No such user here"
    known = request_code(api, "gone@example.com")
    unknown = request_code(api, "nobody@example.com")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 200
    assert smtp.messages == []
    otp = OtpRequest.objects.get(identifier="gone@example.com")
    assert (otp.status, otp.sent_at) == (OtpStatus.FAILED, None)
    assert "SMTPRecipientsRefused" in otp.error
    assert any("not delivered" in record.getMessage() for record in caplog.records)


def test_a_temporary_recipient_refusal_marks_the_code_failed(api, smtp):
    smtp.refuse_recipients["busy@example.com"] = "450 4.2.1 Mailbox busy, try later"
    assert request_code(api, "busy@example.com").status_code == 200
    otp = OtpRequest.objects.get()
    assert (otp.status, otp.sent_at) == (OtpStatus.FAILED, None)


def test_twilio_refusing_the_number_answers_like_a_sent_code_but_its_own_errors_are_503(api, twilio):
    twilio.fail_next(400, 21211, "The 'To' number +15551234567 is not a valid phone number.", sends_only=True)
    response = request_code(api, "+15551234567", "sms")
    assert response.status_code == 200
    assert OtpRequest.objects.get().status == OtpStatus.FAILED
    for status, code in ((401, 20003), (429, 20429), (400, 21606)):  # bad credentials, rate, bad sender number
        twilio.fail_next(status, code, "refused")
        response = request_code(api, "+15551234567", "sms")
        assert response.status_code == 503, (status, code)
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()


def test_a_bad_bot_token_is_an_outage_not_a_refusal(api, telegram, user):
    user.telegram_chat_id = "555"
    user.save()
    telegram.fail_next(401, "Unauthorized")
    assert request_code(api, "ada@example.com", "telegram").status_code == 503


def test_a_long_retry_after_fails_the_request_fast_and_nothing_is_sent(api, telegram, user, settings):
    """The module's defaults wait up to a minute per retry (for background sends); a sign-in request does not."""
    settings.TELEGRAM = {**settings.TELEGRAM, "MAX_RETRY_AFTER": 60, "MAX_RETRIES": 3}
    user.telegram_chat_id = "555"
    user.save()
    telegram.fail_next(429, "Too Many Requests: retry after 3600", retry_after=3600)
    response = request_code(api, "ada@example.com", "telegram")  # a one-hour wait would hang the test here
    assert response.status_code == 503
    assert "telegram provider did not take the message" in response.json()["detail"]
    otp = OtpRequest.objects.get()
    assert (otp.status, otp.sent_at) == (OtpStatus.FAILED, None)
    assert len(telegram.calls) == 1


def test_a_short_retry_after_is_still_honoured_in_a_request(api, telegram, user, settings):
    settings.TELEGRAM = {**settings.TELEGRAM, "MAX_RETRY_AFTER": 60}
    user.telegram_chat_id = "555"
    user.save()
    telegram.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    assert request_code(api, "ada@example.com", "telegram").status_code == 200
    assert time.monotonic() - started >= 1
    assert OtpRequest.objects.get().status == OtpStatus.SENT
    assert [call.method for call in telegram.calls] == ["getMe", "getMe", "sendMessage"]


def test_failed_send_keeps_the_previous_code_valid(api, smtp):
    request_code(api, "a@example.com")
    code = code_in(smtp.messages[-1].text)
    smtp.refuse_with = "451 Try again later"
    assert request_code(api, "a@example.com").status_code == 200
    assert OtpRequest.objects.filter(status=OtpStatus.FAILED).count() == 1
    assert verify(api, "a@example.com", code).status_code == 200


# A provider outage answers the same for identifiers the server sends to and those it sends nothing to.


def same_answers(api: APIClient, channel: str, identifiers: list[str]) -> tuple[int, dict[str, Any]]:
    answers = [request_code(api, identifier, channel) for identifier in identifiers]
    first = (answers[0].status_code, answers[0].json())
    assert all((answer.status_code, answer.json()) == first for answer in answers), [
        (answer.status_code, answer.json()) for answer in answers
    ]
    return first


def test_email_with_self_registration_off_answers_alike_in_health_and_outage(api, smtp, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    User.objects.create_user(email="ada@example.com")
    User.objects.create_user(email="gone@example.com", is_active=False)
    status, _ = same_answers(api, "email", ["ada@example.com", "nobody@example.com", "gone@example.com"])
    assert status == 200
    # A probe each before the answer; after it, the one send and a probe for each of the other two.
    assert len(smtp.messages) == 1 and smtp.noops == 5
    settings.MAILERS = smtp_mailers(free_port())  # nothing listens there
    status, body = same_answers(api, "email", ["ada@example.com", "nobody@example.com", "gone@example.com"])
    assert status == 503
    assert "email provider" in body["detail"]


def test_telegram_answers_alike_for_linked_unlinked_and_unknown_accounts(api, telegram, settings):
    User.objects.create_user(email="linked@example.com", telegram_chat_id="555")
    User.objects.create_user(email="unlinked@example.com")
    identifiers = ["linked@example.com", "unlinked@example.com", "nobody@example.com"]
    status, _ = same_answers(api, "telegram", identifiers)
    assert status == 200
    assert [call.method for call in telegram.calls] == ["getMe", "sendMessage"] + ["getMe"] * 4
    telegram.calls.clear()
    for _ in range(3 * len(identifiers)):  # each request: the first try and both retries
        telegram.fail_next(502, "Bad Gateway")
    status, body = same_answers(api, "telegram", identifiers)
    assert status == 503
    assert "telegram provider" in body["detail"]
    assert [call.method for call in telegram.calls] == ["getMe"] * 9
    assert OtpRequest.objects.filter(status=OtpStatus.SENT).count() == 1  # the code sent before the outage


def test_sms_with_self_registration_off_answers_alike_in_health_and_outage(api, twilio, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    User.objects.create_user(phone="+15551234567")
    identifiers = ["+15551234567", "+15557654321"]
    status, _ = same_answers(api, "sms", identifiers)
    assert status == 200
    # A fetch of the account each before the answer; after it, one message and one more fetch.
    assert len(twilio.messages()) == 1 and len(twilio.calls) == 4
    for _ in identifiers:
        twilio.fail_next(503)
    status, body = same_answers(api, "sms", identifiers)
    assert status == 503
    assert "sms provider" in body["detail"]
