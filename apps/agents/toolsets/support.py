"""The support toolset: search the ticket queue, read a ticket, and (after approval) add an internal note, reply to
the customer or move a ticket's status.

Every call acts for the run's user (AgentDeps.user) with exactly the rights the staff API gives them: a staff member
who may read tickets (support.view_ticket) may search and read, one who may change them (support.change_ticket) may
ask for a note, a reply or a status change; anyone else is refused, and is not even shown the tools. Changes go
through apps.support.services, so a reply is emailed, a note never is, and a status change is checked against the
ticket's status machine and recorded in its history.

The support app is optional: the registry imports this module whether or not it is installed, so apps.support is
only imported inside the functions, which run only when it is."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec
from apps.agents.toolsets.common import person, run_tool, short, staff_may, when

MAX_TICKETS = 50
MAX_QUERY = 200
# What get_ticket returns of a ticket's past: its latest messages and changes, and each text cut short.
LATEST_MESSAGES = 10
LATEST_CHANGES = 10


def _may(user: Any, *, change: bool) -> bool:
    """Whether the staff API would let `user` change tickets (`change`) or read them: staff, with the permission
    (their own, a group's, or as a superuser)."""
    from apps.support import selectors

    permission = selectors.CHANGE_PERMISSION if change else selectors.VIEW_PERMISSION
    return staff_may(user, permission)


def _require(user: Any, *, change: bool) -> None:
    if _may(user, change=change):
        return
    if change:
        raise ModelRetry(
            "You may not change tickets: that takes a staff account with the support.change_ticket permission. Tell "
            "the user to ask an administrator for it."
        )
    raise ModelRetry(
        "You may not read tickets: that takes a staff account with the support.view_ticket permission. Tell the "
        "user to ask an administrator for it."
    )


def _choice(value: str | None, choices: Any, what: str, whats: str) -> None:
    if value is not None and value not in choices.values:
        raise ModelRetry(f"{value!r} is not a {what}; the {whats} are {', '.join(choices.values)}.")


def _ticket_data(ticket: Any) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "requester": person(ticket.requester),
        "assignee": person(ticket.assignee),
        "created_at": when(ticket.created_at),
        "updated_at": when(ticket.updated_at),
        "first_response_due_at": when(ticket.first_response_due_at),
        "first_responded_at": when(ticket.first_responded_at),
        "first_response_breached": ticket.first_response_breached,
        "resolution_due_at": when(ticket.resolution_due_at),
        "resolution_breached": ticket.resolution_breached,
    }


def _search(
    user: Any, query: str, status: str | None, priority: str | None, breached: bool | None, limit: int
) -> dict[str, Any]:
    from apps.support import selectors
    from apps.support.models import Priority, Status

    _require(user, change=False)
    _choice(status, Status, "status", "statuses")
    _choice(priority, Priority, "priority", "priorities")
    if len(query) > MAX_QUERY:
        raise ModelRetry(f"The query is too long: give at most {MAX_QUERY} characters.")
    tickets = selectors.staff_queue(status=status, priority=priority, breached=breached, q=query.strip() or None)
    # An object, not a bare list: an empty list would reach the model as an empty text rather than as "none found".
    return {"tickets": [_ticket_data(ticket) for ticket in tickets[: min(max(limit, 1), MAX_TICKETS)]]}


def _no_ticket(number: int) -> ModelRetry:
    return ModelRetry(f"No ticket #{number}. Use search_tickets to find the numbers of tickets.")


def _ticket(number: int) -> Any:
    from apps.support import selectors
    from apps.support.exceptions import TicketNotFound

    try:
        return selectors.staff_ticket_get(number=number)
    except TicketNotFound as error:
        raise _no_ticket(number) from error


def _read(user: Any, number: int) -> dict[str, Any]:
    from apps.support import selectors

    _require(user, change=False)
    ticket = _ticket(number)
    messages = selectors.ticket_messages(ticket=ticket, include_internal=True).order_by("-created_at", "-id")
    history = selectors.ticket_history(ticket=ticket).order_by("-created_at", "-id")
    return {
        **_ticket_data(ticket),
        "category": ticket.category.name if ticket.category is not None else None,
        "paused_at": when(ticket.paused_at),
        "paused_seconds": ticket.paused_seconds,
        "resolved_at": when(ticket.resolved_at),
        "closed_at": when(ticket.closed_at),
        "last_customer_message_at": when(ticket.last_customer_message_at),
        "last_staff_message_at": when(ticket.last_staff_message_at),
        "next_statuses": _next_statuses(ticket.status),
        "latest_messages": [
            {
                "id": message.pk,
                "kind": "internal_note" if message.internal else "public_reply",
                "from_staff": message.from_staff,
                "author": person(message.author),
                "created_at": when(message.created_at),
                "body": short(message.body),
                "attachments": [attachment.name for attachment in message.attachments.all()],
            }
            for message in messages[:LATEST_MESSAGES]
        ],
        "latest_history": [
            {
                "created_at": when(change.created_at),
                "field": change.field,
                "old_value": change.old_value,
                "new_value": change.new_value,
                "actor": person(change.actor),
            }
            for change in history[:LATEST_CHANGES]
        ],
    }


def _next_statuses(status: str) -> list[str]:
    from apps.support import services

    return [str(target) for target in services.allowed_targets(status)]


def _body(body: str, what: str) -> str:
    text = body.strip()
    limit: int = settings.SUPPORT["BODY_MAX_CHARS"]
    if not text:
        raise ModelRetry(f"Give the {what}'s text.")
    if len(text) > limit:
        raise ModelRetry(f"The {what} is too long: give at most {limit} characters.")
    return text


def _check_message(user: Any, number: int, body: str, internal: bool) -> None:
    from apps.support.models import Status

    _require(user, change=True)
    _body(body, "note" if internal else "reply")
    ticket = _ticket(number)
    # Staff may still note on a closed ticket; only the customer is no longer written to.
    if not internal and ticket.status == Status.CLOSED:
        raise ModelRetry(
            f"Ticket #{number} is closed: it takes no more replies. Reopen it first with set_ticket_status (status "
            "open), or tell the user the customer should open a new ticket."
        )


def _message(user: Any, number: int, body: str, internal: bool) -> dict[str, Any]:
    from apps.support import services

    _require(user, change=True)
    text = _body(body, "note" if internal else "reply")
    message = services.staff_reply(ticket=_ticket(number), author=user, body=text, internal=internal)
    return {
        "number": number,
        "message_id": message.pk,
        "kind": "internal_note" if message.internal else "public_reply",
        "body": short(message.body),
        "created_at": when(message.created_at),
        "status": message.ticket.status,
    }


def _check_status(user: Any, number: int, status: str) -> None:
    from apps.support.models import Status

    _require(user, change=True)
    _choice(status, Status, "status", "statuses")
    ticket = _ticket(number)
    if status == ticket.status:
        raise ModelRetry(f"Ticket #{number} is already {status}: there is nothing to change.")
    allowed = _next_statuses(ticket.status)
    if status not in allowed:
        raise ModelRetry(
            f"Ticket #{number} is {ticket.status}: it cannot become {status}; it can become {' or '.join(allowed)}."
        )


def _set_status(user: Any, number: int, status: str) -> dict[str, Any]:
    from apps.support import services

    _require(user, change=True)
    ticket = services.ticket_set_status(ticket=_ticket(number), actor=user, status=status)
    return {"number": ticket.number, "status": ticket.status}


async def search_tickets(
    ctx: RunContext[AgentDeps],
    query: str = "",
    status: str | None = None,
    priority: str | None = None,
    breached: bool | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Search the support queue (customers' tickets) by number, subject, or the requester's email address or phone
    number, newest activity first.

    Returns `tickets`: each ticket's number, subject, status, priority, requester, assignee, times, SLA due times
    and whether each SLA was breached. None means nothing matched.

    Args:
        query: A ticket number (#1042), words of the subject, or part of the requester's email address or phone
            number; empty for every ticket.
        status: Only tickets with this status: new, open, waiting_for_customer, waiting_for_staff, resolved or closed.
        priority: Only tickets with this priority: low, normal, high or urgent.
        breached: true for only tickets past an SLA due time, false for only those within them.
        limit: How many tickets to return (1 to 50).
    """
    return await run_tool(
        _search,
        user=ctx.deps.user,
        query=query,
        status=status,
        priority=priority,
        breached=breached,
        limit=limit,
    )


async def get_ticket(ctx: RunContext[AgentDeps], number: int) -> dict[str, Any]:
    """Read one ticket: its requester, assignee, SLA clocks, the statuses it may move to, and its latest messages
    (public replies and internal notes, each marked by `kind`) and changes, newest first.

    Args:
        number: The ticket's number, as search_tickets gives it (the number people quote, as in #1042).
    """
    return await run_tool(_read, user=ctx.deps.user, number=number)


async def _may_add_note(ctx: RunContext[AgentDeps], number: int, body: str) -> None:
    # Runs before the call is put to the approver: nobody is asked to approve a call that would only fail.
    await run_tool(_check_message, user=ctx.deps.user, number=number, body=body, internal=True)


async def add_internal_note(ctx: RunContext[AgentDeps], number: int, body: str) -> dict[str, Any]:
    """Add an internal note to a ticket, signed by the user: seen by staff only, never by the customer, and no email
    is sent. Needs approval.

    Returns the note's id and text.

    Args:
        number: The ticket's number, as search_tickets gives it.
        body: The note's text.
    """
    # Checked again: the user's permissions or the ticket may have changed between the request and its approval.
    return await run_tool(_message, user=ctx.deps.user, number=number, body=body, internal=True)


async def _may_reply(ctx: RunContext[AgentDeps], number: int, body: str) -> None:
    # Runs before the call is put to the approver: nobody is asked to approve a call that would only fail.
    await run_tool(_check_message, user=ctx.deps.user, number=number, body=body, internal=False)


async def reply_to_customer(ctx: RunContext[AgentDeps], number: int, body: str) -> dict[str, Any]:
    """Reply to the customer on a ticket, signed by the user. This EMAILS the reply to the customer and shows it on
    their ticket; the ticket then waits for the customer. Needs approval. For something the customer must not see,
    use add_internal_note instead.

    Returns the reply's id and text, and the ticket's status after it.

    Args:
        number: The ticket's number, as search_tickets gives it.
        body: The reply's text, written to the customer.
    """
    # Checked again: the user's permissions or the ticket may have changed between the request and its approval.
    return await run_tool(_message, user=ctx.deps.user, number=number, body=body, internal=False)


async def _may_set_status(ctx: RunContext[AgentDeps], number: int, status: str) -> None:
    # Runs before the call is put to the approver: a move the status machine refuses is sent back at once.
    await run_tool(_check_status, user=ctx.deps.user, number=number, status=status)


async def set_ticket_status(ctx: RunContext[AgentDeps], number: int, status: str) -> dict[str, Any]:
    """Set a ticket's status, recorded in its history as done by the user; the customer sees the new status. Needs
    approval.

    Staff may set open, waiting_for_customer, waiting_for_staff, resolved or closed; a closed ticket may only be
    reopened (open), and no ticket goes back to new. get_ticket lists the statuses a ticket may move to. A closed
    ticket takes no replies until it is reopened.

    Args:
        number: The ticket's number, as search_tickets gives it.
        status: The new status: open, waiting_for_customer, waiting_for_staff, resolved or closed.
    """
    # The service checks the move again: the ticket may have moved between the request and its approval.
    return await run_tool(_set_status, user=ctx.deps.user, number=number, status=status)


async def _for_readers(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """The read tools are offered to staff who may read tickets only (each tool checks again)."""
    return tool if await sync_to_async(_may, thread_sensitive=True)(ctx.deps.user, change=False) else None


async def _for_changers(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """The write tools are offered to staff who may change tickets only (each tool checks again)."""
    return tool if await sync_to_async(_may, thread_sensitive=True)(ctx.deps.user, change=True) else None


def build() -> FunctionToolset[AgentDeps]:
    toolset = FunctionToolset[AgentDeps](id="support", docstring_format="google", require_parameter_descriptions=True)
    toolset.add_function(search_tickets, prepare=_for_readers)
    toolset.add_function(get_ticket, prepare=_for_readers)
    toolset.add_function(add_internal_note, requires_approval=True, args_validator=_may_add_note, prepare=_for_changers)
    toolset.add_function(reply_to_customer, requires_approval=True, args_validator=_may_reply, prepare=_for_changers)
    toolset.add_function(
        set_ticket_status, requires_approval=True, args_validator=_may_set_status, prepare=_for_changers
    )
    return toolset


SPEC = ToolsetSpec(
    name="support",
    label="Support",
    description="For staff who work on support: search the ticket queue and read a ticket with its latest messages, "
    "internal notes, history and SLA; with approval, add an internal note, reply to the customer (emailed) or set a "
    "ticket's status.",
    build=build,
    requires_app="support",
)
