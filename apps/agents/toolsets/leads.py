"""The leads toolset: search the pipeline, read a lead, and (after approval) add a note or move a lead's status.

Every call acts for the run's user (AgentDeps.user) with exactly the rights the staff API gives them: a staff
member who may read leads (leads.view_lead) may search and read, one who may change them (leads.change_lead) may ask
for a note or a status change; anyone else is refused, and is not even shown the tools. Changes go through
apps.leads.services, so a status change is checked against the pipeline and recorded in the lead's history.

The leads app is optional: the registry imports this module whether or not it is installed, so apps.leads is only
imported inside the functions, which run only when it is."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec
from apps.agents.toolsets.common import person, run_tool, short, staff_may, when

MAX_LEADS = 50
MAX_QUERY = 200
# What get_lead returns of a lead's past: its latest touches, notes and status changes, and each text cut short.
LATEST_TOUCHES = 5
LATEST_NOTES = 10
LATEST_CHANGES = 10


def _require(user: Any, *, change: bool) -> None:
    from apps.leads import selectors

    if change and not staff_may(user, selectors.CHANGE_PERMISSION):
        raise ModelRetry(
            "You may not change leads: that takes a staff account with the leads.change_lead permission. Tell the "
            "user to ask an administrator for it."
        )
    if not change and not staff_may(user, selectors.VIEW_PERMISSION):
        raise ModelRetry(
            "You may not read leads: that takes a staff account with the leads.view_lead permission. Tell the user "
            "to ask an administrator for it."
        )


def _lead_data(lead: Any) -> dict[str, Any]:
    return {
        "lead_id": lead.pk,
        "name": lead.name,
        "email": lead.email,
        "company": lead.company,
        "status": lead.status,
        "source": lead.source,
        "assignee": person(lead.assignee),
        "created_at": when(lead.created_at),
        "last_touch_at": when(lead.last_touch_at),
    }


def _search(user: Any, query: str, status: str | None, limit: int) -> dict[str, Any]:
    from apps.leads import selectors
    from apps.leads.models import Status

    _require(user, change=False)
    if status is not None and status not in Status.values:
        raise ModelRetry(f"{status!r} is not a status; the statuses are {', '.join(Status.values)}.")
    if len(query) > MAX_QUERY:
        raise ModelRetry(f"The query is too long: give at most {MAX_QUERY} characters.")
    leads = selectors.lead_list(status=status, query=query.strip() or None)[: min(max(limit, 1), MAX_LEADS)]
    # An object, not a bare list: an empty list would reach the model as an empty text rather than as "none found".
    return {"leads": [_lead_data(lead) for lead in leads]}


def _no_lead(lead_id: int) -> ModelRetry:
    return ModelRetry(f"No lead {lead_id}. Use search_leads to find the ids of leads.")


def _lead(lead_id: int) -> Any:
    from apps.leads import selectors

    lead = selectors.lead_find(lead_id=lead_id)
    if lead is None:
        raise _no_lead(lead_id)
    return lead


def _read(user: Any, lead_id: int) -> dict[str, Any]:
    from apps.leads.models import TRANSITIONS, Lead

    _require(user, change=False)
    lead = Lead.objects.select_related("assignee").filter(pk=lead_id).first()
    if lead is None:
        raise _no_lead(lead_id)
    touches = lead.touches.order_by("-created_at", "-id")[:LATEST_TOUCHES]
    notes = lead.notes.select_related("author").order_by("-created_at", "-id")[:LATEST_NOTES]
    history = lead.history.select_related("changed_by").order_by("-changed_at", "-id")[:LATEST_CHANGES]
    return {
        **_lead_data(lead),
        "phone": lead.phone,
        "message": short(lead.message),
        "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign,
        "referrer": lead.referrer,
        "landing_page": lead.landing_page,
        "next_statuses": [str(status) for status in TRANSITIONS.get(lead.status, ())],
        "latest_touches": [
            {
                "created_at": when(touch.created_at),
                "source": touch.source,
                "utm_source": touch.utm_source,
                "utm_campaign": touch.utm_campaign,
                "message": short(touch.message),
            }
            for touch in touches
        ],
        "latest_notes": [
            {"created_at": when(note.created_at), "author": person(note.author), "body": short(note.body)}
            for note in notes
        ],
        "latest_history": [
            {
                "changed_at": when(change.changed_at),
                "from_status": change.from_status,
                "to_status": change.to_status,
                "changed_by": person(change.changed_by),
            }
            for change in history
        ],
    }


def _note_body(body: str) -> str:
    from apps.leads.models import MESSAGE_MAX

    text = body.strip()
    if not text:
        raise ModelRetry("Give the note's text.")
    if len(text) > MESSAGE_MAX:
        raise ModelRetry(f"The note is too long: give at most {MESSAGE_MAX} characters.")
    return text


def _check_note(user: Any, lead_id: int, body: str) -> None:
    _require(user, change=True)
    _note_body(body)
    _lead(lead_id)


def _note(user: Any, lead_id: int, body: str) -> dict[str, Any]:
    from apps.leads import services

    _require(user, change=True)
    note = services.lead_note_add(lead=_lead(lead_id), author=user, body=_note_body(body))
    return {"lead_id": lead_id, "note_id": note.pk, "body": note.body, "created_at": when(note.created_at)}


def _check_status(user: Any, lead_id: int, status: str) -> None:
    from apps.leads.models import TRANSITIONS, Status

    _require(user, change=True)
    if status not in Status.values:
        raise ModelRetry(f"{status!r} is not a status; the statuses are {', '.join(Status.values)}.")
    lead = _lead(lead_id)
    allowed = TRANSITIONS.get(lead.status, ())
    if status not in allowed:
        options = " or ".join(allowed) if allowed else "nothing: its status is final"
        raise ModelRetry(f"Lead {lead_id} is {lead.status}: it cannot become {status}; it can become {options}.")


def _set_status(user: Any, lead_id: int, status: str) -> dict[str, Any]:
    from apps.leads import services

    _require(user, change=True)
    lead = services.lead_set_status(lead=_lead(lead_id), status=status, by=user)
    return {"lead_id": lead.pk, "status": lead.status}


async def search_leads(
    ctx: RunContext[AgentDeps], query: str = "", status: str | None = None, limit: int = 10
) -> dict[str, Any]:
    """Search the leads (website enquiries) by name, email address or company, newest first.

    Returns `leads`: each lead's id, name, email, company, status, source, assignee and times. None means nothing
    matched.

    Args:
        query: Words in the name, email address or company; empty for all leads.
        status: Only leads with this status: new, contacted, qualified, won or lost.
        limit: How many leads to return (1 to 50).
    """
    return await run_tool(_search, user=ctx.deps.user, query=query, status=status, limit=limit)


async def get_lead(ctx: RunContext[AgentDeps], lead_id: int) -> dict[str, Any]:
    """Read one lead: its contact details and attribution, the statuses it may move to, and its latest touches
    (website submissions), notes and status changes, newest first.

    Args:
        lead_id: The id of the lead, as search_leads gives it.
    """
    return await run_tool(_read, user=ctx.deps.user, lead_id=lead_id)


async def _may_add_note(ctx: RunContext[AgentDeps], lead_id: int, body: str) -> None:
    # Runs before the call is put to the approver: nobody is asked to approve a call that would only fail.
    await run_tool(_check_note, user=ctx.deps.user, lead_id=lead_id, body=body)


async def add_lead_note(ctx: RunContext[AgentDeps], lead_id: int, body: str) -> dict[str, Any]:
    """Add a note to a lead, signed by the user. Needs approval.

    Returns the note's id and text.

    Args:
        lead_id: The id of the lead, as search_leads gives it.
        body: The note's text.
    """
    # Checked again: the user's permissions or the lead may have changed between the request and its approval.
    return await run_tool(_note, user=ctx.deps.user, lead_id=lead_id, body=body)


async def _may_set_status(ctx: RunContext[AgentDeps], lead_id: int, status: str) -> None:
    # Runs before the call is put to the approver: a transition the pipeline refuses is sent back at once.
    await run_tool(_check_status, user=ctx.deps.user, lead_id=lead_id, status=status)


async def set_lead_status(ctx: RunContext[AgentDeps], lead_id: int, status: str) -> dict[str, Any]:
    """Move a lead along the pipeline, recorded in its history as done by the user. Needs approval.

    The pipeline: new → contacted → qualified → won, and lost from any open status; won is final, a lost lead may
    be reopened as contacted. get_lead lists the statuses a lead may move to.

    Args:
        lead_id: The id of the lead, as search_leads gives it.
        status: The new status: new, contacted, qualified, won or lost.
    """
    # The service checks the transition again: the lead may have moved between the request and its approval.
    return await run_tool(_set_status, user=ctx.deps.user, lead_id=lead_id, status=status)


def _may_read_leads(user: Any) -> bool:
    from apps.leads import selectors

    return staff_may(user, selectors.VIEW_PERMISSION)


def _may_change_leads(user: Any) -> bool:
    from apps.leads import selectors

    return staff_may(user, selectors.CHANGE_PERMISSION)


async def _for_readers(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """The read tools are offered to staff who may read leads only (each tool checks again)."""
    return tool if await sync_to_async(_may_read_leads, thread_sensitive=True)(ctx.deps.user) else None


async def _for_changers(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """The write tools are offered to staff who may change leads only (each tool checks again)."""
    return tool if await sync_to_async(_may_change_leads, thread_sensitive=True)(ctx.deps.user) else None


def build() -> FunctionToolset[AgentDeps]:
    toolset = FunctionToolset[AgentDeps](id="leads", docstring_format="google", require_parameter_descriptions=True)
    toolset.add_function(search_leads, prepare=_for_readers)
    toolset.add_function(get_lead, prepare=_for_readers)
    toolset.add_function(add_lead_note, requires_approval=True, args_validator=_may_add_note, prepare=_for_changers)
    toolset.add_function(set_lead_status, requires_approval=True, args_validator=_may_set_status, prepare=_for_changers)
    return toolset


SPEC = ToolsetSpec(
    name="leads",
    label="Leads",
    description="For staff who work on leads: search the pipeline and read a lead with its latest touches, notes "
    "and history; with approval, add a note or move a lead's status.",
    build=build,
    requires_app="leads",
)
