"""The background work of support: notifications (enqueued by the services once their change commits) and the
periodic SLA check and auto-close (the catalog schedules sla_check every minute and auto_close hourly). Tasks take
ids, never objects: they run in the worker, later."""

from __future__ import annotations

import logging

from django.tasks import task

from apps.support import notifications, sla

logger = logging.getLogger(__name__)


@task
def notify_reply(message_id: int) -> str:
    """Email the requester a staff member's public reply."""
    return notifications.reply_to_requester(message_id)


@task
def notify_assignee(ticket_id: int, assignee_id: int) -> str:
    """Email a staff member that a ticket is now theirs."""
    return notifications.ticket_assigned(ticket_id, assignee_id)


@task
def notify_breach(ticket_id: int, which: str) -> str:
    """Tell the assignee and the support chat of an SLA breach."""
    return notifications.sla_breach(ticket_id, which)


def enqueue_breach_notification(breach: sla.Breach) -> None:
    """One notify_breach, as the breach's flag commits (sla.flag_breaches' on_flagged); a queue that cannot take it
    costs that notification (logged), never the others: the flag is set, so it would not be sent again."""
    try:
        notify_breach.enqueue(breach.ticket_id, breach.which)
    except Exception:
        logger.exception("SLA breach of ticket #%s (%s) flagged but not notified", breach.number, breach.which)


@task
def sla_check() -> str:
    """Flag the overdue SLA clocks and notify each breach once."""
    breaches = sla.flag_breaches(on_flagged=enqueue_breach_notification)
    return f"{len(breaches)} breach(es) flagged"


@task
def auto_close() -> str:
    """Close tickets resolved and untouched for SUPPORT__AUTO_CLOSE_DAYS days."""
    return f"{sla.close_resolved()} ticket(s) closed"
