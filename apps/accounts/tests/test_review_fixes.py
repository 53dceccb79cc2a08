"""Regressions for a security review: Telegram sign-in codes end with the chat's link, an owner code confirms only
the change it named, over-long addresses are a 400, a provider outage does not tell which identifiers the server
sends to, and chat ids are ASCII digits. Real SMTP, Twilio and Telegram stand-ins on loopback."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import contact_change, services
from apps.accounts.identifiers import canonical_email, parse_identifier
from apps.accounts.models import OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import code_in, request_code, verify
from apps.accounts.tests.test_contact_change import change_email, confirm, signed_in_as
from modules.email.testing import free_port, smtp_mailers

pytestmark = pytest.mark.django_db

LINK = "/api/accounts/me/telegram/"
LINK_CONFIRM = "/api/accounts/me/telegram/confirm/"
# 95 characters as sent, 305 once the domain is in its xn-- form.
LONG_IDN = "a@" + ".".join(["üx"] * 30) + ".com"
EMAIL_MAX_LENGTH = 254


# Telegram sign-in codes end when the chat is re-linked or unlinked.


def telegram_sign_in_code(api: APIClient, telegram: Any, chat_id: str) -> str:
    assert request_code(api, "ada@example.com", "telegram").status_code == 200
    return code_in(telegram.messages_to(chat_id)[-1])


def test_a_code_sent_to_the_old_chat_stops_working_when_another_chat_is_linked(api, smtp, telegram):
    user = User.objects.create_user(email="ada@example.com", telegram_chat_id="111")
    owner = signed_in_as(user)
    old_chat_code = telegram_sign_in_code(api, telegram, "111")
    assert owner.post(LINK, {"chat_id": "222"}, format="json").status_code == 200
    codes = {"telegram_code": code_in(telegram.messages_to("222")[-1]), "account_code": code_in(smtp.messages[-1].text)}
    assert owner.post(LINK_CONFIRM, codes, format="json").status_code == 200
    assert verify(api, "ada@example.com", old_chat_code).status_code == 400
    assert OtpRequest.objects.get(purpose=OtpPurpose.SIGN_IN).status == OtpStatus.SUPERSEDED


def test_a_code_sent_to_the_chat_stops_working_when_it_is_unlinked(api, smtp, telegram):
    user = User.objects.create_user(email="ada@example.com", telegram_chat_id="111")
    chat_code = telegram_sign_in_code(api, telegram, "111")
    assert signed_in_as(user).delete(LINK).status_code == 200
    assert verify(api, "ada@example.com", chat_code).status_code == 400


def test_an_unlink_that_could_not_be_told_leaves_the_chats_code_alone(api, smtp, telegram):
    """Nothing changed (503), so nothing ends: the codes end in the transaction of the change."""
    user = User.objects.create_user(email="ada@example.com", telegram_chat_id="111")
    chat_code = telegram_sign_in_code(api, telegram, "111")
    smtp.refuse_with = "554 Transaction failed"
    assert signed_in_as(user).delete(LINK).status_code == 503
    assert verify(api, "ada@example.com", chat_code).status_code == 200


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

    monkeypatch.setattr(services, "deliver_code", deliver)

    def start(address: str, done: threading.Event | None = None) -> None:
        try:
            fresh = User.objects.get(pk=user.pk)
            contact_change.change_start(
                contact_change.EMAIL, fresh, parse_identifier(address), None, client=services.Client()
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
    replaced = OtpRequest.objects.create(
        identifier="x@example.com",
        purpose=OtpPurpose.EMAIL_NEW,
        channel="email",
        user=user,
        salt="s",
        code_hash="h",
        status=OtpStatus.SUPERSEDED,
        expires_at=new_otp.expires_at,
    )
    OtpRequest.objects.filter(pk=owner_otp.pk).update(approves=replaced)
    response = confirm(signed_in, new_code, account_code)
    assert response.status_code == 400
    assert "No email change is waiting" in response.json()["detail"]
    assert not OtpRequest.objects.filter(attempts__gt=0).exists()
    user.refresh_from_db()
    assert user.email == "ada@example.com"


# Addresses too long once their domain is in xn-- form are a 400, not a database error.


def test_an_address_too_long_in_its_ascii_form_is_refused_by_name():
    with pytest.raises(ValueError, match="too long"):
        canonical_email(LONG_IDN)
    local = "a" * 64
    domain = ".".join(["b" * 60] * 3) + "." + "c" * (EMAIL_MAX_LENGTH - 64 - 1 - 3 * 61)
    longest = f"{local}@{domain}"
    assert len(longest) == EMAIL_MAX_LENGTH
    assert canonical_email(longest) == longest


def test_a_sign_in_request_for_a_too_long_address_is_a_400(api, smtp):
    response = request_code(api, LONG_IDN)
    assert response.status_code == 400
    assert "too long" in response.json()["identifier"][0]
    assert smtp.messages == [] and not OtpRequest.objects.exists()


def test_an_email_change_to_a_too_long_address_is_a_400(signed_in, smtp):
    response = change_email(signed_in, LONG_IDN)
    assert response.status_code == 400
    assert "too long" in response.json()["email"][0]
    assert smtp.messages == [] and not OtpRequest.objects.exists()


def test_the_longest_number_and_chat_id_fit_their_columns(api, twilio, telegram, smtp, settings):
    number = "+" + "9" * 15  # E.164's longest
    assert request_code(api, number, "sms").status_code == 200
    assert OtpRequest.objects.get().identifier == number
    user = User.objects.create_user(email="ada@example.com")
    chat = "-" + "9" * 20  # the longest the link accepts
    assert signed_in_as(user).post(LINK, {"chat_id": chat}, format="json").status_code == 200
    assert OtpRequest.objects.get(purpose=OtpPurpose.TELEGRAM_CHAT).identifier == chat


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
    assert len(smtp.messages) == 1 and smtp.noops == 2  # one round trip each: a send or a probe
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
    assert [call.method for call in telegram.calls] == ["sendMessage", "getMe", "getMe"]
    telegram.calls.clear()
    for _ in range(3 * len(identifiers)):  # each request: the first try and both retries
        telegram.fail_next(502, "Bad Gateway")
    status, body = same_answers(api, "telegram", identifiers)
    assert status == 503
    assert "telegram provider" in body["detail"]
    assert [call.method for call in telegram.calls] == ["sendMessage"] * 3 + ["getMe"] * 6
    assert OtpRequest.objects.filter(status=OtpStatus.SENT).count() == 1  # the code sent before the outage


def test_sms_with_self_registration_off_answers_alike_in_health_and_outage(api, twilio, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    User.objects.create_user(phone="+15551234567")
    identifiers = ["+15551234567", "+15557654321"]
    status, _ = same_answers(api, "sms", identifiers)
    assert status == 200
    assert len(twilio.messages()) == 1 and len(twilio.calls) == 2  # a message, and a fetch of the account
    for _ in identifiers:
        twilio.fail_next(503)
    status, body = same_answers(api, "sms", identifiers)
    assert status == 503
    assert "sms provider" in body["detail"]


# Telegram chat ids are ASCII digits.


@pytest.mark.parametrize("chat_id", ["١٢٣٤", "\uff11\uff12\uff13\uff14", "-٣"])  # Arabic-Indic, fullwidth
def test_a_chat_id_in_other_digits_is_a_400(signed_in, smtp, telegram, chat_id):
    response = signed_in.post(LINK, {"chat_id": chat_id}, format="json")
    assert response.status_code == 400
    assert "is a number" in response.json()["chat_id"][0]
    assert telegram.calls == [] and smtp.messages == []
