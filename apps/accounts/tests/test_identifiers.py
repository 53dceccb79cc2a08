"""One canonical ASCII spelling per mailbox or phone, so lookups, throttles and deliveries agree."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.identifiers import canonical_email
from apps.accounts.models import OtpPurpose, OtpRequest, User
from apps.accounts.tests.conftest import code_in, request_code, signed_in_as, url, verify

pytestmark = pytest.mark.django_db

# 95 characters as sent, 305 once the domain is in its xn-- form.
LONG_IDN = "a@" + ".".join(["üx"] * 30) + ".com"
EMAIL_MAX_LENGTH = 254


@pytest.mark.parametrize("lookalike", ["\u017fam@example.com", "sa\u0131@example.com"])
def test_case_folding_lookalikes_cannot_reach_another_account(api, smtp, lookalike):
    # PostgreSQL's UPPER() folds long s to S and dotless i to I: email__iexact would find sam@ / sai@.
    User.objects.create_user(email="sam@example.com")
    User.objects.create_user(email="sai@example.com")
    response = request_code(api, lookalike)
    assert response.status_code == 400
    assert "plain (ASCII) part before the @" in response.json()["identifier"][0]
    assert smtp.messages == []
    assert verify(api, lookalike, "123456").status_code == 400
    assert not OtpRequest.objects.exists()


def test_an_international_domain_has_one_spelling(api, smtp, settings):
    settings.ACCOUNTS = {
        **settings.ACCOUNTS,
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier_total": "2/hour"},
    }
    assert request_code(api, "Ada@Ex\u00e4mple.com").status_code == 200
    assert request_code(api, "ada@exa\u0308mple.com", REMOTE_ADDR="10.0.0.2").status_code == 200  # decomposed ä
    assert request_code(api, "ada@xn--exmple-cua.com", REMOTE_ADDR="10.0.0.3").status_code == 429
    assert set(OtpRequest.objects.values_list("identifier", flat=True)) == {"ada@xn--exmple-cua.com"}
    code = code_in(smtp.messages[-1].text)
    assert verify(api, "ADA@EX\u00c4MPLE.COM", code).json()["user"]["email"] == "ada@xn--exmple-cua.com"


@pytest.mark.parametrize(
    "identifier",
    [
        '"ada"@example.com',  # the mailbox ada@example.com under another name
        "ada@exa\ud800mple.com",  # a lone surrogate in the domain
        "+1\u0665\u0665\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667",  # Arabic-Indic digits
        "ada@example.com.",
    ],
)
def test_other_spellings_are_a_clear_400(api, identifier):
    body = json.dumps({"identifier": identifier})  # ensure_ascii writes the lone surrogate as \ud800
    response = api.post(url("otp-request"), body, content_type="application/json")
    assert response.status_code == 400
    message = response.json()["identifier"][0]
    assert message.startswith("Enter ") or message.startswith("Surrogate characters are not allowed")


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


def test_the_longest_number_and_chat_id_fit_their_columns(api, twilio, telegram, smtp, settings):
    number = "+" + "9" * 15  # E.164's longest
    assert request_code(api, number, "sms").status_code == 200
    assert OtpRequest.objects.get().identifier == number
    user = User.objects.create_user(email="ada@example.com")
    chat = "-" + "9" * 20  # the longest the link accepts
    assert signed_in_as(user).post(url("me-telegram"), {"chat_id": chat}, format="json").status_code == 200
    assert OtpRequest.objects.get(purpose=OtpPurpose.TELEGRAM_CHAT).identifier == chat


# The model and the admin accept only the ASCII digits sign-in can match.

ARABIC_INDIC_PHONE = "+1\u0665\u0665\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667"


def test_the_model_refuses_a_phone_in_arabic_indic_digits():
    user = User(phone=ARABIC_INDIC_PHONE)
    with pytest.raises(ValidationError) as refused:
        user.full_clean(exclude=["password"])
    assert refused.value.message_dict["phone"] == ["Enter a phone number in E.164 form, e.g. +15551234567."]
    assert not User.objects.exists()


def test_the_admin_refuses_a_phone_in_arabic_indic_digits(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"phone": ARABIC_INDIC_PHONE, "usable_password": "false", "password1": "", "password2": ""},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Enter a phone number in E.164 form" in response.content.decode()
    assert not User.objects.filter(is_superuser=False).exists()


@pytest.mark.parametrize("address", ["alice@localhost", "alice@[127.0.0.1]", "alice@[IPv6:::1]", "alice@com."])
def test_addresses_with_no_internet_domain_are_refused(api, smtp, address):
    response = request_code(api, address)
    assert response.status_code == 400
    assert "international form" in response.json()["identifier"][0]
    assert smtp.messages == []
