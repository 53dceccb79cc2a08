"""Each OTP security rule of the issue, one test (or more) per rule."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apps.accounts import codes
from apps.accounts.models import ActivityLog, OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import (
    bearer,
    code_in,
    delete_account,
    other_code,
    request_code,
    sign_in_by_email,
    url,
    verify,
)

pytestmark = pytest.mark.django_db


def test_codes_are_six_digits_from_secrets(monkeypatch):
    drawn = []

    def randbelow(limit):
        drawn.append(limit)
        return 42

    monkeypatch.setattr("apps.accounts.codes.secrets.randbelow", randbelow)
    assert codes.new_code() == "000042"
    assert drawn == [1_000_000]


def test_code_is_stored_only_as_a_keyed_hash(api, smtp, settings):
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    otp = OtpRequest.objects.get()
    stored = [str(getattr(otp, field.attname)) for field in OtpRequest._meta.concrete_fields]
    assert not any(code in value for value in stored)
    assert otp.code_hash == codes.hash_code(code, identifier="ada@example.com", salt=otp.salt)
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert otp.code_hash != codes.hash_code(code, identifier="ada@example.com", salt=otp.salt)


def test_code_never_reaches_the_logs(api, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    verify(api, "ada@example.com", "000000" if code != "000000" else "111111")
    verify(api, "ada@example.com", code)
    # mail.log is the receiving test SMTP server's own debug trace of the message: the mailbox, not us.
    ours = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert any(record.name.startswith("apps.accounts") for record in ours), "expected our own log lines"
    for record in ours:
        assert code not in record.getMessage()
    assert not ActivityLog.objects.filter(details__icontains=code).exists()


def test_code_never_goes_to_the_admin_chat(api, smtp, telegram, django_capture_on_commit_callbacks):
    request_code(api, "new@example.com")
    code = code_in(smtp.messages[-1].text)
    with django_capture_on_commit_callbacks(execute=True):
        assert verify(api, "new@example.com", code).json()["created"] is True
    admin_messages = telegram.messages_to("-1001")
    assert len(admin_messages) == 1
    assert "new@example.com" in admin_messages[0]
    assert code not in admin_messages[0]


def test_codes_expire_after_the_configured_minutes(api, smtp, settings):
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    otp = OtpRequest.objects.get()
    assert otp.expires_at - otp.created_at == pytest.approx(timedelta(minutes=10), abs=timedelta(seconds=5))
    OtpRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = verify(api, "ada@example.com", code)
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]

    settings.ACCOUNTS = {**settings.ACCOUNTS, "OTP_EXPIRY_MINUTES": 3}
    request_code(api, "ada@example.com")
    otp = OtpRequest.objects.latest("created_at")
    assert otp.expires_at - otp.created_at == pytest.approx(timedelta(minutes=3), abs=timedelta(seconds=5))


def test_a_code_works_once(api, smtp):
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    assert verify(api, "ada@example.com", code).status_code == 200
    assert verify(api, "ada@example.com", code).status_code == 400
    assert OtpRequest.objects.get().status == OtpStatus.USED


def test_five_wrong_attempts_burn_the_code(api, smtp):
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert verify(api, "ada@example.com", wrong).status_code == 400
    otp = OtpRequest.objects.get()
    assert otp.attempts == 5
    assert otp.status == OtpStatus.EXHAUSTED
    assert verify(api, "ada@example.com", code).status_code == 400


def test_codes_are_compared_in_constant_time(api, smtp, monkeypatch):
    compared = []
    real = constant_time_compare

    def recording(left, right):
        compared.append((left, right))
        return real(left, right)

    monkeypatch.setattr(codes, "constant_time_compare", recording)
    request_code(api, "ada@example.com")
    verify(api, "ada@example.com", code_in(smtp.messages[-1].text))
    assert len(compared) == 1
    assert compared[0][0] == compared[0][1]  # hash against hash, never code against code


def test_requests_are_throttled_per_identifier_and_client(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier": "3/hour"},
    }
    for _ in range(3):
        assert request_code(api, "ada@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    blocked = request_code(api, "ADA@example.com", REMOTE_ADDR="10.0.0.1")
    assert blocked.status_code == 429
    assert "use the latest one you received" in blocked.json()["detail"]
    assert len(smtp.messages) == 3
    assert request_code(api, "other@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.0.0.2").status_code == 200  # another client


def test_all_clients_together_are_capped_per_identifier(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier_total": "3/hour"},
    }
    for n in range(3):
        assert request_code(api, "ada@example.com", REMOTE_ADDR=f"10.0.0.{n}").status_code == 200
    blocked = request_code(api, "ada@example.com", REMOTE_ADDR="10.0.0.9")
    assert blocked.status_code == 429
    assert "use the latest one you received" in blocked.json()["detail"]
    assert len(smtp.messages) == 3


def test_requests_are_throttled_per_ip_and_forwarded_for_is_not_trusted(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_ip": "2/hour"},
    }
    assert request_code(api, "a@example.com", REMOTE_ADDR="10.1.1.1").status_code == 200
    assert request_code(api, "b@example.com", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 200
    spoofed = request_code(api, "c@example.com", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="5.6.7.8")
    assert spoofed.status_code == 429
    assert request_code(api, "c@example.com", REMOTE_ADDR="10.2.2.2").status_code == 200


def test_forwarded_for_is_used_behind_a_trusted_proxy(api, smtp, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_ip": "1/hour"},
    }
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    assert request_code(api, "a@example.com", HTTP_X_FORWARDED_FOR="9.9.9.9, 1.1.1.1", **proxy).status_code == 200
    assert request_code(api, "b@example.com", HTTP_X_FORWARDED_FOR="8.8.8.8, 1.1.1.1", **proxy).status_code == 429
    assert request_code(api, "b@example.com", HTTP_X_FORWARDED_FOR="2.2.2.2", **proxy).status_code == 200
    assert ActivityLog.objects.filter(ip="1.1.1.1").count() == 1


def test_verification_is_throttled_per_ip(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "verify_ip": "2/hour"},
    }
    for identifier in ("ada@example.com", "bob@example.com"):
        assert verify(api, identifier, "123456", REMOTE_ADDR="10.0.0.1").status_code == 400
    assert verify(api, "eve@example.com", "123456", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert verify(api, "eve@example.com", "123456", REMOTE_ADDR="10.0.0.2").status_code == 400


def test_strangers_failing_from_ten_ips_do_not_lock_the_owner_out(api, smtp, user):
    """Wrong codes count against the code and the caller's IP, not the identifier: the guesses kill the code they
    aimed at, and the owner asks for a fresh one and signs in."""
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.9.9.9").status_code == 200
    first = code_in(smtp.messages[-1].text)
    wrong = "000000" if first != "000000" else "111111"
    for n in range(10):
        assert verify(api, "ada@example.com", wrong, REMOTE_ADDR=f"10.0.0.{n}").status_code == 400
    assert OtpRequest.objects.get().status == OtpStatus.EXHAUSTED
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.9.9.9").status_code == 200
    fresh = code_in(smtp.messages[-1].text)
    assert verify(api, "ada@example.com", fresh, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_a_stranger_who_fills_the_send_limit_and_spends_the_code_does_not_lock_the_owner_out(api, smtp, settings, user):
    """The audit's attack: five code requests fill the identifier's limit, five wrong guesses kill the newest
    code. The limit counts per client, so the owner still gets a fresh code and signs in."""
    stranger = {"REMOTE_ADDR": "10.6.6.6"}
    for _ in range(settings.ACCOUNTS["OTP_MAX_ATTEMPTS"]):
        assert request_code(api, "ada@example.com", **stranger).status_code == 200
    assert request_code(api, "ada@example.com", **stranger).status_code == 429
    latest = code_in(smtp.messages[-1].text)
    for _ in range(settings.ACCOUNTS["OTP_MAX_ATTEMPTS"]):
        assert verify(api, "ada@example.com", other_code(latest), **stranger).status_code == 400
    assert verify(api, "ada@example.com", latest, REMOTE_ADDR="10.9.9.9").status_code == 400  # spent
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.9.9.9").status_code == 200
    fresh = code_in(smtp.messages[-1].text)
    assert verify(api, "ada@example.com", fresh, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_no_enumeration_same_answers_for_known_and_unknown_accounts(api, smtp, settings, user):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    known = request_code(api, "ada@example.com")
    unknown = request_code(api, "nobody@example.com")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]

    known_wrong = verify(api, "ada@example.com", "000000")
    unknown_wrong = verify(api, "nobody@example.com", "000000")
    assert (known_wrong.status_code, known_wrong.json()) == (unknown_wrong.status_code, unknown_wrong.json())
    assert not User.objects.filter(email="nobody@example.com").exists()


def test_self_registration_off_creates_nobody(api, smtp, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    assert request_code(api, "new@example.com").status_code == 200
    assert smtp.messages == []
    assert verify(api, "new@example.com", "123456").status_code == 400
    assert not User.objects.exists()


def test_inactive_account_gets_no_code_and_cannot_sign_in(api, smtp, user):
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = verify(api, "ada@example.com", code)
    assert response.status_code == 400
    assert request_code(api, "ada@example.com").status_code == 200
    assert len(smtp.messages) == 1  # nothing sent to the inactive account


def test_deleted_account_cannot_sign_in_again(api, smtp):
    tokens = sign_in_by_email(api, smtp, "gone@example.com")
    assert delete_account(bearer(api, tokens["access"]), smtp).status_code == 204
    api.credentials()
    assert request_code(api, "gone@example.com").status_code == 200
    assert len(smtp.messages) == 2  # the sign-in code and the deletion code; nothing since
    assert verify(api, "gone@example.com", "123456").status_code == 400
    assert api.post(url("token-refresh"), {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert bearer(api, tokens["access"]).get(url("me")).status_code == 401
    assert User.objects.filter(email="gone@example.com").count() == 1


def test_a_forwarded_for_entry_that_is_no_address_is_ignored(api, smtp, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    response = request_code(api, "a@example.com", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="<script>, 10.0.0.2")
    assert response.status_code == 200
    # The last proxy we trust is as far as the chain can be followed.
    assert ActivityLog.objects.get().ip == "10.0.0.2"
    assert OtpRequest.objects.get().ip == "10.0.0.2"


def test_plus_addressed_variants_share_the_identifier_throttle(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier": "2/hour"},
    }
    assert request_code(api, "ada+one@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert request_code(api, "ADA+two@example.com", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada+one@example.com"], ["ada@example.com"]]
    # Still two addresses, not one account: the tag is only ignored for throttling.
    assert set(OtpRequest.objects.values_list("identifier", flat=True)) == {"ada+one@example.com", "ada@example.com"}


def test_requests_for_tagged_variants_do_not_use_up_the_owners_total(api, smtp, settings, user):
    """The audit's cheaper attack: requests for ada+x0…@ from two clients (nothing is sent: no such accounts) must
    not fill the total of ada@ herself."""
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    for n in range(5):
        for client in ("10.6.6.1", "10.6.6.2"):
            request_code(api, f"ada+x{n}@example.com", REMOTE_ADDR=client)
    assert request_code(api, "ada@example.com", REMOTE_ADDR="10.9.9.9").status_code == 200
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]


def test_an_ipv6_client_is_counted_by_its_64(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_ip": "2/hour"},
    }
    assert request_code(api, "a@example.com", REMOTE_ADDR="2001:db8:1:2::1").status_code == 200
    assert request_code(api, "b@example.com", REMOTE_ADDR="2001:db8:1:2::ffff").status_code == 200
    assert request_code(api, "c@example.com", REMOTE_ADDR="2001:db8:1:2:aaaa::9").status_code == 429
    assert request_code(api, "c@example.com", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200
