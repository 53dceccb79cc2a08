"""A toolset through a real pydantic-ai agent whose model is scripted: it makes the tool calls it is given, then
answers with what the last one gave it. The toolset tests (test_toolset_*.py) bind one ScriptedToolset to their
toolset's SPEC and use its `ask` and `agent_for`."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from pydantic_ai import Agent, AgentRunResult, DeferredToolRequests, DeferredToolResults
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import RunUsage

from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec

type Output = str | DeferredToolRequests


def scripted(*calls: tuple[str, dict[str, Any]]) -> FunctionModel:
    """A model that makes the given tool calls in turn, then answers with what the last one gave it, as the model
    saw it (the tool's result as JSON, or {"error": message} for a refusal or failure)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        made = sum(isinstance(message, ModelResponse) for message in messages)
        if made < len(calls):
            name, args = calls[made]
            return ModelResponse(parts=[ToolCallPart(name, args)])
        returned = [part for part in messages[-1].parts if isinstance(part, ToolReturnPart)]
        return ModelResponse(parts=[TextPart(returned[-1].model_response_str())])

    return FunctionModel(respond)


def offered_tools(toolset: AbstractToolset[AgentDeps], user: Any) -> set[str]:
    """The names of the tools the model is shown on a run as `user` (a tool's `prepare` may hide it)."""
    offered: set[str] = set()

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        offered.update(tool.name for tool in info.function_tools)
        return ModelResponse(parts=[TextPart("done")])

    agent = Agent(FunctionModel(respond), deps_type=AgentDeps, toolsets=[toolset])
    async_to_sync(agent.run)("go", deps=deps(user))
    return offered


def model_usage(result: AgentRunResult[Output]) -> RunUsage:
    """What the model's own responses used (each response's usage): a run's usage beyond it is what its tools
    counted in."""
    usage = RunUsage()
    for message in result.all_messages():
        if isinstance(message, ModelResponse):
            usage.incr(message.usage)
            usage.requests += 1
    return usage


def deps(user: Any) -> AgentDeps:
    return AgentDeps(user=user, run_id=0, agent_name="t")


def answered(result: AgentRunResult[Output]) -> Any:
    """What the model was given back by its last tool call (its final answer repeats it)."""
    assert isinstance(result.output, str), result.output
    return json.loads(result.output)


def approval_requested(result: AgentRunResult[Output]) -> ToolCallPart:
    """The one call the run paused on for approval."""
    assert isinstance(result.output, DeferredToolRequests), result.output
    [call] = result.output.approvals
    return call


def resume(
    agent: Agent[AgentDeps, Output], user: Any, paused: AgentRunResult[Output], *, approved: bool
) -> AgentRunResult[Output]:
    """Run the paused agent again with the approver's decision on its call."""
    call = approval_requested(paused)
    return async_to_sync(agent.run)(
        message_history=paused.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={call.tool_call_id: approved}),
        deps=deps(user),
    )


class ScriptedToolset:
    """Agents over one toolset (`spec`), each with a scripted model."""

    def __init__(self, spec: ToolsetSpec) -> None:
        self.spec = spec

    def agent_for(self, tool: str, **args: Any) -> Agent[AgentDeps, Output]:
        """An agent whose model calls `tool` once with `args`, and may pause for approval."""
        return Agent(
            scripted((tool, args)),
            deps_type=AgentDeps,
            toolsets=[self.spec.build()],
            output_type=[str, DeferredToolRequests],
        )

    def ask(self, user: Any, tool: str, **args: Any) -> Any:
        """Run an agent with the toolset as `user`, calling `tool` once; what the model was given back."""
        return answered(async_to_sync(self.agent_for(tool, **args).run)("go", deps=deps(user)))
