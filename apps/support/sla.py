"""The SLA clocks of tickets: their due times, the pause while a ticket waits for the customer, the status changes
that move them, and the periodic work on them (breaches flagged, resolved tickets closed).

Two clocks run from a ticket's creation. The first response clock stops at the first public staff reply. The
resolution clock pauses while the ticket waits for the customer and stops while it is resolved or closed; every
pause (and the time a reopened ticket spent resolved or closed) moves resolution_due_at later by as much, so that
resolution_due_at is always created_at + the priority's target + paused_seconds.

Breaches are flagged by one guarded UPDATE per ticket and clock (`...breached=False`), so that two runs at once
(two workers, the task and the command) flag, and so notify, each breach once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.support import events
from apps.support.models import ACTIVE_STATUSES, FINISHED_STATUSES, Audience, Status, Ticket, TicketChange

BreachKind = Literal["first_response", "resolution"]
FIRST_RESPONSE: BreachKind = "first_response"
RESOLUTION: BreachKind = "resolution"

# The statuses in which the resolution clock runs: waiting for the customer pauses it, resolved and closed
# (FINISHED_STATUSES) stop it.
RESOLUTION_RUNNING = (Status.NEW, Status.OPEN, Status.WAITING_FOR_STAFF)


@dataclass(frozen=True)
class Breach:
    ticket_id: int
    number: int
    which: BreachKind
    due_at: datetime


def first_response_due(created_at: datetime, priority: str) -> datetime:
    return created_at + timedelta(minutes=int(settings.SUPPORT["FIRST_RESPONSE_MINUTES"][priority]))


def resolution_due(created_at: datetime, priority: str, paused_seconds: int) -> datetime:
    minutes = int(settings.SUPPORT["RESOLUTION_MINUTES"][priority])
    return created_at + timedelta(minutes=minutes, seconds=paused_seconds)


def set_due_times(ticket: Ticket) -> None:
    """Both due times from the ticket's creation, priority and pauses so far."""
    ticket.first_response_due_at = first_response_due(ticket.created_at, ticket.priority)
    ticket.resolution_due_at = resolution_due(ticket.created_at, ticket.priority, ticket.paused_seconds)


def _add_pause(ticket: Ticket, since: datetime, now: datetime) -> None:
    ticket.paused_seconds += max(0, int((now - since).total_seconds()))
    ticket.resolution_due_at = resolution_due(ticket.created_at, ticket.priority, ticket.paused_seconds)


def apply_status(ticket: Ticket, status: str, *, now: datetime) -> None:
    """Moves the ticket (locked by the caller, not saved here) to `status` with what that does to its clocks and
    timestamps. The caller has checked that the move is allowed and records it (record_change)."""
    previous = ticket.status
    if previous == Status.WAITING_FOR_CUSTOMER and ticket.paused_at is not None:
        _add_pause(ticket, ticket.paused_at, now)
        ticket.paused_at = None
    elif previous in FINISHED_STATUSES and status not in FINISHED_STATUSES:
        # Reopened: the time it spent resolved (or closed) does not count against the resolution target.
        stopped_since = ticket.resolved_at or ticket.closed_at
        if stopped_since is not None:
            _add_pause(ticket, stopped_since, now)
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = status
    if status == Status.WAITING_FOR_CUSTOMER:
        ticket.paused_at = now
    elif status == Status.RESOLVED:
        ticket.resolved_at = now
        if ticket.resolution_due_at is not None and now > ticket.resolution_due_at:
            ticket.resolution_breached = True
    elif status == Status.CLOSED:
        ticket.closed_at = now


def record_change(ticket: Ticket, *, actor: Any, field: str, old: str, new: str) -> TicketChange:
    return TicketChange.objects.create(
        ticket=ticket, actor=actor, field=field, old_value=old[:300], new_value=new[:300]
    )


def record_status_change(ticket: Ticket, *, actor: Any, old: str) -> None:
    """The history row and the PUBLIC event of a status change already applied to the (saved) ticket."""
    record_change(ticket, actor=actor, field="status", old=old, new=ticket.status)
    events.record_event(ticket, "status", events.ticket_state(ticket), audience=Audience.PUBLIC)


def _first_response_overdue(now: datetime) -> Any:
    return Ticket.objects.filter(
        first_responded_at__isnull=True,
        status__in=ACTIVE_STATUSES,
        first_response_due_at__lt=now,
        first_response_breached=False,
    )


def _resolution_overdue(now: datetime) -> Any:
    return Ticket.objects.filter(status__in=RESOLUTION_RUNNING, resolution_due_at__lt=now, resolution_breached=False)


def breach_candidates(*, now: datetime | None = None) -> list[Breach]:
    """What flag_breaches would flag now, flagging nothing (the command's --dry-run)."""
    now = now or timezone.now()
    found = [
        Breach(ticket_id, number, FIRST_RESPONSE, due)
        for ticket_id, number, due in _first_response_overdue(now).values_list("pk", "number", "first_response_due_at")
    ]
    found += [
        Breach(ticket_id, number, RESOLUTION, due)
        for ticket_id, number, due in _resolution_overdue(now).values_list("pk", "number", "resolution_due_at")
    ]
    return sorted(found, key=lambda breach: (breach.due_at, breach.ticket_id, breach.which))


def flag_breaches(*, now: datetime | None = None, on_flagged: Callable[[Breach], object] | None = None) -> list[Breach]:
    """Flags every overdue clock not flagged yet, each with its history row and a STAFF "sla_breach" event; returns
    the ones this call flagged (another run at the same time gets the others, never the same).

    `on_flagged` is called with each breach as its flag commits, not at the end: the flag is the claim, so a breach
    flagged by a run that stops before its end (an error on a later ticket, the worker stopped) is never flagged
    again, and would never be notified if its notification waited for the rest of the run."""
    now = now or timezone.now()
    flagged = []
    for candidate in breach_candidates(now=now):
        breach = _flag(candidate, now=now, on_flagged=on_flagged)
        if breach is not None:
            flagged.append(breach)
    return flagged


def _flag(candidate: Breach, *, now: datetime, on_flagged: Callable[[Breach], object] | None) -> Breach | None:
    if candidate.which == FIRST_RESPONSE:
        overdue, flag = _first_response_overdue(now), "first_response_breached"
    else:
        overdue, flag = _resolution_overdue(now), "resolution_breached"
    with transaction.atomic():
        # The guard (breached=False, still overdue) makes the UPDATE the claim: a concurrent run's UPDATE waits on
        # this row's lock, then finds the flag set and updates nothing.
        if not overdue.filter(pk=candidate.ticket_id).update(**{flag: True}):
            return None
        ticket = Ticket.objects.get(pk=candidate.ticket_id)
        record_change(ticket, actor=None, field=flag, old="False", new="True")
        events.record_event(
            ticket,
            "sla_breach",
            {"number": ticket.number, "which": candidate.which, "due_at": candidate.due_at, "at": now},
            audience=Audience.STAFF,
        )
        if on_flagged is not None:
            transaction.on_commit(partial(on_flagged, candidate), robust=True)
    return candidate


def close_resolved(*, now: datetime | None = None) -> int:
    """Closes the tickets resolved and untouched for SUPPORT__AUTO_CLOSE_DAYS days; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(settings.SUPPORT["AUTO_CLOSE_DAYS"]))
    due = Ticket.objects.filter(status=Status.RESOLVED, updated_at__lt=cutoff).order_by("pk")
    closed = 0
    for ticket_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            # Locked and checked again: a reply may have reopened it since the list was read.
            ticket = due.select_for_update().filter(pk=ticket_id).first()
            if ticket is None:
                continue
            apply_status(ticket, Status.CLOSED, now=now)
            ticket.save()
            record_status_change(ticket, actor=None, old=Status.RESOLVED)
            closed += 1
    return closed
