"""Tickets to CSV and XLSX and back (apps.support.resources): the export with its SLA fields, an unchanged file
imports back changing nothing, updates by number and new tickets go through the services (history and events),
unknown users are errors and never created, a bad row saves nothing, and formulas are escaped on export."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
import tablib
from django.contrib.auth import get_user_model
from import_export.formats.base_formats import CSV
from import_export.results import RowResult

from apps.support import services
from apps.support.models import Category, Priority, Status, Ticket, TicketChange, TicketEvent
from apps.support.resources import TicketResource
from apps.support.tests.factories import category_create, staff_answer, staff_create, ticket_create, user_create

pytestmark = pytest.mark.django_db

QUEUE = "/admin/support/ticket/"


def csv(text: str) -> tablib.Dataset:
    return tablib.Dataset().load(text, format="csv")


def errors_of(result: Any) -> dict[int, dict[str, list[str]]]:
    """Each invalid row's messages by field, by row number (1 is the first row under the header)."""
    return {row.number: row.error.message_dict for row in result.invalid_rows}


def test_the_export_has_each_tickets_people_status_and_sla_fields(customer, staff):
    category = category_create("Billing")
    ticket = ticket_create(customer, subject="Refund", category_id=category.pk)
    services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk)
    staff_answer(ticket, staff)
    ticket.refresh_from_db()
    row = TicketResource().export().dict[0]
    assert row["number"] == ticket.number and row["subject"] == "Refund"
    assert (row["requester_email"], row["assignee_email"]) == ("ada.customer@example.com", "sam.staff@example.com")
    assert (row["status"], row["priority"], row["category"]) == ("waiting_for_customer", "normal", "Billing")
    assert row["first_responded_at"] == f"{ticket.first_responded_at:%Y-%m-%d %H:%M:%S}"
    assert row["resolution_due_at"] == f"{ticket.resolution_due_at:%Y-%m-%d %H:%M:%S}"
    assert (row["first_response_breached"], row["resolution_breached"], row["resolved_at"]) == ("0", "0", "")


def test_an_exported_file_imports_back_changing_nothing(customer, staff):
    for index in range(3):
        ticket = ticket_create(customer, subject=f"Ticket {index}")
        services.ticket_assign(ticket=ticket, actor=staff, assignee_id=staff.pk)
    before = list(Ticket.objects.order_by("pk").values())
    history, events = TicketChange.objects.count(), TicketEvent.objects.count()
    result = TicketResource().import_data(TicketResource().export(), user=staff)
    assert not result.has_errors() and not result.has_validation_errors(), errors_of(result)
    assert result.totals[RowResult.IMPORT_TYPE_SKIP] == 3
    assert list(Ticket.objects.order_by("pk").values()) == before
    assert (TicketChange.objects.count(), TicketEvent.objects.count()) == (history, events)


def test_an_import_updates_status_priority_and_assignee_by_number_through_the_services(customer, staff):
    ticket = ticket_create(customer, subject="Refund")
    untouched = ticket_create(customer, subject="Other")
    result = TicketResource().import_data(
        csv(
            "number,subject,status,priority,assignee_email\n"
            f"{ticket.number},A new subject is ignored,Open,urgent,SAM.STAFF@example.com\n"
            f"#{untouched.number},Other,,,\n"
        ),
        user=staff,
    )
    assert not result.has_errors() and not result.has_validation_errors(), errors_of(result)
    ticket.refresh_from_db()
    assert (ticket.subject, ticket.status, ticket.priority, ticket.assignee) == (
        "Refund",
        Status.OPEN,
        Priority.URGENT,
        staff,
    )
    changes = set(TicketChange.objects.filter(ticket=ticket, actor=staff).values_list("field", "new_value"))
    assert changes == {("status", "open"), ("priority", "urgent"), ("assignee", "sam.staff@example.com")}
    assert {"status", "priority", "assignee"} <= set(
        TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)
    )
    untouched.refresh_from_db()
    assert (untouched.status, untouched.priority, untouched.assignee) == (Status.NEW, Priority.NORMAL, None)


def test_an_import_opens_tickets_for_existing_users_with_their_first_message(customer, staff):
    category_create("Billing")
    result = TicketResource().import_data(
        csv(
            "number,subject,requester_email,category,priority,body\n"
            ",Card declined,ADA.customer@example.com,billing,high,My card was declined twice.\n"
        ),
        user=staff,
    )
    assert not result.has_errors() and not result.has_validation_errors(), errors_of(result)
    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.requester, ticket.category, ticket.priority, ticket.status) == (
        "Card declined",
        customer,
        Category.objects.get(name="Billing"),
        Priority.HIGH,
        Status.NEW,
    )
    assert list(ticket.messages.values_list("body", "from_staff")) == [("My card was declined twice.", False)]
    assert TicketChange.objects.filter(ticket=ticket, field="created").exists()
    assert TicketChange.objects.get(ticket=ticket, field="priority").actor == staff


def test_unknown_users_and_bad_rows_are_named_and_the_file_saves_nothing(customer, staff):
    ticket = ticket_create(customer, subject="Refund")
    user_create("not.staff@example.com")
    users = get_user_model().objects.count()
    result = TicketResource().import_data(
        csv(
            "number,subject,requester_email,status,assignee_email,body\n"
            f"{ticket.number},Refund,,resolved,,\n"
            ",Hello,stranger@example.com,,,Hi\n"
            ",No body,ada.customer@example.com,,,\n"
            "999999,Gone,ada.customer@example.com,,,Hi\n"
            f"{ticket.number},Refund,,sleeping,,\n"
            f"{ticket.number},Refund,,,not.staff@example.com,\n"
        ),
        user=staff,
    )
    assert result.has_validation_errors()
    errors = errors_of(result)
    assert errors[2] == {
        "requester": ["no user has the email address stranger@example.com (an import does not create users)"]
    }
    assert errors[3] == {"body": ["a new ticket needs its first message in the body column"]}
    assert "no ticket has the number 999999" in errors[4]["number"][0]
    assert errors[5]["status"][0].startswith("sleeping is not a status; use new, open,")
    assert errors[6] == {
        "assignee": ["Tickets are assigned to active staff members who may see tickets (support.view_ticket)."]
    }
    assert get_user_model().objects.count() == users
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW and Ticket.objects.count() == 1  # row 1 was rolled back with the rest
    assert not TicketChange.objects.filter(field="status").exists()


def test_a_formula_written_by_a_customer_is_exported_as_text_and_imports_back(customer, staff):
    ticket_create(customer, subject='=HYPERLINK("http://evil.example.com")')
    before = list(Ticket.objects.values())
    text = CSV().export_data(TicketResource().export())
    row = csv(text).dict[0]
    assert row["subject"] == '\'=HYPERLINK("http://evil.example.com")'
    assert row["assignee_email"] == ""
    result = TicketResource().import_data(csv(text), user=staff)
    assert result.totals[RowResult.IMPORT_TYPE_SKIP] == 1, errors_of(result)
    assert list(Ticket.objects.values()) == before


def test_the_admin_exports_xlsx_and_imports_csv_as_the_signed_in_staff_member(client, customer):
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)
    ticket = ticket_create(customer, subject="Refund")
    page = client.get(f"{QUEUE}export/")
    formats = {label: value for value, label in page.context["form"].fields["format"].choices}
    selected = {f"ticketresource_{field}": "on" for field in TicketResource.Meta.fields}
    response = client.post(f"{QUEUE}export/", {"format": formats["xlsx"], "resource": "0", **selected})
    assert response.status_code == 200, response.content[:500]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, first = [[cell.value for cell in row] for row in sheet.iter_rows()][:2]
    exported = dict(zip(header, first, strict=True))
    # IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT writes every cell as text.
    assert (exported["number"], exported["subject"], exported["status"]) == (str(ticket.number), "Refund", "new")

    staff_create("helper@example.com")
    import_page = client.get(f"{QUEUE}import/")
    import_formats = {label: value for value, label in import_page.context["form"].fields["format"].choices}
    upload = io.BytesIO(f"number,status,assignee_email\n{ticket.number},open,helper@example.com\n".encode())
    upload.name = "tickets.csv"
    preview = client.post(f"{QUEUE}import/", {"format": import_formats["csv"], "import_file": upload, "resource": "0"})
    assert preview.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW  # the preview is a dry run
    confirm = preview.context["confirm_form"]
    done = client.post(f"{QUEUE}process_import/", {**confirm.initial, "resource": "0"})
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (Status.OPEN, get_user_model().objects.get(email="helper@example.com"))
    assert TicketChange.objects.get(ticket=ticket, field="status").actor == root
