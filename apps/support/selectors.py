"""Read queries of support. A customer's reads are always filtered by the requester in the query itself (never by a
check after it), and answer "not found" for another's ticket or attachment, so that numbers and tokens reveal
nothing. Staff read every ticket: the queue is the team's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Aggregate, Count, F, FloatField, Func, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.support.exceptions import AttachmentNotFound, TicketNotFound
from apps.support.models import (
    ACTIVE_STATUSES,
    Attachment,
    CannedReply,
    Category,
    Message,
    Priority,
    Ticket,
    TicketChange,
    TicketEvent,
)

# What staff need to read tickets, and to change them (reply, note, status, priority, assignee, read receipts).
VIEW_PERMISSION = "support.view_ticket"
CHANGE_PERMISSION = "support.change_ticket"
# History rows a customer is not shown: who works on the ticket, and the SLA flags (staff's own measure).
STAFF_ONLY_FIELDS = ("assignee", "first_response_breached", "resolution_breached")


def _signed_in(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def customer_tickets(*, user: Any) -> QuerySet[Ticket]:
    """The user's own tickets, newest activity first."""
    if not _signed_in(user):
        return Ticket.objects.none()
    return Ticket.objects.filter(requester=user).select_related("category").order_by("-updated_at", "-id")


def customer_ticket_get(*, user: Any, number: int) -> Ticket:
    if not _signed_in(user):
        raise TicketNotFound
    ticket = Ticket.objects.select_related("requester", "category").filter(requester=user, number=number).first()
    if ticket is None:
        raise TicketNotFound
    return ticket


def staff_queue(
    *,
    status: str | None = None,
    priority: str | None = None,
    assignee: int | Literal["none"] | None = None,
    breached: bool | None = None,
    category_id: int | None = None,
    q: str | None = None,
) -> QuerySet[Ticket]:
    """Every ticket, newest activity first, filtered: `assignee` a user's id, or "none" for unassigned; `q` a ticket
    number ("#1042" or "1042") or words of the subject or the requester's email address or phone number."""
    tickets = Ticket.objects.select_related("requester", "assignee", "category")
    if status:
        tickets = tickets.filter(status=status)
    if priority:
        tickets = tickets.filter(priority=priority)
    if assignee == "none":
        tickets = tickets.filter(assignee__isnull=True)
    elif assignee is not None:
        tickets = tickets.filter(assignee_id=assignee)
    if breached is True:
        tickets = tickets.filter(Q(first_response_breached=True) | Q(resolution_breached=True))
    elif breached is False:
        tickets = tickets.filter(first_response_breached=False, resolution_breached=False)
    if category_id is not None:
        tickets = tickets.filter(category_id=category_id)
    if q and q.strip():
        query = q.strip()
        matches = (
            Q(subject__icontains=query) | Q(requester__email__icontains=query) | Q(requester__phone__icontains=query)
        )
        number = query.removeprefix("#")
        # isdecimal, not isdigit: superscripts are digits that int() refuses (a 500); every decimal digit it reads.
        if number.isdecimal() and len(number) < 19:
            matches |= Q(number=int(number))
        tickets = tickets.filter(matches)
    return tickets.order_by("-updated_at", "-id")


def staff_ticket_get(*, number: int) -> Ticket:
    ticket = Ticket.objects.select_related("requester", "assignee", "category").filter(number=number).first()
    if ticket is None:
        raise TicketNotFound
    return ticket


def ticket_messages(*, ticket: Ticket, include_internal: bool) -> QuerySet[Message]:
    """The thread, oldest first, with authors and attachments: internal notes only when `include_internal`."""
    messages = (
        Message.objects.filter(ticket=ticket)
        .select_related("author", "ticket")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    if not include_internal:
        messages = messages.filter(internal=False)
    return messages


def ticket_history(*, ticket: Ticket, for_customer: bool = False) -> QuerySet[TicketChange]:
    """Every change, oldest first, with who made it; for the customer, without the staff-only fields."""
    history = TicketChange.objects.filter(ticket=ticket).select_related("actor").order_by("created_at", "id")
    if for_customer:
        history = history.exclude(field__in=STAFF_ONLY_FIELDS)
    return history


def ticket_events_after(*, ticket_id: int, after: int, audiences: Sequence[str], limit: int = 500) -> list[TicketEvent]:
    """The ticket's events of `audiences` after the cursor `after`, oldest first, at most `limit`."""
    return list(
        TicketEvent.objects.filter(ticket_id=ticket_id, audience__in=list(audiences), pk__gt=after)
        .select_related("ticket")
        .order_by("pk")[:limit]
    )


def queue_events_after(*, after: int, limit: int = 500) -> list[TicketEvent]:
    """Every ticket's events (both audiences: the staff queue's stream) after the cursor, oldest first."""
    return list(TicketEvent.objects.filter(pk__gt=after).select_related("ticket").order_by("pk")[:limit])


def last_event_id(*, ticket_id: int | None, audiences: Sequence[str]) -> int:
    """The newest event's id (a stream's starting cursor), 0 when there is none; `ticket_id` None: of all tickets."""
    found = TicketEvent.objects.filter(audience__in=list(audiences))
    if ticket_id is not None:
        found = found.filter(ticket_id=ticket_id)
    last = found.aggregate(last=Max("pk"))["last"]
    return int(last or 0)


def attachment_for_customer(*, user: Any, token: str) -> Attachment:
    """An attachment of one of the user's tickets, on a message they may see (never an internal note's)."""
    if not _signed_in(user):
        raise AttachmentNotFound
    attachment = (
        Attachment.objects.select_related("ticket", "message")
        .filter(token=token, ticket__requester=user, message__internal=False)
        .first()
    )
    if attachment is None:
        raise AttachmentNotFound
    return attachment


def attachment_for_staff(*, token: str) -> Attachment:
    attachment = Attachment.objects.select_related("ticket", "message").filter(token=token).first()
    if attachment is None:
        raise AttachmentNotFound
    return attachment


def active_canned_replies() -> QuerySet[CannedReply]:
    return CannedReply.objects.filter(active=True).order_by("title")


def active_categories() -> QuerySet[Category]:
    return Category.objects.filter(active=True).order_by("name")


class Median(Aggregate):
    """PostgreSQL's continuous median of a number."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _seconds_between(later: str, earlier: str) -> Func:
    return Func(F(later) - F(earlier), template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField())


def support_stats(*, since: datetime) -> dict[str, Any]:
    """The numbers of support for the command and the admin's dashboard: open tickets by status and their breaches
    now; over the period from `since`, tickets opened (by priority) and resolved, and the median first response and
    resolution times in seconds (None when no ticket had one)."""
    open_tickets = Ticket.objects.filter(status__in=ACTIVE_STATUSES).order_by()
    by_status = dict(open_tickets.values_list("status").annotate(count=Count("pk")))
    breaches = open_tickets.aggregate(
        any=Count("pk", filter=Q(first_response_breached=True) | Q(resolution_breached=True)),
        first_response=Count("pk", filter=Q(first_response_breached=True)),
        resolution=Count("pk", filter=Q(resolution_breached=True)),
    )
    created = Ticket.objects.filter(created_at__gte=since).order_by()
    by_priority = dict(created.values_list("priority").annotate(count=Count("pk")))
    period_breaches = created.aggregate(
        first_response=Count("pk", filter=Q(first_response_breached=True)),
        resolution=Count("pk", filter=Q(resolution_breached=True)),
    )
    first_response = (
        Ticket.objects.filter(first_responded_at__gte=since)
        .order_by()
        .aggregate(median=Median(_seconds_between("first_responded_at", "created_at")), count=Count("pk"))
    )
    resolution = (
        Ticket.objects.filter(resolved_at__gte=since)
        .order_by()
        .aggregate(median=Median(_seconds_between("resolved_at", "created_at")), count=Count("pk"))
    )
    return {
        "since": since,
        "open_by_status": {str(status): int(by_status.get(status, 0)) for status in ACTIVE_STATUSES},
        "open_total": sum(int(count) for count in by_status.values()),
        "open_breached": {
            "any": breaches["any"],
            "first_response": breaches["first_response"],
            "resolution": breaches["resolution"],
        },
        "created": sum(int(count) for count in by_priority.values()),
        "created_by_priority": {priority: int(by_priority.get(priority, 0)) for priority in Priority.values},
        "created_breached": period_breaches,
        "first_responses": first_response["count"],
        "median_first_response_seconds": _rounded(first_response["median"]),
        "resolved": resolution["count"],
        "median_resolution_seconds": _rounded(resolution["median"]),
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds), 1)


# The messages each side has not read yet: a customer, staff's public replies; staff, the customer's messages.
UNREAD_BY: dict[str, dict[str, Any]] = {
    "customer": {"from_staff": True, "internal": False, "read_by_customer_at__isnull": True},
    "staff": {"from_staff": False, "read_by_staff_at__isnull": True},
}


def unread_by(side: str) -> dict[str, Any]:
    """The filter of the messages `side` ("customer" or "staff") has not read yet."""
    if side not in UNREAD_BY:
        raise ValueError(f"side must be customer or staff, not {side!r}")
    return UNREAD_BY[side]


def unread_count(*, ticket: Ticket, side: str) -> int:
    """What `side` has not read yet of what the other side wrote (a customer: public staff replies)."""
    return Message.objects.filter(ticket=ticket, **unread_by(side)).count()


def unread_annotated(tickets: QuerySet[Ticket], *, side: str) -> QuerySet[Ticket]:
    """`unread` on every ticket of a list, in the list's one query (a subquery: no join that multiplies rows)."""
    unread = (
        Message.objects.filter(ticket=OuterRef("pk"), **unread_by(side))
        .order_by()
        .values("ticket")
        .annotate(count=Count("id"))
        .values("count")
    )
    return tickets.annotate(unread=Coalesce(Subquery(unread), Value(0)))


def support_staff() -> QuerySet[Any]:
    """Whom a ticket may be given: active staff who may see tickets (not staff of other teams, who could not open
    the ticket they were given)."""
    may_view = Permission.objects.filter(content_type__app_label="support", codename="view_ticket")
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .filter(Q(is_superuser=True) | Q(user_permissions__in=may_view) | Q(groups__permissions__in=may_view))
        .distinct()
        .order_by("email", "pk")
    )
