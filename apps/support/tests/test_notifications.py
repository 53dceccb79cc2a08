"""Who is told what, through tasks enqueued once the change commits: the requester of a staff reply (with the link,
never of a note), the new assignee, and the assignee and the support chat of an SLA breach. Real SMTP and a local
Telegram."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.support import notifications, services, sla, tasks
from apps.support.models import Message
from apps.support.tests.conftest import SUPPORT_CHAT
from apps.support.tests.factories import (
    DUMMY_TASKS,
    png_bytes,
    queued_tasks,
    staff_answer,
    ticket_backdate,
    ticket_create,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(settings):
    settings.SUPPORT = {**settings.SUPPORT, "TICKET_LINK": "https://help.example.com/tickets/{number}"}


# The requester


def test_a_staff_reply_emails_the_requester_with_the_reply_and_the_link(
    customer, staff, smtp, linked, django_capture_on_commit_callbacks
):
    ticket = ticket_create(customer, subject="Refund")
    with django_capture_on_commit_callbacks(execute=True):
        staff_answer(ticket, staff, "Your refund is on its way.", files=[upload("receipt.png", png_bytes())])
    [mail] = smtp.messages
    assert mail.rcpt_tos == [customer.email]
    assert mail.subject == f"Re: [#{ticket.number}] Refund"
    assert "Sam Agent replied to your ticket" in mail.text
    assert "Your refund is on its way." in mail.text and "Attached: receipt.png" in mail.text
    assert f"https://help.example.com/tickets/{ticket.number}" in mail.text
    assert f'href="https://help.example.com/tickets/{ticket.number}"' in mail.html


def test_the_email_waits_for_the_commit(customer, staff, settings, django_capture_on_commit_callbacks):
    settings.TASKS = DUMMY_TASKS
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks() as callbacks:
        message = staff_answer(ticket, staff)
    assert queued_tasks() == []
    for callback in callbacks:
        callback()
    assert queued_tasks() == [("notify_reply", (message.pk,))]


def test_an_internal_note_emails_nobody(customer, staff, smtp, settings, django_capture_on_commit_callbacks):
    settings.TASKS = DUMMY_TASKS
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks(execute=True):
        note = services.staff_reply(ticket=ticket, author=staff, body="They are a difficult customer.", internal=True)
    assert queued_tasks() == []
    # Even asked to, the task will not send a note.
    assert tasks.notify_reply.call(note.pk) == "skipped: only public staff replies are emailed"
    assert smtp.messages == []


def test_a_customers_own_reply_emails_nobody(customer, smtp, django_capture_on_commit_callbacks):
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_reply(ticket=ticket, author=customer, body="Hello?")
    assert smtp.messages == []
    message = Message.objects.filter(ticket=ticket).latest("pk")
    assert tasks.notify_reply.call(message.pk) == "skipped: only public staff replies are emailed"


def test_a_requester_without_an_email_address_is_not_emailed(
    phone_customer, staff, smtp, caplog, django_capture_on_commit_callbacks
):
    ticket = ticket_create(phone_customer)
    with caplog.at_level(logging.INFO, logger="apps.support.notifications"):
        message = staff_answer(ticket, staff)
        assert tasks.notify_reply.call(message.pk) == "skipped: the requester has no email address"
    assert smtp.messages == []
    assert f"reply on ticket #{ticket.number} not emailed" in caplog.text


def test_the_link_defaults_to_the_tickets_api_address(customer, staff, smtp, settings):
    message = staff_answer(ticket_create(customer), staff)
    tasks.notify_reply.call(message.pk)
    [mail] = smtp.messages
    assert f"/api/support/tickets/{message.ticket.number}/" in mail.text
    assert notifications.ticket_link(message.ticket) == settings.SUPPORT["TICKET_LINK"].format(
        number=message.ticket.number
    )


@pytest.mark.parametrize(
    "link",
    [
        "https://help.example.com/#/t/{number}?from={source}",
        "https://help.example.com/t/{number}/{}",
        "https://help.example.com/t/{number}/{0}",
    ],
)
def test_a_link_with_other_braces_is_filled_in_where_it_names_the_ticket_only(customer, staff, smtp, settings, link):
    # The setting asks only for {number}: any other brace in a link is the link's own, not a placeholder.
    settings.SUPPORT = {**settings.SUPPORT, "TICKET_LINK": link}
    message = staff_answer(ticket_create(customer), staff)
    assert tasks.notify_reply.call(message.pk) == f"emailed {customer.email}"
    [mail] = smtp.messages
    assert link.replace("{number}", str(message.ticket.number)) in mail.text


def test_a_deleted_message_is_skipped(smtp):
    assert tasks.notify_reply.call(999_999) == "skipped: the message was deleted"


def test_a_subject_on_two_lines_stays_one_subject_line(customer, staff, smtp):
    ticket = ticket_create(customer)
    type(ticket).objects.filter(pk=ticket.pk).update(subject="Help\r\nBcc: victim@example.com")
    tasks.notify_reply.call(staff_answer(ticket, staff).pk)
    [mail] = smtp.messages
    assert mail.rcpt_tos == [customer.email]
    assert mail.subject == f"Re: [#{ticket.number}] Help Bcc: victim@example.com"


# The assignee


def test_the_new_assignee_is_emailed(customer, staff, other_staff, smtp, django_capture_on_commit_callbacks):
    ticket = ticket_create(customer, subject="Login")
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, actor=staff, assignee_id=other_staff.pk)
    [mail] = smtp.messages
    assert mail.rcpt_tos == [other_staff.email]
    assert mail.subject == f"Ticket assigned to you: #{ticket.number} Login"
    assert f"From: {customer}" in mail.text


def test_taking_a_ticket_yourself_or_unassigning_emails_nobody(
    customer, staff, smtp, django_capture_on_commit_callbacks
):
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk)
        services.ticket_assign(ticket=ticket, actor=staff, assignee_id=None)
    assert smtp.messages == []


def test_an_assignment_changed_before_the_task_ran_is_not_told(customer, staff, other_staff, smtp):
    ticket = services.ticket_assign(ticket=ticket_create(customer), actor=staff, assignee_id=other_staff.pk)
    services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk)
    result = tasks.notify_assignee.call(ticket.pk, other_staff.pk)
    assert result == "skipped: the ticket was deleted or assigned to someone else since"
    assert smtp.messages == []


# SLA breaches


def breached_ticket(customer, assignee=None):
    ticket = ticket_backdate(ticket_create(customer), timezone.now() - timedelta(hours=10))
    if assignee is not None:
        ticket = services.ticket_assign(ticket=ticket, actor=assignee, assignee_id=assignee.pk)
    return ticket


def test_a_breach_emails_the_assignee_and_tells_the_support_chat(customer, staff, smtp, telegram):
    ticket = breached_ticket(customer, assignee=staff)
    [breach] = sla.flag_breaches()
    result = tasks.notify_breach.call(ticket.pk, breach.which)
    assert result == f"emailed {staff.email}; sent to chat {SUPPORT_CHAT}"
    [mail] = smtp.messages
    assert mail.rcpt_tos == [staff.email]
    assert mail.subject == f"SLA breach on #{ticket.number}: first response overdue"
    [text] = telegram.messages_to(SUPPORT_CHAT)
    assert text.startswith(f"SLA breach: first response overdue on #{ticket.number}")
    assert f"Assignee: {staff}" in text


def test_a_breach_with_nobody_assigned_goes_to_the_chat_only(customer, smtp, telegram):
    ticket = breached_ticket(customer)
    assert tasks.notify_breach.call(ticket.pk, "first_response") == f"sent to chat {SUPPORT_CHAT}"
    assert smtp.messages == []
    [text] = telegram.messages_to(SUPPORT_CHAT)
    assert "Assignee: nobody" in text


def test_without_telegram_a_breach_is_emailed_only(customer, staff, smtp, settings):
    settings.TELEGRAM = {**settings.TELEGRAM, "BOT_TOKEN": ""}
    ticket = breached_ticket(customer, assignee=staff)
    assert tasks.notify_breach.call(ticket.pk, "resolution") == f"emailed {staff.email}"
    assert "resolution overdue" in smtp.messages[0].subject


def test_the_support_chat_defaults_to_the_telegram_chat(customer, smtp, telegram, settings):
    settings.SUPPORT = {**settings.SUPPORT, "TELEGRAM_CHAT_ID": "-1001"}
    ticket = breached_ticket(customer)
    tasks.notify_breach.call(ticket.pk, "first_response")
    assert len(telegram.messages_to("-1001")) == 1


def test_the_check_task_notifies_each_breach_once(customer, staff, smtp, telegram, django_capture_on_commit_callbacks):
    breached_ticket(customer, assignee=staff)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sla_check.call()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sla_check.call()
    assert len(smtp.messages) == 1
    assert len(telegram.messages_to(SUPPORT_CHAT)) == 1


def test_a_breach_never_carries_an_internal_note(customer, staff, smtp, telegram):
    ticket = breached_ticket(customer, assignee=staff)
    services.staff_reply(ticket=ticket, author=staff, body="private remark", internal=True)
    tasks.notify_breach.call(ticket.pk, "first_response")
    assert "private remark" not in smtp.messages[0].text
    assert all("private remark" not in text for text in telegram.messages_to(SUPPORT_CHAT))
