"""Runs on a real worker: the ReArq backend on the local Redis, the worker as a subprocess, the stand-in model."""

from __future__ import annotations

from typing import Any

import pytest

from apps.agents import services
from apps.agents.models import RunStatus, ToolCallStatus
from apps.agents.tests.factories import agent_create, conversation_for, run_refresh, user_create
from apps.tasks.models import TaskRun
from apps.tasks.tests.conftest import wait_for
from modules.llm.testing import OpenAIStandIn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_agent_with_its_tool_calls_recorded(
    chat: OpenAIStandIn, rearq: Any, queue_name: str, start_worker: Any, settings: Any
) -> None:
    settings.AGENTS = {**settings.AGENTS, "QUEUE": queue_name}
    start_worker(
        env={
            "LLM__CHAT_PROVIDER": "openai",
            "LLM__BASE_URL": chat.base_url,
            "LLM__API_KEY": "sk-test-key-123456",
            "LLM__CHAT_MODEL": "gpt-test",
            "LLM__MAX_RETRIES": "0",
        }
    )
    conversation = conversation_for(user_create(), agent_create(toolsets=["knowbase"]))
    chat.reply("", tool_calls=[("search_documents", {"query": "tomatoes"})])
    chat.reply("Your documents say nothing about tomatoes.")

    run = services.message_post(conversation=conversation, text="What do my notes say about tomatoes?")

    # The worker records its task's outcome after the run's own: both are waited for.
    wait_for(
        lambda: TaskRun.objects.filter(
            task_path="apps.agents.tasks.execute_agent_run", finished_at__isnull=False
        ).exists(),
        what="the run's task to finish",
    )
    run = run_refresh(run)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output == "Your documents say nothing about tomatoes."
    [call] = run.tool_calls.all()
    assert (call.tool, call.status, call.arguments) == (
        "search_documents",
        ToolCallStatus.SUCCEEDED,
        {"query": "tomatoes", "limit": 5},
    )
    task = TaskRun.objects.get(task_path="apps.agents.tasks.execute_agent_run")
    assert (task.queue, task.args, task.status) == (queue_name, [run.pk], "SUCCESSFUL")
    kinds = [event.kind for event in run.events.order_by("seq")]
    assert kinds[0] == "status" and kinds[-2:] == ["result", "status"]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("text")
