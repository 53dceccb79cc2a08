"""Whether an account exists must not show in how long the answer takes: an existing, an unknown and an inactive
identifier cost the same work before the answer (the same queries, the same calls to the provider), and the send,
which only the account gets, happens after it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import services
from apps.accounts.activity import Client
from apps.accounts.identifiers import parse_identifier
from apps.accounts.models import OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import request_code

pytestmark = pytest.mark.django_db

LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|\bNULL\b")
IDENTIFIERS = ["ada@example.com", "nobody@example.com", "gone@example.com"]


def shape(sql: str) -> str:
    """A query with its values taken out: what the database is asked to do, not with which values."""
    return LITERALS.sub("?", sql)


@pytest.fixture
def registration_off(settings: Any) -> None:
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    User.objects.create_user(email="ada@example.com")
    User.objects.create_user(email="gone@example.com", is_active=False)


def test_existing_unknown_and_inactive_identifiers_do_the_same_work_before_the_answer(registration_off, smtp):
    work = {}
    deliveries = []
    for identifier in IDENTIFIERS:
        probes, sent = smtp.noops, len(smtp.messages)
        with CaptureQueriesContext(connection) as queries:
            deliveries.append(
                services.otp_request(
                    identifier=parse_identifier(identifier), channel="email", client=Client(ip="10.0.0.1")
                )
            )
        work[identifier] = ([shape(query["sql"]) for query in queries], smtp.noops - probes, len(smtp.messages) - sent)
    existing = work["ada@example.com"]
    assert existing[1:] == (1, 0)  # one probe of the provider, nothing sent yet
    assert work["nobody@example.com"] == existing
    assert work["gone@example.com"] == existing

    for delivery in deliveries:
        delivery()
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]
    statuses = dict(OtpRequest.objects.values_list("identifier", "status"))
    assert statuses == {
        "ada@example.com": OtpStatus.SENT,
        "nobody@example.com": OtpStatus.WITHHELD,
        "gone@example.com": OtpStatus.WITHHELD,
    }


def test_the_three_answers_are_identical_and_only_the_account_gets_a_code(api, registration_off, smtp):
    answers = [request_code(api, identifier) for identifier in IDENTIFIERS]
    assert {(answer.status_code, answer.content) for answer in answers} == {(200, answers[0].content)}
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]


def test_a_withheld_code_never_signs_in(api, registration_off, smtp):
    request_code(api, "nobody@example.com")
    otp = OtpRequest.objects.get()
    assert otp.status == OtpStatus.WITHHELD
    # Whatever the code was, nothing outstanding matches it: the verification looks only at sent codes.
    for guess in ("000000", "123456", "999999"):
        assert api.post("/api/auth/otp/verify/", {"identifier": "nobody@example.com", "code": guess}).status_code == 400
    assert not User.objects.filter(email="nobody@example.com").exists()
