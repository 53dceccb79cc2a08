"""The whole sign-in flow through the API, over each channel, with real servers on loopback."""

from __future__ import annotations

import pytest

from apps.accounts.models import Activity, ActivityLog, OtpRequest, OtpStatus, RegistrationSource, User
from apps.accounts.tests.conftest import bearer, code_in, request_code, url, verify

pytestmark = pytest.mark.django_db


def test_email_code_to_jwt_to_profile_to_logout(api, smtp):
    response = request_code(api, "New.Person@Example.com")
    assert response.status_code == 200
    assert "code is on its way" in response.json()["detail"]

    [mail] = smtp.messages
    assert mail.rcpt_tos == ["new.person@example.com"]
    assert "sign-in code" in mail.subject
    code = code_in(mail.text)
    assert code in mail.html  # rendered on the HTML layout too

    signed = verify(api, "new.person@example.com", code)
    assert signed.status_code == 200, signed.json()
    body = signed.json()
    assert body["created"] is True
    assert body["user"]["email"] == "new.person@example.com"
    assert body["user"]["registration_source"] == "email"
    user = User.objects.get(email="new.person@example.com")
    assert user.last_login is not None

    bearer(api, body["access"])
    me = api.get(url("me"))
    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    patched = api.patch(url("me"), {"first_name": "Grace", "last_name": "Hopper"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["full_name"] == "Grace Hopper"

    refreshed = api.post(url("token-refresh"), {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200
    new_refresh = refreshed.json()["refresh"]
    assert api.post(url("logout"), {"refresh": new_refresh}, format="json").status_code == 200
    again = api.post(url("token-refresh"), {"refresh": new_refresh}, format="json")
    assert again.status_code == 401

    actions = list(ActivityLog.objects.filter(user=user).values_list("action", flat=True))
    for action in (Activity.SIGN_IN, Activity.REGISTERED, Activity.PROFILE_UPDATED, Activity.LOGOUT):
        assert action in actions


def test_second_sign_in_finds_the_same_account(api, smtp, user):
    assert request_code(api, "ADA@example.com").status_code == 200
    response = verify(api, "ada@example.com", code_in(smtp.messages[-1].text))
    assert response.status_code == 200
    assert response.json()["created"] is False
    assert response.json()["user"]["id"] == user.pk
    assert User.objects.count() == 1


def test_sms_code_through_twilio(api, twilio):
    response = request_code(api, "+1 (555) 123-4567", "sms")
    assert response.status_code == 200
    [message] = twilio.messages()
    assert message["To"] == "+15551234567"
    assert message["From"] == "+15550000001"
    assert twilio.calls[0].username.startswith("AC")
    assert twilio.calls[0].password == "test-auth-token"

    signed = verify(api, "+15551234567", code_in(message["Body"]))
    assert signed.status_code == 200
    assert signed.json()["user"]["phone"] == "+15551234567"
    assert signed.json()["user"]["email"] is None
    assert User.objects.get(phone="+15551234567").registration_source == RegistrationSource.SMS


def test_whatsapp_code_through_twilio(api, twilio):
    assert request_code(api, "+447700900123", "whatsapp").status_code == 200
    [message] = twilio.messages()
    assert message["To"] == "whatsapp:+447700900123"
    assert message["From"] == "whatsapp:+15550000002"
    signed = verify(api, "+447700900123", code_in(message["Body"]))
    assert signed.status_code == 200
    assert User.objects.get(phone="+447700900123").registration_source == RegistrationSource.WHATSAPP


def test_telegram_code_goes_to_the_linked_chat(api, telegram, user):
    user.telegram_chat_id = "987654"
    user.save()
    assert request_code(api, "ada@example.com", "telegram").status_code == 200
    [text] = telegram.messages_to("987654")
    assert telegram.calls[0].token == "123:test-token"
    signed = verify(api, "ada@example.com", code_in(text))
    assert signed.status_code == 200
    assert signed.json()["user"]["id"] == user.pk


def test_newest_code_supersedes_older_ones(api, smtp, user):
    request_code(api, "ada@example.com")
    first = code_in(smtp.messages[-1].text)
    request_code(api, "ada@example.com")
    second = code_in(smtp.messages[-1].text)
    statuses = sorted(OtpRequest.objects.values_list("status", flat=True))
    assert statuses == [OtpStatus.SENT, OtpStatus.SUPERSEDED]
    if first != second:
        assert verify(api, "ada@example.com", first).status_code == 400
    assert verify(api, "ada@example.com", second).status_code == 200
