"""The support toolset through a real pydantic-ai agent: a scripted model calls a tool and answers with what the
tool gave it. Tickets are made the way the app makes them (apps.support.services); the run's user is a staff member
who works on support, one who may only read tickets, one of another team (staff without the support permissions),
or a regular user. Mail goes to the real SMTP fixture, so that a note is seen never to reach the customer."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.utils import timezone
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.tests.scripted import ScriptedToolset, answered, approval_requested, deps, offered_tools, resume
from apps.agents.toolsets import available_toolsets
from apps.agents.toolsets.common import MAX_TEXT
from apps.agents.toolsets.support import (
    LATEST_MESSAGES,
    SPEC,
    add_internal_note,
    get_ticket,
    reply_to_customer,
    search_tickets,
    set_ticket_status,
)
from apps.support import services, sla
from apps.support.models import Audience, Message, Status, Ticket, TicketChange, TicketEvent
from apps.support.tests.factories import agent_create, fresh, staff_create, ticket_create, user_create

pytestmark = pytest.mark.django_db

_toolset = ScriptedToolset(SPEC)
agent_for, ask = _toolset.agent_for, _toolset.ask

ALL_TOOLS = {"search_tickets", "get_ticket", "add_internal_note", "reply_to_customer", "set_ticket_status"}
READ_TOOLS = {"search_tickets", "get_ticket"}
READ_REFUSAL = "You may not read tickets: that takes a staff account with the support.view_ticket permission."
CHANGE_REFUSAL = "You may not change tickets: that takes a staff account with the support.change_ticket permission."


def context(user: Any) -> Any:
    """What a tool function called directly (not through an agent) reads of its RunContext: the deps."""
    return SimpleNamespace(deps=deps(user))


@pytest.fixture
def worker() -> Any:
    """A staff member who works on support: may read and change tickets."""
    return agent_create("sam@example.com", first_name="Sam", last_name="Stone")


@pytest.fixture
def reader() -> Any:
    """A staff member who may read tickets, not change them."""
    return agent_create("reader@example.com", permissions=("view_ticket",))


@pytest.fixture
def grace() -> Any:
    """A customer."""
    return user_create("grace@example.com", first_name="Grace", last_name="Hopper")


@pytest.fixture
def ticket(grace: Any) -> Ticket:
    return ticket_create(grace, subject="The export fails", body="It stops at 90%.")


def outsiders() -> list[Any]:
    """A regular user, a regular user given the support permissions (the staff API refuses non-staff all the same),
    and a staff member of another team."""
    user = user_create("ada@example.com")
    permitted = user_create("eve@example.com")
    permitted.user_permissions.add(*Permission.objects.filter(content_type__app_label="support"))
    return [user, permitted, staff_create("other@example.com", permissions=())]


def test_the_toolset_is_registered_under_its_name():
    assert available_toolsets()["support"] is SPEC
    toolset = SPEC.build()
    assert isinstance(toolset, FunctionToolset)
    assert set(toolset.tools) == ALL_TOOLS
    assert [name for name, tool in toolset.tools.items() if tool.requires_approval] == [
        "add_internal_note",
        "reply_to_customer",
        "set_ticket_status",
    ]
    # The model is told which tool writes to the customer.
    assert "EMAILS the reply to the customer" in (toolset.tools["reply_to_customer"].description or "")
    assert "no email" in (toolset.tools["add_internal_note"].description or "")


def test_the_module_imports_no_support_code_until_a_tool_runs():
    """The registry imports every toolset module, with the support app installed or not."""
    import ast
    import inspect

    from apps.agents.toolsets import support

    tree = ast.parse(inspect.getsource(support))
    imported = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert imported and not [module for module in imported if module and module.startswith("apps.support")]


def test_search_finds_tickets_and_gives_each_ones_people_and_sla(worker, grace, ticket):
    other = ticket_create(user_create("alan@example.com"), subject="Invoice is wrong", body="Charged twice.")

    by_subject = ask(worker, "search_tickets", query="export")["tickets"]
    everyone = ask(worker, "search_tickets")["tickets"]

    assert [found["number"] for found in by_subject] == [ticket.number]
    assert {found["number"] for found in everyone} == {ticket.number, other.number}
    ticket = fresh(ticket)
    assert by_subject[0] == {
        "number": ticket.number,
        "subject": "The export fails",
        "status": "new",
        "priority": "normal",
        "requester": {"id": grace.pk, "email": "grace@example.com", "name": "Grace Hopper"},
        "assignee": None,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "first_response_due_at": ticket.first_response_due_at.isoformat(),
        "first_responded_at": None,
        "first_response_breached": False,
        "resolution_due_at": ticket.resolution_due_at.isoformat(),
        "resolution_breached": False,
    }


def test_search_filters_by_status_priority_and_breach_and_is_bounded(worker, grace, ticket):
    urgent = ticket_create(grace, subject="Site is down")
    services.ticket_set_priority(ticket=urgent, actor=worker, priority="urgent")
    services.ticket_set_status(ticket=ticket, actor=worker, status=Status.OPEN)
    for number in range(3):
        ticket_create(grace, subject=f"Question {number}")
    # Past the urgent ticket's first response target, not the normal ones'.
    sla.flag_breaches(now=timezone.now() + timedelta(minutes=90))

    opened = ask(worker, "search_tickets", status="open")["tickets"]
    urgent_ones = ask(worker, "search_tickets", priority="urgent")["tickets"]
    breached = ask(worker, "search_tickets", breached=True)["tickets"]
    within = ask(worker, "search_tickets", breached=False)["tickets"]
    two = ask(worker, "search_tickets", limit=2)["tickets"]
    at_most_fifty = ask(worker, "search_tickets", limit=10_000)["tickets"]

    assert [found["number"] for found in opened] == [ticket.number]
    assert [found["number"] for found in urgent_ones] == [urgent.number]
    assert [(found["number"], found["first_response_breached"]) for found in breached] == [(urgent.number, True)]
    assert urgent.number not in {found["number"] for found in within} and len(within) == 4
    assert len(two) == 2
    assert len(at_most_fifty) == 5


def test_search_reads_a_fixed_number_of_queries_whatever_the_number_of_tickets(
    worker, grace, django_assert_num_queries
):
    def search(user: Any) -> Any:
        return async_to_sync(search_tickets)(context(user), query="", limit=50)

    def fresh_user() -> Any:
        # Read again each time: its permissions are looked up on its first call, as in a new run.
        return type(worker).objects.get(pk=worker.pk)

    ticket_create(grace)
    user = fresh_user()
    # The user's permissions (own and groups'), and the page of tickets with their requesters and assignees.
    with django_assert_num_queries(3):
        assert len(search(user)["tickets"]) == 1
    for number in range(6):
        services.ticket_assign(
            ticket=ticket_create(user_create(f"customer{number}@example.com")), actor=worker, assignee_id=worker.pk
        )
    user = fresh_user()
    with django_assert_num_queries(3):
        assert len(search(user)["tickets"]) == 7


def test_a_search_that_finds_nothing_says_so(worker, ticket):
    assert ask(worker, "search_tickets", query="nobody at all") == {"tickets": []}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            {"status": "pending"},
            "'pending' is not a status; the statuses are new, open, waiting_for_customer, waiting_for_staff, "
            "resolved, closed.",
        ),
        ({"priority": "asap"}, "'asap' is not a priority; the priorities are low, normal, high, urgent."),
        ({"query": "x" * 201}, "The query is too long: give at most 200 characters."),
    ],
)
def test_bad_search_arguments_are_sent_back_to_the_model(worker, args, error):
    assert ask(worker, "search_tickets", **args) == {"error": error}


def test_get_reads_the_ticket_with_its_replies_and_notes_marked_history_and_sla(worker, grace, ticket):
    services.staff_reply(ticket=ticket, author=worker, body="Which browser?")
    services.staff_reply(ticket=ticket, author=worker, body="x" * 3000, internal=True)
    services.ticket_set_priority(ticket=ticket, actor=worker, priority="high")

    read = ask(worker, "get_ticket", number=ticket.number)

    ticket = fresh(ticket)
    assert (read["number"], read["subject"], read["status"], read["priority"]) == (
        ticket.number,
        "The export fails",
        "waiting_for_customer",
        "high",
    )
    assert read["requester"]["email"] == "grace@example.com"
    assert read["first_responded_at"] == ticket.first_responded_at.isoformat()
    assert read["paused_at"] == ticket.paused_at.isoformat()
    assert read["next_statuses"] == ["open", "waiting_for_staff", "resolved", "closed"]
    assert [(message["kind"], message["from_staff"], len(message["body"])) for message in read["latest_messages"]] == [
        ("internal_note", True, MAX_TEXT),
        ("public_reply", True, len("Which browser?")),
        ("public_reply", False, len("It stops at 90%.")),
    ]
    assert read["latest_messages"][0]["author"] == {"id": worker.pk, "email": worker.email, "name": "Sam Stone"}
    assert [(change["field"], change["new_value"]) for change in read["latest_history"]][:2] == [
        ("priority", "high"),
        ("status", "waiting_for_customer"),
    ]
    assert read["latest_history"][0]["actor"]["id"] == worker.pk


def test_get_returns_only_the_latest_messages(worker, ticket):
    for number in range(LATEST_MESSAGES + 3):
        services.staff_reply(ticket=ticket, author=worker, body=f"Note {number}", internal=True)

    messages = ask(worker, "get_ticket", number=ticket.number)["latest_messages"]

    assert [message["body"] for message in messages] == [
        f"Note {number}" for number in range(LATEST_MESSAGES + 2, 2, -1)
    ]


def test_an_unknown_ticket_is_sent_back_to_the_model(worker):
    assert ask(worker, "get_ticket", number=404) == {
        "error": "No ticket #404. Use search_tickets to find the numbers of tickets."
    }


def test_the_tools_are_offered_by_permission(worker, reader):
    superuser = user_create("root@example.com", is_staff=True, is_superuser=True)

    assert offered_tools(SPEC.build(), worker) == ALL_TOOLS
    assert offered_tools(SPEC.build(), superuser) == ALL_TOOLS
    assert offered_tools(SPEC.build(), reader) == READ_TOOLS
    for outsider in outsiders():
        assert offered_tools(SPEC.build(), outsider) == set()


def test_a_user_without_the_support_permissions_is_refused_even_by_calling_the_tools_unoffered(ticket):
    for outsider in outsiders():
        # Through an agent: the tools are not there.
        assert ask(outsider, "get_ticket", number=ticket.number)["error"].startswith("Unknown tool name: 'get_ticket'.")
        # Called anyway (the toolset used without its prepare): each refuses, and says why.
        with pytest.raises(ModelRetry, match=re.escape(READ_REFUSAL)):
            async_to_sync(search_tickets)(context(outsider), query="export")
        with pytest.raises(ModelRetry, match=re.escape(READ_REFUSAL)):
            async_to_sync(get_ticket)(context(outsider), number=ticket.number)
        with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
            async_to_sync(add_internal_note)(context(outsider), number=ticket.number, body="Mine now.")
        with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
            async_to_sync(reply_to_customer)(context(outsider), number=ticket.number, body="Hello.")
        with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
            async_to_sync(set_ticket_status)(context(outsider), number=ticket.number, status="closed")
    assert Message.objects.count() == 1
    assert fresh(ticket).status == Status.NEW


def test_a_reader_reads_but_may_not_change(reader, ticket):
    assert ask(reader, "get_ticket", number=ticket.number)["number"] == ticket.number
    for tool, args in [
        ("add_internal_note", {"body": "Hi"}),
        ("reply_to_customer", {"body": "Hi"}),
        ("set_ticket_status", {"status": "closed"}),
    ]:
        assert ask(reader, tool, number=ticket.number, **args)["error"].startswith(f"Unknown tool name: '{tool}'.")
    with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
        async_to_sync(reply_to_customer)(context(reader), number=ticket.number, body="Hello.")
    with pytest.raises(ModelRetry, match=re.escape(CHANGE_REFUSAL)):
        async_to_sync(set_ticket_status)(context(reader), number=ticket.number, status="closed")
    assert Message.objects.count() == 1
    assert fresh(ticket).status == Status.NEW


def test_a_note_waits_for_approval_is_added_once_approved_and_never_emails_the_customer(
    worker, ticket, smtp, django_capture_on_commit_callbacks
):
    agent = agent_for("add_internal_note", number=ticket.number, body="  She is on the old plan.  ")

    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    call = approval_requested(paused)
    assert (call.tool_name, call.args_as_dict()) == (
        "add_internal_note",
        {"number": ticket.number, "body": "  She is on the old plan.  "},
    )
    assert not Message.objects.filter(from_staff=True).exists()

    with django_capture_on_commit_callbacks(execute=True):
        answer = answered(resume(agent, worker, paused, approved=True))

    note = Message.objects.get(from_staff=True)
    assert (note.ticket_id, note.author, note.body, note.internal) == (
        ticket.pk,
        worker,
        "She is on the old plan.",
        True,
    )
    assert answer == {
        "number": ticket.number,
        "message_id": note.pk,
        "kind": "internal_note",
        "body": "She is on the old plan.",
        "created_at": note.created_at.isoformat(),
        "status": "new",
    }
    # Staff only: no mail to anyone, its event for staff, and the ticket still waits for its first response.
    assert smtp.messages == []
    [event] = TicketEvent.objects.filter(kind="message", data__id=note.pk)
    assert event.audience == Audience.STAFF
    ticket = fresh(ticket)
    assert ticket.first_responded_at is None and ticket.status == Status.NEW


def test_a_denied_note_is_not_added(worker, ticket):
    agent = agent_for("add_internal_note", number=ticket.number, body="She is on the old plan.")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    resume(agent, worker, paused, approved=False)

    assert not Message.objects.filter(internal=True).exists()


def test_a_reply_waits_for_approval_then_emails_the_customer(
    worker, grace, ticket, smtp, django_capture_on_commit_callbacks
):
    agent = agent_for("reply_to_customer", number=ticket.number, body="Fixed in today's release.")

    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    assert approval_requested(paused).args_as_dict() == {"number": ticket.number, "body": "Fixed in today's release."}
    assert not Message.objects.filter(from_staff=True).exists()

    with django_capture_on_commit_callbacks(execute=True):
        answer = answered(resume(agent, worker, paused, approved=True))

    reply = Message.objects.get(from_staff=True)
    assert (reply.author, reply.body, reply.internal) == (worker, "Fixed in today's release.", False)
    assert (answer["message_id"], answer["kind"], answer["status"]) == (
        reply.pk,
        "public_reply",
        "waiting_for_customer",
    )
    [mail] = smtp.messages
    assert mail.rcpt_tos == [grace.email]
    assert "Fixed in today's release." in mail.text
    assert fresh(ticket).first_responded_at is not None


def test_a_denied_reply_sends_nothing(worker, ticket, smtp, django_capture_on_commit_callbacks):
    agent = agent_for("reply_to_customer", number=ticket.number, body="Fixed in today's release.")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    with django_capture_on_commit_callbacks(execute=True):
        resume(agent, worker, paused, approved=False)

    assert not Message.objects.filter(from_staff=True).exists()
    assert smtp.messages == []


@pytest.mark.parametrize("tool", ["add_internal_note", "reply_to_customer"])
@pytest.mark.parametrize(
    ("body", "error"),
    [("   ", "Give the {what}'s text."), ("x" * 20_001, "The {what} is too long: give at most 20000 characters.")],
)
def test_a_bad_message_is_sent_back_without_asking_for_approval(worker, ticket, settings, tool, body, error):
    settings.SUPPORT = {**settings.SUPPORT, "BODY_MAX_CHARS": 20_000}
    what = "note" if tool == "add_internal_note" else "reply"

    assert ask(worker, tool, number=ticket.number, body=body) == {"error": error.format(what=what)}
    assert ask(worker, tool, number=404, body="Hello") == {
        "error": "No ticket #404. Use search_tickets to find the numbers of tickets."
    }
    assert Message.objects.count() == 1


def test_a_reply_to_a_closed_ticket_is_sent_back_without_asking_for_approval_but_a_note_is_not(worker, ticket):
    services.ticket_set_status(ticket=ticket, actor=worker, status=Status.CLOSED)

    reply = ask(worker, "reply_to_customer", number=ticket.number, body="Hello")
    note = agent_for("add_internal_note", number=ticket.number, body="Closed by the customer's request.")
    paused = async_to_sync(note.run)("go", deps=deps(worker))

    assert reply == {
        "error": f"Ticket #{ticket.number} is closed: it takes no more replies. Reopen it first with "
        "set_ticket_status (status open), or tell the user the customer should open a new ticket."
    }
    # Staff may still write down why on a closed ticket.
    assert approval_requested(paused).tool_name == "add_internal_note"
    assert Message.objects.count() == 1


def test_a_status_change_waits_for_approval_and_is_recorded_in_the_history_once_approved(worker, ticket):
    agent = agent_for("set_ticket_status", number=ticket.number, status="resolved")

    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    assert approval_requested(paused).args_as_dict() == {"number": ticket.number, "status": "resolved"}
    assert fresh(ticket).status == Status.NEW
    assert not TicketChange.objects.filter(field="status").exists()

    answer = answered(resume(agent, worker, paused, approved=True))

    assert answer == {"number": ticket.number, "status": "resolved"}
    ticket = fresh(ticket)
    assert ticket.status == Status.RESOLVED and ticket.resolved_at is not None
    change = TicketChange.objects.get(field="status")
    assert (change.ticket_id, change.old_value, change.new_value, change.actor) == (
        ticket.pk,
        "new",
        "resolved",
        worker,
    )


def test_a_denied_status_change_changes_nothing(worker, ticket):
    agent = agent_for("set_ticket_status", number=ticket.number, status="closed")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))

    resume(agent, worker, paused, approved=False)

    assert fresh(ticket).status == Status.NEW
    assert not TicketChange.objects.filter(field="status").exists()


@pytest.mark.parametrize(
    ("start", "wanted", "error"),
    [
        ([], "new", "Ticket #{number} is already new: there is nothing to change."),
        (["open"], "open", "Ticket #{number} is already open: there is nothing to change."),
        (
            ["resolved"],
            "new",
            "Ticket #{number} is resolved: it cannot become new; it can become open or waiting_for_customer or "
            "waiting_for_staff or closed.",
        ),
        (["closed"], "resolved", "Ticket #{number} is closed: it cannot become resolved; it can become open."),
        (
            [],
            "done",
            "'done' is not a status; the statuses are new, open, waiting_for_customer, waiting_for_staff, resolved, "
            "closed.",
        ),
    ],
)
def test_a_refused_status_move_is_sent_back_to_the_model_without_asking_for_approval(
    worker, ticket, start, wanted, error
):
    for status in start:
        services.ticket_set_status(ticket=ticket, actor=worker, status=status)
    recorded = TicketChange.objects.count()

    answer = ask(worker, "set_ticket_status", number=ticket.number, status=wanted)

    assert answer == {"error": error.format(number=ticket.number)}
    assert TicketChange.objects.count() == recorded


def test_a_move_no_longer_allowed_when_approved_reaches_the_model_as_an_error(worker, ticket):
    agent = agent_for("set_ticket_status", number=ticket.number, status="resolved")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))
    # Someone else closed the ticket while the call waited for approval.
    services.ticket_set_status(ticket=ticket, actor=worker, status=Status.CLOSED)

    answer = answered(resume(agent, worker, paused, approved=True))

    # Checked again when approved: the model is told what the ticket may become now, and nothing is recorded.
    assert answer == {"error": f"Ticket #{ticket.number} is closed: it cannot become resolved; it can become open."}
    assert fresh(ticket).status == Status.CLOSED
    assert [change.new_value for change in TicketChange.objects.filter(field="status")] == ["closed"]


def services_refusal(user: Any, ticket: Ticket, status: str) -> str:
    """The message the service itself refuses a move with (what the staff API's 409 says)."""
    from apps.support.exceptions import TransitionNotAllowed

    with pytest.raises(TransitionNotAllowed) as refused:
        services.ticket_set_status(ticket=fresh(ticket), actor=user, status=status)
    return str(refused.value.message)


def test_the_status_machine_refuses_a_wrong_move_even_when_the_tool_is_called_unchecked(worker, ticket):
    """Called without its argument check (the toolset used without it): the service's own refusal reaches the
    model as a failed call."""
    services.ticket_set_status(ticket=ticket, actor=worker, status=Status.CLOSED)
    refused = services_refusal(worker, ticket, "resolved")

    with pytest.raises(ToolFailed, match=re.escape(refused)):
        async_to_sync(set_ticket_status)(context(worker), number=ticket.number, status="resolved")
    assert fresh(ticket).status == Status.CLOSED


def test_permissions_withdrawn_before_approval_stop_the_change(
    worker, ticket, smtp, django_capture_on_commit_callbacks
):
    agent = agent_for("reply_to_customer", number=ticket.number, body="Fixed.")
    paused = async_to_sync(agent.run)("go", deps=deps(worker))
    worker.user_permissions.clear()
    # The run resumes with its user read again, as a new run of the conversation does.
    fresh = type(worker).objects.get(pk=worker.pk)

    with django_capture_on_commit_callbacks(execute=True):
        answer = answered(resume(agent, fresh, paused, approved=True))

    assert answer["error"].startswith("Unknown tool name: 'reply_to_customer'.")
    assert Message.objects.count() == 1
    assert smtp.messages == []
