"""The staff API: the queue with its filters and SLA data, a ticket whole (notes and history), replies, notes and
canned replies, status, priority, assignment, read receipts; and who may (staff with the support permissions: a
customer is refused, a staff member of another team too, one who may only view cannot change)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.support import services
from apps.support.models import Message, Status, Ticket, TicketChange, TicketEvent
from apps.support.tests.factories import (
    agent_create,
    canned_create,
    category_create,
    client_for,
    png_bytes,
    queries_of,
    staff_answer,
    ticket_backdate,
    ticket_create,
    upload,
    user_create,
)

pytestmark = pytest.mark.django_db

QUEUE = reverse("support:queue")
CANNED = reverse("support:canned-replies")
QUEUE_EVENTS = reverse("support:queue-events")
TICKET_ENDPOINTS = [
    ("get", "staff-ticket"),
    ("post", "staff-ticket-messages"),
    ("post", "staff-ticket-status"),
    ("post", "staff-ticket-priority"),
    ("post", "staff-ticket-assign"),
    ("post", "staff-ticket-read"),
    ("get", "staff-ticket-events"),
]
ENDPOINTS = [("get", "queue"), ("get", "canned-replies"), ("get", "queue-events"), *TICKET_ENDPOINTS]
# What each POST would change if it were let through.
PAYLOAD = {"body": "Mine now", "status": "closed", "priority": "urgent", "assignee": None}


def path_of(name: str, ticket: Ticket | int) -> str:
    if name in ("queue", "canned-replies", "queue-events"):
        return reverse(f"support:{name}")
    number = ticket if isinstance(ticket, int) else ticket.number
    return reverse(f"support:{name}", kwargs={"number": number})


def send(client: APIClient, method: str, path: str) -> Any:
    """The request an endpoint takes: a GET without a body, a POST with what would change the ticket."""
    return client.get(path) if method == "get" else client.post(path, PAYLOAD, format="json")


def unchanged(ticket: Ticket) -> bool:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return (fresh.status, fresh.priority, fresh.assignee_id, fresh.messages.count()) == (
        Status.NEW,
        "normal",
        None,
        1,
    ) and not Message.objects.filter(ticket=ticket, read_by_staff_at__isnull=False).exists()


# Who may.


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_every_staff_endpoint_needs_a_signed_in_user(ticket, method, name):
    response = send(APIClient(), method, path_of(name, ticket))
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"
    assert unchanged(ticket)


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_a_customer_is_refused_everywhere_even_on_their_own_ticket(ticket, customer_api, method, name):
    response = send(customer_api, method, path_of(name, ticket))
    assert response.status_code == 403
    assert response.json()["detail"] == "Only staff members may use the support queue."
    assert unchanged(ticket)


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_staff_without_the_support_permissions_are_refused_as_the_admin_refuses_them(
    ticket, other_team_api, method, name
):
    response = send(other_team_api, method, path_of(name, ticket))
    assert response.status_code == 403
    assert "support permissions" in response.json()["detail"]
    assert unchanged(ticket)


def test_staff_who_may_only_view_tickets_read_but_do_not_change_them(ticket):
    viewer = client_for(agent_create("viewer@example.com", permissions=("view_ticket",)))
    for method, name in ENDPOINTS:
        response = send(viewer, method, path_of(name, ticket))
        assert response.status_code == (200 if method == "get" else 403), name
        if method == "post":
            assert "to change tickets" in response.json()["detail"]
    assert unchanged(ticket)


@pytest.mark.parametrize(("method", "name"), TICKET_ENDPOINTS)
def test_an_unknown_ticket_is_a_404(agent_api, method, name):
    for number in (999_999, 10**30):
        response = send(agent_api, method, path_of(name, number))
        assert response.status_code == 404, (name, number)
        assert response.json()["error_code"] == "ticket_not_found"


# The queue.


def queue_numbers(client: APIClient, **params: Any) -> list[int]:
    response = client.get(QUEUE, params)
    assert response.status_code == 200, response.json()
    return [row["number"] for row in response.json()["results"]]


def test_the_queue_shows_every_ticket_with_its_sla_data_requester_assignee_and_unread(
    customer, other_customer, agent, agent_api
):
    mine = ticket_create(customer, subject="Mine")
    theirs = ticket_create(other_customer, subject="Theirs")
    services.ticket_assign(ticket=mine, actor=agent, assignee_id=agent.pk)
    services.customer_reply(ticket=mine, author=customer, body="More details")
    body = agent_api.get(QUEUE).json()
    assert body["count"] == 2
    rows = {row["number"]: row for row in body["results"]}
    row = rows[mine.number]
    assert row["requester"] == {
        "id": customer.pk,
        "email": "ada.customer@example.com",
        "phone": None,
        "name": "Ada Lovelace",
    }
    assert row["assignee"]["id"] == agent.pk and rows[theirs.number]["assignee"] is None
    assert row["unread"] == 2 and rows[theirs.number]["unread"] == 1
    assert row["first_response_due_at"] and row["resolution_due_at"]
    assert (row["first_response_breached"], row["resolution_breached"], row["breached"], row["paused"]) == (
        False,
        False,
        False,
        False,
    )


def test_the_queue_filters(customer, other_customer, agent, agent_api, other_staff):
    billing = category_create("Billing")
    refund = ticket_create(customer, subject="Refund please", category_id=billing.pk)
    login = ticket_create(other_customer, subject="Login broken")
    services.ticket_set_priority(ticket=login, actor=agent, priority="urgent")
    services.ticket_assign(ticket=login, actor=agent, assignee_id=agent.pk)
    Ticket.objects.filter(pk=refund.pk).update(first_response_breached=True)
    assert queue_numbers(agent_api, status="new", ordering="created_at") == [refund.number, login.number]
    assert queue_numbers(agent_api, priority="urgent") == [login.number]
    assert queue_numbers(agent_api, assignee="me") == [login.number]
    assert queue_numbers(agent_api, assignee=agent.pk) == [login.number]
    assert queue_numbers(agent_api, assignee=other_staff.pk) == []
    assert queue_numbers(agent_api, assignee="none") == [refund.number]
    assert queue_numbers(agent_api, breached="true") == [refund.number]
    assert queue_numbers(agent_api, breached="false") == [login.number]
    assert queue_numbers(agent_api, category=billing.pk) == [refund.number]
    assert queue_numbers(agent_api, q="refund") == [refund.number]
    assert queue_numbers(agent_api, q="bob.customer") == [login.number]
    assert queue_numbers(agent_api, q=f"#{login.number}") == [login.number]
    assert queue_numbers(agent_api, ordering="-created_at") == [login.number, refund.number]


@pytest.mark.parametrize("q", ["²", "#²³", "1²", "٣"])
def test_a_search_of_digits_int_cannot_read_is_a_search_not_an_error(customer, agent_api, q):
    # str.isdigit() is true of superscripts, which int() refuses: the search must not take them for a number.
    ticket_create(customer, subject="Printer on floor 2")
    response = agent_api.get(QUEUE, {"q": q})
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_a_search_in_other_decimal_digits_finds_the_number(customer, agent_api):
    ticket = ticket_create(customer)
    arabic_indic = str(ticket.number).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert queue_numbers(agent_api, q=f"#{arabic_indic}") == [ticket.number]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"status": "lost"}, "status", "is not a status"),
        ({"priority": "critical"}, "priority", "is not a priority"),
        ({"assignee": "bob"}, "assignee", "Give a user id, me, or none"),
        ({"assignee": "9" * 30}, "assignee", "Give a user id"),
        ({"breached": "maybe"}, "breached", "valid boolean"),
        ({"category": "billing"}, "category", "valid integer"),
        ({"category": 10**30}, "category", "less than or equal"),
        ({"ordering": "subject"}, "ordering", "is not an ordering"),
        ({"q": "x" * 201}, "q", "200"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(agent_api, params, field, words):
    response = agent_api.get(QUEUE, params)
    assert response.status_code == 400
    assert words in response.json()[field][0], response.json()


def test_the_queue_puts_the_soonest_running_sla_deadline_first(customer, agent):
    now = timezone.now()
    urgent_late = ticket_backdate(ticket_create(customer, subject="Late"), now - timedelta(days=2))
    fresh = ticket_create(customer, subject="Fresh")
    services.ticket_set_priority(ticket=fresh, actor=agent, priority="urgent")
    answered = ticket_create(customer, subject="Answered")
    staff_answer(answered, agent)  # waiting for the customer: the resolution clock is paused
    resolved = ticket_create(customer, subject="Resolved")
    services.ticket_set_status(ticket=resolved, actor=agent, status=Status.RESOLVED)
    low = ticket_create(customer, subject="Low")
    services.ticket_set_priority(ticket=low, actor=agent, priority="low")
    numbers = queue_numbers(client_for(agent))
    assert numbers[:3] == [urgent_late.number, fresh.number, low.number]
    assert set(numbers[3:]) == {answered.number, resolved.number}


def test_the_queue_and_a_ticket_take_as_many_queries_with_many_rows_as_with_one(
    customer, other_customer, agent, agent_api
):
    first = ticket_create(customer, category_id=category_create("Billing").pk)
    queries_of(agent_api, QUEUE)  # the first request records the user's last activity (an UPDATE)
    one_row = queries_of(agent_api, QUEUE)
    one_message = queries_of(agent_api, path_of("staff-ticket", first))
    for index in range(3):
        other = ticket_create(other_customer, subject=f"More {index}", category_id=category_create(f"C{index}").pk)
        services.ticket_assign(ticket=other, actor=agent, assignee_id=agent.pk)
        staff_answer(first, agent, f"Note {index}", internal=True, files=[upload("p.png", png_bytes(), "image/png")])
        services.ticket_set_priority(ticket=first, actor=agent, priority=("low", "high", "urgent")[index])
    assert queries_of(agent_api, QUEUE) == one_row
    assert queries_of(agent_api, path_of("staff-ticket", first)) == one_message


# A ticket whole.


def test_staff_read_a_ticket_with_notes_history_sla_and_where_it_may_go(customer, agent, agent_api, ticket):
    staff_answer(ticket, agent, "Public answer")
    staff_answer(ticket, agent, "Refund them quietly", internal=True)
    body = agent_api.get(path_of("staff-ticket", ticket)).json()
    assert [(item["body"], item["internal"], item["from_staff"]) for item in body["messages"]] == [
        ("It says 100, not 10.", False, False),
        ("Public answer", False, True),
        ("Refund them quietly", True, True),
    ]
    assert [(row["field"], row["new_value"]) for row in body["history"]][:2] == [
        ("created", "The invoice is wrong"),
        ("status", "waiting_for_customer"),
    ]
    assert body["history"][1]["actor"]["id"] == agent.pk
    assert body["status"] == "waiting_for_customer" and body["paused"] is True and body["paused_at"]
    assert body["first_responded_at"] and body["unread"] == 1
    assert body["next_statuses"] == ["open", "waiting_for_staff", "resolved", "closed"]


# Replies and notes.


def test_a_public_reply_waits_for_the_customer_and_answers_the_message_as_its_event(agent_api, ticket):
    files = [upload("fix.png", png_bytes(), "image/png")]
    response = agent_api.post(
        path_of("staff-ticket-messages", ticket), {"body": "Fixed it", "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    message = response.json()
    assert (message["body"], message["internal"], message["from_staff"], message["author"]) == (
        "Fixed it",
        False,
        True,
        "Alex Agent",
    )
    assert [item["kind"] for item in message["attachments"]] == ["png"]
    event = TicketEvent.objects.filter(ticket=ticket, kind="message").order_by("pk").last()
    assert event is not None and event.data == message and event.audience == "public"
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_FOR_CUSTOMER and ticket.first_responded_at is not None


def test_an_internal_note_changes_nothing_and_is_staff_only(agent_api, ticket):
    response = agent_api.post(
        path_of("staff-ticket-messages", ticket), {"body": "Check the logs", "internal": "true"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["internal"] is True
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW and ticket.first_responded_at is None
    assert TicketEvent.objects.get(ticket=ticket, kind="message", data__internal=True).audience == "staff"


def test_a_canned_reply_is_filled_in_before_the_body(agent_api, ticket):
    canned = canned_create("Thanks", "Hello $requester_name, about #$ticket_number: $agent_name is on it.")
    response = agent_api.post(
        path_of("staff-ticket-messages", ticket), {"canned_reply": canned.pk, "body": "Soon."}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["body"] == f"Hello Ada Lovelace, about #{ticket.number}: Alex Agent is on it.\n\nSoon."


@pytest.mark.parametrize("active", [False, None])
def test_an_inactive_or_unknown_canned_reply_is_a_400(agent_api, ticket, active):
    canned_id = canned_create("Old", "Bye", active=False).pk if active is False else 999_999
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"canned_reply": canned_id}, format="json")
    assert response.status_code == 400
    assert response.json()["canned_reply"] == ["No such canned reply, or it is no longer active."]
    assert ticket.messages.count() == 1


def test_a_renamed_executable_too_many_files_and_an_empty_reply_are_refused(agent_api, ticket, settings):
    exe = upload("report.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf")
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"files": [exe]}, format="multipart")
    assert response.status_code == 400 and "report.pdf" in response.json()["files"][0]
    settings.SUPPORT = {**settings.SUPPORT, "ATTACHMENTS_PER_MESSAGE": 1}
    photos = [upload(f"p{index}.png", png_bytes(), "image/png") for index in range(2)]
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"files": photos}, format="multipart")
    assert response.status_code == 400 and "at most 1 files" in response.json()["files"][0]
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"body": " "}, format="json")
    assert response.status_code == 400 and response.json()["body"] == ["Write a message or attach a file."]
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"internal": "perhaps"}, format="json")
    assert response.status_code == 400 and "valid boolean" in response.json()["internal"][0]
    assert ticket.messages.count() == 1


def test_a_public_reply_to_a_closed_ticket_is_a_409_but_a_note_is_taken(agent, agent_api, ticket):
    services.ticket_set_status(ticket=ticket, actor=agent, status=Status.CLOSED)
    response = agent_api.post(path_of("staff-ticket-messages", ticket), {"body": "Hello"}, format="json")
    assert response.status_code == 409 and response.json()["error_code"] == "ticket_closed"
    note = {"body": "Closed on purpose", "internal": True}
    assert agent_api.post(path_of("staff-ticket-messages", ticket), note, format="json").status_code == 201


# Status, priority, assignment.


def test_staff_change_the_status_and_a_refused_move_names_the_allowed_ones(agent_api, ticket):
    response = agent_api.post(path_of("staff-ticket-status", ticket), {"status": "closed"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert response.json()["closed_at"] and response.json()["next_statuses"] == ["open"]
    response = agent_api.post(path_of("staff-ticket-status", ticket), {"status": "resolved"}, format="json")
    assert response.status_code == 409
    assert response.json()["error_code"] == "transition_not_allowed"
    assert "it can become open" in response.json()["status"][0]
    response = agent_api.post(path_of("staff-ticket-status", ticket), {"status": "new"}, format="json")
    assert response.status_code == 409
    response = agent_api.post(path_of("staff-ticket-status", ticket), {"status": "lost"}, format="json")
    assert response.status_code == 400 and "is not a status" in response.json()["status"][0]
    assert agent_api.post(path_of("staff-ticket-status", ticket), {}, format="json").status_code == 400
    assert Ticket.objects.get(pk=ticket.pk).status == Status.CLOSED


def test_staff_change_the_priority_and_the_due_times_move(agent_api, ticket):
    before = ticket.first_response_due_at
    response = agent_api.post(path_of("staff-ticket-priority", ticket), {"priority": "urgent"}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == "urgent"
    ticket.refresh_from_db()
    assert ticket.first_response_due_at is not None and before is not None
    assert ticket.first_response_due_at < before
    response = agent_api.post(path_of("staff-ticket-priority", ticket), {"priority": "critical"}, format="json")
    assert response.status_code == 400 and "is not a priority" in response.json()["priority"][0]


def test_staff_assign_to_active_staff_only_and_unassign(agent_api, ticket, other_staff, customer):
    response = agent_api.post(path_of("staff-ticket-assign", ticket), {"assignee": other_staff.pk}, format="json")
    assert response.status_code == 200 and response.json()["assignee"]["id"] == other_staff.pk
    for refused in (customer.pk, 999_999):
        response = agent_api.post(path_of("staff-ticket-assign", ticket), {"assignee": refused}, format="json")
        assert response.status_code == 400 and response.json()["error_code"] == "not_staff"
    for bad in ("alex", 10**30, 0):
        response = agent_api.post(path_of("staff-ticket-assign", ticket), {"assignee": bad}, format="json")
        assert response.status_code == 400 and response.json()["error_code"] == "invalid"
    assert agent_api.post(path_of("staff-ticket-assign", ticket), {}, format="json").status_code == 400
    response = agent_api.post(path_of("staff-ticket-assign", ticket), {"assignee": None}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] is None
    assert list(TicketChange.objects.filter(ticket=ticket, field="assignee").values_list("new_value", flat=True)) == [
        str(other_staff),
        "",
    ]


def test_staff_mark_the_customers_messages_read(customer, agent_api, ticket):
    services.customer_reply(ticket=ticket, author=customer, body="More")
    response = agent_api.post(path_of("staff-ticket-read", ticket))
    assert response.status_code == 200 and response.json() == {"marked": 2}
    assert not ticket.messages.filter(read_by_staff_at__isnull=True).exists()
    assert agent_api.post(path_of("staff-ticket-read", ticket)).json() == {"marked": 0}
    photo = upload("photo.png", png_bytes(), "image/png")
    response = agent_api.post(path_of("staff-ticket-read", ticket), {"files": [photo]}, format="multipart")
    assert response.status_code == 415


def test_a_small_endpoint_refuses_a_large_body_unread(agent_api, ticket):
    response = agent_api.post(path_of("staff-ticket-status", ticket), {"status": "x" * 20_000}, format="json")
    assert response.status_code == 413 and response.json()["error_code"] == "payload_too_large"


# Canned replies.


def test_staff_list_the_active_canned_replies(agent_api):
    canned_create("Welcome", "Hello $requester_name")
    canned_create("Closing", "Bye")
    canned_create("Retired", "Old", active=False)
    body = agent_api.get(CANNED).json()
    assert [(item["title"], item["body"]) for item in body["results"]] == [
        ("Closing", "Bye"),
        ("Welcome", "Hello $requester_name"),
    ]


def test_staff_replies_are_not_counted_by_the_customer_throttles(agent_api, ticket, settings):
    settings.SUPPORT = {**settings.SUPPORT, "THROTTLE_RATES": {"support_create": "1/hour", "support_reply": "1/hour"}}
    for index in range(3):
        response = agent_api.post(path_of("staff-ticket-messages", ticket), {"body": f"Note {index}", "internal": True})
        assert response.status_code == 201


def test_a_staff_member_may_also_be_a_customer_of_their_own_ticket(agent):
    own = ticket_create(agent, subject="My laptop")
    client = client_for(agent)
    assert client.get(reverse("support:ticket", kwargs={"number": own.number})).status_code == 200
    assert user_create("someone@example.com").support_tickets.count() == 0
