"""The queue's SLA figures: the nearest due time of the clocks that still run (the queue's order) and the badge that
says where a ticket stands against its SLA."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Case, F, Q, When
from django.db.models.functions import Least

from apps.support.models import ACTIVE_STATUSES, FINISHED_STATUSES, Priority, Status, Ticket
from apps.support.sla import RESOLUTION_RUNNING

SOON = timedelta(hours=1)

STATUS_LABELS: dict[str, str] = {
    Status.NEW: "info",
    Status.OPEN: "primary",
    Status.WAITING_FOR_CUSTOMER: "default",
    Status.WAITING_FOR_STAFF: "warning",
    Status.RESOLVED: "success",
    Status.CLOSED: "default",
}
PRIORITY_LABELS: dict[str, str] = {
    Priority.LOW: "default",
    Priority.NORMAL: "info",
    Priority.HIGH: "warning",
    Priority.URGENT: "danger",
}

# Badge kinds and the Unfold label variant each is shown in (an unknown variant is grey).
BADGE_VARIANTS: dict[str, str] = {
    "breached": "danger",
    "soon": "warning",
    "running": "info",
    "paused": "default",
    "met": "success",
    "none": "default",
}

BREACHED = Q(first_response_breached=True) | Q(resolution_breached=True)


def next_due_expression() -> Least:
    """The nearest due time among the clocks still running: first response until the first public reply (while
    the ticket is active), resolution while it is new, open or waiting for staff. NULL when none runs (Postgres's
    LEAST skips NULLs)."""
    first_response = Case(
        When(first_responded_at__isnull=True, status__in=ACTIVE_STATUSES, then=F("first_response_due_at"))
    )
    resolution = Case(When(status__in=RESOLUTION_RUNNING, then=F("resolution_due_at")))
    return Least(first_response, resolution)


def next_due(ticket: Ticket) -> datetime | None:
    """next_due_expression, on a ticket in memory."""
    running = []
    if ticket.first_responded_at is None and ticket.status in ACTIVE_STATUSES and ticket.first_response_due_at:
        running.append(ticket.first_response_due_at)
    if ticket.status in RESOLUTION_RUNNING and ticket.resolution_due_at:
        running.append(ticket.resolution_due_at)
    return min(running, default=None)


def span(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def sla_badge(ticket: Ticket, *, now: datetime) -> tuple[str, str]:
    """(kind, text): breached (flagged, or overdue and not flagged yet), due in under an hour, due later, paused
    while waiting for the customer, met (resolved or closed in time), or none (no due times)."""
    if ticket.breached:
        return "breached", "breached"
    if ticket.status in FINISHED_STATUSES:
        return ("met", "met") if ticket.first_response_due_at or ticket.resolution_due_at else ("none", "—")
    due = next_due(ticket)
    if due is None:
        return ("paused", "paused") if ticket.status == Status.WAITING_FOR_CUSTOMER else ("none", "—")
    left = due - now
    if left <= timedelta(0):
        return "breached", f"overdue {span(-left)}"
    if left < SOON:
        return "soon", f"due in {span(left)}"
    return "running", f"due in {span(left)}"
