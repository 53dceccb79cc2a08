"""What the resources of the agents API share: the user's own conversation or run a request names, and the
serializers of runs and their tool calls."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from apps.agents import selectors
from apps.agents.models import AgentRun, Conversation, ToolCall

TAG = "agents"
NOT_SIGNED_IN = {401: "Not signed in"}
NO_CONVERSATION = "No conversation with this id (or it is another user's)."
NO_RUN = "No run with this id (or it is another user's)."
NO_CONVERSATION_404 = {404: "No such conversation, or another user's"}
NO_RUN_404 = {404: "No such run, or another user's"}
# Ids and a short note in JSON: anything larger is refused unread (cfg.body_limit).
SMALL_BODY_BYTES = 8 * 1024


def own_conversation(request: Request, conversation_id: int) -> Conversation:
    """The user's own conversation: a 404 for anybody else's, staff included (they use the admin), so that another
    user's conversation is not even known to exist."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise NotFound(NO_CONVERSATION)
    return conversation


def own_run(request: Request, run_id: int) -> AgentRun:
    run = selectors.run_get(user=request.user, run_id=run_id)
    if run is None:
        raise NotFound(NO_RUN)
    return run


STATUS_HELP = (
    "queued, running, waiting_for_approval (a tool call needs a staff decision), succeeded, failed (see error_code "
    "and error) or cancelled"
)
TOOL_CALL_STATUS_HELP = (
    "awaiting_approval, denied, running, succeeded or failed (see error); approval_required calls wait for staff"
)


class ToolCallSerializer(serializers.ModelSerializer[ToolCall]):
    """One call the model made to a tool, as the audit recorded it."""

    # Plain strings, not choice fields: drf-spectacular would name the enums of every "status" by a hash.
    status = serializers.CharField(read_only=True, help_text=TOOL_CALL_STATUS_HELP)
    decision = serializers.CharField(read_only=True, help_text="approved, denied, or empty: not decided")
    arguments = serializers.JSONField(read_only=True, help_text="The arguments the model gave, as JSON")
    result = serializers.JSONField(read_only=True, allow_null=True, help_text="What the tool returned (JSON)")
    decided_by = serializers.IntegerField(
        source="decided_by_id", read_only=True, allow_null=True, help_text="The id of the staff member who decided"
    )

    class Meta:
        model = ToolCall
        fields: tuple[str, ...] = (
            "id",
            "tool_call_id",
            "toolset",
            "tool",
            "arguments",
            "status",
            "result",
            "error",
            "duration_ms",
            "requires_approval",
            "decision",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields


class RunUsageSerializer(serializers.Serializer[Any]):
    """What a run has used so far (paused time excluded from the duration)."""

    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    requests = serializers.IntegerField(help_text="Model requests")
    tool_calls = serializers.IntegerField(source="tool_calls_count")
    cost = serializers.DecimalField(
        max_digits=14,
        decimal_places=8,
        allow_null=True,
        coerce_to_string=True,
        help_text="US dollars; null when unknown (no LLM__PRICE_* and a provider that reports none)",
    )
    duration_ms = serializers.IntegerField()


class RunSerializer(serializers.ModelSerializer[AgentRun]):
    """A run: one message of the user and what the agent did with it."""

    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    input = serializers.CharField(read_only=True, help_text="The user's message")
    output = serializers.JSONField(
        read_only=True, allow_null=True, help_text="The answer: text, or an object for an agent with a schema"
    )
    error_code = serializers.CharField(
        read_only=True,
        help_text="Why it failed: usage_limit, provider_error, timeout, model_behavior, cancelled, internal_error, "
        "...; empty otherwise",
    )
    model = serializers.CharField(source="model_name", read_only=True)
    usage = RunUsageSerializer(source="*", read_only=True)
    tool_calls = ToolCallSerializer(many=True, read_only=True)

    class Meta:
        model = AgentRun
        fields: tuple[str, ...] = (
            "id",
            "status",
            "input",
            "output",
            "error_code",
            "error",
            "model",
            "usage",
            "cancel_requested",
            "tool_calls",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    """A run on its own: with its conversation and agent."""

    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    agent = serializers.CharField(source="agent.name", read_only=True, help_text="The agent's name")

    class Meta(RunSerializer.Meta):
        fields = ("id", "conversation", "agent", *RunSerializer.Meta.fields[1:])
        read_only_fields = fields


def run_body(request: Request, run: AgentRun) -> Any:
    """The run as it is now, read again: a run that the immediate backend ran inline has changed since the service
    returned it."""
    return RunDetailSerializer(own_run(request, run.pk)).data
