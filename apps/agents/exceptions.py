"""The errors of agents. Services raise them; the API's exception handler (modules.api.errors) answers each with
its status and message, so views never catch them. A run's own failures are recorded on the run (error_code and
error), not raised: the run was accepted, and the client polls or streams its outcome."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError


class AgentsError(ServiceError):
    """The base of every error of agents."""


class AgentUnavailable(AgentsError):
    """The agent is switched off, or the user may not run it (answered as not found: its existence is not told)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "agent_not_found"
    message = "No such agent."
    field = "agent"


class AgentNoLongerAvailable(AgentsError):
    """The conversation is the user's, but its agent was switched off or closed to them since it began."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "agent_unavailable"
    message = "This conversation's agent is no longer available to you; start a conversation with another agent."


class ConversationBusy(AgentsError):
    status_code = status.HTTP_409_CONFLICT
    code = "conversation_busy"
    message = "The conversation's last run has not finished: wait for it, or cancel it."


class RunNotCancellable(AgentsError):
    status_code = status.HTTP_409_CONFLICT
    code = "run_finished"
    message = "The run has already finished."


class ToolCallNotPending(AgentsError):
    status_code = status.HTTP_409_CONFLICT
    code = "tool_call_decided"
    message = "This tool call is not waiting for a decision (it was decided already, or its run has ended)."


class DecisionNotAllowed(AgentsError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"
    message = "Deciding on tool calls takes a staff account with the permission to change tool calls."


class PromptTooLong(AgentsError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "prompt_too_long"
    message = "The message is too long."
    field = "text"
