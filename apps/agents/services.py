"""Writes of agents: conversations, messages (each starts a run), cancelling, and staff decisions on tool calls.

A run is executed by the execute_agent_run task, queued when the transaction commits: a worker runs it, or the
immediate backend (development without Redis) runs it inline."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.agents.events import event_append
from apps.agents.exceptions import (
    AgentNoLongerAvailable,
    AgentUnavailable,
    ConversationBusy,
    DecisionNotAllowed,
    PromptTooLong,
    RunNotCancellable,
    ToolCallNotPending,
)
from apps.agents.models import (
    ACTIVE,
    AgentDefinition,
    AgentRun,
    Conversation,
    Decision,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)
from apps.agents.selectors import is_lost, may_run
from apps.agents.tasks import execute_agent_run
from modules.llm.exceptions import ChatNotConfigured
from modules.llm.providers import chat_configured

TITLE_CHARS = 80


def conversation_create(*, owner: Any, agent: AgentDefinition, title: str = "") -> Conversation:
    if not may_run(user=owner, agent=agent):
        raise AgentUnavailable()
    return Conversation.objects.create(owner=owner, agent=agent, title=title.strip()[:200])


def conversation_delete(*, conversation: Conversation) -> None:
    """The conversation, its runs, their tool calls and events; refused while a run is active (cancel it first)."""
    with transaction.atomic():
        # The lock message_post takes: no run starts between the check and the delete.
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if AgentRun.objects.filter(conversation=locked, status__in=ACTIVE).exists():
            raise ConversationBusy()
        locked.delete()


def message_post(*, conversation: Conversation, text: str) -> AgentRun:
    """A user's message to the agent: a queued run. One run at a time per conversation."""
    text = text.strip()
    limit = settings.AGENTS["MAX_PROMPT_CHARS"]
    if len(text) > limit:
        raise PromptTooLong(f"The message has {len(text)} characters; the most is {limit}.")
    if not chat_configured():
        # Before anything is recorded: a run that could only fail is not started.
        raise ChatNotConfigured(
            "No chat model is configured, so agents cannot run: set LLM__CHAT_PROVIDER=openai and LLM__BASE_URL "
            "(e.g. http://localhost:11434/v1 for a local Ollama, with LLM__CHAT_MODEL=llama3.2), and LLM__API_KEY "
            "for a hosted API. See docs/agents.md."
        )
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("agent", "owner").get(pk=conversation.pk)
        if not may_run(user=conversation.owner, agent=conversation.agent):
            raise AgentNoLongerAvailable()
        _fail_lost_runs(conversation)
        if AgentRun.objects.filter(conversation=conversation, status__in=ACTIVE).exists():
            raise ConversationBusy()
        run = AgentRun.objects.create(
            conversation=conversation, agent=conversation.agent, owner=conversation.owner, input=text
        )
        if not conversation.title:
            conversation.title = text[:TITLE_CHARS]
        conversation.save(update_fields=["title", "updated_at"])
        event_append(run=run, kind="status", data={"status": RunStatus.QUEUED})
        _enqueue_on_commit(run.pk)
    return run


def _fail_lost_runs(conversation: Conversation) -> None:
    """Runs left running by a worker or server that stopped (selectors.is_lost) end as failed, so that their
    conversation takes messages again."""
    for run in AgentRun.objects.select_for_update().filter(conversation=conversation, status=RunStatus.RUNNING):
        if is_lost(run):
            run.status = RunStatus.FAILED
            run.error_code = "lost"
            run.error = "The run stopped without an outcome (its worker or server stopped); send the message again."
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error_code", "error", "finished_at"])
            event_append(run=run, kind="error", data={"code": run.error_code, "message": run.error})
            event_append(run=run, kind="status", data={"status": RunStatus.FAILED})


def run_cancel(*, run: AgentRun) -> AgentRun:
    """A queued or paused run ends at once, as does one that no engine runs any more (selectors.is_lost); a running
    one is asked to stop (the engine sees it within a quarter of a second, between two steps of the model's stream
    or of its tools; a synchronous tool call already under way finishes first)."""
    with transaction.atomic():
        run = AgentRun.objects.select_for_update().get(pk=run.pk)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            raise RunNotCancellable()
        if run.status == RunStatus.RUNNING and not is_lost(run):
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
            return run
        run.status = RunStatus.CANCELLED
        run.cancel_requested = True
        run.error_code = "cancelled"
        run.error = "Cancelled."
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "cancel_requested", "error_code", "error", "finished_at"])
        ToolCall.objects.filter(run=run, status=ToolCallStatus.AWAITING_APPROVAL).update(
            status=ToolCallStatus.DENIED, decision_note="The run was cancelled.", finished_at=timezone.now()
        )
        # The same last events as a running run that the engine stops.
        event_append(run=run, kind="error", data={"code": run.error_code, "message": run.error})
        event_append(run=run, kind="status", data={"status": RunStatus.CANCELLED})
    return run


def may_decide(user: Any) -> bool:
    """Who approves or denies tool calls, in the admin and in the API alike."""
    return bool(user.is_active and user.is_staff and user.has_perm("agents.change_toolcall"))


def tool_call_decide(*, tool_call: ToolCall, by: Any, approve: bool, note: str = "") -> ToolCall:
    """A staff member's decision on a call waiting for approval. When the run's last pending call is decided, the
    run is queued again and resumes with the decisions."""
    if not may_decide(by):
        raise DecisionNotAllowed()
    with transaction.atomic():
        run = AgentRun.objects.select_for_update().get(pk=tool_call.run_id)
        call = ToolCall.objects.select_for_update().get(pk=tool_call.pk)
        if (
            run.status != RunStatus.WAITING_FOR_APPROVAL
            or call.status != ToolCallStatus.AWAITING_APPROVAL
            or call.decision
        ):
            raise ToolCallNotPending()
        call.decision = Decision.APPROVED if approve else Decision.DENIED
        call.decided_by = by
        call.decided_at = timezone.now()
        call.decision_note = note.strip()[:500]
        call.save(update_fields=["decision", "decided_by", "decided_at", "decision_note"])
        event_append(
            run=run,
            kind="approval_decision",
            data={"tool_call": call.pk, "id": call.tool_call_id, "tool": call.tool, "decision": call.decision},
        )
        undecided = ToolCall.objects.filter(run=run, status=ToolCallStatus.AWAITING_APPROVAL, decision="")
        if not undecided.exists():
            run.status = RunStatus.QUEUED
            run.save(update_fields=["status"])
            event_append(run=run, kind="status", data={"status": RunStatus.QUEUED})
            _enqueue_on_commit(run.pk)
    return call


def _enqueue_on_commit(run_id: int) -> None:
    queue = settings.AGENTS["QUEUE"]
    transaction.on_commit(lambda: execute_agent_run.using(queue_name=queue).enqueue(run_id))
