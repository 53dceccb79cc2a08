"""The customer's API: open a ticket (JSON or multipart with files), list and read their own, reply, mark read, the
categories; who may (signed-in users, their own tickets only: another's is a 404 like a missing one), what is never
shown (internal notes, SLA internals), and the refusals (bad input, uploads, sizes, throttles)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.support import services
from apps.support.models import Attachment, Message, Status, Ticket, TicketEvent
from apps.support.tests.factories import (
    PDF_BYTES,
    category_create,
    png_bytes,
    queries_of,
    staff_answer,
    ticket_create,
    upload,
)

pytestmark = pytest.mark.django_db

TICKETS = reverse("support:tickets")
CATEGORIES = reverse("support:categories")
# A Windows executable's first bytes, then padding: what a renamed .exe looks like.
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240
SLA_FIELDS = {
    "first_response_due_at",
    "first_responded_at",
    "first_response_breached",
    "resolution_due_at",
    "resolution_breached",
    "paused_at",
    "paused_seconds",
    "breached",
    "assignee",
    "requester",
}


def url(name: str, ticket: Ticket | int) -> str:
    number = ticket if isinstance(ticket, int) else ticket.number
    return reverse(f"support:{name}", kwargs={"number": number})


TICKET_ENDPOINTS = [("get", "ticket"), ("post", "ticket-messages"), ("post", "ticket-read"), ("get", "ticket-events")]


def stored_files(location: Path) -> list[Path]:
    return [path for path in location.rglob("*") if path.is_file()] if location.exists() else []


# Who may.


@pytest.mark.parametrize(
    ("method", "name"), [("get", "tickets"), ("post", "tickets"), ("get", "categories"), *TICKET_ENDPOINTS]
)
def test_every_customer_endpoint_needs_a_signed_in_user(customer, method, name):
    ticket = ticket_create(customer)
    path = reverse(f"support:{name}") if name in ("tickets", "categories") else url(name, ticket)
    response = getattr(APIClient(), method)(path, {"subject": "Hi", "body": "Hello"}, format="json")
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"
    assert Ticket.objects.count() == 1 and Message.objects.count() == 1


@pytest.mark.parametrize(("method", "name"), TICKET_ENDPOINTS)
def test_another_customers_ticket_is_answered_exactly_as_a_missing_one(
    customer, other_customer_api, staff, method, name
):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff)
    call = getattr(other_customer_api, method)
    theirs = call(url(name, ticket), {"body": "Let me in"}, format="json")
    missing = call(url(name, ticket.number + 1000), {"body": "Let me in"}, format="json")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"detail": "No such ticket.", "error_code": "ticket_not_found"}
    assert not Message.objects.filter(ticket=ticket, read_by_customer_at__isnull=False).exists()
    assert Message.objects.filter(ticket=ticket).count() == 2


def test_a_ticket_number_past_any_id_is_a_404_not_an_error(customer_api):
    assert customer_api.get(url("ticket", 10**30)).status_code == 404
    for name in ("ticket-messages", "ticket-read"):
        assert customer_api.post(url(name, 10**30), {"body": "Hi"}, format="json").status_code == 404


def test_a_signed_in_browser_session_works_and_needs_the_csrf_token_to_write(customer):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(customer)
    assert browser.get(TICKETS).status_code == 200
    response = browser.post(TICKETS, {"subject": "Hi", "body": "Hello"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Ticket.objects.exists()


# Opening a ticket.


def test_a_customer_opens_a_ticket_in_json(customer, customer_api):
    billing = category_create("Billing")
    response = customer_api.post(
        TICKETS, {"subject": "  The invoice is wrong ", "body": "It says 100.", "category": billing.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    ticket = Ticket.objects.get(requester=customer)
    assert response["Location"] == url("ticket", ticket)
    assert body["number"] == ticket.number and body["subject"] == "The invoice is wrong"
    assert (body["status"], body["priority"], body["unread"]) == ("new", "normal", 0)
    assert body["category"] == {"id": billing.pk, "name": "Billing"}
    assert not SLA_FIELDS & set(body), "customers see the status, not the SLA clocks or who works on the ticket"
    [message] = body["messages"]
    assert (message["body"], message["from_staff"], message["internal"], message["attachments"]) == (
        "It says 100.",
        False,
        False,
        [],
    )


def test_a_customer_opens_a_ticket_with_files_recognised_by_their_content(customer_api, private_files):
    files = [
        upload("screenshot.txt", png_bytes(), "text/plain"),  # a PNG whatever its name says
        upload("notes.txt", "Tried twice — no luck.\n".encode(), "text/plain"),
        upload("invoice.pdf", PDF_BYTES, "application/pdf"),
    ]
    response = customer_api.post(
        TICKETS, {"subject": "Broken", "body": "See the files.", "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    attachments = response.json()["messages"][0]["attachments"]
    assert [(item["name"], item["kind"], item["content_type"]) for item in attachments] == [
        # Offered for download under a name that says what it is (attachments.name_for_kind).
        ("screenshot.txt.png", "png", "image/png"),
        ("notes.txt", "txt", "text/plain; charset=utf-8"),
        ("invoice.pdf", "pdf", "application/pdf"),
    ]
    first = Attachment.objects.get(token=attachments[0]["id"])
    assert attachments[0]["url"] == reverse("support:attachment", kwargs={"token": first.token})
    assert attachments[0]["size"] == len(png_bytes())
    assert len(stored_files(private_files)) == 3


def test_a_message_of_only_files_is_accepted_but_one_of_nothing_is_refused(customer_api):
    files = [upload("photo.png", png_bytes(), "image/png")]
    response = customer_api.post(TICKETS, {"subject": "See photo", "files": files}, format="multipart")
    assert response.status_code == 201, response.json()
    response = customer_api.post(TICKETS, {"subject": "Nothing", "body": "   "}, format="json")
    assert response.status_code == 400
    assert response.json()["body"] == ["Write a message or attach a file."]


def test_a_renamed_executable_is_refused_naming_it_and_nothing_is_kept(customer_api, private_files):
    files = [upload("photo.png", png_bytes(), "image/png"), upload("holiday.png", EXECUTABLE, "image/png")]
    response = customer_api.post(TICKETS, {"subject": "Photos", "body": "Look", "files": files}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "attachment_refused"
    assert "holiday.png" in body["files"][0] and "not a file of an accepted kind" in body["files"][0]
    assert not Ticket.objects.exists() and not Attachment.objects.exists()
    assert stored_files(private_files) == []


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "not a file of an accepted kind"),
        ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "accepted kind"),
        ("empty.txt", b"", "is empty"),
    ],
)
def test_markup_and_empty_files_are_refused(customer_api, name, data, words):
    response = customer_api.post(
        TICKETS, {"subject": "Files", "body": "Look", "files": [upload(name, data)]}, format="multipart"
    )
    assert response.status_code == 400
    assert name in response.json()["files"][0] and words in response.json()["files"][0]
    assert not Ticket.objects.exists()


def test_too_many_files_are_refused_before_any_is_read(customer_api, settings, private_files):
    settings.SUPPORT = {**settings.SUPPORT, "ATTACHMENTS_PER_MESSAGE": 2}
    files = [upload(f"photo{index}.png", png_bytes(), "image/png") for index in range(3)]
    response = customer_api.post(TICKETS, {"subject": "Photos", "body": "Look", "files": files}, format="multipart")
    assert response.status_code == 400
    assert response.json()["files"] == ["Attach at most 2 files to one message; this one has 3."]
    assert not Ticket.objects.exists() and stored_files(private_files) == []


def test_a_file_over_the_size_limit_is_a_400_and_a_body_past_the_whole_limit_a_413(customer_api, settings):
    settings.SUPPORT = {
        **settings.SUPPORT,
        "ATTACHMENT_MAX_BYTES": 1024,
        "ATTACHMENTS_PER_MESSAGE": 1,
        "BODY_MAX_CHARS": 100,
    }
    big = upload("notes.txt", b"a" * 2000, "text/plain")
    response = customer_api.post(TICKETS, {"subject": "Big", "body": "Look", "files": [big]}, format="multipart")
    assert response.status_code == 400
    assert response.json()["files"] == ["notes.txt is larger than 1 KB."]
    huge = upload("notes.txt", b"a" * 100_000, "text/plain")
    response = customer_api.post(TICKETS, {"subject": "Huge", "body": "Look", "files": [huge]}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"
    assert not Ticket.objects.exists()


def test_files_sent_under_another_field_are_refused_not_dropped(customer_api):
    stray = upload("photo.png", png_bytes(), "image/png")
    response = customer_api.post(TICKETS, {"subject": "Photo", "body": "Look", "file": stray}, format="multipart")
    assert response.status_code == 400
    assert response.json()["file"] == ["Send files in the `files` field (repeated)."]
    assert not Ticket.objects.exists()


def form_with_an_empty_file_input(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A browser's multipart form: each file input left empty is still sent, as a part with an empty file name."""
    boundary = "----form-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for filename, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_browser_form_with_a_file_input_left_empty_sends_its_text(customer, customer_api):
    body, content_type = form_with_an_empty_file_input({"subject": "From a form", "body": "No file"}, [("", b"")])
    response = customer_api.generic("POST", TICKETS, body, content_type=content_type)
    assert response.status_code == 201, response.content
    assert response.json()["messages"][0]["attachments"] == []
    ticket = Ticket.objects.get()
    body, content_type = form_with_an_empty_file_input({"body": "One of two"}, [("", b""), ("shot.png", png_bytes())])
    response = customer_api.generic("POST", url("ticket-messages", ticket), body, content_type=content_type)
    assert response.status_code == 201, response.content
    assert [item["name"] for item in response.json()["attachments"]] == ["shot.png"]


def test_an_upload_to_an_endpoint_that_takes_no_files_is_refused_unread(customer, customer_api):
    ticket = ticket_create(customer)
    photo = upload("photo.png", png_bytes(), "image/png")
    response = customer_api.post(url("ticket-read", ticket), {"files": [photo]}, format="multipart")
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"body": "Hi"}, "subject", "required"),
        ({"subject": "   ", "body": "Hi"}, "subject", "blank"),
        ({"subject": "x" * 201, "body": "Hi"}, "subject", "200"),
        ({"subject": "Hi", "body": "Hi", "category": "billing"}, "category", "valid integer"),
        ({"subject": "Hi", "body": "Hi", "category": 10**30}, "category", "less than or equal"),
        ({"subject": "Hi", "body": "Hi", "category": 999_999}, "category", "No such category"),
        ({"subject": "Hi", "body": "nul \x00 byte"}, "body", "Null characters are not allowed"),
        ({"subject": "Hi", "body": "Hi", "files": ["not a file"]}, "files", "not a file"),
    ],
)
def test_bad_fields_are_400s_naming_the_field(customer_api, payload, field, words):
    response = customer_api.post(TICKETS, payload, format="json")
    assert response.status_code == 400, response.content
    messages = [message for key, values in response.json().items() if key.startswith(field) for message in values]
    assert any(words in message for message in messages), response.json()
    assert not Ticket.objects.exists()


def test_an_inactive_category_is_not_offered_nor_taken(customer_api):
    retired = category_create("Old", active=False)
    category_create("Billing")
    names = [item["name"] for item in customer_api.get(CATEGORIES).json()["results"]]
    assert names == ["Billing"]
    response = customer_api.post(TICKETS, {"subject": "Hi", "body": "Hi", "category": retired.pk}, format="json")
    assert response.status_code == 400 and response.json()["error_code"] == "category_not_found"


def test_a_body_that_is_not_an_object_or_not_json_is_a_400(customer_api):
    assert customer_api.post(TICKETS, [1, 2], format="json").status_code == 400
    response = customer_api.post(TICKETS, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error_code"] == "parse_error"


# Listing and reading.


def test_customers_list_only_their_own_tickets_latest_first_with_what_they_have_not_read(
    customer, customer_api, other_customer, staff
):
    older = ticket_create(customer, subject="Older")
    newer = ticket_create(customer, subject="Newer")
    ticket_create(other_customer, subject="Not mine")
    staff_answer(older, staff, "First answer")
    staff_answer(older, staff, "Second answer")
    staff_answer(older, staff, "A note about them", internal=True)
    body = customer_api.get(TICKETS).json()
    assert body["count"] == 2
    assert [(row["subject"], row["unread"]) for row in body["results"]] == [("Older", 2), ("Newer", 0)]
    assert not SLA_FIELDS & set(body["results"][0]) and "messages" not in body["results"][0]
    assert newer.number in [row["number"] for row in body["results"]]


def test_the_list_filters_by_status_and_refuses_an_unknown_one(customer, customer_api, staff):
    waiting = ticket_create(customer, subject="Answered")
    staff_answer(waiting, staff)
    ticket_create(customer, subject="Fresh")
    rows = customer_api.get(TICKETS, {"status": "waiting_for_customer"}).json()["results"]
    assert [row["subject"] for row in rows] == ["Answered"]
    response = customer_api.get(TICKETS, {"status": "lost"})
    assert response.status_code == 400
    assert "is not a status" in response.json()["status"][0]
    assert customer_api.get(TICKETS, {"page": "x"}).status_code == 404


def test_the_list_and_a_ticket_take_as_many_queries_with_many_rows_as_with_one(customer, customer_api, staff):
    first = ticket_create(customer, category_id=category_create("Billing").pk)
    queries_of(customer_api, TICKETS)  # the first request records the user's last activity (an UPDATE)
    one_row = queries_of(customer_api, TICKETS)
    one_message = queries_of(customer_api, url("ticket", first))
    for index in range(3):
        ticket = ticket_create(customer, subject=f"More {index}", category_id=category_create(f"C{index}").pk)
        staff_answer(ticket, staff)
        services.staff_reply(
            ticket=first, author=staff, body="With a file", files=[upload("p.png", png_bytes(), "image/png")]
        )
    assert queries_of(customer_api, TICKETS) == one_row
    assert queries_of(customer_api, url("ticket", first)) == one_message


# Internal notes.


def test_internal_notes_are_in_no_customer_answer(customer, customer_api, staff):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff, "Public answer")
    staff_answer(
        ticket,
        staff,
        "SECRET NOTE: refund them quietly",
        internal=True,
        files=[upload("secret.png", png_bytes(), "image/png")],
    )
    answers = [
        customer_api.get(TICKETS),
        customer_api.get(url("ticket", ticket)),
        customer_api.post(url("ticket-messages", ticket), {"body": "Any news?"}, format="json"),
        customer_api.post(url("ticket-read", ticket), format="json"),
        customer_api.get(url("ticket", ticket)),
        customer_api.get(url("ticket-events", ticket)),
    ]
    for response in answers:
        assert response.status_code in (200, 201), response.content
        assert b"SECRET NOTE" not in response.content and b"secret.png" not in response.content
    thread = answers[1].json()["messages"]
    assert [(item["body"], item["internal"]) for item in thread] == [
        ("It says 100, not 10.", False),
        ("Public answer", False),
    ]
    assert answers[1].json()["unread"] == 1  # the public answer only


# Replies.


def test_a_reply_answers_the_message_as_its_event_shows_it(customer, customer_api, staff):
    ticket = ticket_create(customer)
    staff_answer(ticket, staff)
    files = [upload("more.png", png_bytes(), "image/png")]
    response = customer_api.post(
        url("ticket-messages", ticket), {"body": "Here is more", "files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    message = response.json()
    assert (message["body"], message["from_staff"], message["author"]) == ("Here is more", False, "Ada Lovelace")
    assert [item["kind"] for item in message["attachments"]] == ["png"]
    event = TicketEvent.objects.filter(ticket=ticket, kind="message").order_by("pk").last()
    assert event is not None and event.data == message
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_FOR_STAFF


def test_a_reply_reopens_a_resolved_ticket(customer, customer_api, staff):
    ticket = ticket_create(customer)
    services.ticket_set_status(ticket=ticket, actor=staff, status=Status.RESOLVED)
    assert customer_api.post(url("ticket-messages", ticket), {"body": "Still broken"}, format="json").status_code == 201
    assert customer_api.get(url("ticket", ticket)).json()["status"] == "waiting_for_staff"


def test_a_reply_to_a_closed_ticket_is_a_409(customer, customer_api, staff):
    ticket = ticket_create(customer)
    services.ticket_set_status(ticket=ticket, actor=staff, status=Status.CLOSED)
    response = customer_api.post(url("ticket-messages", ticket), {"body": "Hello?"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This ticket is closed: open a new ticket instead.",
        "error_code": "ticket_closed",
    }
    assert ticket.messages.count() == 1


def test_an_empty_reply_is_refused(customer, customer_api):
    ticket = ticket_create(customer)
    response = customer_api.post(url("ticket-messages", ticket), {"body": ""}, format="json")
    assert response.status_code == 400 and response.json()["body"] == ["Write a message or attach a file."]


# Read receipts.


def test_marking_read_marks_the_public_staff_replies_once(customer, customer_api, staff):
    ticket = ticket_create(customer)
    answer = staff_answer(ticket, staff, "Public")
    note = staff_answer(ticket, staff, "Note", internal=True)
    response = customer_api.post(url("ticket-read", ticket))
    assert response.status_code == 200 and response.json() == {"marked": 1}
    answer.refresh_from_db()
    note.refresh_from_db()
    assert answer.read_by_customer_at is not None and note.read_by_customer_at is None
    assert customer_api.post(url("ticket-read", ticket)).json() == {"marked": 0}
    assert customer_api.get(url("ticket", ticket)).json()["unread"] == 0


# Throttles.


def test_opening_tickets_is_throttled_per_customer_but_reading_is_not(customer_api, other_customer_api, settings):
    settings.SUPPORT = {**settings.SUPPORT, "THROTTLE_RATES": {"support_create": "2/hour", "support_reply": None}}
    for index in range(2):
        response = customer_api.post(TICKETS, {"subject": f"T{index}", "body": "Hi"}, format="json")
        assert response.status_code == 201
    response = customer_api.post(TICKETS, {"subject": "One more", "body": "Hi"}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Too many tickets opened")
    assert customer_api.get(TICKETS).status_code == 200
    assert other_customer_api.post(TICKETS, {"subject": "Mine", "body": "Hi"}, format="json").status_code == 201
    assert Ticket.objects.count() == 3


def test_replies_are_throttled_per_customer(customer, customer_api, settings):
    settings.SUPPORT = {**settings.SUPPORT, "THROTTLE_RATES": {"support_create": None, "support_reply": "2/hour"}}
    ticket = ticket_create(customer)
    for index in range(2):
        response = customer_api.post(url("ticket-messages", ticket), {"body": f"Reply {index}"}, format="json")
        assert response.status_code == 201
    response = customer_api.post(url("ticket-messages", ticket), {"body": "Reply 3"}, format="json")
    assert response.status_code == 429 and response.json()["error_code"] == "throttled"
    assert "Too many messages" in response.json()["detail"]
    assert ticket.messages.count() == 3


def test_a_throttle_that_cannot_count_refuses_rather_than_lets_through(customer_api, settings):
    # The throttle cache on a Redis port where nothing listens: counting fails, the request is refused (503).
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/15",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    response = customer_api.post(TICKETS, {"subject": "Hi", "body": "Hi"}, format="json")
    assert response.status_code == 503 and response.json()["error_code"] == "throttle_unavailable"
    assert not Ticket.objects.exists()


def test_categories_are_listed_by_name(customer_api):
    category_create("Shipping")
    category_create("Billing")
    body = customer_api.get(CATEGORIES).json()
    assert [item["name"] for item in body["results"]] == ["Billing", "Shipping"]
    assert set(body["results"][0]) == {"id", "name"}
