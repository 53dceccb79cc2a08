"""Whether an account exists must not show in how long the answer takes: an existing, an unknown and an inactive
identifier cost the same work before the answer (the same queries, the same calls to the provider), and the send,
which only the account gets, happens after it."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import services
from apps.accounts.activity import Client
from apps.accounts.identifiers import parse_identifier
from apps.accounts.models import OtpRequest, OtpStatus, User
from apps.accounts.tests.conftest import request_code
from modules.api import after_response

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

    probes = smtp.noops
    for delivery in deliveries:
        delivery()
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]
    # After the answer too: a message built and a round trip to the provider for each, sent for the account only.
    assert smtp.noops - probes == 2
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


def test_the_send_runs_on_another_thread_once_the_answer_is_out():
    """The request's own thread is free as soon as the answer is sent: the next request on its keep-alive
    connection does not wait for the send (which would time it all the same)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.http import HttpResponse

    started, release, done = threading.Event(), threading.Event(), threading.Event()
    threads: list[str] = []

    def send() -> None:
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        done.set()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(after_response, "executor", ThreadPoolExecutor(max_workers=1, thread_name_prefix="after"))
        response = after_response.run_after_response(HttpResponse(), send)
        response.close()  # what the server does after the last byte
        assert started.wait(5) and not done.is_set()  # close() returned while the send still runs
        release.set()
        assert done.wait(5)
    assert threads[0].startswith("after") and threads[0] != threading.current_thread().name


@pytest.mark.django_db(transaction=True)
def test_a_code_requested_through_the_thread_pool_is_sent_and_recorded(api, smtp, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(after_response, "executor", pool)
    assert request_code(api, "ada@example.com").status_code == 200
    pool.shutdown(wait=True)
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]
    assert OtpRequest.objects.get().status == OtpStatus.SENT
