"""The ask API: answers whose citations are real chunks, generated (a local OpenAI stand-in), extractive or none, as
JSON or as Server-Sent Events, under WSGI and under ASGI."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.knowbase.models import Chunk, Visibility
from apps.knowbase.tests.factories import KETTLE, document_create, user_create
from config.asgi import application
from modules.api.testing import (  # noqa: F401  (a fixture)
    AsgiClient,
    _connections_closed_after_each_request,
    sse_parse,
)
from modules.llm.testing import OpenAIStandIn, openai_stand_in, stand_in_settings

pytestmark = pytest.mark.django_db

ASK = reverse("knowbase:ask")
QUESTION = "How should I water tomatoes?"
UNRELATED = "What is the airspeed velocity of an unladen swallow?"


@pytest.fixture
def chat(settings: Any) -> Iterator[OpenAIStandIn]:
    """Chat from the local OpenAI stand-in; embeddings stay the builtin ones the documents were stored with."""
    with openai_stand_in() as stand_in:
        settings.LLM = stand_in_settings(stand_in, embedding_provider="builtin", max_retries=0)
        yield stand_in


def ask(client: APIClient, question: str = QUESTION, **fields: Any) -> dict[str, Any]:
    response = client.post(ASK, {"question": question, **fields}, format="json")
    assert response.status_code == 200, response.json()
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def events_of(content: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Server-Sent Events as (event, data) pairs; each event is `event:` and `data:` lines and a blank line."""
    parsed = sse_parse(content)
    for item in parsed:
        assert set(item) == {"event", "data"}, item
    return [(item["event"], item["data"]) for item in parsed]


def stream(client: APIClient, question: str = QUESTION, **fields: Any) -> tuple[Any, list[tuple[str, Any]]]:
    response: Any = client.post(ASK, {"question": question, **fields}, format="json", HTTP_ACCEPT="text/event-stream")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, events_of(content)


def prompt_of(chat: OpenAIStandIn) -> str:
    [request] = chat.chat_requests
    return str(request.body["messages"][-1]["content"])


def test_asking_needs_a_signed_in_user():
    assert APIClient().post(ASK, {"question": QUESTION}, format="json").status_code == 401
    response = APIClient().post(ASK, {"question": QUESTION}, format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 401
    assert events_of(response.content)[0][0] == "error"


def test_a_generated_answer_cites_real_chunks_and_loses_invented_numbers(ada, ada_api, chat):
    document_create(owner=ada)
    document_create(owner=ada, text=KETTLE)
    chat.reply("Water tomatoes at the base in the morning [1]. Stake them early [1][9].", usage=(120, 18))

    body = ask(ada_api)

    assert body["mode"] == "generated" and body["model"] == "openai:gpt-test"
    assert body["answer"] == "Water tomatoes at the base in the morning [1]. Stake them early [1]."
    [citation] = body["citations"]
    chunk = Chunk.objects.select_related("document").get(pk=citation["chunk_id"])
    assert citation["number"] == 1 and citation["document_id"] == chunk.document_id
    assert citation["document_title"] == chunk.document.title == "Garden notes"
    assert (citation["heading"], citation["char_start"], citation["char_end"]) == (
        chunk.heading,
        chunk.char_start,
        chunk.char_end,
    )
    assert "watering" in citation["excerpt"]
    # Passage [1] of the prompt is that chunk: the number maps to what the model was shown.
    prompt = prompt_of(chat)
    assert f"[1] Garden notes > {chunk.heading}\n{chunk.text}" in prompt
    assert "[9]" not in prompt
    assert body["usage"] == {"input_tokens": 120, "output_tokens": 18, "cost": None}


def test_without_a_chat_model_the_answer_is_extractive_and_labelled(ada, ada_api):
    document_create(owner=ada)
    body = ask(ada_api)
    assert body["mode"] == "extractive" and body["model"] == "" and body["usage"] is None
    assert body["citations"]
    for citation in body["citations"]:
        chunk = Chunk.objects.get(pk=citation["chunk_id"])
        assert chunk.document.owner == ada
        assert f"[{citation['number']}]" in body["answer"]
    assert "water" in body["answer"].lower()


def test_nothing_relevant_is_no_answer(ada, ada_api, chat):
    document_create(owner=ada)
    body = ask(ada_api, UNRELATED)
    assert body == {
        "answer": "The knowledge base holds nothing that answers this question.",
        "mode": "no_answer",
        "model": "",
        "citations": [],
        "usage": None,
    }
    assert chat.chat_requests == []  # no model call for nothing


def test_answers_use_only_what_the_user_may_see(ada, eve_api, staff_api, chat):
    private = document_create(owner=ada)
    assert ask(eve_api)["mode"] == "no_answer"
    assert ask(eve_api, document_ids=[private.pk])["mode"] == "no_answer"
    chat.reply("At the base [1].")
    staff = ask(staff_api)
    assert staff["mode"] == "generated"
    assert {citation["document_id"] for citation in staff["citations"]} == {private.pk}
    public = document_create(owner=ada, text=KETTLE, visibility=Visibility.PUBLIC)
    chat.reply("Vinegar and water [1].")
    assert [c["document_id"] for c in ask(eve_api, "How do I descale the kettle?")["citations"]] == [public.pk]


def test_the_stream_sends_passages_deltas_the_answer_and_done(ada, ada_api, chat):
    document_create(owner=ada)
    chat.reply("Water at the base [1] and never [7].", usage=(90, 9))

    response, events = stream(ada_api)

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-2:] == ["answer", "done"]
    assert set(names[1:-2]) == {"delta"} and len(names[1:-2]) > 1
    passages = events[0][1]["passages"]
    assert [passage["number"] for passage in passages] == list(range(1, len(passages) + 1))
    assert all(Chunk.objects.filter(pk=passage["chunk_id"]).exists() for passage in passages)
    assert "".join(data["text"] for name, data in events if name == "delta") == "Water at the base [1] and never [7]."
    answer = events[-2][1]
    assert answer["answer"] == "Water at the base [1] and never." and answer["mode"] == "generated"
    assert [citation["chunk_id"] for citation in answer["citations"]] == [passages[0]["chunk_id"]]
    assert events[-1] == (
        "done",
        {"mode": "generated", "usage": {"input_tokens": 90, "output_tokens": 9, "cost": None}},
    )


def test_the_stream_without_a_chat_model_sends_the_extractive_answer(ada, ada_api):
    document_create(owner=ada)
    _, events = stream(ada_api)
    assert [name for name, _ in events] == ["passages", "answer", "done"]
    assert events[1][1]["mode"] == "extractive" and events[1][1]["citations"]
    assert events[2] == ("done", {"mode": "extractive", "usage": None})
    _, events = stream(ada_api, UNRELATED)
    assert events == [
        ("passages", {"passages": []}),
        ("answer", {**events[1][1], "mode": "no_answer", "citations": []}),
        ("done", {"mode": "no_answer", "usage": None}),
    ]


def test_a_provider_failure_mid_stream_ends_it_with_an_error_event(ada, ada_api, chat):
    document_create(owner=ada)
    chat.fail(500, "the model crashed")
    response, events = stream(ada_api)
    assert response.status_code == 200  # the status line was sent with the passages
    assert [name for name, _ in events] == ["passages", "error"]
    error = events[1][1]
    assert error["error_code"].startswith("llm_") and error["detail"]
    # As JSON, the same failure answers its own status.
    chat.fail(500, "the model crashed")
    response = ada_api.post(ASK, {"question": QUESTION}, format="json")
    assert response.status_code == 502 and response.json()["error_code"] == error["error_code"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "question", "This field is required."),
        ({"question": " "}, "question", "This field may not be blank."),
        ({"question": "x" * 1001}, "question", "Ensure this field has no more than 1000 characters."),
        (
            {"question": "q", "document_ids": list(range(1, 102))},
            "document_ids",
            "Ensure this field has no more than 100 elements.",
        ),
        ({"question": "q", "category": "kitchen"}, "category", "Incorrect type. Expected pk value, received str."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(ada_api, payload, field, message):
    response = ada_api.post(ASK, payload, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [message]
    # Asked for events, the same error comes as one `error` event under the same status.
    response = ada_api.post(ASK, payload, format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    [(name, data)] = events_of(response.content)
    assert name == "error" and data[field] == [message]


def test_questions_are_throttled_per_user(ada, ada_api, eve_api, settings):
    rates = {**settings.KNOWBASE["THROTTLE_RATES"], "knowbase_ask": "1/minute"}
    settings.KNOWBASE = {**settings.KNOWBASE, "THROTTLE_RATES": rates}
    assert ada_api.post(ASK, {"question": QUESTION}, format="json").status_code == 200
    refused = ada_api.post(ASK, {"question": QUESTION}, format="json")
    assert refused.status_code == 429 and refused.json()["error_code"] == "throttled"
    assert eve_api.post(ASK, {"question": QUESTION}, format="json").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_connections_closed_after_each_request")
def test_under_asgi_events_leave_as_the_model_writes_them(chat):
    """Django's ASGI handler reads a synchronous iterator to its end before sending any of it (with a warning):
    the answer must stream from an asynchronous one. The passages leave before the model is even asked."""
    ada = user_create("ada@example.com")
    document_create(owner=ada)
    chat.reply("Water at the base [1].")
    token = str(RefreshToken.for_user(ada).access_token)
    client = AsgiClient(
        application,
        [
            (b"content-type", b"application/json"),
            (b"accept", b"text/event-stream"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.post(ASK, json.dumps({"question": QUESTION}).encode())

    assert not [warning for warning in caught if "synchronous iterators" in str(warning.message)]
    assert client.start["type"] == "http.response.start" and client.start["status"] == 200
    headers = client.response_headers
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"x-accel-buffering"] == b"no"
    events = events_of(client.content)
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-2:] == ["answer", "done"]
    assert len(client.bodies) == len(events)  # one message per event
    [request] = chat.chat_requests
    assert client.bodies[0][0] < request.at  # the passages were sent before the model was asked: nothing was buffered
    assert events[-2][1]["answer"] == "Water at the base [1]."
