"""One canonical ASCII spelling per mailbox or phone, so lookups, throttles and deliveries agree."""

from __future__ import annotations

import json

import pytest

from apps.accounts.models import OtpRequest, User
from apps.accounts.tests.conftest import code_in, request_code, verify

pytestmark = pytest.mark.django_db


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
        "THROTTLE_RATES": {**settings.ACCOUNTS["THROTTLE_RATES"], "otp_identifier": "2/hour"},
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
    response = api.post("/api/auth/otp/request/", body, content_type="application/json")
    assert response.status_code == 400
    message = response.json()["identifier"][0]
    assert message.startswith("Enter ") or message.startswith("Surrogate characters are not allowed")
