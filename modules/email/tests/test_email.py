from __future__ import annotations

import smtplib

import pytest
from django.core.management import CommandError, call_command

from modules.email.mailer import DjangoEmailService, recipient_refused
from modules.email.service import send_email
from modules.email.testing import free_port, smtp_mailers


def test_send_email_renders_html_and_text_on_the_base_layout(smtp, settings):
    settings.EMAIL_USE_TASKS = False
    sent = send_email("ann@example.com", "Hello", "test_email", {})
    assert sent == 1
    [mail] = smtp.messages
    assert mail.subject == "Hello"
    assert mail.rcpt_tos == ["ann@example.com"]
    assert mail.message["From"] == settings.DEFAULT_FROM_EMAIL
    assert "email delivery works" in mail.text
    assert settings.SITE_URL in mail.text  # base.txt footer
    assert mail.html.startswith("<!doctype html>")
    assert "<title>Hello</title>" in mail.html
    assert settings.PROJECT_NAME in mail.html


def test_html_is_escaped_and_text_is_not(smtp, settings):
    settings.EMAIL_USE_TASKS = False
    send_email(["a@example.com", "b@example.com"], "Code", "otp_code", {"code": "<b>1</b>", "minutes": 5})
    [mail] = smtp.messages
    assert sorted(mail.rcpt_tos) == ["a@example.com", "b@example.com"]
    assert "&lt;b&gt;1&lt;/b&gt;" in mail.html
    assert "<b>1</b>" in mail.text


@pytest.mark.django_db  # the tasks app records every run
def test_sends_go_through_the_tasks_api_when_enabled(smtp, settings):
    settings.EMAIL_USE_TASKS = True
    result = send_email("ann@example.com", "Queued", "test_email", {"extra": [1, 2]})
    assert result.task.name == "send_email_task"
    assert result.status == "SUCCESSFUL"  # the ImmediateBackend ran it inline
    assert result.return_value == 1
    assert [mail.subject for mail in smtp.messages] == ["Queued"]


@pytest.mark.django_db
@pytest.mark.parametrize("use_tasks", [False, True])
def test_a_send_may_name_its_own_sender(smtp, settings, use_tasks):
    settings.EMAIL_USE_TASKS = use_tasks
    send_email("ann@example.com", "From news", "test_email", {}, from_email="news@example.com")
    send_email("ann@example.com", "From default", "test_email", {})
    assert [(mail.subject, mail.mail_from) for mail in smtp.messages] == [
        ("From news", "news@example.com"),
        ("From default", settings.DEFAULT_FROM_EMAIL),
    ]


@pytest.mark.django_db
def test_a_failed_queued_send_is_recorded_on_the_task_result(settings):
    settings.MAILERS = smtp_mailers(free_port())
    settings.EMAIL_USE_TASKS = True
    result = send_email("ann@example.com", "Queued", "test_email", {})
    assert result.status == "FAILED"
    assert "ConnectionRefusedError" in result.errors[0].exception_class_path


def test_backends_are_chosen_by_mailers(settings, tmp_path, mailoutbox):
    settings.EMAIL_USE_TASKS = False
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    send_email("ann@example.com", "Locmem", "test_email", {})
    assert [message.subject for message in mailoutbox] == ["Locmem"]
    assert mailoutbox[0].alternatives[0].mimetype == "text/html"
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    send_email("ann@example.com", "To a file", "test_email", {})
    [written] = tmp_path.iterdir()
    assert "Subject: To a file" in written.read_text()


def test_a_refused_recipient_is_told_apart_from_a_server_failure(smtp):
    smtp.refuse_recipients = {"gone@example.com": "550 5.1.1 No such user", "busy@example.com": "450 Mailbox busy"}
    with pytest.raises(smtplib.SMTPRecipientsRefused) as gone:
        DjangoEmailService().send("gone@example.com", "x", "test_email", {})
    assert recipient_refused(gone.value)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as busy:
        DjangoEmailService().send("busy@example.com", "x", "test_email", {})
    assert not recipient_refused(busy.value)  # temporary: the server's side
    assert DjangoEmailService().send(["gone@example.com", "ada@example.com"], "x", "test_email", {}) == 1
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada@example.com"]]
    smtp.refuse_with = "554 Transaction failed"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        DjangoEmailService().send("ada@example.com", "x", "test_email", {})
    assert not recipient_refused(refused.value)  # the message, not the address
    assert not recipient_refused(ConnectionRefusedError())


def test_no_recipient_is_an_error():
    with pytest.raises(ValueError, match="at least one recipient"):
        DjangoEmailService().build([], "x", "test_email", {})


def test_test_email_command_sends(smtp, capsys):
    call_command("test_email", "ops@example.com")
    assert "Sent to ops@example.com" in capsys.readouterr().out
    assert smtp.messages[0].rcpt_tos == ["ops@example.com"]


def test_test_email_command_fails_clearly(settings):
    with pytest.raises(CommandError, match="is not an email address"):
        call_command("test_email", "nope")
    settings.MAILERS = smtp_mailers(free_port())
    with pytest.raises(CommandError, match="sending failed: ConnectionRefusedError"):
        call_command("test_email", "ops@example.com")


def test_probe_opens_a_connection_and_sends_nothing(smtp):
    DjangoEmailService().probe()
    assert smtp.noops == 1
    assert smtp.messages == []


def test_probe_of_an_unreachable_server_raises_as_a_send_would(settings):
    settings.MAILERS = smtp_mailers(free_port())
    with pytest.raises(OSError):
        DjangoEmailService().probe()


def test_probe_of_a_backend_without_a_server_does_nothing(settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    DjangoEmailService().probe()
    assert list(tmp_path.iterdir()) == []
