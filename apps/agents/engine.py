"""Running an agent: the body of the execute_agent_run task. It claims a queued run, builds the pydantic-ai agent
from its definition (the configured model, the audited toolsets, the usage limits), drives it node by node while
writing the run's events, and records the outcome: succeeded, failed (with a code and a readable message),
cancelled, or waiting_for_approval with the tool calls that need a staff decision.

The run drives under async_to_sync: the Django async ORM that tools use runs its queries back in the calling
thread (asgiref's thread-sensitive executor), so a tool sees the same connection, and in a test the same
transaction, as the code that queued the run."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from pydantic_ai import (
    Agent,
    CancellationToken,
    DeferredToolRequests,
    DeferredToolResults,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    PartDeltaEvent,
    PartStartEvent,
    RunCancelled,
    StructuredDict,
    TextPart,
    TextPartDelta,
    ToolDenied,
    ToolReturnPart,
    UsageLimits,
)
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError, UnexpectedModelBehavior, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.run import AgentRun as PydanticAgentRun
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import RunUsage
from pydantic_core import to_jsonable_python

from apps.agents.audit import AuditedToolset, stored_result
from apps.agents.deps import AgentDeps, ToolSpend
from apps.agents.events import EventRecorder, next_seq
from apps.agents.models import AgentDefinition, AgentRun, Decision, RunEvent, RunStatus, ToolCall, ToolCallStatus
from apps.agents.selectors import is_lost, last_history_run
from apps.agents.storable import storable, storable_text
from apps.agents.toolsets import available_toolsets, toolset
from modules.api.exceptions import ServiceError
from modules.llm.agent_model import agent_model, agent_provider_label, request_cost
from modules.llm.conf import LlmSettings
from modules.llm.interface import Usage
from modules.llm.models import Operation
from modules.llm.openai_provider import redact
from modules.llm.usage import record_call

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.25
EVENT_RESULT_CHARS = 2000


def run_execute(*, run_id: int, redelivered: bool = False) -> str:
    """Run (or resume) one queued run to its end or its next pause. What the task reports back. `redelivered`: the
    task's earlier attempt was lost with its worker, so a run it left running is taken over."""
    return async_to_sync(_execute)(run_id, redelivered)


class CostLimitExceeded(UsageLimitExceeded):
    """The run's cost went over its agent's cost limit."""


class IncompleteResponse(Exception):
    """The provider's streamed answer ended before the model said it had finished (a cut connection)."""


class ReusedToolCallId(UnexpectedModelBehavior):
    """The model asked for approval of a call under the id of an earlier call of the run."""


@dataclass
class _Leg:
    """What one stretch of running (from a claim to the end or a pause) has measured."""

    started: float = field(default_factory=time.perf_counter)
    cost: Decimal | None = None
    responses_priced: int = 0
    agent_run: PydanticAgentRun[AgentDeps, Any] | None = None
    toolset_of: dict[str, str] = field(default_factory=dict)
    call_args: dict[str, Any] = field(default_factory=dict)
    spend: ToolSpend = field(default_factory=ToolSpend)


async def _execute(run_id: int, redelivered: bool) -> str:
    claimed = await sync_to_async(_claim)(run_id, redelivered)
    if claimed is None:
        return "skipped: the run is not queued (finished, cancelled, or taken by another worker)"
    run, first_seq = claimed
    recorder = EventRecorder(run.pk, first_seq)
    await recorder.emit("status", {"status": RunStatus.RUNNING})
    leg = _Leg(cost=run.cost)
    token = CancellationToken()
    watcher = asyncio.create_task(_watch_cancel(run.pk, token))
    try:
        async with asyncio.timeout(settings.AGENTS["RUN_TIMEOUT"]):
            output = await _drive(run, recorder, leg, token)
    except RunCancelled:
        return await _end(run, recorder, leg, RunStatus.CANCELLED, error_code="cancelled", error="Cancelled.")
    except CostLimitExceeded as error:
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="usage_limit", error=str(error))
    except UsageLimitExceeded as error:
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="usage_limit", error=_limit_message(error))
    except TimeoutError:
        message = f"The run took longer than AGENTS__RUN_TIMEOUT ({settings.AGENTS['RUN_TIMEOUT']:g} s)."
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="timeout", error=message)
    except ModelAPIError as error:
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="provider_error", error=_provider(error))
    except IncompleteResponse:
        message = (
            f"{agent_provider_label()} stopped sending its answer before the model had finished (the stream was cut); "
            "send the message again"
        )
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="provider_error", error=message)
    except UnexpectedModelBehavior as error:
        message = f"The model answered in a way the agent could not use: {error.message}"
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="model_behavior", error=message)
    except ServiceError as error:  # the model is not configured, a toolset's own error
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code=error.code, error=error.message)
    except Exception:
        logger.exception("agents: run %s failed", run.pk)
        # The details (a query, a path) are for the server's log, not for the user who sent the message.
        message = (
            f"The run failed because of an error on the server; its details are in the server's log (run {run.pk})."
        )
        return await _end(run, recorder, leg, RunStatus.FAILED, error_code="internal_error", error=message)
    finally:
        watcher.cancel()
    if isinstance(output, DeferredToolRequests):
        try:
            return await sync_to_async(_pause)(run, recorder, leg, output)
        except ReusedToolCallId as error:
            message = f"The model answered in a way the agent could not use: {error.message}"
            return await _end(run, recorder, leg, RunStatus.FAILED, error_code="model_behavior", error=message)
    return await _end(run, recorder, leg, RunStatus.SUCCEEDED, output=output)


def _claim(run_id: int, redelivered: bool) -> tuple[AgentRun, int] | None:
    """queued → running, under the row's lock, and the seq its next event takes. A run left running is taken over
    by a redelivered task (its first worker died: at-least-once delivery brought the task back; a task that timed
    out cannot be one, as AGENTS__RUN_TIMEOUT ends the run first) or once it is lost (is_lost())."""
    with transaction.atomic():
        run = (
            AgentRun.objects.select_for_update(of=("self",))
            .select_related("agent", "owner", "conversation")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return None
        lost = run.status == RunStatus.RUNNING and (redelivered or is_lost(run))
        if run.status != RunStatus.QUEUED and not lost:
            return None
        now = timezone.now()
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or now
        run.claimed_at = now
        run.model_name = run.agent.model or LlmSettings.current().chat_model
        run.save(update_fields=["status", "started_at", "claimed_at", "model_name"])
        return run, next_seq(run.pk)


async def _watch_cancel(run_id: int, token: CancellationToken) -> None:
    while True:
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        if await AgentRun.objects.filter(pk=run_id, cancel_requested=True).aexists():
            token.cancel()
            return


def build_agent(definition: AgentDefinition, model: Any) -> tuple[Agent[AgentDeps, Any], dict[str, str]]:
    """The definition as a pydantic-ai agent, with each of its toolsets behind the audit wrapper, and which toolset
    each tool belongs to."""
    toolsets: list[AbstractToolset[AgentDeps]] = []
    toolset_of: dict[str, str] = {}
    for name in definition.toolsets:
        if name not in available_toolsets():  # a toolset whose app was switched off since: the agent runs without it
            logger.warning("agents: %s names toolset %r, which is not available", definition.name, name)
            continue
        shared = toolset(name)
        toolset_of.update(dict.fromkeys(getattr(shared, "tools", {}), name))
        toolsets.append(AuditedToolset(wrapped=shared, toolset_name=name))
    # StructuredDict writes into the schema it is given: the definition's own stays as it was.
    schema = copy.deepcopy(definition.output_schema)
    answer: Any = StructuredDict(schema, name="answer") if schema else str
    agent = Agent(
        model,
        deps_type=AgentDeps,
        instructions=definition.instructions,
        toolsets=toolsets,
        output_type=[answer, DeferredToolRequests],
        name=definition.name,
    )
    return agent, toolset_of


def _inputs(run: AgentRun) -> tuple[str | None, list[ModelMessage] | None, DeferredToolResults | None]:
    """The prompt, the history and the staff's decisions for this stretch: a paused run resumes from its own
    messages with the decisions; a new one starts from its input after the conversation's history."""
    if run.messages:
        decisions = DeferredToolResults()
        with transaction.atomic():
            for call in ToolCall.objects.select_for_update().filter(run=run, status=ToolCallStatus.AWAITING_APPROVAL):
                if call.decision == Decision.APPROVED:
                    decisions.approvals[call.tool_call_id] = True
                else:
                    reason = f": {call.decision_note}" if call.decision_note else ""
                    decisions.approvals[call.tool_call_id] = ToolDenied(f"A staff member denied this call{reason}.")
                    call.status = ToolCallStatus.DENIED
                    call.finished_at = timezone.now()
                    call.save(update_fields=["status", "finished_at"])
        return None, ModelMessagesTypeAdapter.validate_python(run.messages), decisions
    previous = last_history_run(conversation=run.conversation, before=run)
    if previous is None:
        return run.input, None, None
    history = ModelMessagesTypeAdapter.validate_python(previous.messages)
    return run.input, _last_runs(history, settings.AGENTS["HISTORY_RUNS"]), None


def _last_runs(messages: list[ModelMessage], keep: int) -> list[ModelMessage] | None:
    """The messages of the last `keep` pydantic-ai runs (each message carries its run's id)."""
    run_ids: list[str] = []
    for message in messages:
        if message.run_id and message.run_id not in run_ids:
            run_ids.append(message.run_id)
    kept = set(run_ids[-keep:]) if keep else set()
    trimmed = [message for message in messages if message.run_id in kept]
    return trimmed or None


async def _drive(run: AgentRun, recorder: EventRecorder, leg: _Leg, token: CancellationToken) -> Any:
    definition = run.agent
    prompt, history, decisions = await sync_to_async(_inputs)(run)
    model = agent_model(definition.model)
    agent, leg.toolset_of = build_agent(definition, model)
    limits = UsageLimits(
        request_limit=definition.request_limit,
        tool_calls_limit=definition.tool_calls_limit,
        total_tokens_limit=definition.total_tokens_limit,
    )
    usage = RunUsage(
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        requests=run.requests,
        tool_calls=run.tool_calls_count,
    )
    deps = AgentDeps(user=run.owner, run_id=run.pk, agent_name=definition.name, spend=leg.spend)
    try:
        async with agent.iter(
            prompt,
            message_history=history,
            deferred_tool_results=decisions,
            deps=deps,
            usage_limits=limits,
            usage=usage,
            cancellation_token=token,
        ) as agent_run:
            leg.agent_run = agent_run
            async for node in agent_run:
                if Agent.is_model_request_node(node):
                    started = time.perf_counter()
                    try:
                        async with node.stream(agent_run.ctx) as stream:
                            async for event in stream:
                                if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                                    await recorder.text(event.part.content)
                                elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                                    await recorder.text(event.delta.content_delta)
                    except ModelAPIError as error:
                        await _record_request(definition, model.model_name, None, started, _provider(error))
                        raise
                    await recorder.flush_text()
                    response = _last_response(agent_run.all_messages())
                    # pydantic-ai reads a stream that ends without the provider's finish reason as "stop"; the
                    # provider's own reason (or its absence) is kept in provider_details.
                    if response is not None and "finish_reason" not in (response.provider_details or {}):
                        raise IncompleteResponse()
                    await _record_request(definition, model.model_name, response, started)
                    _price(leg, agent_run.all_messages(), definition)
                    await _save_usage(run, agent_run.usage, leg)
                elif Agent.is_call_tools_node(node):
                    async with node.stream(agent_run.ctx) as stream:
                        async for event in stream:
                            if isinstance(event, FunctionToolCallEvent):
                                leg.call_args[event.part.tool_call_id] = event.part.args
                                await recorder.emit(
                                    "tool_call",
                                    {
                                        "id": event.part.tool_call_id,
                                        "tool": event.part.tool_name,
                                        "arguments": to_jsonable_python(_arguments(event.part.args), fallback=str),
                                    },
                                )
                            elif isinstance(event, FunctionToolResultEvent):
                                await recorder.emit("tool_result", _result_event(event))
                                if event.part.tool_call_id not in deps.recorded_calls:
                                    await _record_refused(run, leg, event)
            assert agent_run.result is not None
            return agent_run.result.output
    finally:
        await model.client.close()  # the run's connections, now rather than when collected


async def _record_refused(run: AgentRun, leg: _Leg, event: FunctionToolResultEvent) -> None:
    """A call that never reached its tool (its arguments were refused, the tool is unknown or no longer offered)
    has no row from the audit wrapper: it gets one here, with what the model was told. An approved call that ends
    so closes the row it paused on."""
    part = event.part
    error = storable_text(str(to_jsonable_python(part.content, fallback=str))[:5000])
    call, created = await ToolCall.objects.aget_or_create(
        run=run,
        tool_call_id=part.tool_call_id,
        defaults={
            "toolset": leg.toolset_of.get(part.tool_name, ""),
            "tool": part.tool_name[:200],
            "arguments": storable(to_jsonable_python(_arguments(leg.call_args.get(part.tool_call_id)), fallback=str)),
            "status": ToolCallStatus.FAILED,
            "error": error,
            "finished_at": timezone.now(),
        },
    )
    if not created and call.status == ToolCallStatus.AWAITING_APPROVAL:
        call.status, call.error, call.finished_at = ToolCallStatus.FAILED, error, timezone.now()
        await call.asave(update_fields=["status", "error", "finished_at"])


def _arguments(args: Any) -> Any:
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return args
    return args


def _result_event(event: FunctionToolResultEvent) -> dict[str, Any]:
    part = event.part
    data: dict[str, Any] = {"id": part.tool_call_id, "tool": part.tool_name}
    if isinstance(part, ToolReturnPart):
        # pydantic-ai's outcomes: success, failed, denied, interrupted, and retried (the model was told to try again)
        outcome = getattr(part, "outcome", "success")
        data["outcome"] = "retry" if outcome == "retried" else outcome
        data["content"] = _excerpt(stored_result(part.content))
    else:  # a retry prompt: the tool refused the arguments, and the model is told why
        data["outcome"] = "retry"
        data["content"] = _excerpt(to_jsonable_python(part.content, fallback=str))
    return data


def _excerpt(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > EVENT_RESULT_CHARS:
        return text[:EVENT_RESULT_CHARS] + "…"
    return value


def _last_response(messages: list[ModelMessage]) -> ModelResponse | None:
    for message in reversed(messages):
        if isinstance(message, ModelResponse):
            return message
    return None


def _price(leg: _Leg, messages: list[ModelMessage], definition: AgentDefinition) -> None:
    """Add the cost of the responses not priced yet; over the agent's cost limit, the run stops."""
    responses = [message for message in messages if isinstance(message, ModelResponse)]
    for response in responses[leg.responses_priced :]:
        cost = request_cost(response.usage.input_tokens, response.usage.output_tokens, response.usage.cost)
        if cost is not None:
            leg.cost = (leg.cost or Decimal(0)) + cost
    leg.responses_priced = len(responses)
    spent = leg.spend.cost
    if spent is not None:  # what tools spent on models of their own (counted once: the meter is emptied)
        leg.cost = (leg.cost or Decimal(0)) + spent
        leg.spend.cost = None
    if definition.cost_limit is not None and leg.cost is not None and leg.cost > definition.cost_limit:
        raise CostLimitExceeded(
            f"The run cost ${leg.cost:.6f}, over the agent's cost limit of ${definition.cost_limit}."
        )


async def _record_request(
    definition: AgentDefinition, model_name: str, response: ModelResponse | None, started: float, error: str = ""
) -> None:
    usage = None
    if response is not None:
        usage = Usage(
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost=request_cost(response.usage.input_tokens, response.usage.output_tokens, response.usage.cost),
        )
    await sync_to_async(record_call)(
        provider=agent_provider_label(),
        model=model_name,
        operation=Operation.STREAM,
        purpose=f"agent:{definition.name}",
        usage=usage,
        duration_ms=round((time.perf_counter() - started) * 1000),
        error=error,
    )


async def _save_usage(run: AgentRun, usage: RunUsage, leg: _Leg) -> None:
    """Progress a poller can see while the run goes on."""
    run.input_tokens = usage.input_tokens
    run.output_tokens = usage.output_tokens
    run.requests = usage.requests
    run.tool_calls_count = usage.tool_calls
    run.cost = leg.cost
    await run.asave(update_fields=["input_tokens", "output_tokens", "requests", "tool_calls_count", "cost"])


def _messages_json(leg: _Leg) -> list[Any] | None:
    if leg.agent_run is None:
        return None
    messages: list[Any] = ModelMessagesTypeAdapter.dump_python(leg.agent_run.all_messages(), mode="json")
    return messages


def _approval_request(call: ToolCall) -> dict[str, Any]:
    return {"tool_call": call.pk, "id": call.tool_call_id, "tool": call.tool, "arguments": call.arguments}


def _pause(run: AgentRun, recorder: EventRecorder, leg: _Leg, requests: DeferredToolRequests) -> str:
    """The run stops for staff decisions: each call that needs one is recorded and announced, and the run is marked
    waiting, in one transaction under the run's lock, so that no decision can come between (deciding takes the
    same lock and needs the run waiting)."""
    messages = _messages_json(leg) or []
    with transaction.atomic():
        AgentRun.objects.select_for_update().filter(pk=run.pk).first()
        calls = []
        for part in requests.approvals:
            if ToolCall.objects.filter(run=run, tool_call_id=part.tool_call_id).exists():
                raise ReusedToolCallId(f"the model reused the id {part.tool_call_id!r} of an earlier tool call")
            calls.append(
                ToolCall.objects.create(
                    run=run,
                    tool_call_id=part.tool_call_id,
                    toolset=leg.toolset_of.get(part.tool_name, ""),
                    tool=part.tool_name,
                    arguments=storable(to_jsonable_python(part.args_as_dict(), fallback=str)),
                    status=ToolCallStatus.AWAITING_APPROVAL,
                    requires_approval=True,
                )
            )
        events = [
            (
                "approval_request",
                {"tool_call": call.pk, "id": call.tool_call_id, "tool": call.tool, "arguments": call.arguments},
            )
            for call in calls
        ]
        RunEvent.objects.bulk_create(recorder.rows([*events, ("status", {"status": RunStatus.WAITING_FOR_APPROVAL})]))
        run.messages = storable(messages)
        _stop(run, leg, RunStatus.WAITING_FOR_APPROVAL)
    return f"waiting for approval of {len(calls)} tool call(s)"


async def _end(
    run: AgentRun,
    recorder: EventRecorder,
    leg: _Leg,
    status: RunStatus,
    *,
    output: Any = None,
    error_code: str = "",
    error: str = "",
) -> str:
    """The run's outcome and its last events, written together."""
    await recorder.flush_text()
    messages = _messages_json(leg)
    if messages is not None:
        run.messages = storable(messages)
    run.output = storable(to_jsonable_python(output, fallback=str)) if output is not None else None
    run.error_code = error_code
    run.error = storable_text(error)
    try:
        await sync_to_async(_finish)(run, recorder, leg, status)
    except DatabaseError:
        # The outcome could not be stored as it is: the run still ends, failed, so that its conversation is free.
        logger.exception("agents: the outcome of run %s could not be stored", run.pk)
        status, run.messages, run.output = RunStatus.FAILED, [], None
        run.error_code = "internal_error"
        run.error = f"The run's outcome could not be stored; the details are in the server's log (run {run.pk})."
        await sync_to_async(_finish)(run, recorder, leg, status)
    return f"{status}: {run.error}" if run.error else str(status)


def _finish(run: AgentRun, recorder: EventRecorder, leg: _Leg, status: RunStatus) -> None:
    final: list[tuple[str, dict[str, Any]]] = [("status", {"status": status})]
    seq = recorder.seq
    with transaction.atomic():
        _stop(run, leg, status, finished=True)
        if status == RunStatus.SUCCEEDED:
            final.insert(0, ("result", {"output": run.output, "usage": usage_data(run)}))
        elif run.error:
            final.insert(0, ("error", {"code": run.error_code, "message": run.error}))
        try:
            RunEvent.objects.bulk_create(recorder.rows(final))
        except DatabaseError:
            recorder.seq = seq  # numbered again by the second attempt
            raise


def _stop(run: AgentRun, leg: _Leg, status: RunStatus, *, finished: bool = False) -> None:
    if leg.agent_run is not None:
        usage = leg.agent_run.usage
        run.input_tokens, run.output_tokens = usage.input_tokens, usage.output_tokens
        run.requests, run.tool_calls_count = usage.requests, usage.tool_calls
    run.cost = leg.cost
    run.status = status
    run.duration_ms += max(0, round((time.perf_counter() - leg.started) * 1000))
    leg.started = time.perf_counter()  # a second attempt at storing the outcome does not count the time twice
    fields = ["messages", "output", "error_code", "error", "status", "duration_ms", "cost"]
    fields += ["input_tokens", "output_tokens", "requests", "tool_calls_count"]
    if finished:
        run.finished_at = timezone.now()
        fields.append("finished_at")
    run.save(update_fields=fields)


def usage_data(run: AgentRun) -> dict[str, Any]:
    return {
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "requests": run.requests,
        "tool_calls": run.tool_calls_count,
        "cost": str(run.cost) if run.cost is not None else None,
        "duration_ms": run.duration_ms,
    }


def _limit_message(error: UsageLimitExceeded) -> str:
    text = str(error)
    # pydantic-ai's own wording names its parameter and links its docs; the agent's limit is what an admin sets.
    for name, label in (
        ("request_limit", "requests"),
        ("tool_calls_limit", "tool calls"),
        ("total_tokens_limit", "tokens"),
    ):
        if name in text:
            return f"The run reached its agent's limit on {label}: {text.split('.')[0]}."
    return f"The run reached a usage limit: {text.split('.')[0]}."


def _provider(error: ModelAPIError) -> str:
    """The provider's failure in words: which provider, the status, its message; never the key (OpenAI echoes part
    of a wrong one)."""
    label = agent_provider_label()
    if isinstance(error, ModelHTTPError):
        body = error.body
        message = body.get("message") if isinstance(body, dict) else None
        detail = f": {redact(str(message), LlmSettings.current().api_key)[:300]}" if message else ""
        return f"{label} answered {error.status_code} for {error.model_name}{detail}"
    return f"{label} could not be used: {redact(error.message, LlmSettings.current().api_key)}"[:2000]
