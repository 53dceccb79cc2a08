"""The agents commands: agent_run (runs an agent through the services against the local OpenAI stand-in, printing
the streamed answer and the tool calls as they happen) and agent_stats.

agent_run's runs commit for real (transactional_db): the run executes when the message's transaction commits (the
immediate backend), and the command's thread reads its events from another connection meanwhile."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.agents.engine import run_execute
from apps.agents.models import Access, AgentRun, Conversation, RunStatus, ToolCall, ToolCallStatus
from apps.agents.tests.factories import agent_create, conversation_for, user_create
from apps.knowbase.tests.factories import document_create
from modules.llm.testing import OpenAIStandIn

Send = Callable[..., AgentRun]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    """The output and the one-line error of a command that exits non-zero."""
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=out, stderr=StringIO())
    assert raised.value.returncode == 1
    return out.getvalue(), str(raised.value)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def root(db: Any) -> Any:
    return get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")


# --- agent_run ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_agent_run_prints_the_streamed_answer_and_the_usage(chat: OpenAIStandIn, root: Any) -> None:
    agent_create("gardener", access=Access.STAFF)
    chat.reply("Water the tomatoes at the base in the morning.", usage=(30, 9))

    output = run("agent_run", "gardener", "How do I water tomatoes?")

    assert output.startswith("Water the tomatoes at the base in the morning.\n")
    run_ = AgentRun.objects.get()
    assert (run_.owner, run_.status, run_.input) == (root, RunStatus.SUCCEEDED, "How do I water tomatoes?")
    assert f"Run #{run_.pk} succeeded: 30 tokens in, 9 out, 1 request(s), 0 tool call(s)" in flat(output)
    assert Conversation.objects.get().title == "How do I water tomatoes?"


class TimedOutput(StringIO):
    """Output that notes when each piece was written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.time(), text))
        return super().write(text)

    def written_at(self, start: str) -> float:
        return next(at for at, text in self.writes if text.startswith(start))


@pytest.mark.django_db(transaction=True)
def test_agent_run_prints_each_tool_call_and_result_as_it_happens(chat: OpenAIStandIn, root: Any) -> None:
    ada = user_create("ada@example.com")
    document_create(owner=ada)
    agent_create("gardener", toolsets=["knowbase"])
    chat.reply("Let me look.", tool_calls=[("search_documents", {"query": "tomato watering"})])
    chat.reply("At the base, in the morning.")
    chat.delay(0)
    chat.delay(1)  # the second request, after the tool: the model takes a second to answer
    out = TimedOutput()

    call_command("agent_run", "gardener", "How do I water tomatoes?", "--user", "ADA@example.com", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "Let me look."
    assert lines[1] == '→ search_documents({"query": "tomato watering"})'
    assert lines[2].startswith("← search_documents: success · ") and "Tomatoes need full sun" in lines[2]
    assert lines[3] == "At the base, in the morning."
    finished = AgentRun.objects.get()
    assert (finished.owner, finished.status) == (ada, RunStatus.SUCCEEDED)
    assert ToolCall.objects.get().status == ToolCallStatus.SUCCEEDED
    # Printed while the run went on, not after it: the tool's lines came before the model's second answer.
    assert finished.finished_at is not None
    assert out.written_at("← search_documents") < finished.finished_at.timestamp() - 0.5


@pytest.mark.django_db(transaction=True)
def test_agent_run_says_which_calls_wait_for_approval_and_how_to_approve_them(chat: OpenAIStandIn, root: Any) -> None:
    document = document_create(owner=root)
    agent_create("keeper", toolsets=["knowbase"])
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})])

    output = flat(run("agent_run", "keeper", "Process my notes again"))

    call = ToolCall.objects.get(status=ToolCallStatus.AWAITING_APPROVAL)
    assert f'→ reprocess_document({{"document_id": {document.pk}}})' in output
    assert f"needs approval (tool call #{call.pk})" in output
    assert f"waits for a staff decision on: tool call #{call.pk}: reprocess_document" in output
    assert f"Approve or deny in the admin: {settings.SITE_URL}/admin/agents/pendingapproval/" in output
    assert f"or with the API (staff): POST {settings.SITE_URL}/api/agents/tool-calls/{call.pk}/approve/" in output
    assert AgentRun.objects.get().status == RunStatus.WAITING_FOR_APPROVAL


@pytest.mark.django_db(transaction=True)
def test_agent_run_continues_a_conversation(chat: OpenAIStandIn, root: Any) -> None:
    agent = agent_create("gardener")
    conversation = conversation_for(root, agent)
    chat.reply("Tomatoes like sun.")
    run("agent_run", "gardener", "What do tomatoes like?", "--conversation", str(conversation.pk))
    chat.reply("Six hours a day.")

    output = run("agent_run", "gardener", "How much?", "--conversation", str(conversation.pk))

    assert output.startswith("Six hours a day.")
    assert Conversation.objects.count() == 1 and conversation.runs.count() == 2
    sent = [message.get("content") for message in chat.chat_requests[-1].body["messages"]]
    assert "What do tomatoes like?" in sent and "Tomatoes like sun." in sent


@pytest.mark.django_db(transaction=True)
def test_agent_run_follows_a_run_that_a_worker_executes(chat: OpenAIStandIn, root: Any, settings: Any) -> None:
    """With a task queue the message only queues the run: the command follows its events while a worker (here a
    thread calling the task's body) runs it."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    agent_create("gardener")
    chat.reply("Done by the worker.")

    def worker() -> None:
        try:
            for _ in range(100):
                queued = AgentRun.objects.filter(status=RunStatus.QUEUED).values_list("pk", flat=True).first()
                if queued:
                    time.sleep(0.3)  # the command is following by now
                    run_execute(run_id=queued)
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    output = run("agent_run", "gardener", "Hello")
    thread.join()

    assert output.startswith("Done by the worker.\n")
    assert AgentRun.objects.get().status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_agent_run_gives_up_waiting_for_a_worker_after_wait_seconds(chat: OpenAIStandIn, root: Any) -> None:
    # In the test's transaction the run's task, queued on commit, never runs: as with no worker.
    agent_create("gardener")

    _, error = run_failing("agent_run", "gardener", "Hello", "--wait", "0.3")

    queued = AgentRun.objects.get()
    assert queued.status == RunStatus.QUEUED
    assert error == (
        f"run #{queued.pk} has not finished after 0.3 s; it goes on: follow it at "
        f"{settings.SITE_URL}/admin/agents/agentrun/{queued.pk}/change/"
    )


@pytest.mark.django_db(transaction=True)
def test_agent_run_exits_non_zero_when_the_run_fails(chat: OpenAIStandIn, root: Any) -> None:
    agent_create("gardener")
    chat.fail(500, "the model is on fire")

    _, error = run_failing("agent_run", "gardener", "Hello")

    failed = AgentRun.objects.get()
    assert failed.status == RunStatus.FAILED
    assert error.startswith(f"run #{failed.pk} failed (provider_error): ")
    assert "the model is on fire" in error


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_cancels_the_run_and_exits_non_zero(chat: OpenAIStandIn, root: Any) -> None:
    agent_create("gardener")
    chat.delay(5)  # the model takes its time; Ctrl-C comes first
    interrupt = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    interrupt.start()
    handler = signal.getsignal(signal.SIGINT)

    output, error = run_failing("agent_run", "gardener", "Hello")

    interrupt.join()
    cancelled = AgentRun.objects.get()
    assert cancelled.status == RunStatus.CANCELLED
    assert error == f"run #{cancelled.pk} was cancelled"
    assert "Interrupted: cancelling the run" in output
    assert signal.getsignal(signal.SIGINT) is handler  # put back


@pytest.mark.django_db
def test_agent_run_refuses_when_no_chat_model_is_configured_and_leaves_nothing(root: Any, settings: Any) -> None:
    settings.LLM = {}
    agent_create("gardener")

    _, error = run_failing("agent_run", "gardener", "Hello")

    assert error.startswith("No chat model is configured, so agents cannot run: set LLM__CHAT_PROVIDER=openai")
    assert not Conversation.objects.exists() and not AgentRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nobody", "Hi"], "no agent named 'nobody' (the agents are: gardener, off)"),
        (["off", "Hi"], "the agent 'off' is switched off"),
        (["gardener", "Hi", "--user", "eve@example.com"], "eve@example.com may not run the agent 'gardener'"),
        (["gardener", "Hi", "--user", "nobody@example.com"], "no user with the email address 'nobody@example.com'"),
        (["gardener", "   "], "the prompt is empty"),
        (["gardener", "Hi", "--conversation", "999"], "no conversation #999 of root@example.com"),
    ],
)
def test_agent_run_refuses_with_one_clear_line(
    chat: OpenAIStandIn, root: Any, arguments: list[str], message: str
) -> None:
    user_create("eve@example.com")
    agent_create("gardener", access=Access.STAFF)
    agent_create("off", is_active=False)

    _, error = run_failing("agent_run", *arguments)

    assert message in error and "\n" not in error
    assert not AgentRun.objects.exists()


@pytest.mark.django_db
def test_agent_run_refuses_a_conversation_with_another_agent(chat: OpenAIStandIn, root: Any) -> None:
    agent_create("gardener")
    conversation = conversation_for(root, agent_create("cook"))

    _, error = run_failing("agent_run", "gardener", "Hi", "--conversation", str(conversation.pk))

    assert error == f"conversation #{conversation.pk} is with the agent 'cook', not 'gardener'"


@pytest.mark.django_db
def test_agent_run_needs_a_superuser_when_no_user_is_named(chat: OpenAIStandIn) -> None:
    agent_create("gardener")

    _, error = run_failing("agent_run", "gardener", "Hi")

    assert error.startswith("no active superuser to run the agent as: create one")


# --- agent_stats ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_agent_stats_prints_runs_tokens_cost_durations_tools_and_pending_approvals(
    chat: OpenAIStandIn, send: Send, settings: Any
) -> None:
    ada = user_create("ada@example.com")
    document = document_create(owner=ada)
    agent = agent_create("gardener", toolsets=["knowbase"])
    agent_create("idle")
    chat.reply(tool_calls=[("search_documents", {"query": "tomatoes"})], usage=(10, 2))
    chat.reply("At the base.", usage=(20, 4))
    send(conversation_for(ada, agent), "How do I water tomatoes?")
    chat.fail(500, "down")
    send(conversation_for(ada, agent), "Hello")
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})], usage=(5, 1))
    send(conversation_for(ada, agent), "Reprocess my notes")
    AgentRun.objects.filter(status=RunStatus.SUCCEEDED).update(cost="0.0123", duration_ms=1500)
    AgentRun.objects.filter(status=RunStatus.FAILED).update(duration_ms=500)

    output = flat(run("agent_stats", "--days", "7"))

    assert "Runs in the last 7 days" in output
    # runs: all, queued, running, waiting, succeeded, failed, cancelled; tokens in and out, cost, the average
    # duration of the finished runs, the tool calls they ran, the calls waiting for approval
    assert "│ gardener │ 3 │ 0 │ 0 │ 1 │ 1 │ 1 │ 0 │ 35 │ 7 │ $0.0123 │ 1.0 s │ 1 │ 1 │" in output
    assert "idle" not in output  # no runs
    assert "Tool calls in the last 7 days" in output
    assert "│ gardener │ search_documents │ 1 │ 0 │ 0 │" in output
    assert "│ gardener │ reprocess_document │ 1 │ 0 │ 0 │ — │" in output
    assert "1 tool call(s) wait for a staff decision" in output


@pytest.mark.django_db
def test_agent_stats_with_no_runs_and_its_refusals() -> None:
    output = flat(run("agent_stats"))
    assert "Runs in the last 30 days" in output and "(no runs)" in output and "(no tool calls)" in output
    assert run_failing("agent_stats", "--days", "0")[1] == "--days must be 1 or more"
    assert run_failing("agent_stats", "--agent", "nobody")[1] == "no agent named 'nobody'"
