"""The rules of tickets, through the services: opening, replies and notes, read receipts, the status machine,
priority and assignment, with the history and events every change writes; and the selectors' isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from apps.support import exceptions, selectors, services
from apps.support.exceptions import (
    AttachmentNotFound,
    CannedReplyNotFound,
    NotStaff,
    TicketClosed,
    TicketNotFound,
    TransitionNotAllowed,
)
from apps.support.models import Audience, Message, Status, Ticket, TicketChange, TicketEvent
from apps.support.tests.factories import (
    Held,
    canned_create,
    category_create,
    fresh,
    png_bytes,
    staff_answer,
    staff_create,
    ticket_create,
    upload,
    user_create,
)

pytestmark = pytest.mark.django_db


def events_of(ticket: Ticket) -> list[tuple[str, str]]:
    return list(TicketEvent.objects.filter(ticket=ticket).order_by("pk").values_list("kind", "audience"))


def history_of(ticket: Ticket) -> list[tuple[str, str, str]]:
    return list(
        TicketChange.objects.filter(ticket=ticket).order_by("pk").values_list("field", "old_value", "new_value")
    )


def set_status(ticket: Ticket, status: str) -> Ticket:
    """Puts the ticket in `status` without the rules (a starting point for a test)."""
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    return fresh(ticket)


# Opening a ticket


def test_a_new_ticket_is_new_with_its_due_times_counted_from_its_creation(customer, settings):
    settings.SUPPORT = {
        **settings.SUPPORT,
        "FIRST_RESPONSE_MINUTES": {"low": 600, "normal": 60, "high": 30, "urgent": 10},
        "RESOLUTION_MINUTES": {"low": 6000, "normal": 600, "high": 300, "urgent": 100},
    }
    ticket = ticket_create(customer, subject="  The   invoice\nis wrong ", body="  It says 100.  ")
    assert ticket.status == Status.NEW and ticket.priority == "normal"
    assert ticket.subject == "The invoice is wrong"
    assert ticket.first_response_due_at == ticket.created_at + timedelta(minutes=60)
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=600)
    [message] = Message.objects.filter(ticket=ticket)
    assert (message.body, message.author, message.from_staff, message.internal) == (
        "It says 100.",
        customer,
        False,
        False,
    )
    assert ticket.last_customer_message_at == message.created_at
    assert history_of(ticket) == [("created", "", "The invoice is wrong")]
    assert TicketChange.objects.get(ticket=ticket).actor == customer
    assert events_of(ticket) == [("created", Audience.PUBLIC), ("message", Audience.PUBLIC)]
    message_event = TicketEvent.objects.get(ticket=ticket, kind="message")
    assert message_event.data["id"] == message.pk and message_event.data["body"] == "It says 100."


def test_ticket_numbers_follow_each_other(customer):
    first, second = ticket_create(customer), ticket_create(customer)
    assert second.number == first.number + 1


def test_a_ticket_takes_an_active_category_only(customer):
    billing = category_create("Billing")
    retired = category_create("Retired", active=False)
    assert ticket_create(customer, category_id=billing.pk).category == billing
    with pytest.raises(exceptions.CategoryNotFound):
        ticket_create(customer, category_id=retired.pk)
    with pytest.raises(exceptions.CategoryNotFound):
        ticket_create(customer, category_id=999_999)
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_a_ticket_without_words_or_files_is_refused(customer, body):
    with pytest.raises(exceptions.MessageInvalid, match="Write a message"):
        ticket_create(customer, body=body)
    assert not Ticket.objects.exists()


def test_a_message_of_only_a_file_is_accepted(customer):
    ticket = services.ticket_create(
        requester=customer, subject="Screenshot", body=" ", files=[upload("shot.png", png_bytes())]
    )
    [message] = Message.objects.filter(ticket=ticket)
    assert message.body == "" and message.attachments.get().kind == "png"


def test_a_body_longer_than_the_limit_is_refused_and_one_at_it_accepted(customer, settings):
    settings.SUPPORT = {**settings.SUPPORT, "BODY_MAX_CHARS": 100}
    with pytest.raises(exceptions.MessageInvalid, match="at most 100 characters"):
        ticket_create(customer, body="x" * 101)
    assert len(ticket_create(customer, body="x" * 100 + "   ").messages.get().body) == 100


@pytest.mark.parametrize("subject", ["", "  ", "x" * 201])
def test_a_missing_or_long_subject_is_refused(customer, subject):
    with pytest.raises(exceptions.SubjectInvalid):
        ticket_create(customer, subject=subject)


# The customer's replies


@pytest.mark.parametrize(
    "status", [Status.OPEN, Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF, Status.RESOLVED]
)
def test_a_customer_reply_moves_the_ticket_to_waiting_for_staff(customer, status):
    ticket = set_status(ticket_create(customer), status)
    message = services.customer_reply(ticket=ticket, author=customer, body="Any news?")
    ticket = fresh(ticket)
    assert ticket.status == Status.WAITING_FOR_STAFF
    assert ticket.last_customer_message_at == message.created_at
    if status == Status.WAITING_FOR_STAFF:
        assert events_of(ticket)[-1] == ("message", Audience.PUBLIC)
    else:
        assert history_of(ticket)[-1] == ("status", status, Status.WAITING_FOR_STAFF)
        assert events_of(ticket)[-2:] == [("message", Audience.PUBLIC), ("status", Audience.PUBLIC)]
        assert TicketEvent.objects.filter(ticket=ticket, kind="status").get().data["status"] == "waiting_for_staff"


def test_a_customer_reply_to_a_new_ticket_leaves_it_new_until_staff_answer(customer):
    ticket = ticket_create(customer)
    services.customer_reply(ticket=ticket, author=customer, body="Also, the date is wrong.")
    assert fresh(ticket).status == Status.NEW
    assert history_of(ticket) == [("created", "", ticket.subject)]


def test_a_customer_reply_to_a_closed_ticket_is_refused(customer):
    ticket = set_status(ticket_create(customer), Status.CLOSED)
    with pytest.raises(TicketClosed, match="open a new ticket"):
        services.customer_reply(ticket=ticket, author=customer, body="Hello?")
    assert Message.objects.filter(ticket=ticket).count() == 1
    assert fresh(ticket).status == Status.CLOSED


def test_a_customer_cannot_reply_to_another_customers_ticket(customer, other_customer):
    ticket = ticket_create(customer)
    with pytest.raises(TicketNotFound):
        services.customer_reply(ticket=ticket, author=other_customer, body="Mine now")
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_a_customer_reply_reopens_a_resolved_ticket_and_the_time_it_was_resolved_does_not_count(customer, staff):
    ticket = ticket_create(customer)
    ticket = services.ticket_set_status(ticket=ticket, actor=staff, status=Status.RESOLVED)
    assert ticket.resolved_at is not None
    # Resolved two hours ago: those two hours move the resolution target later when the customer reopens it.
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=ticket.resolved_at - timedelta(hours=2))
    services.customer_reply(ticket=ticket, author=customer, body="It happened again.")
    ticket = fresh(ticket)
    assert ticket.status == Status.WAITING_FOR_STAFF and ticket.resolved_at is None
    assert 7200 <= ticket.paused_seconds <= 7200 + 60
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=2880, seconds=ticket.paused_seconds)


# Staff replies and notes


def test_the_first_staff_reply_is_the_first_response_and_waits_for_the_customer(customer, staff):
    ticket = ticket_create(customer)
    message = staff_answer(ticket, staff, "We are looking into it.")
    ticket = fresh(ticket)
    assert (message.from_staff, message.internal, message.author) == (True, False, staff)
    assert ticket.first_responded_at == message.created_at
    assert ticket.first_response_breached is False
    assert ticket.status == Status.WAITING_FOR_CUSTOMER
    assert ticket.paused_at == message.created_at
    assert ticket.last_staff_message_at == message.created_at
    assert history_of(ticket)[-1] == ("status", Status.NEW, Status.WAITING_FOR_CUSTOMER)
    assert TicketChange.objects.filter(ticket=ticket).latest("pk").actor == staff
    assert events_of(ticket)[-2:] == [("message", Audience.PUBLIC), ("status", Audience.PUBLIC)]


def test_a_late_first_response_is_flagged_and_a_second_reply_changes_nothing_of_it(customer, staff):
    ticket = ticket_create(customer)
    Ticket.objects.filter(pk=ticket.pk).update(first_response_due_at=timezone.now() - timedelta(minutes=1))
    first = staff_answer(ticket, staff)
    ticket = fresh(ticket)
    assert ticket.first_response_breached is True and ticket.first_responded_at == first.created_at
    staff_answer(ticket, staff, "And another thing.")
    assert fresh(ticket).first_responded_at == first.created_at
    # Already waiting for the customer: no second status change.
    assert [row for row in history_of(ticket) if row[0] == "status"] == [
        ("status", Status.NEW, Status.WAITING_FOR_CUSTOMER)
    ]


def test_a_first_response_in_time_is_not_flagged(customer, staff):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff)
    assert fresh(ticket).first_response_breached is False


def test_a_pause_while_waiting_for_the_customer_moves_the_resolution_target_by_as_much(customer, staff):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff)
    ticket = fresh(ticket)
    Ticket.objects.filter(pk=ticket.pk).update(paused_at=F("paused_at") - timedelta(minutes=90))
    services.customer_reply(ticket=ticket, author=customer, body="Here are the details.")
    ticket = fresh(ticket)
    assert ticket.paused_at is None
    assert 5400 <= ticket.paused_seconds <= 5400 + 60
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=2880, seconds=ticket.paused_seconds)
    # A second pause adds to the first.
    before = ticket.paused_seconds
    staff_answer(ticket, staff)
    Ticket.objects.filter(pk=ticket.pk).update(paused_at=F("paused_at") - timedelta(minutes=30))
    services.ticket_set_status(ticket=ticket, actor=staff, status=Status.OPEN)
    ticket = fresh(ticket)
    assert before + 1800 <= ticket.paused_seconds <= before + 1800 + 60
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=2880, seconds=ticket.paused_seconds)


def test_an_internal_note_changes_nothing_and_only_staff_hear_of_it(customer, staff):
    ticket = ticket_create(customer)
    before = fresh(ticket)
    note = services.staff_reply(ticket=ticket, author=staff, body="Customer is on the old plan.", internal=True)
    ticket = fresh(ticket)
    assert (note.internal, note.from_staff) == (True, True)
    assert ticket.status == Status.NEW and ticket.first_responded_at is None and ticket.paused_at is None
    assert ticket.last_staff_message_at is None and ticket.updated_at == before.updated_at
    assert events_of(ticket)[-1] == ("message", Audience.STAFF)
    assert TicketEvent.objects.filter(ticket=ticket, audience=Audience.PUBLIC, kind="message").count() == 1
    assert history_of(ticket) == [("created", "", ticket.subject)]


def test_a_note_is_never_in_what_the_customer_reads(customer, staff):
    ticket = ticket_create(customer)
    services.staff_reply(ticket=ticket, author=staff, body="secret", internal=True)
    staff_answer(ticket, staff, "public")
    shown = [message.body for message in selectors.ticket_messages(ticket=ticket, include_internal=False)]
    assert shown == [ticket.messages.earliest("pk").body, "public"]
    assert "secret" in [message.body for message in selectors.ticket_messages(ticket=ticket, include_internal=True)]
    public_events = selectors.ticket_events_after(ticket_id=ticket.pk, after=0, audiences=[Audience.PUBLIC])
    assert all("secret" not in str(event.data) for event in public_events)
    assert selectors.unread_count(ticket=ticket, side="customer") == 1


def test_staff_cannot_reply_to_a_closed_ticket_but_may_note_it(customer, staff):
    ticket = set_status(ticket_create(customer), Status.CLOSED)
    with pytest.raises(TicketClosed, match="reopen it"):
        staff_answer(ticket, staff)
    note = services.staff_reply(ticket=ticket, author=staff, body="Closed as a duplicate.", internal=True)
    assert note.internal and fresh(ticket).status == Status.CLOSED


def test_a_staff_reply_reopens_a_resolved_ticket_to_wait_for_the_customer(customer, staff):
    ticket = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.RESOLVED)
    staff_answer(ticket, staff, "One more question.")
    ticket = fresh(ticket)
    assert ticket.status == Status.WAITING_FOR_CUSTOMER and ticket.resolved_at is None and ticket.paused_at


def test_a_staff_reply_without_words_or_files_is_refused(customer, staff):
    ticket = ticket_create(customer)
    with pytest.raises(exceptions.MessageInvalid):
        staff_answer(ticket, staff, "  ")
    assert fresh(ticket).status == Status.NEW


# Canned replies


def test_a_canned_reply_is_filled_in_and_the_body_follows_it(customer, staff):
    canned = canned_create(body="Hi $requester_name, about #$ticket_number ($subject): $agent_name here. $unknown")
    ticket = ticket_create(customer, subject="Refund")
    message = services.staff_reply(ticket=ticket, author=staff, body="  Done today.  ", canned_reply_id=canned.pk)
    assert message.body == f"Hi Ada Lovelace, about #{ticket.number} (Refund): Sam Agent here. $unknown\n\nDone today."
    only = services.staff_reply(ticket=ticket, author=staff, canned_reply_id=canned.pk)
    assert only.body.endswith("Sam Agent here. $unknown")


def test_an_inactive_or_unknown_canned_reply_is_refused(customer, staff):
    ticket = ticket_create(customer)
    retired = canned_create(active=False)
    for canned_id in (retired.pk, 999_999):
        with pytest.raises(CannedReplyNotFound):
            services.staff_reply(ticket=ticket, author=staff, body="x", canned_reply_id=canned_id)
    assert Message.objects.filter(ticket=ticket).count() == 1


# Read receipts


def test_the_customer_reads_the_public_staff_replies_only(customer, staff):
    ticket = ticket_create(customer)
    services.staff_reply(ticket=ticket, author=staff, body="note", internal=True)
    reply = staff_answer(ticket, staff)
    marked = services.ticket_mark_read(ticket=ticket, reader=customer, side="customer")
    assert marked == 1
    read = {message.body: message.read_by_customer_at for message in Message.objects.filter(ticket=ticket)}
    assert read[reply.body] is not None and read["note"] is None and read["It says 100, not 10."] is None
    event = TicketEvent.objects.filter(ticket=ticket).latest("pk")
    assert (event.kind, event.audience) == ("read", Audience.PUBLIC)
    assert event.data["side"] == "customer" and event.data["up_to"] == reply.pk
    assert selectors.unread_count(ticket=ticket, side="customer") == 0
    # Nothing new: nothing marked, no event.
    count = TicketEvent.objects.count()
    assert services.ticket_mark_read(ticket=ticket, reader=customer, side="customer") == 0
    assert TicketEvent.objects.count() == count


def test_staff_read_the_customers_messages(customer, staff):
    ticket = ticket_create(customer)
    services.customer_reply(ticket=ticket, author=customer, body="More")
    assert selectors.unread_count(ticket=ticket, side="staff") == 2
    assert services.ticket_mark_read(ticket=ticket, reader=staff, side="staff") == 2
    assert selectors.unread_count(ticket=ticket, side="staff") == 0
    assert not Message.objects.filter(ticket=ticket, read_by_customer_at__isnull=False).exists()


def test_marking_read_does_not_count_as_activity_on_the_ticket(customer, staff):
    ticket = ticket_create(customer)
    before = fresh(ticket).updated_at
    services.ticket_mark_read(ticket=ticket, reader=staff, side="staff")
    assert fresh(ticket).updated_at == before


def test_another_customer_cannot_mark_a_ticket_read(customer, other_customer, staff):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff)
    with pytest.raises(TicketNotFound):
        services.ticket_mark_read(ticket=ticket, reader=other_customer, side="customer")
    assert selectors.unread_count(ticket=ticket, side="customer") == 1


# The status machine


ANY_BUT_CLOSED = [Status.NEW, Status.OPEN, Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF, Status.RESOLVED]
TARGETS = [Status.OPEN, Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF, Status.RESOLVED, Status.CLOSED]


@pytest.mark.parametrize("start", ANY_BUT_CLOSED)
@pytest.mark.parametrize("target", TARGETS)
def test_staff_may_move_a_ticket_that_is_not_closed_to_any_status_but_new(customer, staff, start, target):
    ticket = set_status(ticket_create(customer), start)
    changed = services.ticket_set_status(ticket=ticket, actor=staff, status=target)
    assert changed.status == target
    if start == target:
        assert history_of(ticket) == [("created", "", ticket.subject)]
    else:
        assert history_of(ticket)[-1] == ("status", start, target)
        event = TicketEvent.objects.filter(ticket=ticket).latest("pk")
        assert (event.kind, event.audience) == ("status", Audience.PUBLIC)
        assert event.data == {
            "number": ticket.number,
            "subject": ticket.subject,
            "status": target,
            "priority": "normal",
            "updated_at": event.data["updated_at"],
        }


@pytest.mark.parametrize("target", [Status.WAITING_FOR_CUSTOMER, Status.WAITING_FOR_STAFF, Status.RESOLVED])
def test_a_closed_ticket_can_only_be_reopened(customer, staff, target):
    ticket = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.CLOSED)
    with pytest.raises(TransitionNotAllowed, match=r"can only be reopened.*it can become open"):
        services.ticket_set_status(ticket=ticket, actor=staff, status=target)
    reopened = services.ticket_set_status(ticket=ticket, actor=staff, status=Status.OPEN)
    assert reopened.status == Status.OPEN and reopened.closed_at is None


@pytest.mark.parametrize("start", [Status.OPEN, Status.RESOLVED, Status.CLOSED])
def test_nothing_goes_back_to_new(customer, staff, start):
    ticket = set_status(ticket_create(customer), start)
    with pytest.raises(TransitionNotAllowed, match="cannot become new"):
        services.ticket_set_status(ticket=ticket, actor=staff, status=Status.NEW)
    assert fresh(ticket).status == start


def test_the_refusal_lists_where_the_ticket_can_go(customer, staff):
    ticket = set_status(ticket_create(customer), Status.OPEN)
    with pytest.raises(TransitionNotAllowed) as refused:
        services.ticket_set_status(ticket=ticket, actor=staff, status="archived")
    assert refused.value.message == (
        "A open ticket cannot become archived; it can become waiting_for_customer, waiting_for_staff, resolved, closed."
    )


def test_resolving_records_when_and_whether_the_target_was_missed(customer, staff):
    on_time = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.RESOLVED)
    assert on_time.resolved_at is not None and on_time.resolution_breached is False
    late = ticket_create(customer)
    Ticket.objects.filter(pk=late.pk).update(resolution_due_at=timezone.now() - timedelta(seconds=1))
    late = services.ticket_set_status(ticket=late, actor=staff, status=Status.RESOLVED)
    assert late.resolution_breached is True


def test_closing_records_when(customer, staff):
    closed = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.CLOSED)
    assert closed.closed_at is not None


def test_setting_waiting_for_customer_by_hand_pauses_the_clock_and_leaving_it_resumes_it(customer, staff):
    ticket = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.WAITING_FOR_CUSTOMER)
    assert ticket.paused_at is not None
    Ticket.objects.filter(pk=ticket.pk).update(paused_at=F("paused_at") - timedelta(hours=1))
    ticket = services.ticket_set_status(ticket=ticket, actor=staff, status=Status.RESOLVED)
    assert ticket.paused_at is None and 3600 <= ticket.paused_seconds <= 3660


# Priority and assignment


def test_a_new_priority_counts_both_targets_again_from_creation_with_the_pauses(customer, staff):
    ticket = ticket_create(customer)
    Ticket.objects.filter(pk=ticket.pk).update(paused_seconds=600)
    ticket = services.ticket_set_priority(ticket=ticket, actor=staff, priority="urgent")
    assert ticket.first_response_due_at == ticket.created_at + timedelta(minutes=30)
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=240, seconds=600)
    assert history_of(ticket)[-1] == ("priority", "normal", "urgent")
    event = TicketEvent.objects.filter(ticket=ticket).latest("pk")
    assert (event.kind, event.audience, event.data["priority"]) == ("priority", Audience.PUBLIC, "urgent")


def test_the_same_priority_changes_nothing_and_an_unknown_one_is_refused(customer, staff):
    ticket = ticket_create(customer)
    services.ticket_set_priority(ticket=ticket, actor=staff, priority="normal")
    with pytest.raises(exceptions.PriorityInvalid, match="'critical' is not a priority"):
        services.ticket_set_priority(ticket=ticket, actor=staff, priority="critical")
    assert len(history_of(ticket)) == 1


def test_a_ticket_is_assigned_to_active_staff_and_only_staff_hear_who(customer, staff, other_staff):
    ticket = ticket_create(customer)
    assigned = services.ticket_assign(ticket=ticket, actor=staff, assignee_id=other_staff.pk)
    assert assigned.assignee == other_staff
    assert history_of(ticket)[-1] == ("assignee", "", str(other_staff))
    event = TicketEvent.objects.filter(ticket=ticket).latest("pk")
    assert (event.kind, event.audience) == ("assignee", Audience.STAFF)
    assert event.data["assignee"] == {"id": other_staff.pk, "name": "Olu"}
    unassigned = services.ticket_assign(ticket=ticket, actor=staff, assignee_id=None)
    assert unassigned.assignee is None
    assert history_of(ticket)[-1] == ("assignee", str(other_staff), "")
    assert "assignee" not in [change.field for change in selectors.ticket_history(ticket=ticket, for_customer=True)]


def test_a_ticket_is_not_assigned_to_a_customer_an_inactive_staff_member_or_nobody_known(customer, staff):
    ticket = ticket_create(customer)
    former = staff_create("former@example.com", is_active=False)
    for assignee_id in (customer.pk, former.pk, 999_999):
        with pytest.raises(NotStaff):
            services.ticket_assign(ticket=ticket, actor=staff, assignee_id=assignee_id)
    assert fresh(ticket).assignee is None and len(history_of(ticket)) == 1


def test_assigning_to_the_same_person_again_changes_nothing(customer, staff):
    ticket = services.ticket_assign(ticket=ticket_create(customer), actor=staff, assignee_id=staff.pk)
    services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk)
    assert [row[0] for row in history_of(ticket)] == ["created", "assignee"]


# Two at once


@pytest.mark.django_db(transaction=True)
def test_a_staff_reply_waits_for_another_in_progress_and_applies_after_it():
    customer = user_create("ada.race@example.com")
    staff, other = staff_create("a.race@example.com"), staff_create("b.race@example.com")
    ticket = ticket_create(customer)
    held = Held(
        lambda: services.staff_reply(ticket=ticket, author=staff, body="One"),
        lambda: services.staff_reply(ticket=ticket, author=other, body="Two"),
    )
    # The second reply waits on the ticket's lock while the first one's transaction is open.
    assert not held.second_done.wait(0.5)
    held.release()
    assert held.errors == []
    ticket = fresh(ticket)
    assert Message.objects.filter(ticket=ticket, from_staff=True).count() == 2
    # The first moved it from new; the second found it waiting for the customer already.
    assert [row for row in history_of(ticket) if row[0] == "status"] == [
        ("status", Status.NEW, Status.WAITING_FOR_CUSTOMER)
    ]
    first = Message.objects.get(ticket=ticket, body="One")
    assert ticket.first_responded_at == first.created_at


@pytest.mark.django_db(transaction=True)
def test_a_customer_reply_waits_for_a_status_change_in_progress_and_sees_it():
    customer = user_create("ada.race2@example.com")
    staff = staff_create("c.race@example.com")
    ticket = ticket_create(customer)
    held = Held(
        lambda: services.ticket_set_status(ticket=ticket, actor=staff, status=Status.RESOLVED),
        lambda: services.customer_reply(ticket=ticket, author=customer, body="Not fixed."),
    )
    assert not held.second_done.wait(0.5)
    held.release()
    assert held.errors == []
    # The reply saw the ticket resolved (not new, as it was when the reply began) and reopened it.
    assert fresh(ticket).status == Status.WAITING_FOR_STAFF
    assert [row for row in history_of(ticket) if row[0] == "status"] == [
        ("status", Status.NEW, Status.RESOLVED),
        ("status", Status.RESOLVED, Status.WAITING_FOR_STAFF),
    ]


def test_a_ticket_deleted_after_the_view_read_it_is_not_found_for_every_change(customer, staff, private_files):
    # The view reads the ticket, then the service locks it: an admin may delete it in between.
    ticket = ticket_create(customer)
    canned = canned_create()
    Ticket.objects.filter(pk=ticket.pk).delete()
    changes = [
        lambda: services.customer_reply(
            ticket=ticket, author=customer, body="Hello?", files=[upload("a.png", png_bytes())]
        ),
        lambda: services.staff_reply(ticket=ticket, author=staff, body="Hi", canned_reply_id=canned.pk),
        lambda: services.staff_reply(ticket=ticket, author=staff, body="Note", internal=True),
        lambda: services.ticket_mark_read(ticket=ticket, reader=customer, side="customer"),
        lambda: services.ticket_mark_read(ticket=ticket, reader=staff, side="staff"),
        lambda: services.ticket_set_status(ticket=ticket, actor=staff, status=Status.RESOLVED),
        lambda: services.ticket_set_priority(ticket=ticket, actor=staff, priority="urgent"),
        lambda: services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk),
    ]
    for change in changes:
        with pytest.raises(TicketNotFound):
            change()
    assert Message.objects.count() == 0
    assert [path for path in private_files.rglob("*") if path.is_file()] == []


# Selectors


def test_a_customer_lists_and_reads_only_their_own_tickets(customer, other_customer):
    mine = ticket_create(customer)
    theirs = ticket_create(other_customer)
    assert list(selectors.customer_tickets(user=customer)) == [mine]
    assert selectors.customer_ticket_get(user=customer, number=mine.number) == mine
    with pytest.raises(TicketNotFound):
        selectors.customer_ticket_get(user=customer, number=theirs.number)
    with pytest.raises(TicketNotFound):
        selectors.customer_ticket_get(user=customer, number=999_999_999)


def test_a_customers_tickets_come_newest_activity_first(customer, staff):
    older, newer = ticket_create(customer, subject="Older"), ticket_create(customer, subject="Newer")
    assert list(selectors.customer_tickets(user=customer)) == [newer, older]
    services.customer_reply(ticket=older, author=customer, body="bump")
    assert list(selectors.customer_tickets(user=customer)) == [older, newer]


def test_the_staff_queue_filters(customer, other_customer, staff, other_staff):
    billing = category_create()
    first = ticket_create(customer, subject="Refund please", category_id=billing.pk)
    second = ticket_create(other_customer, subject="Login broken")
    services.ticket_set_priority(ticket=second, actor=staff, priority="urgent")
    services.ticket_assign(ticket=second, actor=staff, assignee_id=other_staff.pk)
    Ticket.objects.filter(pk=first.pk).update(first_response_breached=True)

    def numbers(**filters: Any) -> list[int]:
        return sorted(ticket.number for ticket in selectors.staff_queue(**filters))

    assert numbers() == sorted([first.number, second.number])
    assert numbers(priority="urgent") == [second.number]
    assert numbers(assignee=other_staff.pk) == [second.number]
    assert numbers(assignee="none") == [first.number]
    assert numbers(breached=True) == [first.number]
    assert numbers(breached=False) == [second.number]
    assert numbers(category_id=billing.pk) == [first.number]
    assert numbers(status="new") == sorted([first.number, second.number])
    assert numbers(q="refund") == [first.number]
    assert numbers(q="bob.customer") == [second.number]
    assert numbers(q=f"#{second.number}") == [second.number]
    assert numbers(q="9" * 30) == []
    with pytest.raises(TicketNotFound):
        selectors.staff_ticket_get(number=1)
    assert selectors.staff_ticket_get(number=first.number) == first


def test_events_are_read_after_a_cursor_by_audience(customer, staff):
    ticket = ticket_create(customer)
    start = selectors.last_event_id(ticket_id=ticket.pk, audiences=[Audience.PUBLIC])
    services.staff_reply(ticket=ticket, author=staff, body="note", internal=True)
    staff_answer(ticket, staff)
    public = selectors.ticket_events_after(ticket_id=ticket.pk, after=start, audiences=[Audience.PUBLIC])
    assert [event.kind for event in public] == ["message", "status"]
    both = selectors.ticket_events_after(ticket_id=ticket.pk, after=start, audiences=list(Audience.values))
    assert [event.kind for event in both] == ["message", "message", "status"]
    assert [event.kind for event in selectors.queue_events_after(after=start, limit=2)] == ["message", "message"]
    assert selectors.last_event_id(ticket_id=None, audiences=list(Audience.values)) == both[-1].pk
    assert selectors.last_event_id(ticket_id=ticket.pk, audiences=[Audience.STAFF]) == both[0].pk
    assert selectors.last_event_id(ticket_id=999_999, audiences=[Audience.PUBLIC]) == 0


def test_a_customer_gets_attachments_of_their_own_public_messages_only(customer, other_customer, staff):
    ticket = services.ticket_create(
        requester=customer, subject="Shot", body="see", files=[upload("shot.png", png_bytes())]
    )
    note = services.staff_reply(
        ticket=ticket, author=staff, body="internal", internal=True, files=[upload("log.txt", b"secret log")]
    )
    mine = Message.objects.filter(ticket=ticket).earliest("pk").attachments.get()
    hidden = note.attachments.get()
    assert selectors.attachment_for_customer(user=customer, token=mine.token) == mine
    for user, token in ((customer, hidden.token), (other_customer, mine.token), (customer, "nope")):
        with pytest.raises(AttachmentNotFound):
            selectors.attachment_for_customer(user=user, token=token)
    assert selectors.attachment_for_staff(token=hidden.token) == hidden
    with pytest.raises(AttachmentNotFound):
        selectors.attachment_for_staff(token="nope")


def test_only_active_canned_replies_and_categories_are_offered():
    canned_create("B"), canned_create("A"), canned_create("Old", active=False)
    category_create("Sales"), category_create("Billing"), category_create("Gone", active=False)
    assert [reply.title for reply in selectors.active_canned_replies()] == ["A", "B"]
    assert [category.name for category in selectors.active_categories()] == ["Billing", "Sales"]
