"""The runs API through the HTTP boundary, against the local OpenAI stand-in: polling a run, what its tools may see,
its usage limits, the provider's failures, and cancelling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.agents.models import AgentRun, Conversation, RunStatus, ToolCall
from apps.agents.tests.factories import agent_create, conversation_for, run_refresh
from apps.knowbase.tests.factories import KETTLE, document_create
from modules.llm.providers import forget_providers
from modules.llm.testing import OpenAIStandIn, stand_in_settings

pytestmark = pytest.mark.django_db

# Words of Eve's private kettle manual that nothing else holds.
KETTLE_WORDS = ("Kettle manual", "white vinegar", "manufacturing faults")


def run_url(run_id: int, name: str = "run") -> str:
    return reverse(f"agents:{name}", args=[run_id])


def post_message(client: APIClient, conversation: Conversation, text: str, capture: Any) -> dict[str, Any]:
    """Send a message through the API and let its task run (the immediate backend, when the request's work would
    commit); the run as GET answers it then."""
    with capture(execute=True):
        response = client.post(
            reverse("agents:conversation-messages", args=[conversation.pk]), {"text": text}, format="json"
        )
    assert response.status_code == 202, response.json()
    run = client.get(run_url(response.json()["id"]))
    assert run.status_code == 200
    body: dict[str, Any] = run.json()
    return body


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


# Who may.


@pytest.mark.parametrize(("method", "name"), [("get", "run"), ("get", "run-events"), ("post", "run-cancel")])
def test_every_runs_endpoint_needs_a_signed_in_user(ada, chat: OpenAIStandIn, send, method, name):
    run = send(conversation_for(ada, agent_create()), "Hello")
    response = getattr(APIClient(), method)(run_url(run.pk, name))
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_another_users_run_is_not_found_even_by_staff(ada, ada_api, eve_api, staff_api, chat: OpenAIStandIn):
    conversation = conversation_for(ada, agent_create())
    queued = ada_api.post(reverse("agents:conversation-messages", args=[conversation.pk]), {"text": "Hi"})
    run_id = queued.json()["id"]
    for client in (eve_api, staff_api):
        for method, name in [("get", "run"), ("get", "run-events"), ("post", "run-cancel")]:
            response = getattr(client, method)(run_url(run_id, name))
            assert response.status_code == 404, (method, name)
            assert response.json()["detail"] == "No run with this id (or it is another user's)."
    assert AgentRun.objects.get(pk=run_id).status == RunStatus.QUEUED  # nobody cancelled it
    assert ada_api.get(run_url(999_999)).status_code == 404


def test_a_run_is_polled_with_its_answer_and_usage(ada, ada_api, chat: OpenAIStandIn, capture):
    conversation = conversation_for(ada, agent_create())
    chat.reply("Water tomatoes at the base.", usage=(25, 5))

    body = post_message(ada_api, conversation, "How do I water tomatoes?", capture)

    run = AgentRun.objects.get(pk=body["id"])
    assert body["status"] == "succeeded" and body["output"] == "Water tomatoes at the base."
    assert body["conversation"] == conversation.pk and body["agent"] == "helper"
    assert body["usage"] == {
        "input_tokens": 25,
        "output_tokens": 5,
        "total_tokens": 30,
        "requests": 1,
        "tool_calls": 0,
        "cost": None,
        "duration_ms": run.duration_ms,
    }
    assert body["error_code"] == "" and body["tool_calls"] == [] and body["cancel_requested"] is False
    assert body["started_at"] and body["finished_at"]


# What a tool may see: only the user's own documents.


def test_a_search_tool_finds_only_the_users_documents_and_the_model_never_sees_another_users(
    ada, eve, ada_api, chat: OpenAIStandIn, capture
):
    garden = document_create(owner=ada)
    kettle = document_create(owner=eve, text=KETTLE)  # private to Eve
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    arguments = {"query": "descale the kettle with vinegar, water the tomatoes", "limit": 10}
    chat.reply(tool_calls=[("search_documents", arguments)])
    chat.reply("Water tomatoes at the base [Garden notes].")

    body = post_message(ada_api, conversation, "What do my notes say about watering?", capture)

    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Water tomatoes at the base [Garden notes]."
    [call] = body["tool_calls"]
    assert call["tool"] == "search_documents" and call["status"] == "succeeded"
    assert call["arguments"] == arguments
    row = ToolCall.objects.get(pk=call["id"])
    assert row.arguments == arguments and row.result == call["result"]
    hits = row.result["hits"] if isinstance(row.result, dict) else row.result  # the toolset's shape: {hits}
    found = {hit["document_id"] for hit in hits}
    assert found == {garden.pk}  # Ada's notes are found; Eve's manual is not
    assert kettle.pk not in found
    # The model was given the result, and nothing of Eve's document was ever sent to it.
    assert len(chat.chat_requests) == 2
    assert "Garden notes" in json.dumps(chat.chat_requests[1].body)
    for request in chat.chat_requests:
        sent = json.dumps(request.body)
        assert not [words for words in KETTLE_WORDS if words in sent]


# Limits and failures.


def test_a_model_that_keeps_calling_tools_is_stopped_by_the_request_limit(ada, ada_api, chat: OpenAIStandIn, capture):
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"], request_limit=1))
    for _ in range(3):
        chat.reply(tool_calls=[("search_documents", {"query": "tomatoes"})])

    body = post_message(ada_api, conversation, "Search forever", capture)

    assert body["status"] == "failed"
    assert body["error_code"] == "usage_limit"
    assert "limit on requests" in body["error"] and "1" in body["error"]
    assert body["usage"]["requests"] == 1
    assert len(chat.chat_requests) == 1


def test_a_provider_that_rate_limits_once_is_retried(ada, ada_api, chat: OpenAIStandIn, capture, settings):
    settings.LLM = stand_in_settings(chat, embedding_provider="builtin", max_retries=1, max_retry_after=5)
    forget_providers()
    conversation = conversation_for(ada, agent_create())
    chat.fail(429, retry_after=0)
    chat.reply("Fine now.")

    body = post_message(ada_api, conversation, "Hello", capture)

    assert body["status"] == "succeeded", body["error"]
    assert body["output"] == "Fine now."
    assert len(chat.chat_requests) == 2


def test_a_provider_that_keeps_failing_fails_the_run(ada, ada_api, chat: OpenAIStandIn, capture, settings):
    settings.LLM = stand_in_settings(chat, embedding_provider="builtin", max_retries=1, max_retry_after=5)
    forget_providers()
    conversation = conversation_for(ada, agent_create())
    chat.fail(500, "the model is on fire", times=5)

    body = post_message(ada_api, conversation, "Hello", capture)

    assert body["status"] == "failed"
    assert body["error_code"] == "provider_error"
    assert "500" in body["error"] and "the model is on fire" in body["error"]
    assert body["output"] is None
    assert len(chat.chat_requests) == 2  # the request and its one retry


# Cancelling.


def test_a_queued_run_cancelled_is_not_run_when_its_task_comes(ada, ada_api, chat: OpenAIStandIn, capture):
    conversation = conversation_for(ada, agent_create())
    with capture() as tasks:  # the task is queued for when the transaction commits: not run yet
        queued = ada_api.post(reverse("agents:conversation-messages", args=[conversation.pk]), {"text": "Hello"})
    assert queued.json()["status"] == "queued"

    response = ada_api.post(run_url(queued.json()["id"], "run-cancel"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["error_code"] == "cancelled" and body["cancel_requested"] is True
    for task in tasks:  # the worker takes the task later: it finds the run cancelled and does nothing
        task()
    run = run_refresh(AgentRun.objects.get(pk=body["id"]))
    assert run.status == RunStatus.CANCELLED and run.started_at is None
    assert chat.chat_requests == []
    statuses = [event.data["status"] for event in run.events.filter(kind="status").order_by("seq")]
    assert statuses == ["queued", "cancelled"]


def test_a_running_run_is_asked_to_stop(ada, ada_api, chat: OpenAIStandIn):
    conversation = conversation_for(ada, agent_create())
    run_id = ada_api.post(reverse("agents:conversation-messages", args=[conversation.pk]), {"text": "Hi"}).json()["id"]
    AgentRun.objects.filter(pk=run_id).update(status=RunStatus.RUNNING, claimed_at=timezone.now())  # a worker holds it

    response = ada_api.post(run_url(run_id, "run-cancel"))

    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


def test_a_finished_run_cannot_be_cancelled(ada, ada_api, chat: OpenAIStandIn, send):
    chat.reply("Done.")
    run = send(conversation_for(ada, agent_create()), "Hello")

    response = ada_api.post(run_url(run.pk, "run-cancel"))

    assert response.status_code == 409
    assert response.json() == {"detail": "The run has already finished.", "error_code": "run_finished"}
    assert run_refresh(run).status == RunStatus.SUCCEEDED
