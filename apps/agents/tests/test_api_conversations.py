"""The conversations API: starting one, listing and reading them with their history, deleting, and sending a
message (a run), and who may."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.agents import services
from apps.agents.api.conversations import message_body_limit
from apps.agents.models import Access, AgentRun, Conversation, RunEvent, ToolCall
from apps.agents.tests.factories import agent_create, conversation_for
from apps.knowbase.tests.factories import document_create
from modules.llm.testing import OpenAIStandIn

pytestmark = pytest.mark.django_db

CONVERSATIONS = reverse("agents:conversations")
Send = Callable[..., AgentRun]


def conversation_url(conversation: Conversation, name: str = "conversation") -> str:
    return reverse(f"agents:{name}", args=[conversation.pk])


def message(client: APIClient, conversation: Conversation, text: Any = "How do I water tomatoes?") -> Any:
    return client.post(conversation_url(conversation, "conversation-messages"), {"text": text}, format="json")


# Who may.


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "conversations"),
        ("post", "conversations"),
        ("get", "conversation"),
        ("delete", "conversation"),
        ("post", "conversation-messages"),
    ],
)
def test_every_conversations_endpoint_needs_a_signed_in_user(ada, method, name):
    conversation = conversation_for(ada, agent_create())
    path = reverse(f"agents:{name}", args=[] if name == "conversations" else [conversation.pk])
    response = getattr(APIClient(), method)(path, {"agent": "helper", "text": "Hello"}, format="json")
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_another_users_conversation_is_not_found_anywhere_even_by_staff(ada, eve_api, staff_api, chat):
    conversation = conversation_for(ada, agent_create(), title="Ada's garden")
    for client in (eve_api, staff_api):
        for method, path, body in [
            ("get", conversation_url(conversation), None),
            ("delete", conversation_url(conversation), None),
            ("post", conversation_url(conversation, "conversation-messages"), {"text": "Tell me her secrets"}),
        ]:
            response = getattr(client, method)(path, body, format="json")
            assert response.status_code == 404, (method, path)
            assert response.json()["detail"] == "No conversation with this id (or it is another user's)."
        assert client.get(CONVERSATIONS).json()["count"] == 0
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not AgentRun.objects.exists() and chat.chat_requests == []


# Starting one.


def test_a_conversation_is_started_with_an_agent_the_user_may_run(ada, ada_api):
    agent_create("gardener")

    response = ada_api.post(CONVERSATIONS, {"agent": "gardener", "title": "  Tomatoes  "}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    conversation = Conversation.objects.get(pk=body["id"])
    assert conversation.owner == ada and conversation.agent.name == "gardener"
    assert body["agent"] == "gardener" and body["title"] == "Tomatoes" and body["runs"] == []
    assert set(body) == {"id", "agent", "title", "created_at", "updated_at", "runs"}


@pytest.mark.parametrize("name", ["staff-only", "switched-off", "for-a-group", "no-such-agent"])
def test_an_agent_the_user_may_not_run_is_not_found(ada_api, name):
    agent_create("staff-only", access=Access.STAFF)
    agent_create("switched-off", is_active=False)
    agent_create("for-a-group", access=Access.GROUPS)

    response = ada_api.post(CONVERSATIONS, {"agent": name}, format="json")

    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "agent_not_found" and body["agent"] == ["No such agent."]
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "agent", "This field is required."),
        ({"agent": ""}, "agent", "This field may not be blank."),
        (
            {"agent": "no spaces!"},
            "agent",
            'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.',
        ),
        (
            {"agent": ["helper"]},
            "agent",
            'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.',
        ),
        ({"agent": "helper", "title": "t" * 201}, "title", "Ensure this field has no more than 200 characters."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(ada_api, payload, field, message):
    agent_create()
    response = ada_api.post(CONVERSATIONS, payload, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert response.json()["error_code"] == "invalid"
    assert not Conversation.objects.exists()


def test_a_body_that_is_not_json_is_a_400(ada_api):
    response = ada_api.generic("POST", CONVERSATIONS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "parse_error"


# Listing and reading.


def test_the_list_holds_the_users_own_conversations_latest_first(ada, eve, ada_api):
    agent = agent_create()
    first = conversation_for(ada, agent, title="First")
    second = conversation_for(ada, agent, title="Second")
    conversation_for(eve, agent, title="Eve's")

    body = ada_api.get(CONVERSATIONS).json()

    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [second.pk, first.pk]
    assert body["results"][0] == {
        "id": second.pk,
        "agent": "helper",
        "title": "Second",
        "created_at": body["results"][0]["created_at"],
        "updated_at": body["results"][0]["updated_at"],
    }
    assert ada_api.get(CONVERSATIONS, {"page_size": 1}).json()["next"]


def test_the_list_takes_a_fixed_number_of_queries(ada, ada_api, django_assert_max_num_queries):
    for number in range(6):
        conversation_for(ada, agent_create(f"agent-{number}"))
    # The user (JWT), the last-activity stamp, the count, the page with its agents: as many for 6 as for 1.
    with django_assert_max_num_queries(4):
        assert ada_api.get(CONVERSATIONS).json()["count"] == 6


def test_a_conversation_is_read_with_its_history_and_tool_calls(
    ada, ada_api, chat: OpenAIStandIn, send: Send, django_assert_max_num_queries
):
    document_create(owner=ada)
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply(tool_calls=[("search_documents", {"query": "watering tomatoes", "limit": 2})], usage=(40, 8))
    chat.reply("Water them at the base.", usage=(60, 6))
    first = send(conversation, "How do I water tomatoes?")
    chat.reply("In the morning.", usage=(70, 4))
    second = send(conversation, "When?")

    with django_assert_max_num_queries(6):  # the user, the stamp, the conversation, its runs, their tool calls
        response = ada_api.get(conversation_url(conversation))

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "How do I water tomatoes?"  # the first message's start
    assert [run["id"] for run in body["runs"]] == [first.pk, second.pk]
    run = body["runs"][0]
    assert run["status"] == "succeeded" and run["input"] == "How do I water tomatoes?"
    assert run["output"] == "Water them at the base." and run["error_code"] == "" and run["error"] == ""
    assert run["usage"] == {
        "input_tokens": 100,
        "output_tokens": 14,
        "total_tokens": 114,
        "requests": 2,
        "tool_calls": 1,
        "cost": None,
        "duration_ms": first.duration_ms,
    }
    [call] = run["tool_calls"]
    assert call["tool"] == "search_documents" and call["toolset"] == "knowbase"
    assert call["arguments"] == {"query": "watering tomatoes", "limit": 2}
    assert call["status"] == "succeeded" and call["result"] and call["requires_approval"] is False
    assert call["decision"] == "" and call["decided_by"] is None
    assert body["runs"][1]["output"] == "In the morning." and body["runs"][1]["tool_calls"] == []
    assert "messages" not in run  # the model's raw history stays on the server


# Deleting.


def test_the_owner_deletes_a_conversation_with_its_runs(ada, ada_api, chat: OpenAIStandIn, send: Send):
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply(tool_calls=[("search_documents", {"query": "roses"})])
    chat.reply("Prune in late winter.")
    run = send(conversation, "When do I prune roses?")

    response = ada_api.delete(conversation_url(conversation))

    assert response.status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not AgentRun.objects.filter(pk=run.pk).exists()
    assert not ToolCall.objects.exists() and not RunEvent.objects.exists()
    assert ada_api.get(conversation_url(conversation)).status_code == 404


def test_a_conversation_with_an_active_run_is_not_deleted(ada, ada_api, chat: OpenAIStandIn):
    conversation = conversation_for(ada, agent_create())
    run = services.message_post(conversation=conversation, text="Hello")  # queued: its task runs on commit

    response = ada_api.delete(conversation_url(conversation))

    assert response.status_code == 409
    assert response.json()["error_code"] == "conversation_busy"
    assert "cancel it" in response.json()["detail"]
    services.run_cancel(run=run)
    assert ada_api.delete(conversation_url(conversation)).status_code == 204


# Messages.


@pytest.mark.django_db(transaction=True)
def test_a_message_starts_a_run_that_answers(ada, ada_api, chat: OpenAIStandIn):
    """Committed for real, as in production: the run is queued when the service's transaction commits, and the
    immediate backend runs it then, before the view answers."""
    conversation = conversation_for(ada, agent_create())
    chat.reply("Water them at the base in the morning.", usage=(30, 8))

    response = message(ada_api, conversation)

    assert response.status_code == 202, response.json()
    body = response.json()
    run = AgentRun.objects.get(pk=body["id"])
    assert run.conversation == conversation and run.owner == ada
    # The immediate backend ran it before the answer was made.
    assert body["status"] == "succeeded" and body["output"] == "Water them at the base in the morning."
    assert body["conversation"] == conversation.pk and body["agent"] == "helper"
    assert body["usage"]["input_tokens"] == 30 and body["usage"]["output_tokens"] == 8


def test_a_message_is_queued_when_no_worker_has_run_it_yet(ada, ada_api, chat: OpenAIStandIn):
    conversation = conversation_for(ada, agent_create())
    response = message(ada_api, conversation)  # the test's transaction never commits: the task is not run
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["output"] is None
    busy = message(ada_api, conversation, "And roses?")
    assert busy.status_code == 409 and busy.json()["error_code"] == "conversation_busy"
    assert AgentRun.objects.count() == 1


def test_without_a_chat_model_a_message_is_refused_naming_the_settings(ada, ada_api, settings):
    assert settings.LLM["CHAT_PROVIDER"] == "none"  # the default
    conversation = conversation_for(ada, agent_create())

    response = message(ada_api, conversation)

    assert response.status_code == 503
    body = response.json()
    assert body["error_code"] == "chat_not_configured"
    assert "LLM__CHAT_PROVIDER" in body["detail"] and "LLM__BASE_URL" in body["detail"]
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    ("payload", "message_"),
    [
        ({}, "This field is required."),
        ({"text": "   "}, "This field may not be blank."),
        ({"text": None}, "This field may not be null."),
        ({"text": ["Hello"]}, "Not a valid string."),
    ],
)
def test_a_bad_message_is_a_400_naming_the_field(ada, ada_api, chat: OpenAIStandIn, payload, message_):
    conversation = conversation_for(ada, agent_create())
    response = ada_api.post(conversation_url(conversation, "conversation-messages"), payload, format="json")
    assert response.status_code == 400
    assert response.json()["text"] == [message_]
    assert not AgentRun.objects.exists()


def test_a_message_over_the_limit_is_refused_by_its_length(ada, ada_api, chat: OpenAIStandIn, settings):
    settings.AGENTS = {**settings.AGENTS, "MAX_PROMPT_CHARS": 100}
    conversation = conversation_for(ada, agent_create())

    response = message(ada_api, conversation, "x" * 101)

    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "prompt_too_long"
    assert body["text"] == ["The message has 101 characters; the most is 100."]
    assert not AgentRun.objects.exists()
    assert message(ada_api, conversation, "x" * 100).status_code == 202


def test_a_large_body_is_refused_unread(ada, ada_api, chat: OpenAIStandIn):
    conversation = conversation_for(ada, agent_create())
    response = message(ada_api, conversation, "x" * 200_000)
    assert response.status_code == 413
    assert response.json()["error_code"] == "payload_too_large"
    assert not AgentRun.objects.exists()


def test_a_message_of_the_most_emoji_fits_the_body_limit_in_ascii_escaped_json(ada, ada_api, chat, settings):
    """JSON with ASCII escapes (Python's json.dumps, many clients) writes an emoji as a surrogate pair, 12 bytes:
    a message of MAX_PROMPT_CHARS of them must still reach the service, which counts characters."""
    assert settings.AGENTS["MAX_PROMPT_CHARS"] == 8000  # the default
    conversation = conversation_for(ada, agent_create())
    url = conversation_url(conversation, "conversation-messages")
    body = json.dumps({"text": "\N{GRINNING FACE}" * 8000})  # ensure_ascii: "\ud83d\ude00" each
    assert len(body.encode()) == 8000 * 12 + len('{"text": ""}')

    response = ada_api.post(url, body, content_type="application/json")

    assert response.status_code == 202, response.content
    assert AgentRun.objects.get().input == "\N{GRINNING FACE}" * 8000
    # One more emoji: within the body limit still, so the service says what is wrong.
    services.run_cancel(run=AgentRun.objects.get())
    longer = ada_api.post(url, json.dumps({"text": "\N{GRINNING FACE}" * 8001}), content_type="application/json")
    assert longer.status_code == 400 and longer.json()["error_code"] == "prompt_too_long"
    # A body past the limit is refused unread, however it is written.
    padding = " " * (message_body_limit() - len(body.encode()) + 1)
    too_large = ada_api.post(url, body[:-1] + padding + "}", content_type="application/json")
    assert too_large.status_code == 413 and too_large.json()["error_code"] == "payload_too_large"


def test_messages_are_throttled_per_user(ada, eve, ada_api, eve_api, chat: OpenAIStandIn, settings):
    settings.AGENTS = {**settings.AGENTS, "THROTTLE_RATES": {"agents_message": "1/minute"}}
    agent = agent_create()
    ours, theirs = conversation_for(ada, agent), conversation_for(eve, agent)
    assert message(ada_api, ours).status_code == 202

    refused = message(ada_api, ours, "Again")

    assert refused.status_code == 429 and refused.json()["error_code"] == "throttled"
    assert message(eve_api, theirs).status_code == 202
    assert AgentRun.objects.count() == 2
