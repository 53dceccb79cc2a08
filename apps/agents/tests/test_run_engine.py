"""Running an agent against the local OpenAI stand-in: the answer, its usage and events, and each way a run ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.agents import services
from apps.agents.engine import run_execute
from apps.agents.exceptions import ConversationBusy
from apps.agents.models import AgentRun, RunStatus
from apps.agents.tests.factories import agent_create, conversation_for, run_refresh, user_create
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
