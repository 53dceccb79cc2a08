"""What support tells people, by email and Telegram: the requester of a staff reply, a staff member of a ticket now
theirs, the assignee and the support chat of an SLA breach. Called by the tasks (apps.support.tasks), never inside a
request; each returns one line saying what it did, which the task result keeps.

An internal note is never the subject of an email: reply_to_requester refuses one whatever it is called with."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse

from apps.support.events import person_name
from apps.support.models import Message, Ticket
from modules.email.service import send_email
from modules.telegram.client import send_telegram_message

logger = logging.getLogger(__name__)

REPLY_TEMPLATE = "support_reply"
ASSIGNED_TEMPLATE = "support_assigned"
BREACH_TEMPLATE = "support_breach"
BREACH_LABELS = {"first_response": "first response", "resolution": "resolution"}


def one_line(text: str) -> str:
    """A line break in a subject would end the email's Subject header."""
    return " ".join(text.split())


def ticket_link(ticket: Ticket) -> str:
    """The requester's link to the ticket (SUPPORT__TICKET_LINK)."""
    # Not str.format: a link may hold braces of its own (a fragment, a query), which format takes for fields.
    return str(settings.SUPPORT["TICKET_LINK"]).replace("{number}", str(ticket.number))


def admin_link(ticket: Ticket) -> str:
    return f"{str(settings.SITE_URL).rstrip('/')}{reverse('admin:support_ticket_change', args=[ticket.pk])}"


def _admin_link_or_none(ticket: Ticket) -> str:
    # The admin's pages are registered by apps.support.admin; without them the email still says which ticket.
    try:
        return admin_link(ticket)
    except NoReverseMatch:
        logger.warning("no admin page for support tickets: the notification carries no link")
        return ""


def telegram_chat() -> str:
    return str(settings.SUPPORT.get("TELEGRAM_CHAT_ID") or "")


def telegram_configured() -> bool:
    return bool(telegram_chat() and getattr(settings, "TELEGRAM", {}).get("BOT_TOKEN"))


def reply_to_requester(message_id: int) -> str:
    """Email the requester a staff member's public reply, with the link to the ticket."""
    message = Message.objects.select_related("ticket__requester", "author").filter(pk=message_id).first()
    if message is None:
        return "skipped: the message was deleted"
    if message.internal or not message.from_staff:
        return "skipped: only public staff replies are emailed"
    ticket = message.ticket
    address = ticket.requester.email
    if not address:
        logger.info("reply on ticket #%s not emailed: the requester has no email address", ticket.number)
        return "skipped: the requester has no email address"
    agent = person_name(message.author, fallback="Support")
    send_email(
        address,
        one_line(f"Re: [#{ticket.number}] {ticket.subject}"),
        REPLY_TEMPLATE,
        {
            "requester_name": person_name(ticket.requester, fallback=""),
            "agent_name": agent,
            "ticket_number": ticket.number,
            "ticket_subject": ticket.subject,
            "body": message.body,
            "attachments": [attachment.name for attachment in message.attachments.all()],
            "ticket_url": ticket_link(ticket),
        },
        defer=False,
    )
    return f"emailed {address}"


def ticket_assigned(ticket_id: int, assignee_id: int) -> str:
    """Email a staff member that a ticket is now theirs (when it still is)."""
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is None or ticket.assignee_id != assignee_id:
        return "skipped: the ticket was deleted or assigned to someone else since"
    assignee = get_user_model().objects.get(pk=assignee_id)
    if not assignee.email:
        return "skipped: the assignee has no email address"
    send_email(
        assignee.email,
        one_line(f"Ticket assigned to you: #{ticket.number} {ticket.subject}"),
        ASSIGNED_TEMPLATE,
        _ticket_context(ticket),
        defer=False,
    )
    return f"emailed {assignee.email}"


def breach_text(ticket: Ticket, which: str) -> str:
    lines = [
        f"SLA breach: {BREACH_LABELS.get(which, which)} overdue on #{ticket.number}",
        one_line(ticket.subject),
        f"Priority: {ticket.get_priority_display()}, status: {ticket.get_status_display()}",
        f"Assignee: {ticket.assignee or 'nobody'}",
    ]
    link = _admin_link_or_none(ticket)
    if link:
        lines.append(link)
    return "\n".join(lines)


def sla_breach(ticket_id: int, which: str) -> str:
    """Tell the assignee (by email) and the support chat (by Telegram, when configured) of a breach."""
    ticket = Ticket.objects.select_related("assignee", "requester").filter(pk=ticket_id).first()
    if ticket is None:
        return "skipped: the ticket was deleted"
    done = []
    assignee = ticket.assignee
    if assignee is not None and assignee.is_active and assignee.email:
        send_email(
            assignee.email,
            one_line(f"SLA breach on #{ticket.number}: {BREACH_LABELS.get(which, which)} overdue"),
            BREACH_TEMPLATE,
            {**_ticket_context(ticket), "which": BREACH_LABELS.get(which, which)},
            defer=False,
        )
        done.append(f"emailed {assignee.email}")
    if telegram_configured():
        send_telegram_message(breach_text(ticket, which), telegram_chat())
        done.append(f"sent to chat {telegram_chat()}")
    return "; ".join(done) or "nobody to tell: no assignee with an email address and no Telegram chat"


def _ticket_context(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket_number": ticket.number,
        "ticket_subject": ticket.subject,
        "ticket_status": ticket.get_status_display(),
        "ticket_priority": ticket.get_priority_display(),
        "requester": str(ticket.requester),
        "ticket_url": _admin_link_or_none(ticket),
    }
