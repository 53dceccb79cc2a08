"""The SLA clocks: the arithmetic of pauses at fixed times, breaches flagged (once, even by two runs at once), the
periodic tasks, and resolved tickets closed after SUPPORT__AUTO_CLOSE_DAYS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from apps.support import services, sla, tasks
from apps.support.models import Audience, Status, Ticket, TicketChange, TicketEvent
from apps.support.tests.factories import (
    DUMMY_TASKS,
    Held,
    fresh,
    queued_tasks,
    staff_answer,
    staff_create,
    ticket_backdate,
    ticket_create,
    user_create,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def unsaved_ticket(status: str = Status.NEW, priority: str = "normal") -> Ticket:
    ticket = Ticket(status=status, priority=priority, created_at=T0)
    sla.set_due_times(ticket)
    return ticket


# The arithmetic, at fixed times


def test_due_times_count_from_creation_by_priority(settings):
    settings.SUPPORT = {
        **settings.SUPPORT,
        "FIRST_RESPONSE_MINUTES": {"low": 100, "normal": 50, "high": 20, "urgent": 5},
        "RESOLUTION_MINUTES": {"low": 1000, "normal": 500, "high": 200, "urgent": 50},
    }
    ticket = unsaved_ticket(priority="high")
    assert ticket.first_response_due_at == T0 + timedelta(minutes=20)
    assert ticket.resolution_due_at == T0 + timedelta(minutes=200)


def test_waiting_for_the_customer_pauses_the_resolution_clock_and_leaving_it_resumes_it():
    ticket = unsaved_ticket()
    sla.apply_status(ticket, Status.WAITING_FOR_CUSTOMER, now=T0 + timedelta(hours=1))
    assert ticket.paused_at == T0 + timedelta(hours=1)
    assert ticket.resolution_due_at == T0 + timedelta(minutes=2880)
    sla.apply_status(ticket, Status.WAITING_FOR_STAFF, now=T0 + timedelta(hours=4, seconds=30))
    assert ticket.paused_at is None
    assert ticket.paused_seconds == 3 * 3600 + 30
    assert ticket.resolution_due_at == T0 + timedelta(minutes=2880, hours=3, seconds=30)
    # A second pause adds to the first.
    sla.apply_status(ticket, Status.WAITING_FOR_CUSTOMER, now=T0 + timedelta(hours=5))
    sla.apply_status(ticket, Status.OPEN, now=T0 + timedelta(hours=7))
    assert ticket.paused_seconds == 5 * 3600 + 30
    assert ticket.resolution_due_at == T0 + timedelta(minutes=2880, hours=5, seconds=30)


def test_resolving_while_waiting_for_the_customer_ends_the_pause_before_judging_the_target():
    ticket = unsaved_ticket(priority="urgent")  # 240 minutes
    sla.apply_status(ticket, Status.WAITING_FOR_CUSTOMER, now=T0 + timedelta(hours=1))
    # Five hours after creation, four of them waiting for the customer: one hour of the four counted.
    sla.apply_status(ticket, Status.RESOLVED, now=T0 + timedelta(hours=5))
    assert ticket.paused_at is None and ticket.paused_seconds == 4 * 3600
    assert ticket.resolved_at == T0 + timedelta(hours=5)
    assert ticket.resolution_breached is False


def test_resolving_after_the_target_flags_the_breach():
    ticket = unsaved_ticket(priority="urgent")
    sla.apply_status(ticket, Status.RESOLVED, now=T0 + timedelta(minutes=241))
    assert ticket.resolution_breached is True


def test_a_reopened_ticket_does_not_count_the_time_it_spent_resolved_or_closed():
    ticket = unsaved_ticket()
    sla.apply_status(ticket, Status.RESOLVED, now=T0 + timedelta(hours=1))
    sla.apply_status(ticket, Status.CLOSED, now=T0 + timedelta(days=8))
    assert ticket.closed_at == T0 + timedelta(days=8)
    sla.apply_status(ticket, Status.OPEN, now=T0 + timedelta(days=9, hours=1))
    assert ticket.resolved_at is None and ticket.closed_at is None
    assert ticket.paused_seconds == 9 * 86400
    assert ticket.resolution_due_at == T0 + timedelta(minutes=2880, days=9)


def test_a_ticket_closed_unresolved_and_reopened_counts_from_its_closing():
    ticket = unsaved_ticket()
    sla.apply_status(ticket, Status.CLOSED, now=T0 + timedelta(hours=2))
    sla.apply_status(ticket, Status.WAITING_FOR_STAFF, now=T0 + timedelta(hours=5))
    assert ticket.paused_seconds == 3 * 3600


# Breaches


def overdue_ticket(customer: Any, *, hours_ago: float = 100) -> Ticket:
    """A ticket opened `hours_ago` (normal priority: first response due after 8 hours, resolution after 48)."""
    return ticket_backdate(ticket_create(customer), timezone.now() - timedelta(hours=hours_ago))


def test_an_unanswered_overdue_ticket_breaches_both_clocks_once(customer):
    ticket = overdue_ticket(customer)
    breaches = sla.flag_breaches()
    assert {(breach.ticket_id, breach.which) for breach in breaches} == {
        (ticket.pk, "first_response"),
        (ticket.pk, "resolution"),
    }
    ticket = fresh(ticket)
    assert ticket.first_response_breached and ticket.resolution_breached
    changes = TicketChange.objects.filter(ticket=ticket, field__endswith="_breached")
    assert {(change.field, change.actor, change.new_value) for change in changes} == {
        ("first_response_breached", None, "True"),
        ("resolution_breached", None, "True"),
    }
    flagged = TicketEvent.objects.filter(ticket=ticket, kind="sla_breach")
    assert {(event.audience, event.data["which"]) for event in flagged} == {
        (Audience.STAFF, "first_response"),
        (Audience.STAFF, "resolution"),
    }
    assert sla.flag_breaches() == []
    assert TicketEvent.objects.filter(ticket=ticket, kind="sla_breach").count() == 2


def test_a_ticket_within_its_targets_is_not_flagged(customer):
    overdue_ticket(customer, hours_ago=1)
    assert sla.flag_breaches() == []


def test_an_answered_ticket_breaches_no_first_response(customer, staff):
    ticket = overdue_ticket(customer, hours_ago=10)
    staff_answer(ticket, staff)
    services.customer_reply(ticket=ticket, author=customer, body="Thanks, but no.")
    assert sla.flag_breaches() == []


def test_the_resolution_clock_does_not_breach_while_waiting_for_the_customer(customer, staff):
    ticket = overdue_ticket(customer, hours_ago=100)
    staff_answer(ticket, staff)
    assert [breach.which for breach in sla.flag_breaches()] == []
    # Back to staff: the pause just ended was short, the ticket is still far past its target.
    services.customer_reply(ticket=ticket, author=customer, body="Here you go.")
    assert [breach.which for breach in sla.flag_breaches()] == ["resolution"]


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_finished_tickets_breach_nothing(customer, staff, status):
    ticket = overdue_ticket(customer)
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    assert sla.flag_breaches() == []


@pytest.mark.parametrize("status", [Status.OPEN, Status.WAITING_FOR_STAFF])
def test_open_tickets_breach_the_resolution_clock(customer, status):
    ticket = overdue_ticket(customer)
    Ticket.objects.filter(pk=ticket.pk).update(status=status, first_responded_at=timezone.now())
    assert [breach.which for breach in sla.flag_breaches()] == ["resolution"]


def test_the_dry_run_lists_what_would_be_flagged_and_flags_nothing(customer):
    ticket = overdue_ticket(customer)
    candidates = sla.breach_candidates()
    assert [(breach.number, breach.which) for breach in candidates] == [
        (ticket.number, "first_response"),
        (ticket.number, "resolution"),
    ]
    assert not fresh(ticket).breached
    assert not TicketEvent.objects.filter(kind="sla_breach").exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_flag_each_breach_once():
    customer = user_create("race.sla@example.com")
    tickets = [overdue_ticket(customer) for _ in range(3)]
    results: list[list[sla.Breach]] = []
    # The second run reads the same overdue clocks while the first one's flags are not committed yet; its guarded
    # UPDATEs wait for the first's row locks, then find the flags set and claim nothing.
    held = Held(lambda: results.append(sla.flag_breaches()), lambda: results.append(sla.flag_breaches()))
    assert not held.second_done.wait(0.5)
    held.release()
    assert held.errors == []
    first, second = results
    assert sorted((breach.ticket_id, breach.which) for breach in first) == sorted(
        (ticket.pk, which) for ticket in tickets for which in (sla.FIRST_RESPONSE, sla.RESOLUTION)
    )
    assert second == []
    assert TicketEvent.objects.filter(kind="sla_breach").count() == 6
    assert TicketChange.objects.filter(field__endswith="_breached").count() == 6


# The tasks


def test_the_check_task_flags_and_enqueues_one_notification_per_breach(
    customer, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    ticket = overdue_ticket(customer)
    # Each notification is enqueued as its flag commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sla_check.call() == "2 breach(es) flagged"
    assert sorted(queued_tasks()) == [
        ("notify_breach", (ticket.pk, "first_response")),
        ("notify_breach", (ticket.pk, "resolution")),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sla_check.call() == "0 breach(es) flagged"
    assert len(queued_tasks()) == 2


@contextmanager
def history_refused_for(ticket: Ticket) -> Iterator[None]:
    """The database refuses every history row of `ticket` (a trigger) until the block ends."""
    table = TicketChange._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION support_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.ticket_id = {int(ticket.pk)} THEN RAISE EXCEPTION 'history refused'; END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER support_test_refuse BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION support_test_refuse()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER support_test_refuse ON {table}")
            cursor.execute("DROP FUNCTION support_test_refuse()")


@pytest.mark.django_db(transaction=True)
def test_a_check_cut_short_still_notifies_every_breach_it_flagged(settings):
    # Each flag commits on its own and is the claim: a breach flagged by a run that stops later (a database error,
    # the worker stopped) is never flagged again, so its notification must not wait for the end of the run.
    settings.TASKS = DUMMY_TASKS
    customer = user_create("cut.short@example.com")
    earlier = overdue_ticket(customer, hours_ago=10)
    later = overdue_ticket(customer, hours_ago=9)
    with history_refused_for(later), pytest.raises(DatabaseError):
        tasks.sla_check.call()
    assert fresh(earlier).first_response_breached and not fresh(later).first_response_breached
    assert queued_tasks() == [("notify_breach", (earlier.pk, "first_response"))]
    assert tasks.sla_check.call() == "1 breach(es) flagged"
    assert queued_tasks() == [
        ("notify_breach", (earlier.pk, "first_response")),
        ("notify_breach", (later.pk, "first_response")),
    ]


def test_the_tasks_are_the_ones_the_catalog_schedules(settings):
    from django.utils.module_loading import import_string

    scheduled = {schedule["task"] for schedule in settings.TASKS_PERIODIC.values()}
    assert {"apps.support.tasks.sla_check", "apps.support.tasks.auto_close"} <= scheduled
    assert import_string("apps.support.tasks.sla_check") is tasks.sla_check
    assert import_string("apps.support.tasks.auto_close") is tasks.auto_close


# Auto-close


def resolved_days_ago(customer: Any, staff: Any, days: float) -> Ticket:
    ticket = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.RESOLVED)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now() - timedelta(days=days))
    return ticket


def test_resolved_tickets_untouched_for_the_set_days_are_closed(customer, staff, settings):
    settings.SUPPORT = {**settings.SUPPORT, "AUTO_CLOSE_DAYS": 3}
    old = resolved_days_ago(customer, staff, 3.1)
    recent = resolved_days_ago(customer, staff, 2.9)
    untouched_open = ticket_create(customer)
    Ticket.objects.filter(pk=untouched_open.pk).update(updated_at=timezone.now() - timedelta(days=30))
    assert sla.close_resolved() == 1
    old = fresh(old)
    assert old.status == Status.CLOSED and old.closed_at is not None and old.resolved_at is not None
    assert fresh(recent).status == Status.RESOLVED
    assert fresh(untouched_open).status == Status.NEW
    change = TicketChange.objects.filter(ticket=old).latest("pk")
    assert (change.field, change.old_value, change.new_value, change.actor) == ("status", "resolved", "closed", None)
    event = TicketEvent.objects.filter(ticket=old).latest("pk")
    assert (event.kind, event.audience, event.data["status"]) == ("status", Audience.PUBLIC, "closed")
    assert sla.close_resolved() == 0


def test_a_reply_counts_as_a_touch_and_keeps_a_resolved_ticket_open(customer, staff, settings):
    ticket = resolved_days_ago(customer, staff, 30)
    services.customer_reply(ticket=ticket, author=customer, body="Wait, not fixed.")
    assert sla.close_resolved() == 0
    assert fresh(ticket).status == Status.WAITING_FOR_STAFF


def test_the_auto_close_task_closes_with_a_fixed_now(customer, staff):
    ticket = services.ticket_set_status(ticket=ticket_create(customer), actor=staff, status=Status.RESOLVED)
    assert sla.close_resolved(now=timezone.now() + timedelta(days=6)) == 0
    assert sla.close_resolved(now=timezone.now() + timedelta(days=8)) == 1
    assert fresh(ticket).status == Status.CLOSED
    resolved_days_ago(customer, staff, 10)
    assert tasks.auto_close.call() == "1 ticket(s) closed"


def test_staff_who_left_do_not_stop_the_checks(customer):
    former = staff_create("gone@example.com")
    ticket = services.ticket_assign(ticket=overdue_ticket(customer), actor=former, assignee_id=former.pk)
    former.delete()
    assert len(sla.flag_breaches()) == 2
    assert fresh(ticket).assignee is None
