"""Live updates in one process: the polling answer (cursor, ETag, 304), who may follow what, the streams under WSGI
(the Django test client) and under ASGI (the project's ASGI application) without Redis, with Redis, and through a
Redis outage; and the broadcast's subscriptions themselves (one shared Redis connection, outages, local delivery).
Internal notes never reach a customer's stream or page. Two web processes: test_live_two_processes.py."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.support import live, services
from apps.support.events import QUEUE_CHANNEL, channel_for_ticket
from apps.support.models import Audience, Ticket, TicketEvent
from apps.support.tests.factories import (
    NOTE,
    REDIS_URL,
    REPLY,
    agent_create,
    client_for,
    ticket_create,
    user_create,
)
from config.asgi import application
from modules.api import broadcast
from modules.api.testing import (  # noqa: F401  (a fixture)
    AsgiClient,
    _connections_closed_after_each_request,
    free_port,
    sse_parse,
)

SSE = "text/event-stream"


@pytest.fixture
def short_streams(settings: Any) -> None:
    """Streams that end after a second, with a heartbeat every 0.3 s."""
    settings.SUPPORT = {**settings.SUPPORT, "STREAM_SECONDS": 1, "HEARTBEAT_SECONDS": 0.3}


def ticket_events_url(ticket: Ticket) -> str:
    return reverse("support:ticket-events", args=[ticket.number])


def staff_events_url(ticket: Ticket) -> str:
    return reverse("support:staff-ticket-events", args=[ticket.number])


QUEUE_EVENTS = "support:queue-events"


def streamed(client: APIClient, url: str, **extra: Any) -> tuple[Any, list[dict[str, Any]]]:
    response: Any = client.get(url, HTTP_ACCEPT=SSE, **extra)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, sse_parse(content)


def events_only(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in parsed if "event" in item]


def comments(parsed: list[dict[str, Any]]) -> list[str]:
    return [item["comment"] for item in parsed if "comment" in item]


def rows(ticket: Ticket, *audiences: str) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(ticket=ticket, audience__in=audiences).order_by("pk"))


def reply_and_note(ticket: Ticket, agent: Any) -> None:
    services.staff_reply(ticket=ticket, author=agent, body=NOTE, internal=True)
    services.staff_reply(ticket=ticket, author=agent, body=REPLY)


# The page for pollers.


def test_a_customer_polls_the_public_events_of_their_ticket_and_never_a_note(customer_api, agent_api, ticket, agent):
    reply_and_note(ticket, agent)

    response = customer_api.get(ticket_events_url(ticket))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    public = rows(ticket, Audience.PUBLIC)
    assert [event["id"] for event in body["events"]] == [row.pk for row in public]
    assert {event["audience"] for event in body["events"]} == {"public"}
    assert [event["kind"] for event in body["events"]] == [row.kind for row in public]
    assert all(event["ticket"] == ticket.number for event in body["events"])
    assert body["cursor"] == public[-1].pk and body["more"] is False
    assert NOTE not in response.content.decode() and REPLY in response.content.decode()
    # Staff see the note, in its place among the rest.
    staff_body = agent_api.get(staff_events_url(ticket)).json()
    everything = rows(ticket, Audience.PUBLIC, Audience.STAFF)
    assert [event["id"] for event in staff_body["events"]] == [row.pk for row in everything]
    [note] = [event for event in staff_body["events"] if event["audience"] == "staff"]
    assert note["kind"] == "message" and note["data"]["body"] == NOTE and note["data"]["internal"] is True


def test_a_poll_after_the_cursor_answers_304_while_nothing_is_new(customer_api, ticket, agent):
    first = customer_api.get(ticket_events_url(ticket))
    etag, cursor = first["ETag"], first.json()["cursor"]
    assert etag == f'"{cursor}"' and first["Cache-Control"] == "private, no-cache"

    again = customer_api.get(ticket_events_url(ticket), {"since": cursor}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    weak = customer_api.get(ticket_events_url(ticket), {"since": cursor}, HTTP_IF_NONE_MATCH=f"W/{etag}")
    assert weak.status_code == 304

    services.staff_reply(ticket=ticket, author=agent, body=REPLY)
    services.staff_reply(ticket=ticket, author=agent, body=NOTE, internal=True)
    changed = customer_api.get(ticket_events_url(ticket), {"since": cursor}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    new = changed.json()["events"]
    assert [event["kind"] for event in new] == [row.kind for row in rows(ticket, Audience.PUBLIC) if row.pk > cursor]
    assert REPLY in changed.content.decode() and NOTE not in changed.content.decode()
    assert changed["ETag"] == f'"{new[-1]["id"]}"' == f'"{changed.json()["cursor"]}"'
    # The note after it changes nothing the customer may see: still 304 for them.
    later = customer_api.get(ticket_events_url(ticket), {"since": new[-1]["id"]}, HTTP_IF_NONE_MATCH=changed["ETag"])
    assert later.status_code == 304


def test_a_poll_pages_through_many_events(customer_api, ticket, agent, monkeypatch):
    monkeypatch.setattr(live, "PAGE", 2)
    for number in range(3):
        services.staff_reply(ticket=ticket, author=agent, body=f"Reply {number}")
    public = [row.pk for row in rows(ticket, Audience.PUBLIC)]

    seen: list[int] = []
    since = 0
    while True:
        body = customer_api.get(ticket_events_url(ticket), {"since": since}).json()
        assert len(body["events"]) <= 2
        seen += [event["id"] for event in body["events"]]
        since = body["cursor"]
        if not body["more"]:
            break
    assert seen == public and since == public[-1]


def test_the_queue_poll_has_every_tickets_events_for_staff(agent_api, customer, other_customer, agent):
    first, second = ticket_create(customer), ticket_create(other_customer, subject="Second")
    services.staff_reply(ticket=second, author=agent, body=NOTE, internal=True)

    body = agent_api.get(reverse(QUEUE_EVENTS)).json()

    assert {event["ticket"] for event in body["events"]} == {first.number, second.number}
    assert [event["id"] for event in body["events"]] == list(
        TicketEvent.objects.order_by("pk").values_list("pk", flat=True)
    )
    assert any(event["audience"] == "staff" for event in body["events"])


# Who may follow what.


def test_a_customer_cannot_follow_another_customers_ticket_nor_the_staff_streams(
    customer_api, other_customer_api, ticket, api
):
    missing = Ticket(number=ticket.number + 1000)
    for accept in ("application/json", SSE):
        theirs = other_customer_api.get(ticket_events_url(ticket), HTTP_ACCEPT=accept)
        nothing = other_customer_api.get(ticket_events_url(missing), HTTP_ACCEPT=accept)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.content == nothing.content and not theirs.streaming
    [error] = sse_parse(other_customer_api.get(ticket_events_url(ticket), HTTP_ACCEPT=SSE).content)
    assert error["event"] == "error" and error["data"]["error_code"] == "ticket_not_found"
    for url in (staff_events_url(ticket), reverse(QUEUE_EVENTS)):
        assert customer_api.get(url).status_code == 403
        assert customer_api.get(url, HTTP_ACCEPT=SSE).status_code == 403


def test_the_streams_need_a_signed_in_user_and_staff_streams_the_support_permission(api, ticket, other_team_api):
    for url in (ticket_events_url(ticket), staff_events_url(ticket), reverse(QUEUE_EVENTS)):
        response = api.get(url, HTTP_ACCEPT=SSE)
        assert response.status_code == 401
        [error] = sse_parse(response.content)
        assert error["data"]["error_code"] == "not_authenticated"
        assert api.get(url).status_code == 401
    # A staff member of another team (no support permissions).
    for url in (staff_events_url(ticket), reverse(QUEUE_EVENTS)):
        assert other_team_api.get(url).status_code == 403
    assert other_team_api.get(ticket_events_url(ticket)).status_code == 404
    # With the permission, an unknown ticket is a 404.
    assert client_for(agent_create()).get(staff_events_url(Ticket(number=ticket.number + 1000))).status_code == 404


@pytest.mark.parametrize(
    ("query", "header", "field", "message"),
    [
        ({"since": "-1"}, None, "since", "Ensure this value is greater than or equal to 0."),
        ({"since": "last"}, None, "since", "A valid integer is required."),
        ({"since": "9" * 30}, None, "since", "Ensure this value is less than or equal to 9223372036854775807."),
        (
            {},
            "seven",
            "Last-Event-ID",
            "Must be the id of an event (a whole number from 0 to 9223372036854775807); got 'seven'.",
        ),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(customer_api, ticket, query, header, field, message):
    extra = {"HTTP_LAST_EVENT_ID": header} if header else {}
    response = customer_api.get(ticket_events_url(ticket), query, **extra)
    assert response.status_code == 400 and response.json()[field] == [message]
    response = customer_api.get(ticket_events_url(ticket), query, HTTP_ACCEPT=SSE, **extra)
    assert response.status_code == 400 and not response.streaming
    [error] = sse_parse(response.content)
    assert error["event"] == "error" and error["data"][field] == [message]


# Streams under WSGI (the Django test client: runserver's path).


@pytest.mark.usefixtures("short_streams")
def test_a_stream_replays_after_last_event_id_then_beats_and_ends_at_its_time_limit(customer_api, ticket, agent):
    reply_and_note(ticket, agent)
    public = rows(ticket, Audience.PUBLIC)

    response, parsed = streamed(customer_api, ticket_events_url(ticket), HTTP_LAST_EVENT_ID=str(public[0].pk))

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    events = events_only(parsed)
    assert [int(event["id"]) for event in events] == [row.pk for row in public[1:]]
    assert [event["event"] for event in events] == [row.kind for row in public[1:]]
    assert all(event["data"]["audience"] == "public" for event in events)
    assert NOTE not in json.dumps(parsed)
    assert parsed[0] == {"comment": live.OPENED}
    assert comments(parsed)[-1] == live.TIME_LIMIT and "keep-alive" in comments(parsed)
    # ?since= does the same; the header wins over it; no cursor at all: from now on.
    by_query = events_only(streamed(customer_api, ticket_events_url(ticket) + f"?since={public[0].pk}")[1])
    assert by_query == events
    header_wins = streamed(customer_api, ticket_events_url(ticket) + "?since=0", HTTP_LAST_EVENT_ID=str(public[-2].pk))[
        1
    ]
    assert [int(event["id"]) for event in events_only(header_wins)] == [public[-1].pk]
    assert events_only(streamed(customer_api, ticket_events_url(ticket))[1]) == []


@pytest.mark.usefixtures("short_streams")
def test_staff_streams_carry_notes_and_the_queue_stream_every_ticket(agent_api, customer, other_customer, agent):
    first, second = ticket_create(customer), ticket_create(other_customer, subject="Second")
    reply_and_note(second, agent)

    _, ticket_stream = streamed(agent_api, staff_events_url(second) + "?since=0")
    assert [int(event["id"]) for event in events_only(ticket_stream)] == [
        row.pk for row in rows(second, Audience.PUBLIC, Audience.STAFF)
    ]
    assert NOTE in json.dumps(ticket_stream)
    _, queue = streamed(agent_api, reverse(QUEUE_EVENTS) + "?since=0")
    assert {event["data"]["ticket"] for event in events_only(queue)} == {first.number, second.number}


def test_a_customer_stream_drops_a_staff_event_even_when_one_reaches_it(ticket):
    """The second lock: were a staff message ever delivered on the public channel, or a staff row read, the
    customer's stream would still not send it."""
    feed = live.Feed(live.customer_scope(ticket), 0)
    envelope = {"id": 7, "ticket": ticket.number, "kind": "message", "audience": "staff", "data": {"body": NOTE}}
    assert feed.from_messages([envelope]) == []
    other_ticket = {**envelope, "audience": "public", "ticket": ticket.number + 1}
    assert feed.from_messages([other_ticket]) == []
    assert feed.from_messages([{**envelope, "audience": "public"}]) != []
    assert live.envelopes(live.customer_scope(ticket), rows(ticket, Audience.PUBLIC, Audience.STAFF)) == [
        envelope for envelope in live.envelopes(live.staff_ticket_scope(ticket), rows(ticket, Audience.PUBLIC))
    ]


def test_a_queue_stream_still_sends_an_event_that_committed_after_a_later_one(customer, other_customer, agent):
    """Across tickets ids are not commit order: the stream's database cursor stays behind events younger than
    SETTLE_SECONDS, so an event whose transaction committed late (simulated: its rows appear after the other's)
    is sent when it appears, once."""
    first, second = ticket_create(customer), ticket_create(other_customer, subject="Second")
    scope = live.queue_scope()
    feed = live.Feed(scope, live.last_event_id(scope))
    start = feed.floor
    services.staff_reply(ticket=first, author=agent, body="Committed late")
    late = list(TicketEvent.objects.filter(ticket=first, pk__gt=start).order_by("pk"))
    services.staff_reply(ticket=second, author=agent, body="Committed first")
    TicketEvent.objects.filter(pk__in=[row.pk for row in late]).delete()

    def sent_ids(parts: list[bytes]) -> list[int]:
        return [int(item["id"]) for item in sse_parse(b"".join(parts))]

    on_time = sent_ids(feed.from_database())
    assert on_time == list(TicketEvent.objects.filter(ticket=second, pk__gt=start).values_list("pk", flat=True))
    for row in late:
        row.save(force_insert=True)
    assert sent_ids(feed.from_database()) == [row.pk for row in late] and min(on_time) > late[-1].pk
    assert sent_ids(feed.from_database()) == [] and feed.floor == start
    # Once they are older than SETTLE_SECONDS the cursor passes them, and nothing is sent twice.
    TicketEvent.objects.filter(pk__gt=start).update(created_at=timezone.now() - timedelta(seconds=60))
    assert sent_ids(feed.from_database()) == [] and feed.floor == max(on_time) and feed.sent == set()


def test_under_wsgi_an_event_published_in_the_process_reaches_a_waiting_stream_at_once(
    customer_api, ticket, agent, monkeypatch, django_capture_on_commit_callbacks
):
    """runserver: no Redis, one process. The stream hears the message this process publishes, without waiting for
    its next poll of the database (made far apart here)."""
    monkeypatch.setattr(live, "WSGI_POLL_SECONDS", 60.0)
    response: Any = customer_api.get(ticket_events_url(ticket), HTTP_ACCEPT=SSE)
    parts = iter(response.streaming_content)
    assert sse_parse(next(parts)) == [{"comment": live.OPENED}]

    with django_capture_on_commit_callbacks(execute=True):
        services.staff_reply(ticket=ticket, author=agent, body=NOTE, internal=True)
        services.staff_reply(ticket=ticket, author=agent, body=REPLY)
    started = time.monotonic()
    [event] = sse_parse(next(parts))

    assert time.monotonic() - started < 30  # the poll would have taken 60 s
    assert event["event"] == "message" and event["data"]["data"]["body"] == REPLY
    assert int(event["id"]) == max(row.pk for row in rows(ticket, Audience.PUBLIC) if row.kind == "message")
    response.close()


# Streams under ASGI (uvicorn's path), against the project's ASGI application.


class Later:
    """Runs `action` in another thread after `delay` seconds (another request, as far as the stream can tell);
    re-raises what it raised."""

    def __init__(self, delay: float, action: Callable[[], Any]) -> None:
        self.action = action
        self.error: BaseException | None = None
        self.done_at = 0.0
        self._thread = threading.Timer(delay, self._run)

    def _run(self) -> None:
        try:
            self.action()
            self.done_at = time.monotonic()
        except BaseException as error:
            self.error = error
        finally:
            connection.close()

    def __enter__(self) -> Later:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=60)
        if self.error is not None:
            raise self.error


def asgi_client(user: Any, *extra: tuple[bytes, bytes]) -> AsgiClient:
    from rest_framework_simplejwt.tokens import RefreshToken

    token = str(RefreshToken.for_user(user).access_token)
    return AsgiClient(application, [(b"accept", SSE.encode()), (b"authorization", f"Bearer {token}".encode()), *extra])


def sent_events(client: AsgiClient) -> list[tuple[float, dict[str, Any]]]:
    """Each event the stream sent, with when it left."""
    found = []
    for at, body in client.bodies:
        found += [(at, item) for item in sse_parse(body) if "event" in item]
    return found


def ended_at(client: AsgiClient) -> float:
    [at] = [at for at, body in client.bodies if live.TIME_LIMIT.encode() in body]
    return at


@pytest.fixture
def asgi_streams(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams of 4 s whose safety reads are far apart: an event that leaves before the end came as a message."""
    settings.SUPPORT = {**settings.SUPPORT, "STREAM_SECONDS": 4, "HEARTBEAT_SECONDS": 1}
    monkeypatch.setattr(live, "SAFETY_SECONDS", 60.0)
    monkeypatch.setattr(live, "LOCAL_SECONDS", 60.0)


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """After each database read of a stream, whether its thread still held a connection."""
    seen: list[bool] = []
    original = live.release_connection

    def spy() -> None:
        original()
        seen.append(connection.connection is None)

    monkeypatch.setattr(live, "release_connection", spy)
    return seen


def assert_reply_came_live_and_note_never(client: AsgiClient) -> None:
    assert client.start["status"] == 200
    events = sent_events(client)
    bodies = [item["data"]["data"].get("body") for _, item in events]
    assert REPLY in bodies and NOTE not in json.dumps([item for _, item in events])
    [(at, _)] = [(at, item) for at, item in events if item["data"]["data"].get("body") == REPLY]
    # It left as it was posted (about a second in), long before the stream's last read at its end.
    assert at < ended_at(client) - 1.5


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("asgi_streams", "_connections_closed_after_each_request")
def test_under_asgi_without_redis_a_reply_reaches_the_customer_as_it_is_posted_and_a_note_never(released):
    customer = user_create("ada.customer@example.com")
    agent = agent_create()
    ticket = ticket_create(customer)
    client = asgi_client(customer)

    with warnings.catch_warnings(record=True) as caught, Later(0.8, lambda: reply_and_note(ticket, agent)):
        warnings.simplefilter("always")
        client.get(ticket_events_url(ticket))

    assert not [warning for warning in caught if "synchronous iterators" in str(warning.message)]
    assert_reply_came_live_and_note_never(client)
    assert released and all(released)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("asgi_streams", "_connections_closed_after_each_request")
def test_under_asgi_with_redis_a_staff_stream_hears_notes_through_pub_sub(settings, redis_14):
    settings.SUPPORT = {**settings.SUPPORT, "EVENTS_REDIS_URL": REDIS_URL}
    customer = user_create("ada.customer@example.com")
    agent = agent_create()
    ticket = ticket_create(customer)
    customer_client, staff_client = asgi_client(customer), asgi_client(agent)
    subscribed: list[dict[Any, int]] = []

    def post() -> None:
        channels = [channel_for_ticket(ticket.pk, audience) for audience in Audience.values]
        subscribed.append(dict(redis_14.pubsub_numsub(*channels)))
        reply_and_note(ticket, agent)

    with Later(0.8, post):
        staff_client.get(staff_events_url(ticket))

    # The stream listened on both of the ticket's channels through Redis, and heard the note as well.
    assert {channel.decode(): count for channel, count in subscribed[0].items()} == {
        channel_for_ticket(ticket.pk, "public"): 1,
        channel_for_ticket(ticket.pk, "staff"): 1,
    }
    events = sent_events(staff_client)
    [(note_at, _)] = [(at, item) for at, item in events if item["data"]["data"].get("body") == NOTE]
    assert note_at < ended_at(staff_client) - 1.5 and REPLY in json.dumps([item for _, item in events])

    with Later(0.8, lambda: reply_and_note(ticket, agent)):
        customer_client.get(ticket_events_url(ticket))
    assert_reply_came_live_and_note_never(customer_client)


class PrivateRedis:
    """A redis-server of the test's own, which it can stop and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("asgi_streams", "_connections_closed_after_each_request")
def test_while_redis_is_down_a_stream_polls_the_database_and_never_fails(settings, private_redis, caplog):
    settings.SUPPORT = {**settings.SUPPORT, "EVENTS_REDIS_URL": private_redis.url, "STREAM_SECONDS": 8}
    customer = user_create("ada.customer@example.com")
    agent = agent_create()
    ticket = ticket_create(customer)
    client = asgi_client(customer)

    def outage_then_back() -> None:
        private_redis.stop()
        time.sleep(0.5)
        services.staff_reply(ticket=ticket, author=agent, body="Posted while Redis was down")
        time.sleep(2.0)
        private_redis.start()
        time.sleep(2.0)
        services.staff_reply(ticket=ticket, author=agent, body=REPLY)

    with caplog.at_level(logging.WARNING, logger="modules.api.broadcast"), Later(0.5, outage_then_back):
        client.get(ticket_events_url(ticket))

    assert client.start["status"] == 200
    events = sent_events(client)
    by_body = {item["data"]["data"]["body"]: at for at, item in events if item["event"] == "message"}
    assert set(by_body) == {"Posted while Redis was down", REPLY}
    # The first came by polling the database (within about a second), the second once Redis was back.
    assert by_body["Posted while Redis was down"] < by_body[REPLY] < ended_at(client) - 1.0
    assert "Redis pub/sub unreachable" in caplog.text and "Redis pub/sub is back" in caplog.text


# The broadcast's subscriptions.


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


def test_the_subscriptions_of_a_process_share_one_redis_connection_and_each_gets_its_messages(redis_14):
    first, second = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"

    async def scenario() -> tuple[list[Any], list[Any], dict[bytes, int], dict[bytes, int], int]:
        async with (
            broadcast.subscribe([first], redis_url=REDIS_URL) as one,
            broadcast.subscribe([first, second], redis_url=REDIS_URL) as both,
        ):
            assert one.live and both.live and not one.take_missed()
            during = dict(redis_14.pubsub_numsub(first, second))
            connections = sum(1 for client in redis_14.client_list() if client["name"] == broadcast.client_name())
            await asyncio.to_thread(broadcast.publish, first, {"n": 1}, redis_url=REDIS_URL)
            await asyncio.to_thread(broadcast.publish, second, {"n": 2}, redis_url=REDIS_URL)
            got_one = await gather(one, 1)
            got_both = await gather(both, 2)
        await asyncio.sleep(broadcast.READ_SECONDS * 2.5)
        after = dict(redis_14.pubsub_numsub(first, second))
        return got_one, got_both, during, after, connections

    got_one, got_both, during, after, connections = run(scenario())

    assert got_one == [{"n": 1}] and got_both == [{"n": 1}, {"n": 2}]
    assert during == {first.encode(): 1, second.encode(): 1} and connections == 1
    # The last subscription gone, the reader unsubscribed and closed its connection.
    assert after == {first.encode(): 0, second.encode(): 0} and not broadcast._hubs


async def gather(subscription: broadcast.Subscription, count: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < count:
        got += await subscription.next_batch(timeout=5)
    return got


def test_a_subscription_with_redis_unreachable_starts_not_live_and_never_raises():
    """It waits a moment for Redis; once the outage is known, the next ones do not wait at all."""
    unreachable = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario() -> tuple[bool, list[Any], bool, float]:
        async with broadcast.subscribe(["test:down"], redis_url=unreachable, ready_seconds=0.3) as first:
            batch = await first.next_batch(timeout=0.2)
            started = time.monotonic()
            async with broadcast.subscribe(["test:down2"], redis_url=unreachable, ready_seconds=30) as second:
                return first.live, batch, second.live, time.monotonic() - started

    first_live, batch, second_live, second_waited = run(scenario())
    assert first_live is False and batch == [] and second_live is False
    assert second_waited < 10  # not the 30 s it would wait for a Redis not known to be down


def test_a_subscription_comes_back_after_a_redis_outage_and_says_it_missed_messages(private_redis):
    channel = f"test:{uuid.uuid4().hex}"

    async def until(condition: Callable[[], bool], subscription: broadcast.Subscription) -> None:
        while not condition():
            await subscription.next_batch(timeout=0.2)

    async def scenario() -> tuple[list[Any], bool]:
        async with broadcast.subscribe([channel], redis_url=private_redis.url) as subscription:
            assert subscription.live
            await asyncio.to_thread(private_redis.stop)
            await until(lambda: not subscription.live, subscription)
            await asyncio.to_thread(private_redis.start)
            await until(lambda: subscription.live, subscription)
            missed = subscription.take_missed()
            await asyncio.to_thread(broadcast.publish, channel, {"n": 3}, redis_url=private_redis.url)
            return await gather(subscription, 1), missed

    got, missed = run(scenario())
    assert got == [{"n": 3}] and missed is True


def test_publishing_with_redis_unreachable_is_logged_and_still_reaches_this_process(caplog):
    channel = f"test:{uuid.uuid4().hex}"
    with broadcast.LocalWaiter([channel]) as waiter, caplog.at_level(logging.WARNING, logger="modules.api.broadcast"):
        broadcast.publish(channel, {"n": 1}, redis_url=f"redis://127.0.0.1:{free_port()}/0")
        assert waiter.next_batch(timeout=5) == [{"n": 1}]
    assert "not published: Redis unreachable" in caplog.text


def test_a_local_waiter_hears_what_another_thread_publishes_and_stops_hearing_once_closed():
    channel = f"test:{uuid.uuid4().hex}"
    with broadcast.LocalWaiter([channel, QUEUE_CHANNEL + uuid.uuid4().hex]) as waiter:
        with Later(0.2, lambda: broadcast.publish(channel, {"n": 1}, redis_url=None)):
            got = waiter.next_batch(timeout=30)
        assert got == [{"n": 1}] and waiter.next_batch(timeout=0) == []
    assert channel not in broadcast._listeners


# The typing indicator.


@pytest.fixture
def typing_cache() -> Iterator[None]:
    """Typing is passed on once every few seconds per person, counted in the default cache: fresh for each test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def typing_post(user: Any, ticket: Ticket | int, *, staff: bool = False, **data: Any) -> Any:
    """POST to the typing view of either side, signed in as `user` (None: anonymous)."""
    from rest_framework.test import APIRequestFactory
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.support.api.live import StaffTypingView, TicketTypingView

    number = ticket if isinstance(ticket, int) else ticket.number
    headers = {} if user is None else {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}
    request = APIRequestFactory().post(f"/typing/{number}/", data, format="json", **headers)
    view = StaffTypingView if staff else TicketTypingView
    return view.as_view()(request, number=number)


def typing_events(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in parsed if item.get("event") == "typing"]


@pytest.mark.usefixtures("typing_cache")
def test_staff_typing_a_reply_is_shown_to_the_customer_and_a_note_or_the_customers_typing_only_to_staff(
    customer, customer_api, agent, agent_api, ticket, monkeypatch
):
    monkeypatch.setattr(live, "WSGI_POLL_SECONDS", 60.0)
    customer_stream: Any = customer_api.get(ticket_events_url(ticket), HTTP_ACCEPT=SSE)
    staff_stream: Any = agent_api.get(staff_events_url(ticket), HTTP_ACCEPT=SSE)
    customer_parts, staff_parts = iter(customer_stream.streaming_content), iter(staff_stream.streaming_content)
    assert sse_parse(next(customer_parts)) == sse_parse(next(staff_parts)) == [{"comment": live.OPENED}]

    assert typing_post(agent, ticket, staff=True, internal=True).status_code == 204
    assert typing_post(agent, ticket, staff=True).status_code == 204
    assert typing_post(customer, ticket).status_code == 204
    to_customer = typing_events(sse_parse(next(customer_parts)))
    to_staff = typing_events(sse_parse(b"".join(next(staff_parts) for _ in range(3))))
    customer_stream.close()
    staff_stream.close()

    assert [event["data"] for event in to_customer] == [
        {
            "kind": "typing",
            "ticket": ticket.number,
            "audience": "public",
            "data": {"side": "staff", "name": "Alex Agent", "internal": False},
            "created_at": to_customer[0]["data"]["created_at"],
        }
    ]
    assert [(event["data"]["audience"], event["data"]["data"]) for event in to_staff] == [
        ("staff", {"side": "staff", "name": "Alex Agent", "internal": True}),
        ("public", {"side": "staff", "name": "Alex Agent", "internal": False}),
        ("staff", {"side": "customer", "name": "Ada Lovelace"}),
    ]
    # No id: a reconnect's Last-Event-ID is the last real event's, and nothing replays a typing event.
    assert all("id" not in event for event in to_customer + to_staff)


@pytest.mark.usefixtures("typing_cache")
def test_typing_is_passed_on_once_every_few_seconds_and_never_reaches_a_poller(customer, customer_api, ticket):
    channel = channel_for_ticket(ticket.pk, Audience.STAFF)
    with broadcast.LocalWaiter([channel]) as waiter:
        assert live.announce_typing(ticket=ticket, user=customer, side="customer") is True
        assert live.announce_typing(ticket=ticket, user=customer, side="customer") is False
        assert typing_post(customer, ticket).status_code == 204
        heard = waiter.next_batch(timeout=0)
    assert [message["data"] for message in heard] == [{"side": "customer", "name": "Ada Lovelace"}]
    assert "typing" not in customer_api.get(ticket_events_url(ticket)).content.decode()


@pytest.mark.usefixtures("typing_cache")
def test_only_the_tickets_customer_and_support_staff_may_say_they_are_typing(
    customer, other_customer, other_team, agent, ticket
):
    assert typing_post(None, ticket).status_code == 401
    assert typing_post(None, ticket, staff=True).status_code == 401
    assert typing_post(other_customer, ticket).status_code == 404
    assert typing_post(customer, ticket.number + 1000).status_code == 404
    assert typing_post(customer, ticket, staff=True).status_code == 403
    assert typing_post(other_team, ticket, staff=True).status_code == 403
    assert typing_post(agent, ticket.number + 1000, staff=True).status_code == 404
    bad = typing_post(agent, ticket, staff=True, internal="perhaps")
    assert bad.status_code == 400 and bad.data["internal"] == ["Must be a valid boolean."]
    assert typing_post(customer, ticket).status_code == 204
