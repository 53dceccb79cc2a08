"""Reads of agents: what a user may run and see. Every API read goes through one of these, so owner isolation is
decided here once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.agents.exceptions import AgentUnavailable
from apps.agents.models import (
    Access,
    AgentDefinition,
    AgentRun,
    Conversation,
    RunEvent,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)


def agents_runnable_by(user: Any) -> QuerySet[AgentDefinition]:
    """The active agents `user` may run: staff run every one; others those open to all users or to a group of
    theirs."""
    agents = AgentDefinition.objects.filter(is_active=True)
    if not user.is_authenticated:
        return agents.none()
    if user.is_staff:
        return agents
    return agents.filter(Q(access=Access.USERS) | Q(access=Access.GROUPS, groups__in=user.groups.all())).distinct()


def agent_get_runnable(*, user: Any, name: str) -> AgentDefinition:
    agent = agents_runnable_by(user).filter(name=name).first()
    if agent is None:
        raise AgentUnavailable()
    return agent


def may_run(*, user: Any, agent: AgentDefinition) -> bool:
    return agents_runnable_by(user).filter(pk=agent.pk).exists()


def conversation_list(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).select_related("agent")


def conversation_get(*, user: Any, conversation_id: int) -> Conversation | None:
    return conversation_list(user=user).filter(pk=conversation_id).first()


def conversation_runs(*, conversation: Conversation) -> QuerySet[AgentRun]:
    return (
        AgentRun.objects.filter(conversation=conversation)
        .order_by("created_at", "id")
        .defer("messages")
        .prefetch_related("tool_calls")
    )


def run_get(*, user: Any, run_id: int) -> AgentRun | None:
    """A run of the user's own conversations; None for anybody else's (staff decide approvals, not read runs, in the
    API)."""
    return AgentRun.objects.filter(owner=user, pk=run_id).defer("messages").select_related("agent").first()


def run_events_after(*, run_id: int, after: int, limit: int = 500) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit])


def pending_approvals() -> QuerySet[ToolCall]:
    return (
        ToolCall.objects.filter(status=ToolCallStatus.AWAITING_APPROVAL, decision="")
        .select_related("run", "run__agent", "run__owner")
        .order_by("created_at", "id")
    )


def last_history_run(*, conversation: Conversation, before: AgentRun) -> AgentRun | None:
    """The latest earlier run that finished with an answer: its messages are the conversation so far."""
    return (
        AgentRun.objects.filter(conversation=conversation, status="succeeded", id__lt=before.pk)
        .exclude(messages=[])
        .order_by("-id")
        .first()
    )


def run_status(*, run_id: int) -> str | None:
    """The run's status now (None: the run is gone): what an event stream checks between two polls."""
    status: str | None = AgentRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return status


def run_event_last(*, run_id: int) -> RunEvent | None:
    return RunEvent.objects.filter(run_id=run_id).order_by("-seq").first()


def tool_call_get(*, tool_call_id: int) -> ToolCall | None:
    """Any run's tool call, for a staff decision (the API lets staff only decide: it is not an owner's read)."""
    return ToolCall.objects.filter(pk=tool_call_id).select_related("run").first()


def is_lost(run: AgentRun) -> bool:
    """A run marked running that no engine can still be running: an engine stops its run at AGENTS__RUN_TIMEOUT,
    so a claim older than that (and a margin) was lost with its worker or server."""
    stale = timezone.now() - timedelta(seconds=settings.AGENTS["RUN_TIMEOUT"] * 1.5 + 60)
    return run.status == RunStatus.RUNNING and (run.claimed_at is None or run.claimed_at < stale)
