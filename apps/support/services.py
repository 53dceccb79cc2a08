"""Writes of support: tickets opened, replies and internal notes, read receipts, status, priority and assignment.

Every service takes the ticket object, locks its row (select_for_update) for the length of its transaction and
answers the refreshed row, so that two replies at once apply one after the other. Every change writes its history
row (TicketChange) and its event (apps.support.events) in that transaction; emails are enqueued once it commits.

The rules (apps.support.models, issue 14): a customer's reply moves the ticket to waiting_for_staff (a new ticket
stays new until staff first answer; a resolved one is reopened); a staff public reply moves it to
waiting_for_customer, which pauses the resolution clock (apps.support.sla); closed refuses replies from both sides
until staff reopen it. Internal notes change nothing on the ticket, email nobody, and their event is STAFF only."""

from __future__ import annotations

from collections.abc import Sequence
from string import Template
from typing import Any, Literal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.support import attachments, events, selectors, sla
from apps.support.exceptions import (
    CannedReplyNotFound,
    CategoryNotFound,
    MessageInvalid,
    NotStaff,
    PriorityInvalid,
    SubjectInvalid,
    TicketClosed,
    TicketNotFound,
    TransitionNotAllowed,
)
from apps.support.models import (
    SUBJECT_MAX,
    Audience,
    CannedReply,
    Category,
    Message,
    Priority,
    Status,
    Ticket,
)
from apps.support.tasks import notify_assignee, notify_reply

# What staff may set by hand: every status but new (which only a ticket nobody answered yet has).
STAFF_TARGETS = (Status.OPEN, Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF, Status.RESOLVED, Status.CLOSED)


def _locked(ticket: Ticket) -> Ticket:
    # The caller read the ticket before this transaction: it may have been deleted since (a 404, not a 500).
    locked = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("requester", "assignee", "category")
        .filter(pk=ticket.pk)
        .first()
    )
    if locked is None:
        raise TicketNotFound
    return locked


def _body(body: str, *, has_files: bool) -> str:
    text = body.strip()
    most = int(settings.SUPPORT["BODY_MAX_CHARS"])
    if len(text) > most:
        raise MessageInvalid(f"A message is at most {most} characters ({len(text)} were sent).")
    if not text and not has_files:
        raise MessageInvalid("Write a message or attach a file.")
    return text


def _subject(subject: str) -> str:
    text = " ".join(subject.split())
    if not text:
        raise SubjectInvalid("Write a subject.")
    if len(text) > SUBJECT_MAX:
        raise SubjectInvalid(f"A subject is at most {SUBJECT_MAX} characters.")
    return text


def _message_event(message: Message) -> None:
    audience = Audience.STAFF if message.internal else Audience.PUBLIC
    events.record_event(message.ticket, "message", events.message_data(message), audience=audience)


def _add_message(
    ticket: Ticket,
    *,
    author: Any,
    body: str,
    from_staff: bool,
    internal: bool,
    files: Sequence[attachments.CheckedFile],
    stored: list[str],
) -> Message:
    message = Message.objects.create(ticket=ticket, author=author, from_staff=from_staff, internal=internal, body=body)
    attachments.store_attachments(ticket=ticket, message=message, files=files, stored=stored)
    return message


def ticket_create(
    *,
    requester: Any,
    subject: str,
    body: str,
    category_id: int | None = None,
    files: Sequence[UploadedFile[Any]] = (),
) -> Ticket:
    """A customer opens a ticket: status new, SLA due times from its priority, the body as its first message."""
    subject = _subject(subject)
    text = _body(body, has_files=bool(files))
    checked = attachments.check_uploads(files)
    category = None
    if category_id is not None:
        category = Category.objects.filter(pk=category_id, active=True).first()
        if category is None:
            raise CategoryNotFound
    with attachments.files_removed_on_failure() as stored, transaction.atomic():
        ticket = Ticket.objects.create(requester=requester, subject=subject, category=category)
        # The due times count from created_at, which the insert sets.
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        sla.set_due_times(ticket)
        message = _add_message(
            ticket, author=requester, body=text, from_staff=False, internal=False, files=checked, stored=stored
        )
        ticket.last_customer_message_at = message.created_at
        ticket.save()
        sla.record_change(ticket, actor=requester, field="created", old="", new=subject)
        events.record_event(ticket, "created", events.ticket_state(ticket), audience=Audience.PUBLIC)
        _message_event(message)
    return _refreshed(ticket)


def customer_reply(*, ticket: Ticket, author: Any, body: str, files: Sequence[UploadedFile[Any]] = ()) -> Message:
    """The requester answers: waiting_for_staff (new stays new; resolved is reopened); refused when closed."""
    text = _body(body, has_files=bool(files))
    checked = attachments.check_uploads(files)
    with attachments.files_removed_on_failure() as stored, transaction.atomic():
        locked = _locked(ticket)
        if author is None or locked.requester_id != author.pk:
            raise TicketNotFound
        if locked.status == Status.CLOSED:
            raise TicketClosed
        message = _add_message(
            locked, author=author, body=text, from_staff=False, internal=False, files=checked, stored=stored
        )
        previous = locked.status
        if previous not in (Status.NEW, Status.WAITING_FOR_STAFF):
            sla.apply_status(locked, Status.WAITING_FOR_STAFF, now=message.created_at)
        locked.last_customer_message_at = message.created_at
        locked.save()
        _message_event(message)
        if locked.status != previous:
            sla.record_status_change(locked, actor=author, old=previous)
    return message


def canned_text(*, canned_reply_id: int, ticket: Ticket, agent: Any) -> str:
    """The canned reply's body with $requester_name, $ticket_number, $subject and $agent_name filled in (anything
    else that looks like a placeholder is left as written)."""
    canned = CannedReply.objects.filter(pk=canned_reply_id, active=True).first()
    if canned is None:
        raise CannedReplyNotFound
    return Template(canned.body).safe_substitute(
        requester_name=events.person_name(ticket.requester, fallback="there"),
        ticket_number=ticket.number,
        subject=ticket.subject,
        agent_name=events.person_name(agent, fallback="Support"),
    )


def staff_reply(
    *,
    ticket: Ticket,
    author: Any,
    body: str = "",
    internal: bool = False,
    canned_reply_id: int | None = None,
    files: Sequence[UploadedFile[Any]] = (),
) -> Message:
    """A staff member answers the requester (waiting_for_customer; the first answer stops the first response
    clock; the requester is emailed) or, `internal`, writes a note only staff see (nothing else changes). A canned
    reply's text comes first, `body` after it. Replies to a closed ticket are refused: reopen it first."""
    checked = attachments.check_uploads(files)
    with attachments.files_removed_on_failure() as stored, transaction.atomic():
        locked = _locked(ticket)
        text = body.strip()
        if canned_reply_id is not None:
            canned = canned_text(canned_reply_id=canned_reply_id, ticket=locked, agent=author).strip()
            text = f"{canned}\n\n{text}" if text else canned
        text = _body(text, has_files=bool(checked))
        if locked.status == Status.CLOSED and not internal:
            raise TicketClosed("This ticket is closed: reopen it before replying.")
        message = _add_message(
            locked, author=author, body=text, from_staff=True, internal=internal, files=checked, stored=stored
        )
        _message_event(message)
        if not internal:
            _public_reply_applied(locked, message=message, author=author)
            message_id = message.pk
            transaction.on_commit(lambda: notify_reply.enqueue(message_id), robust=True)
    return message


def _public_reply_applied(ticket: Ticket, *, message: Message, author: Any) -> None:
    now = message.created_at
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        if ticket.first_response_due_at is not None and now > ticket.first_response_due_at:
            ticket.first_response_breached = True
    previous = ticket.status
    if previous != Status.WAITING_FOR_CUSTOMER:
        sla.apply_status(ticket, Status.WAITING_FOR_CUSTOMER, now=now)
    ticket.last_staff_message_at = now
    ticket.save()
    if ticket.status != previous:
        sla.record_status_change(ticket, actor=author, old=previous)


def ticket_mark_read(*, ticket: Ticket, reader: Any, side: Literal["customer", "staff"]) -> int:
    """Marks what the other side wrote as read by `side` (a customer reads public staff replies; staff read the
    customer's messages); returns how many were marked. A "read" event tells the other side, when any were."""
    unread_filter = selectors.unread_by(side)
    with transaction.atomic():
        locked = _locked(ticket)
        if side == "customer" and (reader is None or locked.requester_id != reader.pk):
            raise TicketNotFound
        now = timezone.now()
        unread = locked.messages.filter(**unread_filter)
        field = f"read_by_{side}_at"
        up_to = unread.aggregate(last=Max("pk"))["last"]
        if up_to is None:
            return 0
        marked = unread.filter(pk__lte=up_to).update(**{field: now})
        events.record_event(locked, "read", {"side": side, "up_to": up_to, "at": now}, audience=Audience.PUBLIC)
    return marked


def allowed_targets(status: str) -> tuple[str, ...]:
    if status == Status.CLOSED:
        return (Status.OPEN,)
    return tuple(target for target in STAFF_TARGETS if target != status)


def _refusal(current: str, wanted: str) -> str:
    options = ", ".join(str(target) for target in allowed_targets(current))
    if current == Status.CLOSED:
        return f"A closed ticket can only be reopened: it cannot become {wanted}; it can become {options}."
    return f"A {current} ticket cannot become {wanted}; it can become {options}."


def ticket_set_status(*, ticket: Ticket, actor: Any, status: str) -> Ticket:
    """Staff set the status by hand (allowed_targets); the same status again changes nothing."""
    with transaction.atomic():
        locked = _locked(ticket)
        current = locked.status
        if status == current:
            return locked
        if status not in allowed_targets(current):
            raise TransitionNotAllowed(_refusal(current, status))
        sla.apply_status(locked, status, now=timezone.now())
        locked.save()
        sla.record_status_change(locked, actor=actor, old=current)
    return _refreshed(locked)


def ticket_set_priority(*, ticket: Ticket, actor: Any, priority: str) -> Ticket:
    """A new priority: both due times counted again from the ticket's creation (and its pauses)."""
    if priority not in Priority.values:
        raise PriorityInvalid(f"{priority!r} is not a priority; use {', '.join(Priority.values)}.")
    with transaction.atomic():
        locked = _locked(ticket)
        current = locked.priority
        if priority == current:
            return locked
        locked.priority = priority
        sla.set_due_times(locked)
        locked.save()
        sla.record_change(locked, actor=actor, field="priority", old=current, new=priority)
        events.record_event(locked, "priority", events.ticket_state(locked), audience=Audience.PUBLIC)
    return _refreshed(locked)


def _assignee_data(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": events.person_name(user, fallback=str(user))}


def ticket_assign(*, ticket: Ticket, actor: Any, assignee_id: int | None) -> Ticket:
    """Give the ticket to an active staff member (None: to nobody); they are emailed once it commits (unless they
    assigned it to themselves). Customers are not told who: the event is STAFF."""
    assignee = None
    if assignee_id is not None:
        assignee = selectors.support_staff().filter(pk=assignee_id).first()
        if assignee is None:
            raise NotStaff
    with transaction.atomic():
        locked = _locked(ticket)
        previous = locked.assignee
        if locked.assignee_id == assignee_id:
            return locked
        locked.assignee = assignee
        locked.save()
        sla.record_change(
            locked,
            actor=actor,
            field="assignee",
            old=str(previous) if previous is not None else "",
            new=str(assignee) if assignee is not None else "",
        )
        events.record_event(
            locked,
            "assignee",
            {"number": locked.number, "assignee": _assignee_data(assignee), "previous": _assignee_data(previous)},
            audience=Audience.STAFF,
        )
        if assignee is not None and (actor is None or assignee.pk != actor.pk):
            ticket_id, new_id = locked.pk, assignee.pk
            transaction.on_commit(lambda: notify_assignee.enqueue(ticket_id, new_id), robust=True)
    return _refreshed(locked)


def ticket_update(*, ticket: Ticket, actor: Any, status: str, priority: str, assignee_id: int | None) -> Ticket:
    """Sets the status, priority and assignee given, each through its own service (its rules, history row and event)
    and only where it differs, in that order: the admin's ticket page and an import row. A refusal stops there; the
    changes made before it stay."""
    if status != ticket.status:
        ticket = ticket_set_status(ticket=ticket, actor=actor, status=status)
    if priority != ticket.priority:
        ticket = ticket_set_priority(ticket=ticket, actor=actor, priority=priority)
    if assignee_id != ticket.assignee_id:
        ticket = ticket_assign(ticket=ticket, actor=actor, assignee_id=assignee_id)
    return ticket


def _refreshed(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("requester", "assignee", "category").get(pk=ticket.pk)
