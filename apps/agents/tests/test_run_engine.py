"""Running an agent against the local OpenAI stand-in: the answer, its usage and events, and each way a run ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.agents import services
from apps.agents.engine import run_execute
from apps.agents.exceptions import AgentNoLongerAvailable, ConversationBusy
from apps.agents.models import Access, AgentDefinition, AgentRun, RunStatus
from apps.agents.tests.factories import agent_create, approver_create, conversation_for, run_refresh, user_create
from apps.knowbase.tests.factories import KETTLE, document_create
from modules.llm.exceptions import ChatNotConfigured
from modules.llm.models import LlmCall
from modules.llm.testing import OpenAIStandIn, stand_in_settings

pytestmark = pytest.mark.django_db

Send = Callable[..., AgentRun]


def kinds(run: AgentRun) -> list[str]:
    return [event.kind for event in run.events.order_by("seq")]


def test_a_message_runs_the_agent_and_records_the_answer_with_its_usage(chat: OpenAIStandIn, send: Send) -> None:
    ada = user_create()
    conversation = conversation_for(ada, agent_create())
    chat.reply("Water tomatoes at the base in the morning.", usage=(30, 9))

    run = send(conversation, "How do I water tomatoes?")

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output == "Water tomatoes at the base in the morning."
    assert (run.input_tokens, run.output_tokens, run.requests, run.tool_calls_count) == (30, 9, 1, 0)
    assert run.messages and run.finished_at is not None
    assert kinds(run)[0:2] == ["status", "status"]
    assert kinds(run)[-2:] == ["result", "status"]
    text = "".join(event.data["delta"] for event in run.events.filter(kind="text").order_by("seq"))
    assert text == "Water tomatoes at the base in the morning."
    assert LlmCall.objects.filter(purpose="agent:helper", ok=True).count() == 1
    request: dict[str, Any] = dict(chat.chat_requests[-1].body)
    assert request["messages"][0]["content"] == "You answer from the user's documents and cite them."


def test_the_next_message_carries_the_conversation_so_far(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create())
    chat.reply("Tomatoes like sun.")
    send(conversation, "What do tomatoes like?")
    chat.reply("Yes, six hours.")

    send(conversation, "How much sun?")

    contents = [message.get("content") for message in chat.chat_requests[-1].body["messages"]]
    assert "What do tomatoes like?" in contents and "Tomatoes like sun." in contents


def test_a_provider_error_fails_the_run_with_the_providers_message(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create())
    chat.fail(500, "the model is on fire")

    run = send(conversation, "Hello")

    assert run.status == RunStatus.FAILED
    assert run.error_code == "provider_error"
    assert "500" in run.error and "the model is on fire" in run.error
    assert kinds(run)[-2:] == ["error", "status"]


def test_a_provider_that_rate_limits_once_is_retried_and_the_run_succeeds(
    chat: OpenAIStandIn, send: Send, settings: Any
) -> None:
    settings.LLM = stand_in_settings(chat, embedding_provider="builtin", max_retries=1, max_retry_after=5)
    conversation = conversation_for(user_create(), agent_create())
    chat.fail(429, retry_after=0)
    chat.reply("Fine now.")

    run = send(conversation, "Hello")

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output == "Fine now."
    assert len(chat.chat_requests) == 2


def test_a_token_limit_stops_the_run_with_a_failure_naming_the_limit(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create(total_tokens_limit=20))
    chat.reply("A long answer.", usage=(30, 9))

    run = send(conversation, "Hello")

    assert run.status == RunStatus.FAILED
    assert run.error_code == "usage_limit"
    assert "tokens" in run.error and "20" in run.error


def test_a_cost_limit_stops_the_run_once_its_cost_goes_over(chat: OpenAIStandIn, send: Send, settings: Any) -> None:
    settings.LLM = stand_in_settings(
        chat, embedding_provider="builtin", max_retries=0, price_input_per_million=100, price_output_per_million=100
    )
    conversation = conversation_for(user_create(), agent_create(cost_limit=Decimal("0.001")))
    chat.reply("Expensive.", usage=(20, 5))

    run = send(conversation, "Hello")

    assert run.status == RunStatus.FAILED
    assert run.error_code == "usage_limit"
    assert run.cost == Decimal("0.0025")
    assert "cost limit of $0.001" in run.error


def test_no_chat_model_refuses_the_message_naming_the_settings_and_starts_no_run(settings: Any) -> None:
    settings.LLM = {}
    conversation = conversation_for(user_create(), agent_create())

    with pytest.raises(ChatNotConfigured) as refused:
        services.message_post(conversation=conversation, text="Hello")

    assert "LLM__CHAT_PROVIDER" in refused.value.message and "LLM__BASE_URL" in refused.value.message
    assert not AgentRun.objects.exists()


def test_a_second_delivery_of_the_task_does_not_run_the_agent_again(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create())
    chat.reply("Once.")
    run = send(conversation, "Hello")

    assert run_execute(run_id=run.pk).startswith("skipped")
    assert len(chat.chat_requests) == 1


def test_a_queued_run_cancelled_before_a_worker_takes_it_never_runs(chat: OpenAIStandIn) -> None:
    conversation = conversation_for(user_create(), agent_create())
    run = services.message_post(conversation=conversation, text="Hello")  # its task is queued on commit: not yet

    services.run_cancel(run=run)

    assert run_execute(run_id=run.pk).startswith("skipped")
    assert run_refresh(run).status == RunStatus.CANCELLED
    assert chat.chat_requests == []


def test_a_conversation_takes_one_run_at_a_time(chat: OpenAIStandIn) -> None:
    conversation = conversation_for(user_create(), agent_create())
    services.message_post(conversation=conversation, text="Hello")

    with pytest.raises(ConversationBusy):
        services.message_post(conversation=conversation, text="Again")


@pytest.mark.django_db(transaction=True)
def test_a_running_run_cancelled_from_elsewhere_stops_before_the_model_answers(chat: OpenAIStandIn) -> None:
    conversation = conversation_for(user_create(), agent_create())
    run = services.message_post(conversation=conversation, text="Hello")  # committed: its task ran inline...
    run = run_refresh(run)
    # ...so start another, slow one by hand: the stand-in answers after 5 s; another thread cancels it.
    run.status, run.messages = RunStatus.QUEUED, []
    run.save()
    chat.delay(5)

    def cancel() -> None:
        services.run_cancel(run=run)
        connection.close()

    canceller = threading.Timer(0.5, cancel)
    canceller.start()

    outcome = run_execute(run_id=run.pk)

    canceller.join()
    # Cancelled while the model was still answering: had it waited for the answer, the run would have succeeded.
    assert outcome.startswith("cancelled")
    run = run_refresh(run)
    assert run.status == RunStatus.CANCELLED
    assert [event.kind for event in run.events.order_by("seq")][-1] == "status"


def test_a_run_left_running_by_a_worker_that_died_is_taken_again_only_once_it_is_stale(
    chat: OpenAIStandIn, settings: Any
) -> None:
    conversation = conversation_for(user_create(), agent_create())
    run = services.message_post(conversation=conversation, text="Hello")  # queued; its task never ran
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, claimed_at=timezone.now())

    assert run_execute(run_id=run.pk).startswith("skipped")  # another worker may still be on it

    lost_at = timezone.now() - timedelta(seconds=settings.AGENTS["RUN_TIMEOUT"] * 2 + 60)
    AgentRun.objects.filter(pk=run.pk).update(claimed_at=lost_at)
    chat.reply("Back again.")

    assert run_execute(run_id=run.pk) == "succeeded"
    assert run_refresh(run).output == "Back again."


def test_nul_characters_from_the_model_are_stored_replaced_and_the_run_ends(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create(toolsets=["knowbase"]))
    chat.reply("", tool_calls=[("search_documents", {"query": "to\x00matoes"})])
    chat.reply("a\x00b")

    run = send(conversation, "Hello")

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output == "a\ufffdb"
    assert run.tool_calls.get().arguments["query"] == "to\ufffdmatoes"
    text = "".join(event.data["delta"] for event in run.events.filter(kind="text"))
    assert text == "a\ufffdb"


def test_a_stream_cut_before_the_model_finished_fails_the_run(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create())
    chat.reply("The answer is forty", stream_end="cut")

    run = send(conversation, "Hello")

    assert run.status == RunStatus.FAILED
    assert run.error_code == "provider_error"
    assert "before the model had finished" in run.error


def test_the_providers_message_never_shows_the_key(chat: OpenAIStandIn, send: Send) -> None:
    conversation = conversation_for(user_create(), agent_create())
    chat.fail(401, "Incorrect API key provided: sk-test*****3456. You can find your key at …")

    run = send(conversation, "Hello")

    assert run.error_code == "provider_error"
    assert "401" in run.error and "Incorrect API key provided: [key]" in run.error
    assert "sk-test" not in run.error


def test_a_call_refused_before_it_ran_is_recorded_with_what_the_model_was_told(chat: OpenAIStandIn, send: Send) -> None:
    ada, eve = user_create(), user_create("eve@example.com")
    others = document_create(owner=eve, text=KETTLE)
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply("", tool_calls=[("reprocess_document", {"document_id": others.pk})])
    chat.reply("I cannot reprocess that document.")

    run = send(conversation, "Reprocess the kettle manual")

    assert run.status == RunStatus.SUCCEEDED
    call = run.tool_calls.get()
    assert (call.tool, call.status, call.arguments) == ("reprocess_document", "failed", {"document_id": others.pk})
    assert f"No document {others.pk} that you may change" in call.error
    [result] = run.events.filter(kind="tool_result")
    assert result.data["outcome"] == "retry"


def test_a_model_that_reuses_an_approved_calls_id_gets_nothing_run_without_approval(
    chat: OpenAIStandIn, send: Send, django_capture_on_commit_callbacks: Any
) -> None:
    ada = user_create()
    document = document_create(owner=ada)
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply("", tool_calls=[("reprocess_document", {"document_id": document.pk}, "X1")])
    run = send(conversation, "Reprocess my notes")
    call = run.tool_calls.get()
    chat.reply("", tool_calls=[("search_documents", {"query": "tomatoes"}, "X1")])  # the approved call's id again

    with django_capture_on_commit_callbacks(execute=True):
        services.tool_call_decide(tool_call=call, by=approver_create(), approve=True)

    run = run_refresh(run)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "model_behavior" and "reused the id 'X1'" in run.error
    assert list(run.tool_calls.values_list("tool", "status")) == [("reprocess_document", "succeeded")]


def test_a_redelivered_task_takes_over_the_run_its_lost_worker_left_running(chat: OpenAIStandIn) -> None:
    conversation = conversation_for(user_create(), agent_create())
    run = services.message_post(conversation=conversation, text="Hello")
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, claimed_at=timezone.now())
    chat.reply("Taken over.")

    assert run_execute(run_id=run.pk, redelivered=True) == "succeeded"
    assert run_refresh(run).output == "Taken over."


def test_a_lost_run_frees_its_conversation_for_the_next_message_and_can_be_cancelled(
    chat: OpenAIStandIn, settings: Any
) -> None:
    conversation = conversation_for(user_create(), agent_create())
    lost = services.message_post(conversation=conversation, text="Hello")
    lost_at = timezone.now() - timedelta(seconds=settings.AGENTS["RUN_TIMEOUT"] * 2 + 60)
    AgentRun.objects.filter(pk=lost.pk).update(status=RunStatus.RUNNING, claimed_at=lost_at)

    assert services.run_cancel(run=lost).status == RunStatus.CANCELLED  # nobody runs it: it ends at once

    AgentRun.objects.filter(pk=lost.pk).update(status=RunStatus.RUNNING, claimed_at=lost_at)
    services.message_post(conversation=conversation, text="Again")

    lost = run_refresh(lost)
    assert (lost.status, lost.error_code) == (RunStatus.FAILED, "lost")


def test_a_conversation_whose_agent_was_closed_to_the_user_says_so(chat: OpenAIStandIn) -> None:
    agent = agent_create()
    conversation = conversation_for(user_create(), agent)
    AgentDefinition.objects.filter(pk=agent.pk).update(access=Access.STAFF)

    with pytest.raises(AgentNoLongerAvailable):
        services.message_post(conversation=conversation, text="Hello")


def test_an_approved_call_whose_tool_is_gone_by_then_is_closed_not_left_waiting(
    chat: OpenAIStandIn, send: Send, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AGENTS = {**settings.AGENTS, "ALLOWED_TASKS": ["apps.tasks.tests.jobs.add"]}
    conversation = conversation_for(user_create(), agent_create(toolsets=["tasks"]))
    chat.reply("", tool_calls=[("enqueue_task", {"task_path": "apps.tasks.tests.jobs.add", "args": [2, 3]})])
    run = send(conversation, "Add two and three")
    call = run.tool_calls.get()
    settings.AGENTS = {**settings.AGENTS, "ALLOWED_TASKS": []}  # the allow-list emptied while the call waited
    chat.reply("The task is no longer allowed.")

    with django_capture_on_commit_callbacks(execute=True):
        services.tool_call_decide(tool_call=call, by=approver_create(), approve=True)

    call.refresh_from_db()
    assert run_refresh(run).status == RunStatus.SUCCEEDED
    assert (call.status, call.decision) == ("failed", "approved") and call.finished_at is not None
    assert "enqueue_task" in call.error
