"""Deleting an account takes a fresh code sent to its existing channel, like changing its email or phone: an access
token alone (a stolen one, say) deletes nothing, whoever the account belongs to."""

from __future__ import annotations

import pytest

from apps.accounts.models import OtpPurpose, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import code_in, delete_account, other_code, signed_in_as, url

pytestmark = pytest.mark.django_db


def test_an_access_token_alone_deletes_nothing(signed_in, user, smtp):
    assert signed_in.delete(url("me")).status_code == 405
    response = signed_in.post(url("me-delete-confirm"), {"code": "123456"}, format="json")
    assert response.status_code == 400
    assert "POST /api/accounts/me/delete/" in response.json()["detail"]
    user.refresh_from_db()
    assert user.is_active


def test_a_superuser_needs_the_code_too(smtp):
    root = User.objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client = signed_in_as(root)
    assert client.post(url("me-delete-confirm"), {"code": "123456"}, format="json").status_code == 400
    assert delete_account(client, smtp).status_code == 204
    root.refresh_from_db()
    assert not root.is_active


def test_the_code_goes_to_the_accounts_channel_and_deletes_once(signed_in, user, smtp):
    started = signed_in.post(url("me-delete"))
    assert started.status_code == 200
    assert started.json()["account_channel"] == "email"
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ada@example.com"]
    assert "account deletion code" in mail.subject and "asked to delete it" in mail.text
    code = code_in(mail.text)
    assert signed_in.post(url("me-delete-confirm"), {"code": code}, format="json").status_code == 204
    user.refresh_from_db()
    assert (user.is_active, user.deleted_at is not None) == (False, True)
    assert OtpRequest.objects.get(purpose=OtpPurpose.ACCOUNT_DELETE).status == OtpStatus.USED


def test_wrong_codes_count_and_the_code_dies_after_the_limit(signed_in, user, smtp, settings):
    signed_in.post(url("me-delete"))
    code = code_in(smtp.messages[-1].text)
    for _ in range(settings.ACCOUNTS["OTP_MAX_ATTEMPTS"]):
        response = signed_in.post(url("me-delete-confirm"), {"code": other_code(code)}, format="json")
        assert response.status_code == 400
        assert response.json()["error_code"] == "wrong_codes"
    assert signed_in.post(url("me-delete-confirm"), {"code": code}, format="json").status_code == 400
    user.refresh_from_db()
    assert user.is_active


def test_another_users_code_does_not_delete_this_account(signed_in, user, smtp):
    """IDOR: the code confirms the deletion of the account it was sent for, and no other."""
    eve = User.objects.create_user(email="eve@example.com")
    eves_client = signed_in_as(eve)
    assert eves_client.post(url("me-delete")).status_code == 200
    eves_code = code_in(smtp.messages[-1].text)
    assert signed_in.post(url("me-delete"), format="json").status_code == 200
    assert signed_in.post(url("me-delete-confirm"), {"code": eves_code}, format="json").status_code == 400
    user.refresh_from_db()
    eve.refresh_from_db()
    assert user.is_active and eve.is_active


def test_a_newer_code_replaces_the_older(signed_in, user, smtp):
    signed_in.post(url("me-delete"))
    first = code_in(smtp.messages[-1].text)
    signed_in.post(url("me-delete"))
    second = code_in(smtp.messages[-1].text)
    if first != second:
        assert signed_in.post(url("me-delete-confirm"), {"code": first}, format="json").status_code == 400
    assert signed_in.post(url("me-delete-confirm"), {"code": second}, format="json").status_code == 204


@pytest.mark.parametrize("name", ["me-delete", "me-delete-confirm"])
def test_signed_out_is_401(api, name):
    assert api.post(url(name), {"code": "123456"}, format="json").status_code == 401


def test_an_account_with_no_reachable_channel_is_told_to_ask_an_administrator(settings):
    phone_only = User.objects.create_user(phone="+15551234567")
    response = signed_in_as(phone_only).post(url("me-delete"))
    assert response.status_code == 400
    assert "Ask an administrator" in response.json()["detail"]
