"""The support admin: the queue (SLA badges, nearest due first, filters, search, bounded queries), its bulk actions,
the ticket's page, and the chat page (thread with notes marked, reply, note, canned reply, status, priority and
assignee through the services; user text escaped; permissions)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.support import services
from apps.support.admin import chat
from apps.support.models import Audience, Message, Priority, Status, Ticket, TicketChange, TicketEvent
from apps.support.tests.factories import (
    agent_create,
    canned_create,
    category_create,
    png_bytes,
    staff_answer,
    staff_create,
    ticket_backdate,
    ticket_create,
    upload,
    user_create,
)
from modules.unfold.testing import links

pytestmark = pytest.mark.django_db

QUEUE = "/admin/support/ticket/"


def chat_url(ticket: Ticket) -> str:
    return reverse("admin:support_ticket_chat", args=[ticket.pk])


@pytest.fixture
def root(db: Any) -> Any:
    return get_user_model().objects.create_superuser(
        email="root@example.com", password="pw-long-enough-123", first_name="Rita"
    )


@pytest.fixture
def root_client(client: Any, root: Any) -> Any:
    client.force_login(root)
    return client


@pytest.fixture
def agent_client(client: Any, agent: Any) -> Any:
    client.force_login(agent)
    return client


def queue_numbers(html: str) -> list[int]:
    """The ticket numbers of the queue's rows, in order."""
    return [int(number) for number in re.findall(r">#(\d+)</a>", html)]


def post_chat(client: Any, ticket: Ticket, op: str, **data: Any) -> Any:
    return client.post(chat_url(ticket), {"op": op, **data})


def test_every_support_admin_page_answers_a_superuser(root_client, customer, root):
    category = category_create("Billing")
    ticket = ticket_create(customer, category_id=category.pk)
    canned = canned_create()
    for page in [
        QUEUE,
        f"{QUEUE}?status__exact=new",
        f"{QUEUE}?priority__exact=urgent",
        f"{QUEUE}?assignee__id__exact={root.pk}",
        f"{QUEUE}?breached=yes",
        f"{QUEUE}?breached=no",
        f"{QUEUE}?category__id__exact={category.pk}",
        f"{QUEUE}?q=%23{ticket.number}",
        f"{QUEUE}?q=not-a-number",
        f"{QUEUE}?o=7",
        f"{QUEUE}{ticket.pk}/change/",
        chat_url(ticket),
        f"{QUEUE}export/",
        f"{QUEUE}import/",
        "/admin/support/cannedreply/",
        f"/admin/support/cannedreply/{canned.pk}/change/",
        "/admin/support/cannedreply/add/",
        "/admin/support/category/",
        "/admin/support/category/add/",
    ]:
        response = root_client.get(page)
        assert response.status_code == 200, page
    assert root_client.get(f"{QUEUE}add/").status_code == 403  # tickets come from customers or an import


def test_staff_without_the_ticket_permissions_see_no_queue_and_no_chat(client, customer):
    ticket = ticket_create(customer)
    client.force_login(staff_create("other.team@example.com", permissions=()))
    assert client.get(QUEUE).status_code == 403
    assert client.get(f"{QUEUE}export/").status_code == 403
    assert client.get(f"{QUEUE}import/").status_code == 403
    assert client.get(chat_url(ticket)).status_code == 403
    assert post_chat(client, ticket, "reply", body="Hello").status_code == 403
    assert not Message.objects.filter(from_staff=True).exists()


def test_staff_who_may_only_view_read_the_chat_but_cannot_post(client, customer):
    ticket = ticket_create(customer)
    client.force_login(agent_create("reader@example.com", permissions=("view_ticket",)))
    page = client.get(chat_url(ticket))
    assert page.status_code == 200
    html = page.content.decode()
    assert "It says 100, not 10." in html and 'name="op"' not in html
    assert post_chat(client, ticket, "reply", body="Hello").status_code == 403
    assert post_chat(client, ticket, "status", status="resolved").status_code == 403
    assert client.get(f"{QUEUE}export/").status_code == 200
    assert client.get(f"{QUEUE}import/").status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW and not Message.objects.filter(from_staff=True).exists()


def test_staff_who_may_only_view_leave_the_customers_messages_unread(client, customer):
    ticket = ticket_create(customer)
    client.force_login(agent_create("reader@example.com", permissions=("view_ticket",)))
    assert client.get(chat_url(ticket)).status_code == 200
    assert Message.objects.filter(ticket=ticket, from_staff=False, read_by_staff_at__isnull=True).count() == 1
    assert not TicketEvent.objects.filter(ticket=ticket, kind="read").exists()


@pytest.mark.parametrize("query", ["status__exact=%00", "priority__exact=urgent%00", "status__in=new,%00"])
def test_a_nul_in_a_queue_filter_is_answered_as_a_bad_filter_by_the_queue_and_its_export(agent_client, customer, query):
    ticket_create(customer)
    response = agent_client.get(f"{QUEUE}?{query}")
    assert response.status_code == 302 and response["Location"] == f"{QUEUE}?e=1"
    export = agent_client.post(
        f"{QUEUE}export/?{query}", {"format": "0", "resource": "0", "ticketresource_number": "on"}
    )
    assert export.status_code == 302 and export["Location"] == f"{QUEUE}?e=1"


def test_the_queue_shows_sla_badges_with_the_nearest_due_first(agent_client, customer, agent):
    now = timezone.now()
    # Normal priority: first response within 480 minutes, resolution within 2880.
    breached = ticket_backdate(ticket_create(customer, subject="Long waiting"), now - timedelta(minutes=500))
    soon = ticket_backdate(ticket_create(customer, subject="Due soon"), now - timedelta(minutes=455))
    later = ticket_create(customer, subject="Just in")
    paused = ticket_create(customer, subject="Asked for details")
    staff_answer(paused, agent)
    met = ticket_create(customer, subject="Done quickly")
    staff_answer(met, agent)
    services.ticket_set_status(ticket=met, actor=agent, status=Status.RESOLVED)

    html = agent_client.get(QUEUE).content.decode()
    # No clock runs on the last two (resolved; paused while waiting for the customer): last, latest change first.
    assert queue_numbers(html) == [breached.number, soon.number, later.number, met.number, paused.number]
    rows = dict(zip(queue_numbers(html), re.split(r">#\d+</a>", html)[1:], strict=True))
    words = {number: re.sub(r"<[^>]+>", " ", row).split() for number, row in rows.items()}
    assert "overdue 20 min" in rows[breached.number]
    assert re.search(r"due in 2[45] min", rows[soon.number])
    assert "due in 7 h" in rows[later.number]
    assert "paused" in words[paused.number] and "met" in words[met.number]


def test_the_queue_reads_the_same_number_of_queries_for_few_or_many_tickets(agent_client, customer, agent):
    category = category_create("Billing")

    def add(count: int) -> None:
        for index in range(count):
            ticket = ticket_create(customer, subject=f"Ticket {index}", category_id=category.pk)
            services.ticket_assign(ticket=ticket, actor=agent, assignee_id=agent.pk)

    add(2)
    agent_client.get(QUEUE)
    with CaptureQueriesContext(connection) as few:
        assert agent_client.get(QUEUE).status_code == 200
    add(8)
    with CaptureQueriesContext(connection) as many:
        page = agent_client.get(QUEUE)
    assert len(queue_numbers(page.content.decode())) == 10
    assert len(many.captured_queries) == len(few.captured_queries) <= 15


def test_the_queue_finds_a_ticket_by_number_subject_or_requester_email(agent_client, customer, other_customer):
    invoice = ticket_create(customer, subject="The invoice is wrong")
    login = ticket_create(other_customer, subject="I cannot sign in")
    assert queue_numbers(agent_client.get(f"{QUEUE}?q=%23{login.number}").content.decode()) == [login.number]
    assert queue_numbers(agent_client.get(f"{QUEUE}?q=invoice").content.decode()) == [invoice.number]
    assert queue_numbers(agent_client.get(f"{QUEUE}?q=bob.customer").content.decode()) == [login.number]


def test_the_breached_filter_keeps_the_tickets_past_a_target(agent_client, customer):
    late = ticket_create(customer, subject="Late")
    Ticket.objects.filter(pk=late.pk).update(first_response_breached=True)
    on_time = ticket_create(customer, subject="On time")
    assert queue_numbers(agent_client.get(f"{QUEUE}?breached=yes").content.decode()) == [late.number]
    assert queue_numbers(agent_client.get(f"{QUEUE}?breached=no").content.decode()) == [on_time.number]


def test_the_queue_links_each_subject_to_its_chat_and_escapes_it(agent_client, customer):
    ticket = ticket_create(customer, subject="<script>alert('subject')</script>")
    html = agent_client.get(QUEUE).content.decode()
    assert chat_url(ticket) in links(html)
    assert "<script>alert('subject')</script>" not in html
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in html


def test_assign_to_me_goes_through_the_service(agent_client, customer, agent):
    tickets = [ticket_create(customer, subject=f"Ticket {index}") for index in range(3)]
    selected = [str(ticket.pk) for ticket in tickets[:2]]
    response = agent_client.post(QUEUE, {"action": "assign_to_me", "_selected_action": selected})
    assert response.status_code == 302
    assert [ticket.assignee_id for ticket in Ticket.objects.order_by("number")] == [agent.pk, agent.pk, None]
    changes = TicketChange.objects.filter(field="assignee")
    assert sorted((change.ticket_id, change.actor_id) for change in changes) == sorted(
        (ticket.pk, agent.pk) for ticket in tickets[:2]
    )
    assert TicketEvent.objects.filter(kind="assignee", audience=Audience.STAFF).count() == 2


def test_set_priority_asks_which_then_sets_it_and_the_due_times(agent_client, customer, agent):
    tickets = [ticket_create(customer, subject=f"Ticket {index}") for index in range(2)]
    selected = [str(ticket.pk) for ticket in tickets]
    page = agent_client.post(QUEUE, {"action": "set_priority", "_selected_action": selected})
    assert page.status_code == 200 and "Set the priority of 2 tickets" in page.content.decode()
    done = agent_client.post(
        QUEUE, {"action": "set_priority", "_selected_action": selected, "apply": "1", "priority": "urgent"}
    )
    assert done.status_code == 302
    for ticket in Ticket.objects.all():
        assert ticket.priority == Priority.URGENT
        assert ticket.first_response_due_at == ticket.created_at + timedelta(minutes=30)
    assert TicketChange.objects.filter(field="priority", actor=agent, new_value="urgent").count() == 2
    assert TicketEvent.objects.filter(kind="priority", audience=Audience.PUBLIC).count() == 2


def test_resolve_resolves_what_it_may_and_says_what_it_could_not(agent_client, customer, agent):
    open_ticket = ticket_create(customer, subject="Open")
    closed = ticket_create(customer, subject="Closed")
    services.ticket_set_status(ticket=closed, actor=agent, status=Status.CLOSED)
    response = agent_client.post(
        QUEUE, {"action": "resolve", "_selected_action": [str(open_ticket.pk), str(closed.pk)]}, follow=True
    )
    html = response.content.decode()
    assert "1 ticket(s) resolved" in html and f"#{closed.number}: A closed ticket can only be reopened" in html
    open_ticket.refresh_from_db()
    closed.refresh_from_db()
    assert (open_ticket.status, closed.status) == (Status.RESOLVED, Status.CLOSED)
    assert TicketChange.objects.get(ticket=open_ticket, field="status").actor == agent


def ticket_page_values(ticket: Ticket, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id or "",
        "history-TOTAL_FORMS": 0,
        "history-INITIAL_FORMS": 0,
        "history-MIN_NUM_FORMS": 0,
        "history-MAX_NUM_FORMS": 0,
    }
    return {**values, **changes}


def test_the_ticket_page_saves_status_priority_and_assignee_through_the_services(agent_client, customer, agent):
    ticket = ticket_create(customer)
    response = agent_client.post(
        f"{QUEUE}{ticket.pk}/change/",
        ticket_page_values(ticket, status="open", priority="high", assignee=agent.pk),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == (Status.OPEN, Priority.HIGH, agent)
    assert ticket.first_response_due_at == ticket.created_at + timedelta(minutes=120)
    history = {(change.field, change.new_value, change.actor_id) for change in TicketChange.objects.all()}
    assert {("status", "open", agent.pk), ("priority", "high", agent.pk)} <= history
    assert {event.kind for event in TicketEvent.objects.all()} >= {"status", "priority", "assignee"}


def test_the_ticket_page_offers_only_the_allowed_statuses_and_support_staff(agent_client, customer, agent):
    ticket = ticket_create(customer)
    staff_create("other.team@example.com", permissions=())
    services.ticket_set_status(ticket=ticket, actor=agent, status=Status.CLOSED)
    page = agent_client.get(f"{QUEUE}{ticket.pk}/change/")
    form = page.context["adminform"].form
    assert [value for value, _ in form.fields["status"].choices] == ["open", "closed"]
    assignees = [choice[0].instance.email for choice in form.fields["assignee"].choices if choice[0]]
    assert assignees == [agent.email]
    assert chat_url(ticket) in links(page.content.decode())
    refused = agent_client.post(f"{QUEUE}{ticket.pk}/change/", ticket_page_values(ticket, status="resolved"))
    assert refused.status_code == 200 and "Select a valid choice" in str(refused.context["adminform"].form.errors)


def test_the_chat_shows_the_thread_with_notes_marked_and_marks_the_customers_messages_read(
    agent_client, customer, agent
):
    ticket = ticket_create(customer, body="Please help.")
    staff_answer(ticket, agent, body="What is your order number?")
    services.staff_reply(ticket=ticket, author=agent, body="Customer seems upset", internal=True)
    services.customer_reply(ticket=ticket, author=customer, body="It is 42.")

    html = agent_client.get(chat_url(ticket)).content.decode()
    order = [html.index(text) for text in ("Please help.", "What is your order number?", "Customer seems upset")]
    assert order == sorted(order) and html.index("It is 42.") > order[-1]
    note = Message.objects.get(internal=True)
    note_html = html[html.index(f'id="message-{note.pk}"') :].split("</article>")[0]
    assert 'data-internal="true"' in note_html and "Internal note" in note_html
    assert "support-msg--customer" in html and "support-msg--staff" in html
    assert not Message.objects.filter(from_staff=False, read_by_staff_at__isnull=True).exists()
    read = TicketEvent.objects.filter(kind="read").last()
    assert read is not None and read.data["side"] == "staff"


def test_a_reply_from_the_chat_is_sent_recorded_and_emailed(
    agent_client, customer, agent, smtp, django_capture_on_commit_callbacks
):
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_chat(agent_client, ticket, "reply", body="We refunded you.")
    message = Message.objects.get(from_staff=True)
    assert response.status_code == 302
    assert response["Location"] == f"{chat_url(ticket)}#message-{message.pk}"
    assert (message.body, message.internal, message.author) == ("We refunded you.", False, agent)
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_FOR_CUSTOMER and ticket.first_responded_at is not None
    assert TicketChange.objects.filter(field="status", actor=agent, new_value="waiting_for_customer").exists()
    event = TicketEvent.objects.get(kind="message", data__id=message.pk)
    assert event.audience == Audience.PUBLIC
    assert [mail.rcpt_tos for mail in smtp.messages] == [["ada.customer@example.com"]]
    assert "We refunded you." in agent_client.get(chat_url(ticket)).content.decode()


def test_a_note_from_the_chat_stays_with_staff(agent_client, customer, smtp, django_capture_on_commit_callbacks):
    ticket = ticket_create(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_chat(agent_client, ticket, "reply", body="Refund over 100: ask finance", internal="on")
    assert response.status_code == 302
    note = Message.objects.get(from_staff=True)
    assert note.internal
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW and ticket.first_responded_at is None
    assert TicketEvent.objects.get(kind="message", data__id=note.pk).audience == Audience.STAFF
    assert smtp.messages == []


def test_a_canned_reply_from_the_chat_is_filled_in(agent_client, customer):
    ticket = ticket_create(customer)
    canned = canned_create("Greeting", "Hello $requester_name, this is $agent_name about #$ticket_number.")
    page = agent_client.get(chat_url(ticket)).content.decode()
    assert f"Hello Ada Lovelace, this is Alex Agent about #{ticket.number}." in page  # for the picker to insert
    response = post_chat(agent_client, ticket, "reply", canned_reply=canned.pk, body="Your refund is on its way.")
    assert response.status_code == 302
    assert Message.objects.get(from_staff=True).body == (
        f"Hello Ada Lovelace, this is Alex Agent about #{ticket.number}.\n\nYour refund is on its way."
    )


def test_an_empty_reply_or_one_to_a_closed_ticket_is_refused_on_the_page(agent_client, customer, agent):
    ticket = ticket_create(customer)
    empty = post_chat(agent_client, ticket, "reply", body="   ")
    assert empty.status_code == 200
    assert "Write a message, choose a canned reply or attach a file." in empty.content.decode()
    services.ticket_set_status(ticket=ticket, actor=agent, status=Status.CLOSED)
    closed = post_chat(agent_client, ticket, "reply", body="Hello?")
    assert closed.status_code == 200
    assert "This ticket is closed: reopen it before replying." in closed.content.decode()
    assert "Hello?</textarea>" in closed.content.decode()  # what was written is kept
    assert not Message.objects.filter(from_staff=True).exists()
    assert post_chat(agent_client, ticket, "nonsense").status_code == 400


def test_the_chat_escapes_what_customers_write(agent_client):
    mallory = user_create("mallory@example.com", first_name="<b>Mallory</b>")
    attack = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    ticket = ticket_create(mallory, subject=f"Help {attack}", body=attack)
    html = agent_client.get(chat_url(ticket)).content.decode()
    assert "<script>alert('x')</script>" not in html and "<img src=x" not in html and "<b>Mallory</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in html


def test_the_chat_links_attachments_to_the_download_view_and_sends_them(agent_client, customer):
    ticket = services.ticket_create(
        requester=customer, subject="Screenshot", body="See attached", files=[upload("screen.png", png_bytes())]
    )
    attachment = ticket.attachments.get()
    html = agent_client.get(chat_url(ticket)).content.decode()
    assert reverse("support:attachment", kwargs={"token": attachment.token}) in links(html)
    assert "screen.png" in html

    response = post_chat(agent_client, ticket, "reply", body="", attachments=[upload("fixed.png", png_bytes())])
    assert response.status_code == 302
    sent = Message.objects.get(from_staff=True)
    assert list(sent.attachments.values_list("name", "kind")) == [("fixed.png", "png")]
    refused = post_chat(agent_client, ticket, "reply", body="Here", attachments=[upload("run.png", b"MZ\x90\x00")])
    assert refused.status_code == 200 and "run.png" in refused.content.decode()
    assert Message.objects.filter(from_staff=True).count() == 1


def test_the_chat_refuses_a_post_without_its_csrf_token(customer, agent):
    ticket = ticket_create(customer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert post_chat(client, ticket, "reply", body="Hello").status_code == 403
    assert not Message.objects.filter(from_staff=True).exists()


def test_status_priority_and_assignee_change_from_the_chat(agent_client, customer, agent):
    ticket = ticket_create(customer)
    assert post_chat(agent_client, ticket, "status", status="open").status_code == 302
    assert post_chat(agent_client, ticket, "priority", priority="urgent").status_code == 302
    assert post_chat(agent_client, ticket, "assign", to_me="1").status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == (Status.OPEN, Priority.URGENT, agent)
    fields = list(TicketChange.objects.filter(actor=agent).values_list("field", flat=True))
    assert fields == ["status", "priority", "assignee"]
    assert post_chat(agent_client, ticket, "assign", assignee="").status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee is None
    refused = post_chat(agent_client, ticket, "status", status="new")
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    html = agent_client.get(chat_url(ticket)).content.decode()
    history = html[html.index('id="support-history"') :]
    assert "open" in history and "urgent" in history


def test_the_chat_page_follows_the_tickets_staff_event_stream_when_it_is_routed(agent_client, customer):
    ticket = ticket_create(customer)
    html = agent_client.get(chat_url(ticket)).content.decode()
    events_url = chat.staff_events_url(ticket)
    if not events_url:  # the page works without live updates: no stream is opened
        assert "data-events-url" not in html
        return
    assert events_url == f"/api/support/queue/{ticket.number}/events/"
    last = TicketEvent.objects.filter(ticket=ticket).order_by("-pk").first()
    assert last is not None and last.kind == "read"  # opening the page marked the customer's message read
    assert f'data-events-url="{events_url}"' in html and f'data-last-event="{last.pk}"' in html
