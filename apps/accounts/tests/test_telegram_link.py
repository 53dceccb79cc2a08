"""The Telegram chat is a sign-in channel: an access token alone cannot change it."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Activity, ActivityLog, OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import code_in, delete_account, other_code, request_code, signed_in_as, url, verify

pytestmark = pytest.mark.django_db

LINK = url("me-telegram")
CONFIRM = url("me-telegram-confirm")


def link(api: APIClient, chat_id: str, **extra: Any) -> Any:
    return api.post(LINK, {"chat_id": chat_id}, format="json", **extra)


def confirm(api: APIClient, telegram_code: str, account_code: str, **extra: Any) -> Any:
    return api.post(CONFIRM, {"telegram_code": telegram_code, "account_code": account_code}, format="json", **extra)


def test_patch_cannot_set_the_chat_nor_the_phone_or_email(signed_in, user):
    response = signed_in.patch(url("me"), {"telegram_chat_id": "666"}, format="json")
    assert response.status_code == 400
    assert "POST /api/accounts/me/telegram/" in response.json()["detail"]
    for field, value in (("phone", "+15550000666"), ("email", "eve@example.com")):
        response = signed_in.patch(url("me"), {field: value}, format="json")
        assert response.status_code == 400
        assert f"cannot be changed here: {field}" in response.json()["detail"]
    user.refresh_from_db()
    assert (user.telegram_chat_id, user.phone, user.email) == ("", None, "ada@example.com")


def test_link_needs_the_chat_code_and_the_email_code(signed_in, api, user, smtp, telegram):
    started = link(signed_in, "4242")
    assert started.status_code == 200, started.json()
    assert started.json()["account_channel"] == "email"
    assert started.json()["expires_in_minutes"] == 10
    [chat_text] = telegram.messages_to("4242")
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ada@example.com"]
    assert "4242" in mail.text
    user.refresh_from_db()
    assert user.telegram_chat_id == ""  # nothing changes before confirmation

    confirmed = confirm(signed_in, code_in(chat_text), code_in(mail.text))
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["telegram_chat_id"] == "4242"
    user.refresh_from_db()
    assert user.telegram_chat_id == "4242"
    assert ActivityLog.objects.filter(user=user, action=Activity.TELEGRAM_LINKED).get().details["chat_id"] == "4242"
    assert set(OtpRequest.objects.filter(user=user).values_list("status", flat=True)) == {OtpStatus.USED}

    # And Telegram sign-in now reaches the new chat.
    anonymous = APIClient()
    assert request_code(anonymous, "ada@example.com", "telegram").status_code == 200
    assert verify(anonymous, "ada@example.com", code_in(telegram.messages_to("4242")[-1])).status_code == 200


def test_a_stolen_token_with_its_own_chat_cannot_link_it(signed_in, user, smtp, telegram):
    """The thief reads the code in their chat, but the account code went to the owner's inbox."""
    assert link(signed_in, "666").status_code == 200
    chat_code = code_in(telegram.messages_to("666")[0])
    owner_code = code_in(smtp.messages[0].text)
    guess = other_code(owner_code)
    for _ in range(5):
        response = confirm(signed_in, chat_code, guess)
        assert response.status_code == 400
        assert "account_code" in response.json()["detail"]
        assert "telegram_code" not in response.json()["detail"]
    # Out of attempts: even the right code no longer works.
    assert confirm(signed_in, chat_code, owner_code).status_code == 400
    user.refresh_from_db()
    assert user.telegram_chat_id == ""
    assert OtpRequest.objects.get(purpose=OtpPurpose.TELEGRAM_OWNER).status == OtpStatus.EXHAUSTED
    assert ActivityLog.objects.filter(user=user, action=Activity.TELEGRAM_LINK_FAILED).count() == 6


def test_a_wrong_chat_code_is_named(signed_in, smtp, telegram):
    link(signed_in, "4242")
    chat_code = code_in(telegram.messages_to("4242")[0])
    response = confirm(signed_in, other_code(chat_code), code_in(smtp.messages[0].text))
    assert response.status_code == 400
    assert "telegram_code" in response.json()["detail"]
    assert OtpRequest.objects.get(purpose=OtpPurpose.TELEGRAM_CHAT).attempts == 1
    assert OtpRequest.objects.get(purpose=OtpPurpose.TELEGRAM_OWNER).attempts == 0


def test_link_codes_cannot_sign_in_and_leave_sign_in_codes_alone(api, signed_in, smtp, telegram):
    assert request_code(api, "ada@example.com").status_code == 200
    sign_in_code = code_in(smtp.messages[-1].text)
    link(signed_in, "4242")
    owner_code = code_in(smtp.messages[-1].text)
    if owner_code != sign_in_code:
        assert verify(api, "ada@example.com", owner_code).status_code == 400
    assert verify(api, "ada@example.com", sign_in_code).status_code == 200


def test_a_new_link_request_replaces_the_pending_one(signed_in, user, smtp, telegram):
    link(signed_in, "1111")
    first_chat, first_owner = code_in(telegram.messages_to("1111")[0]), code_in(smtp.messages[-1].text)
    link(signed_in, "2222")
    second_chat, second_owner = code_in(telegram.messages_to("2222")[0]), code_in(smtp.messages[-1].text)
    if (first_chat, first_owner) != (second_chat, second_owner):
        assert confirm(signed_in, first_chat, first_owner).status_code == 400
    assert confirm(signed_in, second_chat, second_owner).status_code == 200
    user.refresh_from_db()
    assert user.telegram_chat_id == "2222"


def test_a_phone_account_confirms_by_sms(twilio, telegram):
    user = User.objects.create_user(phone="+15551234567")
    api = signed_in_as(user)
    started = link(api, "4242")
    assert started.json()["account_channel"] == "sms"
    [sms] = twilio.messages()
    assert sms["To"] == "+15551234567"
    assert confirm(api, code_in(telegram.messages_to("4242")[0]), code_in(sms["Body"])).status_code == 200
    user.refresh_from_db()
    assert user.telegram_chat_id == "4242"


def test_without_another_channel_the_linked_chat_confirms_and_is_told_when_replaced(telegram):
    # No Twilio here, so this phone account signs in only through its chat.
    user = User.objects.create_user(phone="+15551234567", telegram_chat_id="1111")
    api = signed_in_as(user)
    assert link(api, "2222").json()["account_channel"] == "telegram"
    [owner_text] = telegram.messages_to("1111")
    assert "2222" in owner_text
    assert confirm(api, code_in(telegram.messages_to("2222")[0]), code_in(owner_text)).status_code == 200
    assert "no longer receives sign-in codes" in telegram.messages_to("1111")[-1]


def test_bad_input_is_a_clear_400(signed_in, user, smtp, telegram, settings):
    response = link(signed_in, "@me")
    assert response.status_code == 400
    assert response.json()["chat_id"] == ["A Telegram chat id is a number, e.g. 123456789."]
    assert signed_in.post(LINK, {}, format="json").json()["chat_id"] == ["This field is required."]
    response = signed_in.post(CONFIRM, {"telegram_code": "12", "account_code": "abcdef"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "telegram_code": ["The code is 6 digits."],
        "account_code": ["The code is 6 digits."],
        "detail": "telegram_code: The code is 6 digits. account_code: The code is 6 digits.",
        "error_code": "invalid",
    }
    response = confirm(signed_in, "123456", "123456")
    assert response.status_code == 400
    assert "No Telegram link is waiting" in response.json()["detail"]

    User.objects.filter(pk=user.pk).update(telegram_chat_id="4242")
    response = link(signed_in, "4242")
    assert response.status_code == 400
    assert response.json()["detail"] == "This chat is already linked to your account."

    settings.TELEGRAM = {**settings.TELEGRAM, "BOT_TOKEN": ""}
    response = link(signed_in, "5555")
    assert response.status_code == 400
    assert "not configured" in response.json()["detail"]
    assert telegram.calls == [] and smtp.messages == []


@pytest.mark.parametrize(("method", "path"), [("post", LINK), ("delete", LINK), ("post", CONFIRM)])
def test_signed_out_is_401(api, method, path):
    response = getattr(api, method)(path, {"chat_id": "1", "telegram_code": "1", "account_code": "1"}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_link_requests_and_confirmations_are_throttled_per_user(signed_in, user, smtp, telegram, settings):
    rates = {**settings.ACCOUNTS["THROTTLE_RATES"], "telegram_link": "2/hour", "telegram_confirm": "2/hour"}
    settings.ACCOUNTS = {**settings.ACCOUNTS, "THROTTLE_RATES": rates}
    assert link(signed_in, "1", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert link(signed_in, "2", REMOTE_ADDR="10.0.0.2").status_code == 200
    blocked = link(signed_in, "3", REMOTE_ADDR="10.0.0.3")  # a new IP does not reset the user's allowance
    assert blocked.status_code == 429
    assert "throttled" in blocked.json()["detail"].lower()
    assert telegram.messages_to("3") == []
    for _ in range(2):
        assert confirm(signed_in, "000000", "000000", REMOTE_ADDR="10.0.0.4").status_code == 400
    assert confirm(signed_in, "000000", "000000", REMOTE_ADDR="10.0.0.5").status_code == 429
    # Another user has an allowance of their own.
    assert link(signed_in_as(User.objects.create_user(email="bob@example.com")), "9").status_code == 200


def test_a_chat_the_bot_cannot_reach_is_a_503_and_nothing_is_pending(signed_in, smtp, telegram):
    telegram.fail_next(403, "Forbidden: bot can't initiate conversation with a user")
    response = link(signed_in, "4242")
    assert response.status_code == 503
    assert "started a conversation with the bot" in response.json()["detail"]
    assert smtp.messages == []
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()


def test_an_unsent_account_code_leaves_no_half_link(signed_in, smtp, telegram):
    smtp.refuse_with = "554 Transaction failed"
    assert link(signed_in, "4242").status_code == 503
    assert not OtpRequest.objects.filter(status=OtpStatus.SENT).exists()
    assert confirm(signed_in, code_in(telegram.messages_to("4242")[0]), "000000").status_code == 400


def test_unlink_tells_the_owner_and_the_chat(signed_in, user, smtp, telegram):
    User.objects.filter(pk=user.pk).update(telegram_chat_id="4242")
    response = signed_in.delete(LINK)
    assert response.status_code == 200
    assert response.json()["telegram_chat_id"] == ""
    user.refresh_from_db()
    assert user.telegram_chat_id == ""
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ada@example.com"]
    assert "4242 was unlinked" in mail.text
    assert "unlinked" in telegram.messages_to("4242")[0]
    assert ActivityLog.objects.get(user=user, action=Activity.TELEGRAM_UNLINKED).details["told"] == "email"

    again = signed_in.delete(LINK)
    assert again.status_code == 400
    assert again.json()["detail"] == "No Telegram chat is linked to your account."


def test_unlink_is_not_silent_when_the_notice_cannot_go(signed_in, user, smtp, telegram):
    User.objects.filter(pk=user.pk).update(telegram_chat_id="4242")
    smtp.refuse_with = "554 Transaction failed"
    response = signed_in.delete(LINK)
    assert response.status_code == 503
    user.refresh_from_db()
    assert user.telegram_chat_id == "4242"
    assert not ActivityLog.objects.filter(action=Activity.TELEGRAM_UNLINKED).exists()


def test_unlink_refuses_to_remove_the_only_way_in(telegram):
    user = User.objects.create_user(phone="+15551234567", telegram_chat_id="1111")  # no Twilio: no SMS
    response = signed_in_as(user).delete(LINK)
    assert response.status_code == 400
    assert "lock you out" in response.json()["detail"]
    user.refresh_from_db()
    assert user.telegram_chat_id == "1111"
    assert telegram.calls == []


def test_deleting_the_account_cancels_a_pending_link(signed_in, user, smtp, telegram):
    link(signed_in, "4242")
    assert delete_account(signed_in, smtp).status_code == 204
    assert not OtpRequest.objects.filter(user=user, status=OtpStatus.SENT).exists()


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
    assert owner.post(CONFIRM, codes, format="json").status_code == 200
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


# Telegram chat ids are ASCII digits.


@pytest.mark.parametrize("chat_id", ["١٢٣٤", "\uff11\uff12\uff13\uff14", "-٣"])  # Arabic-Indic, fullwidth
def test_a_chat_id_in_other_digits_is_a_400(signed_in, smtp, telegram, chat_id):
    response = signed_in.post(LINK, {"chat_id": chat_id}, format="json")
    assert response.status_code == 400
    assert "is a number" in response.json()["chat_id"][0]
    assert telegram.calls == [] and smtp.messages == []
