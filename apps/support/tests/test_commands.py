"""manage.py support_sla_check (flag and notify, or list with --dry-run) and support_stats (the figures as a table or
JSON); both fail with one clear line when the database refuses."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from apps.support import services
from apps.support.models import Status, Ticket, TicketEvent
from apps.support.tests.factories import DUMMY_TASKS, queued_tasks, staff_answer, ticket_backdate, ticket_create
from modules.email.testing import smtp_mailers

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def overdue(customer: Any, hours: float = 10) -> Ticket:
    return ticket_backdate(ticket_create(customer), timezone.now() - timedelta(hours=hours))


def table_gone(table: str) -> None:
    """The table renamed away for the rest of the test (its transaction rolls back): every query of it fails."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")


# support_sla_check


def test_the_check_flags_prints_and_enqueues_the_notifications(customer, settings, django_capture_on_commit_callbacks):
    settings.TASKS = DUMMY_TASKS
    ticket = overdue(customer)
    # Each notification is enqueued as its flag commits.
    with django_capture_on_commit_callbacks(execute=True):
        output = run("support_sla_check")
    assert f"#{ticket.number}: first response flagged (due " in output
    assert "1 breach(es) flagged." in output and "1 notification(s) enqueued." in output
    assert Ticket.objects.get(pk=ticket.pk).first_response_breached
    assert queued_tasks() == [("notify_breach", (ticket.pk, "first_response"))]
    assert "0 breach(es) flagged." in run("support_sla_check")
    assert len(queued_tasks()) == 1


def test_the_check_can_send_the_notifications_itself(
    customer, staff, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY_TASKS
    ticket = services.ticket_assign(ticket=overdue(customer), actor=staff, assignee_id=staff.pk)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("support_sla_check", "--inline", stdout=out)
    output = out.getvalue()
    assert f"#{ticket.number}: emailed {staff.email}" in output
    assert queued_tasks() == []
    assert [mail.rcpt_tos for mail in smtp.messages] == [[staff.email]]


def test_an_inline_notification_that_cannot_be_sent_is_reported_and_the_check_goes_on(
    customer, staff, settings, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = smtp_mailers(port)  # nothing listens there once the probe is closed
    ticket = services.ticket_assign(ticket=overdue(customer), actor=staff, assignee_id=staff.pk)
    out, err = StringIO(), StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("support_sla_check", "--inline", stdout=out, stderr=err)
    assert f"#{ticket.number}: first response not notified (" in err.getvalue()
    assert "1 breach(es) flagged." in out.getvalue()
    assert Ticket.objects.get(pk=ticket.pk).first_response_breached


def test_the_dry_run_lists_and_changes_nothing(customer, staff, settings):
    settings.TASKS = DUMMY_TASKS
    ticket = overdue(customer, hours=100)
    output = run("support_sla_check", "--dry-run")
    assert f"#{ticket.number}: first response would flag" in output
    assert f"#{ticket.number}: resolution would flag" in output
    assert "2 breach(es) would flag." in output
    assert not Ticket.objects.get(pk=ticket.pk).breached
    assert not TicketEvent.objects.filter(kind="sla_breach").exists()
    assert queued_tasks() == []


def test_the_check_fails_with_one_line_when_the_database_refuses(customer):
    overdue(customer)
    with transaction.atomic():
        table_gone("support_ticket")
        with pytest.raises(CommandError) as failed:
            run("support_sla_check")
        transaction.set_rollback(True)
    message = str(failed.value)
    assert message.startswith("SLA check failed: the database refused it (")
    assert "support_ticket" in message and "\n" not in message


# support_stats


@pytest.fixture
def desk(customer: Any, staff: Any) -> dict[str, Ticket]:
    """Four tickets: one answered after 30 minutes and resolved after 2 hours; one urgent and breached; one new; one
    opened 40 days ago and closed."""
    answered = ticket_create(customer, subject="Answered")
    answered = ticket_backdate(answered, timezone.now() - timedelta(hours=3))
    staff_answer(answered, staff)
    services.ticket_set_status(ticket=answered, actor=staff, status=Status.RESOLVED)
    now = timezone.now()
    Ticket.objects.filter(pk=answered.pk).update(
        first_responded_at=answered.created_at + timedelta(minutes=30),
        resolved_at=answered.created_at + timedelta(hours=2),
    )
    urgent = services.ticket_set_priority(ticket=ticket_create(customer), actor=staff, priority="urgent")
    Ticket.objects.filter(pk=urgent.pk).update(first_response_breached=True, status=Status.OPEN)
    fresh = ticket_create(customer)
    old = ticket_backdate(ticket_create(customer), now - timedelta(days=40))
    Ticket.objects.filter(pk=old.pk).update(status=Status.CLOSED)
    return {"answered": answered, "urgent": urgent, "new": fresh, "old": old}


def test_the_figures_as_json(desk):
    report = json.loads(run("support_stats", "--json"))
    assert report["days"] == 7
    assert report["open_by_status"] == {"new": 1, "open": 1, "waiting_for_customer": 0, "waiting_for_staff": 0}
    assert report["open_total"] == 2
    assert report["open_breached"] == {"any": 1, "first_response": 1, "resolution": 0}
    assert report["created"] == 3
    assert report["created_by_priority"] == {"low": 0, "normal": 2, "high": 0, "urgent": 1}
    assert report["median_first_response_seconds"] == 1800.0 and report["first_responses"] == 1
    assert report["median_resolution_seconds"] == 7200.0 and report["resolved"] == 1


def test_a_longer_period_takes_in_older_tickets(desk):
    report = json.loads(run("support_stats", "--json", "--days", "60"))
    assert report["created"] == 4 and report["created_by_priority"]["normal"] == 3


def test_the_figures_as_tables(desk):
    output = run("support_stats")
    assert "Open tickets: 2; breached: 1 (first response 1, resolution 0)" in output
    assert "Last 7 days: 3 opened, 1 resolved" in output
    assert "Median first response: 30 min (1 tickets); median resolution: 2 h 00 min (1 tickets)" in output
    assert "urgent" in output and "waiting_for_staff" in output


def test_no_tickets_yet_is_not_an_error():
    report = json.loads(run("support_stats", "--json"))
    assert report["open_total"] == 0 and report["median_first_response_seconds"] is None
    assert "Median first response: — (0 tickets)" in run("support_stats")


@pytest.mark.parametrize("days", ["0", "36501", "-3"])
def test_a_bad_number_of_days_is_refused(days):
    with pytest.raises(CommandError, match="--days must be from 1 to 36500"):
        run("support_stats", "--days", days)


def test_the_figures_fail_with_one_line_when_the_database_refuses():
    with transaction.atomic():
        table_gone("support_ticket")
        with pytest.raises(CommandError) as failed:
            run("support_stats", "--json")
        transaction.set_rollback(True)
    message = str(failed.value)
    assert message.startswith("support figures unavailable: the database refused the query (")
    assert "\n" not in message
