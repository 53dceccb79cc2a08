"""The one audit wrapper every toolset of a run goes through: each call the run makes is a ToolCall row with its
arguments, result or error, and duration, written before the tool returns to the model."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelRetry
from pydantic_ai.toolsets import AbstractToolset, ToolsetTool, WrapperToolset
from pydantic_core import to_jsonable_python

from apps.agents.deps import AgentDeps
from apps.agents.models import ToolCall, ToolCallStatus

# A result larger than this is stored cut short (the model still gets all of it).
MAX_STORED_RESULT_CHARS = 64_000


@dataclass
class AuditedToolset(WrapperToolset[AgentDeps]):
    toolset_name: str = ""

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps], tool: ToolsetTool[AgentDeps]
    ) -> Any:
        row = await self._start(name, tool_args, ctx)
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
        except Exception as error:
            await self._finish(row, started, status=ToolCallStatus.FAILED, error=f"{type(error).__name__}: {error}")
            raise
        await self._finish(row, started, status=ToolCallStatus.SUCCEEDED, result=stored_result(result))
        return result

    async def _start(self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDeps]) -> ToolCall | None:
        if not ctx.deps.run_id:  # an agent run without a record (toolset unit tests)
            return None
        arguments = to_jsonable_python(tool_args, fallback=str)
        row = await ToolCall.objects.filter(run_id=ctx.deps.run_id, tool_call_id=ctx.tool_call_id or "").afirst()
        if row is not None:  # approved by staff: it was recorded when the run paused for the decision
            row.status = ToolCallStatus.RUNNING
            row.arguments = arguments
            await row.asave(update_fields=["status", "arguments"])
            return row
        return await ToolCall.objects.acreate(
            run_id=ctx.deps.run_id,
            tool_call_id=ctx.tool_call_id or f"{name}-{time.time_ns()}",
            toolset=self.toolset_name,
            tool=name,
            arguments=arguments,
            status=ToolCallStatus.RUNNING,
        )

    async def _finish(
        self, row: ToolCall | None, started: float, *, status: str, result: Any = None, error: str = ""
    ) -> None:
        if row is None:
            return
        row.status = status
        row.result = result
        row.error = error[:5000]
        row.duration_ms = max(0, round((time.perf_counter() - started) * 1000))
        row.finished_at = timezone.now()
        await row.asave(update_fields=["status", "result", "error", "duration_ms", "finished_at"])


def stored_result(result: Any) -> Any:
    """The result as JSON; one too large to keep whole is kept as its first characters, marked as cut."""
    value = to_jsonable_python(result, fallback=str)
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_STORED_RESULT_CHARS:
        return value
    return {"truncated": True, "chars": len(text), "start": text[:MAX_STORED_RESULT_CHARS]}


def audited(toolsets: dict[str, AbstractToolset[AgentDeps]]) -> list[AbstractToolset[AgentDeps]]:
    return [AuditedToolset(wrapped=toolset, toolset_name=name) for name, toolset in toolsets.items()]
