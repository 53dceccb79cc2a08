"""Notifications go through tasks, never inside the public request: a new lead to the Telegram chat, an assignment
to the assignee's inbox. The tasks are enqueued when the transaction commits."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.tasks import task_backends
from django.tasks.backends.dummy import DummyBackend

from apps.leads import services, tasks
from apps.leads.models import Lead
from apps.leads.tests.factories import lead_create, lead_url, staff_create, submit

pytestmark = pytest.mark.django_db

DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def queued_tasks() -> list[tuple[str, tuple[object, ...]]]:
    backend = task_backends["default"]
    assert isinstance(backend, DummyBackend)
    return [(result.task.name, tuple(result.args)) for result in backend.results]


def test_the_public_request_only_enqueues_and_never_calls_telegram(
    api, settings, telegram, django_capture_on_commit_callbacks
):
    settings.TASKS = DUMMY
    with django_capture_on_commit_callbacks(execute=True):
        assert submit(api).status_code == 202
    lead = Lead.objects.get()
    assert queued_tasks() == [("lead_received", (lead.pk, True))]
    assert telegram.calls == []


def test_a_new_and_a_known_address_cost_the_request_the_same_work(
    api, settings, telegram, staff, django_capture_on_commit_callbacks
):
    # Whether an address already had a lead must not show in the answer's time either: the request does the same
    # (one task enqueued) for both, and the round-robin turn and the messages are the task's.
    settings.TASKS = DUMMY
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    with django_capture_on_commit_callbacks(execute=True):
        submit(api)
        submit(api, message="Another question")
    lead = Lead.objects.get()
    assert queued_tasks() == [("lead_received", (lead.pk, True)), ("lead_received", (lead.pk, False))]
    assert lead.assignee is None and telegram.calls == []


def test_the_received_task_assigns_a_new_lead_in_turn_then_tells_the_chat_and_the_assignee(
    settings, telegram, smtp, staff, django_capture_on_commit_callbacks
):
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    settings.TASKS = DUMMY
    lead = lead_create()
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.lead_received.call(lead.pk, True)
    assert "assigned" in result
    lead.refresh_from_db()
    assert lead.assignee == staff
    [text] = telegram.messages_to("-2002")
    assert f"Assigned to: {staff}" in text
    assert queued_tasks() == [("notify_assignee", (lead.pk, staff.pk))]
    assert tasks.lead_received.call(lead.pk, False) == "skipped: a known address; nobody is told"
    assert tasks.lead_received.call(999_999, True) == "skipped: the lead was deleted"


def test_a_name_written_on_two_lines_still_reaches_the_assignee_on_one(staff, other_staff, smtp):
    # An import or the admin may store what the public form flattens.
    lead = lead_create()
    Lead.objects.filter(pk=lead.pk).update(name="Eve\r\nBcc: victim@example.com", assignee=other_staff)
    assert tasks.notify_assignee.call(lead.pk, other_staff.pk).startswith("emailed")
    [mail] = smtp.messages
    assert mail.rcpt_tos == [other_staff.email]
    assert mail.subject == "Lead assigned to you: Eve Bcc: victim@example.com <grace@example.com>"


def test_the_task_tells_the_leads_chat_of_a_new_lead(api, telegram, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the test settings' immediate backend runs it at once
        submit(api)
    [text] = telegram.messages_to("-2002")
    assert "New lead: Ada Lovelace <ada@example.com>" in text
    assert "Analytical Engines" in text and "pricing / newsletter / spring" in text
    assert f"/admin/leads/lead/{Lead.objects.get().pk}/change/" in text
    assert telegram.messages_to("-1001") == []  # LEADS__TELEGRAM_CHAT_ID wins over TELEGRAM__CHAT_ID


def test_repeats_honeypots_and_known_addresses_tell_nobody(api, telegram, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submit(api)
        submit(api)
        submit(api, message="Another question")
        submit(api, website="spam", email="bot@example.com")
    assert len(telegram.messages_to("-2002")) == 1


def test_without_a_chat_nothing_is_enqueued(api, settings, django_capture_on_commit_callbacks):
    settings.TASKS = DUMMY
    settings.LEADS = {**settings.LEADS, "TELEGRAM_CHAT_ID": ""}
    with django_capture_on_commit_callbacks(execute=True):
        submit(api)
    assert queued_tasks() == []


def test_a_failing_telegram_costs_the_message_not_the_lead(api, telegram, django_capture_on_commit_callbacks):
    for _ in range(3):
        telegram.fail_next(500)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(api)
    assert response.status_code == 202
    assert Lead.objects.count() == 1


def test_round_robin_assigns_new_leads_in_turn_and_emails_each_assignee(
    api, settings, smtp, staff, other_staff, django_capture_on_commit_callbacks
):
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            submit(api, email=f"buyer{number}@example.com")
    assignees = list(Lead.objects.order_by("created_at").values_list("assignee__email", flat=True))
    assert assignees == [staff.email, other_staff.email, staff.email]
    assert [mail.rcpt_tos for mail in smtp.messages] == [[staff.email], [other_staff.email], [staff.email]]
    first = smtp.messages[0]
    assert first.subject == "Lead assigned to you: Ada Lovelace <buyer0@example.com>"
    assert "Analytical Engines" in first.text and "/admin/leads/lead/" in first.text
    assert "We would like a demo." in first.html


def test_round_robin_takes_from_the_configured_group_only(
    api, settings, staff, other_staff, django_capture_on_commit_callbacks
):
    other_staff.groups.add(Group.objects.create(name="Sales"))
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True, "ROUND_ROBIN_GROUP": "Sales"}
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(2):
            submit(api, email=f"buyer{number}@example.com")
    assert set(Lead.objects.values_list("assignee", flat=True)) == {other_staff.pk}


def test_round_robin_passes_over_staff_without_the_leads_permissions(
    api, settings, staff, django_capture_on_commit_callbacks
):
    staff_create("support@example.com", leads_permissions=False)
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(2):
            submit(api, email=f"buyer{number}@example.com")
    assert set(Lead.objects.values_list("assignee", flat=True)) == {staff.pk}


def test_without_staff_round_robin_leaves_leads_unassigned(api, settings, django_capture_on_commit_callbacks):
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submit(api)
    assert len(callbacks) == 1  # the task ran, and found no one
    assert Lead.objects.get().assignee is None


def test_assigning_through_the_api_emails_the_new_assignee_not_oneself(
    staff, staff_api, other_staff, smtp, django_capture_on_commit_callbacks
):
    lead = lead_create()
    with django_capture_on_commit_callbacks(execute=True):
        staff_api.post(lead_url(lead, "lead-assign"), {"assignee": staff.pk}, format="json")
    assert smtp.messages == []
    with django_capture_on_commit_callbacks(execute=True):
        staff_api.post(lead_url(lead, "lead-assign"), {"assignee": other_staff.pk}, format="json")
        staff_api.post(lead_url(lead, "lead-assign"), {"assignee": other_staff.pk}, format="json")  # unchanged
    assert [mail.rcpt_tos for mail in smtp.messages] == [[other_staff.email]]


def test_the_assignee_task_skips_a_lead_reassigned_since(staff, other_staff, smtp):
    lead = lead_create()
    services.lead_assign(lead=lead, assignee=other_staff, by=staff)
    assert tasks.notify_assignee.call(lead.pk, staff.pk).startswith("skipped")
    assert tasks.notify_new_lead.call(999_999) == "skipped: the lead was deleted"
    assert smtp.messages == []
