"""SIGNUPS_OPEN, a live setting: closed, an unknown identifier gets no code and cannot register, while existing
accounts sign in as before, and every identifier still costs the same work before the answer."""

from __future__ import annotations

import pytest
from constance import config
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts import services
from apps.accounts.activity import Client
from apps.accounts.identifiers import parse_identifier
from apps.accounts.models import OtpRequest, OtpStatus, User
from apps.accounts.selectors import self_registration_open
from apps.accounts.tests.conftest import code_in, request_code, verify
from apps.accounts.tests.test_sign_in_equal_work import IDENTIFIERS, shape

pytestmark = pytest.mark.django_db


@pytest.fixture
def signups_closed() -> None:
    User.objects.create_user(email="ada@example.com")
    User.objects.create_user(email="gone@example.com", is_active=False)
    config.SIGNUPS_OPEN = False


def test_open_needs_both_the_configuration_and_the_live_setting(settings):
    assert self_registration_open()
    config.SIGNUPS_OPEN = False
    assert not self_registration_open()
    config.SIGNUPS_OPEN = True
    settings.ACCOUNTS = {**settings.ACCOUNTS, "SELF_REGISTRATION": False}
    assert not self_registration_open()


def test_closed_an_unknown_identifier_gets_no_code_and_cannot_register(api, smtp, signups_closed):
    answer = request_code(api, "nobody@example.com")
    assert answer.status_code == 200
    assert smtp.messages == []
    assert OtpRequest.objects.get().status == OtpStatus.WITHHELD
    assert verify(api, "nobody@example.com", "123456").status_code == 400
    assert not User.objects.filter(email="nobody@example.com").exists()


def test_closed_an_existing_account_still_signs_in(api, smtp, signups_closed):
    assert request_code(api, "ada@example.com").status_code == 200
    response = verify(api, "ada@example.com", code_in(smtp.messages[-1].text))
    assert response.status_code == 200
    assert response.json()["created"] is False


def test_a_code_sent_while_open_does_not_register_once_closed(api, smtp):
    assert request_code(api, "late@example.com").status_code == 200
    code = code_in(smtp.messages[-1].text)
    config.SIGNUPS_OPEN = False
    assert verify(api, "late@example.com", code).status_code == 400
    assert not User.objects.filter(email="late@example.com").exists()


def test_open_again_an_unknown_identifier_registers(api, smtp, signups_closed):
    config.SIGNUPS_OPEN = True
    assert request_code(api, "new@example.com").status_code == 200
    response = verify(api, "new@example.com", code_in(smtp.messages[-1].text))
    assert response.status_code == 200 and response.json()["created"] is True


def test_closed_every_identifier_does_the_same_work_before_the_answer(smtp, signups_closed):
    work = {}
    for identifier in IDENTIFIERS:
        with CaptureQueriesContext(connection) as queries:
            services.otp_request(identifier=parse_identifier(identifier), channel="email", client=Client(ip="10.0.0.1"))
        work[identifier] = [shape(query["sql"]) for query in queries]
    existing = work["ada@example.com"]
    assert any("constance" in sql for sql in existing)  # the live setting is read for the account as well
    assert work["nobody@example.com"] == existing
    assert work["gone@example.com"] == existing
