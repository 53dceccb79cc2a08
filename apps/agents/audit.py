"""The one audit wrapper every toolset of a run goes through: each call the run makes is a ToolCall row with its
arguments, result or error, and duration, written before the tool returns to the model."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelRetry, UnexpectedModelBehavior
from pydantic_ai.toolsets import ToolsetTool, WrapperToolset
from pydantic_core import to_jsonable_python

from apps.agents.deps import AgentDeps
from apps.agents.models import Decision, ToolCall, ToolCallStatus
from apps.agents.storable import storable, storable_text

# A result larger than this is stored cut short (the model still gets all of it).
MAX_STORED_RESULT_CHARS = 64_000


@dataclass
class AuditedToolset(WrapperToolset[AgentDeps]):
    toolset_name: str = ""

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps], tool: ToolsetTool[AgentDeps]
    ) -> Any:
        row = await self._start(name, tool_args, ctx, approved=tool.tool_def.kind == "unapproved")
        started = time.perf_counter()
        try:
            result = await super().call_tool(name, tool_args, ctx, tool)
        except (ApprovalRequired, CallDeferred):
            # Not a failure: the run pauses; the engine records the request from the run's output.
            if row is not None:
                await ToolCall.objects.filter(pk=row.pk).adelete()
            raise
        except ModelRetry as error:
            await self._finish(row, started, status=ToolCallStatus.FAILED, error=str(error))
            raise
        except asyncio.CancelledError:  # the run was cancelled, or ran out of time, during the call
            await self._finish(row, started, status=ToolCallStatus.FAILED, error="Stopped: the run was cancelled.")
            raise
        except Exception as error:
            await self._finish(row, started, status=ToolCallStatus.FAILED, error=f"{type(error).__name__}: {error}")
            raise
        await self._finish(row, started, status=ToolCallStatus.SUCCEEDED, result=stored_result(result))
        return result

    async def _start(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps], *, approved: bool
    ) -> ToolCall | None:
        if not ctx.deps.run_id:  # an agent run without a record (toolset unit tests)
            return None
        call_id = ctx.tool_call_id or f"{name}-{time.time_ns()}"
        ctx.deps.recorded_calls.add(call_id)
        arguments = storable(to_jsonable_python(tool_args, fallback=str))
        if approved:  # a call that needed approval reaches here once approved: recorded when the run paused
            row = await ToolCall.objects.filter(run_id=ctx.deps.run_id, tool_call_id=call_id).afirst()
            if (
                row is None
                or row.tool != name
                or row.status != ToolCallStatus.AWAITING_APPROVAL
                or row.decision != Decision.APPROVED
            ):
                raise UnexpectedModelBehavior(f"tool call {call_id!r} ({name}) runs without a staff approval")
            row.status = ToolCallStatus.RUNNING
            await row.asave(update_fields=["status"])
            return row
        row = await sync_to_async(_create)(
            run_id=ctx.deps.run_id, tool_call_id=call_id, toolset=self.toolset_name, tool=name, arguments=arguments
        )
        if row is None:
            # The model gave this call the id of an earlier one: its decision or record would be taken for this
            # call's, so the run stops instead.
            raise UnexpectedModelBehavior(f"the model reused the id {call_id!r} of an earlier tool call")
        return row

    async def _finish(
        self, row: ToolCall | None, started: float, *, status: str, result: Any = None, error: str = ""
    ) -> None:
        if row is None:
            return
        row.status = status
        row.result = result
        row.error = storable_text(error[:5000])
        row.duration_ms = max(0, round((time.perf_counter() - started) * 1000))
        row.finished_at = timezone.now()
        await row.asave(update_fields=["status", "result", "error", "duration_ms", "finished_at"])


def _create(**fields: Any) -> ToolCall | None:
    """The call's row; None when the run already has one with this id (a savepoint keeps the run's transaction)."""
    try:
        with transaction.atomic():
            return ToolCall.objects.create(status=ToolCallStatus.RUNNING, **fields)
    except IntegrityError:
        return None


def stored_result(result: Any) -> Any:
    """The result as JSON; one too large to keep whole is kept as its first characters, marked as cut."""
    value = storable(to_jsonable_python(result, fallback=str))
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_STORED_RESULT_CHARS:
        return value
    return {"truncated": True, "chars": len(text), "start": text[:MAX_STORED_RESULT_CHARS]}
