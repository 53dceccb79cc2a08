"""A run's events through the API: Server-Sent Events in seq order with their ids (and resuming after one), a stream
that waits for a live run, heartbeats and its time limit, the JSON page for pollers, and the stream under ASGI."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.agents import services
from apps.agents.api import stream
from apps.agents.engine import run_execute
from apps.agents.models import AgentRun, Conversation, RunEvent, RunStatus
from apps.agents.tests.factories import agent_create, conversation_for, user_create
from apps.knowbase.tests.factories import document_create
from config.asgi import application
from modules.api.testing import (  # noqa: F401  (a fixture)
    AsgiClient,
    _connections_closed_after_each_request,
    sse_parse,
)
from modules.llm.testing import OpenAIStandIn

pytestmark = pytest.mark.django_db

SSE = "text/event-stream"
ANSWER = "Water tomatoes at the base, early in the morning, so that the leaves stay dry."


def events_url(run: AgentRun | int) -> str:
    return reverse("agents:run-events", args=[run if isinstance(run, int) else run.pk])


def events_only(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in parsed if "event" in item]


def streamed(client: APIClient, run: AgentRun | int, **extra: Any) -> tuple[Any, list[dict[str, Any]]]:
    response: Any = client.get(events_url(run), HTTP_ACCEPT=SSE, **extra)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, sse_parse(content)


@pytest.fixture
def answered(ada: Any, chat: OpenAIStandIn, send: Any) -> AgentRun:
    chat.reply(ANSWER, usage=(40, 16))
    run: AgentRun = send(conversation_for(ada, agent_create()), "How do I water tomatoes?")
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


# A finished run's stream.


def test_the_stream_sends_the_events_in_order_with_their_ids_and_ends(ada_api, answered):
    response, parsed = streamed(ada_api, answered)

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    events = events_only(parsed)
    assert events == parsed  # a finished run: no heartbeat, no time limit
    rows = list(RunEvent.objects.filter(run=answered).order_by("seq"))
    assert [int(event["id"]) for event in events] == [row.seq for row in rows]
    assert [int(event["id"]) for event in events] == sorted({int(event["id"]) for event in events})
    assert [event["event"] for event in events] == [row.kind for row in rows]
    assert [event["data"] for event in events] == [row.data for row in rows]
    names = [event["event"] for event in events]
    assert names[:2] == ["status", "status"] and names[-2:] == ["result", "status"] and "text" in names
    assert [event["data"]["status"] for event in events if event["event"] == "status"] == [
        "queued",
        "running",
        "succeeded",
    ]
    text = "".join(event["data"]["delta"] for event in events if event["event"] == "text")
    assert text == ANSWER == answered.output
    result = events[-2]["data"]
    assert result["output"] == ANSWER and result["usage"]["input_tokens"] == 40


def test_last_event_id_resumes_after_it(ada_api, answered):
    _, everything = streamed(ada_api, answered)
    ids = [int(event["id"]) for event in everything]

    _, resumed = streamed(ada_api, answered, HTTP_LAST_EVENT_ID=str(ids[1]))
    assert [int(event["id"]) for event in resumed] == ids[2:]
    by_query: Any = ada_api.get(events_url(answered), {"after": ids[1]}, HTTP_ACCEPT=SSE)
    assert [int(event["id"]) for event in sse_parse(b"".join(by_query.streaming_content))] == ids[2:]
    # A reconnecting EventSource keeps its URL and sends the header: the header wins.
    response: Any = ada_api.get(events_url(answered), {"after": 0}, HTTP_ACCEPT=SSE, HTTP_LAST_EVENT_ID=str(ids[-2]))
    assert [int(event["id"]) for event in sse_parse(b"".join(response.streaming_content))] == ids[-1:]
    _, reset = streamed(ada_api, answered, HTTP_LAST_EVENT_ID="")  # an empty id is no id
    assert [int(event["id"]) for event in reset] == ids
    # After the last event of a finished run there is nothing more: 204, so that the EventSource stops.
    after_the_end, _ = streamed(ada_api, answered, HTTP_LAST_EVENT_ID=str(ids[-1]))
    assert after_the_end.status_code == 204


def test_a_reconnect_after_the_last_event_of_a_settled_run_is_a_204_so_that_eventsource_stops(
    ada, ada_api, answered, chat: OpenAIStandIn, send
):
    """An EventSource reconnects a few seconds after every stream that ends, for ever, unless told 204 (the SSE
    specification's way). It is told so once it has the last event of a run that finished, or that waits for
    approval with nothing new; the JSON page for pollers answers as before."""
    last = RunEvent.objects.filter(run=answered).order_by("-seq").first()
    assert last is not None
    for extra in ({"HTTP_LAST_EVENT_ID": str(last.seq)}, {"HTTP_LAST_EVENT_ID": str(last.seq + 7)}):
        response, parsed = streamed(ada_api, answered, **extra)
        assert response.status_code == 204 and not response.streaming and parsed == []
    by_query: Any = ada_api.get(events_url(answered), {"after": last.seq}, HTTP_ACCEPT=SSE)
    assert by_query.status_code == 204
    # Before the last event the stream sends what is left; without the Accept header, the page says it is done.
    response, parsed = streamed(ada_api, answered, HTTP_LAST_EVENT_ID=str(last.seq - 1))
    assert response.status_code == 200 and [int(event["id"]) for event in parsed] == [last.seq]
    page = ada_api.get(events_url(answered), {"after": last.seq})
    assert page.status_code == 200 and page.json()["done"] is True and page.json()["events"] == []

    # Waiting for approval, nothing new: 204 too.
    document = document_create(owner=ada)
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})])
    paused = send(conversation_for(ada, agent_create("reprocessor", toolsets=["knowbase"])), "Process my notes")
    assert paused.status == RunStatus.WAITING_FOR_APPROVAL
    pause = RunEvent.objects.filter(run=paused).order_by("-seq").first()
    assert pause is not None and pause.data == {"status": "waiting_for_approval"}
    assert streamed(ada_api, paused, HTTP_LAST_EVENT_ID=str(pause.seq))[0].status_code == 204


def test_a_reconnect_to_a_run_that_is_not_settled_streams(ada, ada_api, chat: OpenAIStandIn, monkeypatch):
    """A queued or running run may still write events: a client that has all of them so far keeps following."""
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.01)
    run = services.message_post(conversation=conversation_for(ada, agent_create()), text="Hello")  # stays queued
    queued = RunEvent.objects.get(run=run)
    response: Any = ada_api.get(events_url(run), HTTP_ACCEPT=SSE, HTTP_LAST_EVENT_ID=str(queued.seq))
    assert response.status_code == 200 and response.streaming
    parts = iter(response.streaming_content)
    services.run_cancel(run=run)
    assert [item["data"] for item in sse_parse(b"".join(parts))] == [
        {"code": "cancelled", "message": "Cancelled."},
        {"status": "cancelled"},
    ]


def test_a_run_waiting_for_approval_ends_its_stream_at_the_pause(
    ada, ada_api, chat: OpenAIStandIn, send, django_capture_on_commit_callbacks
):
    document = document_create(owner=ada)
    conversation = conversation_for(ada, agent_create(toolsets=["knowbase"]))
    chat.reply(tool_calls=[("reprocess_document", {"document_id": document.pk})])
    run = send(conversation, "Process my notes again")
    assert run.status == RunStatus.WAITING_FOR_APPROVAL

    _, parsed = streamed(ada_api, run)

    events = events_only(parsed)
    assert events == parsed
    assert [event["event"] for event in events][-2:] == ["approval_request", "status"]
    assert events[-2]["data"]["tool"] == "reprocess_document"
    assert events[-2]["data"]["arguments"] == {"document_id": document.pk}
    assert events[-1]["data"] == {"status": "waiting_for_approval"}


# A stream that waits.


def test_a_stream_waits_for_new_events_until_the_run_ends(ada, ada_api, chat: OpenAIStandIn, monkeypatch):
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.01)
    conversation = conversation_for(ada, agent_create())
    run = services.message_post(conversation=conversation, text="Hello")  # queued: the test never commits
    response: Any = ada_api.get(events_url(run), HTTP_ACCEPT=SSE)
    parts = iter(response.streaming_content)

    first = sse_parse(next(parts))
    assert [item["data"] for item in first] == [{"status": "queued"}]
    services.run_cancel(run=run)  # while the client waits
    rest = sse_parse(b"".join(parts))

    assert [(item["event"], item["data"]) for item in rest] == [
        ("error", {"code": "cancelled", "message": "Cancelled."}),
        ("status", {"status": "cancelled"}),
    ]
    assert int(rest[0]["id"]) == int(first[0]["id"]) + 1


def test_a_quiet_stream_sends_heartbeats_and_ends_at_its_time_limit(
    ada, ada_api, chat: OpenAIStandIn, settings, monkeypatch
):
    settings.AGENTS = {**settings.AGENTS, "RUN_TIMEOUT": 0.4}
    monkeypatch.setattr(stream, "STREAM_EXTRA_SECONDS", 0.0)
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.02)
    run = services.message_post(conversation=conversation_for(ada, agent_create()), text="Hello")  # stays queued
    started = time.monotonic()

    _, parsed = streamed(ada_api, run)

    assert time.monotonic() - started < 3
    assert parsed[0]["event"] == "status" and parsed[0]["data"] == {"status": "queued"}
    comments = [item["comment"] for item in parsed[1:]]
    assert len(comments) == len(parsed) - 1  # nothing but comments after the first event
    assert comments.count("keep-alive") >= 2
    assert comments[-1] == "time limit: reconnect with Last-Event-ID to go on"


def test_a_stream_ends_when_its_run_is_deleted(ada, ada_api, chat: OpenAIStandIn, monkeypatch):
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.01)
    conversation = conversation_for(ada, agent_create())
    run = services.message_post(conversation=conversation, text="Hello")
    response: Any = ada_api.get(events_url(run), HTTP_ACCEPT=SSE)
    parts = iter(response.streaming_content)
    assert sse_parse(next(parts))[0]["data"] == {"status": "queued"}

    Conversation.objects.filter(pk=conversation.pk).delete()

    assert list(parts) == []


# The JSON page for pollers.


def test_without_the_accept_header_the_events_are_one_json_page(ada_api, answered):
    response = ada_api.get(events_url(answered))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    rows = list(RunEvent.objects.filter(run=answered).order_by("seq"))
    assert body["run"] == answered.pk and body["status"] == "succeeded" and body["done"] is True
    assert [(event["seq"], event["kind"], event["data"]) for event in body["events"]] == [
        (row.seq, row.kind, row.data) for row in rows
    ]
    assert body["next"] == rows[-1].seq
    later = ada_api.get(events_url(answered), {"after": body["next"]}).json()
    assert later["events"] == [] and later["next"] == body["next"] and later["done"] is True
    middle = ada_api.get(events_url(answered), {"after": rows[1].seq}).json()
    assert [event["seq"] for event in middle["events"]] == [row.seq for row in rows[2:]]


def test_a_poller_is_told_a_queued_run_is_not_done(ada, ada_api, chat: OpenAIStandIn):
    run = services.message_post(conversation=conversation_for(ada, agent_create()), text="Hello")
    body = ada_api.get(events_url(run)).json()
    assert body["status"] == "queued" and body["done"] is False
    assert [event["kind"] for event in body["events"]] == ["status"] and body["next"] == body["events"][0]["seq"]


# Who may, and bad input.


def test_the_events_need_a_signed_in_user_and_the_users_own_run(ada_api, eve_api, staff_api, answered):
    response = APIClient().get(events_url(answered), HTTP_ACCEPT=SSE)
    assert response.status_code == 401
    [error] = sse_parse(response.content)
    assert error["event"] == "error" and error["data"]["error_code"] == "not_authenticated"
    for client in (eve_api, staff_api):
        response = client.get(events_url(answered), HTTP_ACCEPT=SSE)
        assert response.status_code == 404
        [error] = sse_parse(response.content)
        assert error["data"]["detail"] == "No run with this id (or it is another user's)."
        assert client.get(events_url(answered)).status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"after": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"after": "last"}, "A valid integer is required."),
        ({"after": "1" * 40}, "Ensure this value is less than or equal to 2147483647."),
    ],
)
def test_a_bad_after_is_a_400_naming_it(ada_api, answered, query, message):
    response = ada_api.get(events_url(answered), query)
    assert response.status_code == 400
    assert response.json()["after"] == [message]
    response = ada_api.get(events_url(answered), query, HTTP_ACCEPT=SSE)
    assert response.status_code == 400 and not response.streaming
    [error] = sse_parse(response.content)
    assert error["event"] == "error" and error["data"]["after"] == [message]


def test_a_bad_last_event_id_is_a_400_naming_it(ada_api, answered):
    response = ada_api.get(events_url(answered), HTTP_ACCEPT=SSE, HTTP_LAST_EVENT_ID="seven")
    assert response.status_code == 400
    [error] = sse_parse(response.content)
    assert error["data"]["Last-Event-ID"] == [
        "Must be the id of an event (a whole number from 0 to 2147483647); got 'seven'."
    ]


# A live run, streamed while it runs: under WSGI and under ASGI.


@pytest.fixture
def _runs_wait_for_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message's run stays queued (no task when the transaction commits): the test runs it, later, elsewhere."""
    monkeypatch.setattr(services, "_enqueue_on_commit", lambda run_id: None)


class Worker:
    """Runs a queued run in another thread after `delay` seconds, as a worker would take its task."""

    def __init__(self, run_id: int, delay: float) -> None:
        self.started_at = 0.0
        self.outcome = ""
        self._thread = threading.Timer(delay, self._run, args=[run_id])

    def _run(self, run_id: int) -> None:
        self.started_at = time.monotonic()
        try:
            self.outcome = run_execute(run_id=run_id)
        finally:
            connection.close()

    def __enter__(self) -> Worker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=30)


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether no connection was held after each poll of a stream, in the stream's own thread."""
    seen: list[bool] = []
    original = stream.release_connection

    def spy() -> None:
        original()
        seen.append(connection.connection is None)

    monkeypatch.setattr(stream, "release_connection", spy)
    yield seen


def live_run(chat: OpenAIStandIn) -> tuple[Any, AgentRun]:
    ada = user_create("ada@example.com")
    conversation = conversation_for(ada, agent_create())
    chat.reply(ANSWER, usage=(40, 16))
    run = services.message_post(conversation=conversation, text="How do I water tomatoes?")
    return ada, run


def assert_streamed_to_its_end(events: list[dict[str, Any]]) -> None:
    """The live run's events, all of them in order: its statuses to success, its answer, and ids 1, 2, 3..."""
    assert [event["data"]["status"] for event in events if event["event"] == "status"] == [
        "queued",
        "running",
        "succeeded",
    ]
    assert "".join(event["data"]["delta"] for event in events if event["event"] == "text") == ANSWER
    assert [int(event["id"]) for event in events] == list(range(1, len(events) + 1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_runs_wait_for_a_worker")
def test_under_wsgi_a_live_run_streams_to_its_end_holding_no_connection_between_polls(
    chat: OpenAIStandIn, released, monkeypatch
):
    """Under WSGI too the stream's thread closes its connection after each poll, persistent connections or not:
    each open stream holding one exhausted PostgreSQL (150 parallel streams under runserver)."""
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.05)
    ada, run = live_run(chat)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(ada).access_token}")
    assert connection.settings_dict["CONN_MAX_AGE"] != 0  # persistent, as in production: the thread would keep it

    with Worker(run.pk, delay=0.3) as worker:
        _, parsed = streamed(client, run)

    assert worker.outcome == "succeeded"
    assert_streamed_to_its_end(events_only(parsed))
    assert len(released) >= 3 and all(released)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_runs_wait_for_a_worker", "_connections_closed_after_each_request")
def test_under_asgi_events_leave_as_the_run_writes_them_and_no_connection_is_held(
    chat: OpenAIStandIn, released, monkeypatch
):
    """Django's ASGI handler reads a synchronous iterator to its end before sending any of it (with a warning):
    the stream must be an asynchronous one. The queued status leaves before a worker even takes the run, and between
    two polls the stream's thread holds no database connection."""
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.05)
    ada, run = live_run(chat)
    token = str(RefreshToken.for_user(ada).access_token)
    client = AsgiClient(application, [(b"accept", SSE.encode()), (b"authorization", f"Bearer {token}".encode())])

    with warnings.catch_warnings(record=True) as caught, Worker(run.pk, delay=0.8) as worker:
        warnings.simplefilter("always")
        client.get(events_url(run))

    assert not [warning for warning in caught if "synchronous iterators" in str(warning.message)]
    assert worker.outcome == "succeeded"
    assert client.start["type"] == "http.response.start" and client.start["status"] == 200
    assert client.response_headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert_streamed_to_its_end(events_only(sse_parse(client.content)))
    assert client.bodies[0][0] < worker.started_at  # the queued status was sent before the run started: not buffered
    assert len(released) >= 3 and all(released)
