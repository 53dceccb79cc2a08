from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from modules.twilio.client import DjangoTwilio, TwilioError, TwilioNotConfigured, send_sms, send_whatsapp
from modules.twilio.testing import FakeTwilio, twilio_server, twilio_settings


@pytest.fixture
def twilio(settings) -> Iterator[FakeTwilio]:
    with twilio_server() as fake:
        settings.TWILIO = twilio_settings(fake)
        yield fake


def test_sms_goes_to_the_messages_endpoint_with_credentials(twilio, settings):
    sent = send_sms("+15557654321", "hello")
    assert sent.sid.startswith("SM")
    assert sent.status == "queued"
    [call] = twilio.calls
    assert call.path == f"/2010-04-01/Accounts/{settings.TWILIO['ACCOUNT_SID']}/Messages.json"
    assert (call.username, call.password) == (settings.TWILIO["ACCOUNT_SID"], "test-auth-token")
    assert call.data == {"To": "+15557654321", "From": "+15550000001", "Body": "hello"}


def test_whatsapp_prefixes_both_numbers(twilio):
    send_whatsapp("+15557654321", "hi")
    assert twilio.messages() == [{"To": "whatsapp:+15557654321", "From": "whatsapp:+15550000002", "Body": "hi"}]


def test_verify_start_and_check(twilio, settings):
    client = DjangoTwilio()
    assert client.verify_start("+15557654321") == "pending"
    assert client.verify_check("+15557654321", "000000") is False
    assert client.verify_check("+15557654321", twilio.verify_code) is True
    service = settings.TWILIO["VERIFY_SERVICE_SID"]
    assert [call.path for call in twilio.calls] == [
        f"/v2/Services/{service}/Verifications",
        f"/v2/Services/{service}/VerificationCheck",
        f"/v2/Services/{service}/VerificationCheck",
    ]
    assert twilio.calls[0].data == {"To": "+15557654321", "Channel": "sms"}


def test_errors_become_twilio_errors(twilio):
    twilio.fail_next(503)
    with pytest.raises(TwilioError) as caught:
        send_sms("+15557654321", "x")
    assert caught.value.status == 503
    assert caught.value.is_outage
    twilio.fail_next(400)
    with pytest.raises(TwilioError) as caught:
        send_sms("+15557654321", "x")
    assert not caught.value.is_outage


def test_a_refused_destination_number_is_told_apart_from_the_senders_errors(twilio):
    twilio.fail_next(400, 21211, "The 'To' number +15557654321 is not a valid phone number.")
    with pytest.raises(TwilioError) as caught:
        send_sms("+15557654321", "x")
    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert caught.value.recipient_refused and not caught.value.is_outage
    for status, code in ((401, 20003), (400, 21606), (429, 20429), (503, 20503)):
        twilio.fail_next(status, code)
        with pytest.raises(TwilioError) as caught:
            send_sms("+15557654321", "x")
        assert not caught.value.recipient_refused, (status, code)


def test_unreachable_twilio_is_an_outage(settings):
    from modules.email.testing import free_port

    with twilio_server() as fake:
        settings.TWILIO = twilio_settings(fake) | {"API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
        with pytest.raises(TwilioError, match="unreachable") as caught:
            send_sms("+15557654321", "x")
    assert caught.value.is_outage
    assert not caught.value.recipient_refused


def test_not_configured(settings):
    settings.TWILIO = {**settings.TWILIO, "ACCOUNT_SID": ""}
    with pytest.raises(TwilioNotConfigured, match="TWILIO__ACCOUNT_SID"):
        send_sms("+15557654321", "x")


def test_missing_sender_numbers(twilio, settings):
    settings.TWILIO = {**settings.TWILIO, "FROM_NUMBER": "", "WHATSAPP_FROM": "", "VERIFY_SERVICE_SID": ""}
    with pytest.raises(TwilioNotConfigured, match="FROM_NUMBER"):
        send_sms("+15557654321", "x")
    with pytest.raises(TwilioNotConfigured, match="WHATSAPP_FROM"):
        send_whatsapp("+15557654321", "x")
    with pytest.raises(TwilioNotConfigured, match="VERIFY_SERVICE_SID"):
        DjangoTwilio().verify_start("+15557654321")
    assert twilio.calls == []


def test_test_twilio_command(twilio, capsys):
    call_command("test_twilio", "+15557654321", "--text", "ping")
    assert "Twilio accepted the sms" in capsys.readouterr().out
    assert twilio.messages()[0]["Body"] == "ping"
    call_command("test_twilio", "+15557654321", "--channel", "verify")
    assert twilio.calls[-1].path.endswith("/Verifications")


def test_test_twilio_command_fails_clearly(twilio):
    with pytest.raises(CommandError, match=r"not an E\.164 phone number"):
        call_command("test_twilio", "555-1234")
    twilio.fail_next(500)
    with pytest.raises(CommandError, match="Twilio 500"):
        call_command("test_twilio", "+15557654321")


def test_ping_fetches_the_account_with_credentials_and_sends_nothing(twilio, settings):
    assert DjangoTwilio().ping() == "active"
    [call] = twilio.calls
    assert call.path == f"/2010-04-01/Accounts/{settings.TWILIO['ACCOUNT_SID']}.json"
    assert (call.username, call.password) == (settings.TWILIO["ACCOUNT_SID"], "test-auth-token")
    assert twilio.messages() == []


def test_ping_raises_on_an_outage_or_bad_credentials(twilio, settings):
    for status, code in ((503, 20503), (401, 20003)):
        twilio.fail_next(status, code)
        with pytest.raises(TwilioError) as caught:
            DjangoTwilio().ping()
        assert caught.value.status == status
    settings.TWILIO = {**settings.TWILIO, "API_BASE_URL": "http://127.0.0.1:9"}
    with pytest.raises(TwilioError, match="unreachable"):
        DjangoTwilio().ping()
