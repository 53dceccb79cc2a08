"""Live events for clients: Server-Sent Events that follow one ticket (its customer: the PUBLIC events; staff: all)
or the whole queue (staff), and the page of events a poller asks for.

A stream subscribes to its channels first (modules.api.broadcast), then reads from the database the events after
the client's cursor (Last-Event-ID or ?since=), then sends each event as it is published: nothing published between
the read and the subscription is lost. Each event is sent once (by its id) whether the message or the database
brought it. A customer's stream is kept to the PUBLIC events twice: it subscribes to the ticket's public channel
only, and it drops anything whose audience is not PUBLIC (from a message and from the database alike).

The database is read again now and then as a safety net (a message lost in transit): every SAFETY_SECONDS while the
subscription to Redis is live, every FALLBACK_SECONDS while Redis cannot be reached, every LOCAL_SECONDS without
Redis at all (the other workers' events come no other way), at once when the subscription says messages were
missed, and once more before the stream ends. Under WSGI (runserver) the stream hears the messages this process
publishes at once, and polls the database every WSGI_POLL_SECONDS for the others. Between two reads the stream
holds no database connection (release_connection).

Typing indicators (announce_typing) are events without a row or an id: sent to the streams open at that moment.

A comment every SUPPORT__HEARTBEAT_SECONDS keeps proxies from closing a quiet stream; after SUPPORT__STREAM_SECONDS
it ends, and the client reconnects with Last-Event-ID (EventSource does so by itself).

Event ids are the TicketEvent ids, in the order the rows were written. The row lock every change of a ticket takes
keeps one ticket's events in commit order; across tickets (the queue) a transaction may commit after a later one,
so the cursor a stream keeps in the database stays SETTLE_SECONDS behind the newest events it read, and such a late
event is still sent (after higher ids: clients key events by id)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.support import selectors
from apps.support.events import QUEUE_CHANNEL, channel_for_ticket, event_envelope, person_name
from apps.support.models import Audience, Ticket, TicketEvent
from modules.api import broadcast
from modules.api.events import comment, encode, stream_response

logger = logging.getLogger(__name__)

BATCH = 200
"""Events per database read; a stream reads at most REPLAY_BATCHES of them at once (a long absence)."""
REPLAY_BATCHES = 10
PAGE = 100
"""Events in one answer to a poller."""
SAFETY_SECONDS = 15.0
LOCAL_SECONDS = 3.0
"""Under ASGI without Redis: what other web processes publish (gunicorn's other workers) comes by this read"""
FALLBACK_SECONDS = 1.0
WSGI_POLL_SECONDS = 1.0
SETTLE_SECONDS = 5.0
OPENED = "stream open"
TIME_LIMIT = "time limit: reconnect with Last-Event-ID to go on"
DATABASE_DOWN = "the database cannot be reached: reconnect with Last-Event-ID to go on"
TYPING = "typing"
TYPING_EVERY_SECONDS = 2


@dataclass(frozen=True)
class Scope:
    """Which events a stream or a poller may have: of one ticket (`ticket_id`) or of all (None), of `audiences`,
    heard on `channels`."""

    ticket_id: int | None
    ticket_number: int | None
    audiences: tuple[str, ...]
    channels: tuple[str, ...]

    def admits(self, envelope: Mapping[str, Any]) -> bool:
        return envelope.get("audience") in self.audiences and (
            self.ticket_number is None or envelope.get("ticket") == self.ticket_number
        )


def customer_scope(ticket: Ticket) -> Scope:
    """The ticket's customer: its PUBLIC events only."""
    public = str(Audience.PUBLIC)
    return Scope(ticket.pk, ticket.number, (public,), (channel_for_ticket(ticket.pk, public),))


def staff_ticket_scope(ticket: Ticket) -> Scope:
    audiences = (str(Audience.PUBLIC), str(Audience.STAFF))
    return Scope(ticket.pk, ticket.number, audiences, tuple(channel_for_ticket(ticket.pk, a) for a in audiences))


def queue_scope() -> Scope:
    return Scope(None, None, (str(Audience.PUBLIC), str(Audience.STAFF)), (QUEUE_CHANNEL,))


def read_events(scope: Scope, after: int, limit: int) -> list[TicketEvent]:
    if scope.ticket_id is None:
        return selectors.queue_events_after(after=after, limit=limit)
    return selectors.ticket_events_after(ticket_id=scope.ticket_id, after=after, audiences=scope.audiences, limit=limit)


def envelopes(scope: Scope, rows: Iterable[TicketEvent]) -> list[dict[str, Any]]:
    """The rows as clients receive them, without any the scope does not admit (the query already left them out:
    this says so again, next to the sending)."""
    found = (event_envelope(row, row.ticket.number) for row in rows)
    return [envelope for envelope in found if scope.admits(envelope)]


def last_event_id(scope: Scope) -> int:
    """Where a stream starts when the client names no cursor: after the newest event."""
    return selectors.last_event_id(ticket_id=scope.ticket_id, audiences=scope.audiences)


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    cursor: int
    """The last event's id (else `after`): the next poll's `since`"""
    more: bool
    """More events wait after the cursor: ask again at once"""


def page(scope: Scope, after: int) -> Page:
    rows = read_events(scope, after, PAGE + 1)
    shown = rows[:PAGE]
    return Page(envelopes(scope, shown), shown[-1].pk if shown else after, len(rows) > PAGE)


def announce_typing(*, ticket: Ticket, user: Any, side: Literal["customer", "staff"], internal: bool = False) -> bool:
    """Tells the streams open on the ticket now that `user` is writing: an event with no row and no id, which nobody
    receives later (a reconnect does not replay it, a poller never sees it). A customer's typing goes to staff only;
    staff writing a public reply are shown to the customer and staff, writing a note to staff only. At most one per
    person, ticket and audience every TYPING_EVERY_SECONDS (clients send one per burst of keystrokes); returns
    whether this one was sent."""
    audience = str(Audience.STAFF if side == "customer" or internal else Audience.PUBLIC)
    if not cache.add(f"support:typing:{ticket.pk}:{user.pk}:{audience}", 1, timeout=TYPING_EVERY_SECONDS):
        return False
    data: dict[str, Any] = {
        "side": side,
        "name": person_name(user, fallback="Support" if side == "staff" else "Customer"),
    }
    if side == "staff":
        data["internal"] = internal
    envelope = {
        "kind": TYPING,
        "ticket": ticket.number,
        "audience": audience,
        "data": data,
        "created_at": timezone.now(),
    }
    broadcast.publish(channel_for_ticket(ticket.pk, audience), envelope, redis_url=settings.SUPPORT["EVENTS_REDIS_URL"])
    return True


def release_connection() -> None:
    """Between two reads a stream holds no database connection, under ASGI and WSGI alike: with the pool, close()
    hands it back; without one it is closed and the next read opens one. A stream keeps its thread for minutes: were
    its connection kept, a few hundred open streams would exhaust PostgreSQL's max_connections for the whole site.
    Inside a transaction (a test's) nothing is closed."""
    if not connection.in_atomic_block:
        connection.close()


class Feed:
    """What one stream has sent and what it sends next; the drivers below (ASGI, WSGI) decide when."""

    def __init__(self, scope: Scope, after: int) -> None:
        conf = settings.SUPPORT
        self.scope = scope
        # The database is read after `floor`; what was sent above it is in `sent`.
        self.floor = after
        self.sent: set[int] = set()
        self.heartbeat = float(conf["HEARTBEAT_SECONDS"])
        now = time.monotonic()
        self.deadline = now + float(conf["STREAM_SECONDS"])
        self.quiet_since = now
        self.read_at = now

    def from_messages(self, messages: Iterable[Mapping[str, Any]]) -> list[bytes]:
        parts = []
        for envelope in messages:
            event_id = envelope.get("id")
            if event_id is None and envelope.get("kind") == TYPING:
                if self.scope.admits(envelope):
                    self.quiet_since = time.monotonic()
                    parts.append(encode(TYPING, envelope))
                continue
            fresh = isinstance(event_id, int) and event_id > self.floor and event_id not in self.sent
            if fresh and self.scope.admits(envelope):
                parts.append(self._send(envelope))
        return parts

    def from_database(self) -> list[bytes]:
        """The events after the floor not sent yet. Runs where the database may be used (the request's thread)."""
        parts = []
        try:
            for _ in range(REPLAY_BATCHES):
                rows = read_events(self.scope, self.floor, BATCH)
                parts += [
                    self._send(envelope) for envelope in envelopes(self.scope, rows) if envelope["id"] not in self.sent
                ]
                self._raise_floor(rows)
                if len(rows) < BATCH:
                    break
        finally:
            release_connection()
        self.read_at = time.monotonic()
        return parts

    def _send(self, envelope: Mapping[str, Any]) -> bytes:
        self.sent.add(envelope["id"])
        self.quiet_since = time.monotonic()
        return encode(str(envelope["kind"]), envelope, id=envelope["id"])

    def _raise_floor(self, rows: list[TicketEvent]) -> None:
        """Up to the last row written more than SETTLE_SECONDS ago: an event of another ticket with a lower id may
        still commit after a young one (a full batch moves on all the same: it could never settle otherwise)."""
        settled = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
        full = len(rows) == BATCH
        for row in rows:
            if row.created_at > settled and not full:
                break
            self.floor = row.pk
        self.sent = {event_id for event_id in self.sent if event_id > self.floor}

    def idle_parts(self) -> list[bytes]:
        now = time.monotonic()
        if now - self.quiet_since < self.heartbeat:
            return []
        self.quiet_since = now
        return [comment("keep-alive")]

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def read_due(self, every: float) -> bool:
        return time.monotonic() >= self.read_at + every

    def wait_seconds(self, read_every: float) -> float:
        """Until the next thing to do without a message: a read, a heartbeat or the end."""
        wake = min(self.read_at + read_every, self.quiet_since + self.heartbeat, self.deadline)
        return max(0.0, wake - time.monotonic())


async def async_parts(feed: Feed, redis_url: str | None) -> AsyncIterator[bytes]:
    """Under ASGI: waits on the subscription, holding no thread; each database read runs in the request's thread."""
    read = sync_to_async(feed.from_database, thread_sensitive=True)
    try:
        async with broadcast.subscribe(feed.scope.channels, redis_url=redis_url) as subscription:

            def read_every() -> float:
                if not subscription.live:
                    return FALLBACK_SECONDS
                return SAFETY_SECONDS if redis_url else LOCAL_SECONDS

            yield comment(OPENED)
            for part in await read():
                yield part
            while not feed.expired():
                parts = feed.from_messages(await subscription.next_batch(feed.wait_seconds(read_every())))
                if subscription.take_missed() or feed.read_due(read_every()):
                    parts += await read()
                parts += feed.idle_parts()
                for part in parts:
                    yield part
            for part in await read():
                yield part
    except DatabaseError:
        logger.warning("support event stream ended: database unavailable", exc_info=True)
        yield comment(DATABASE_DOWN)
        return
    yield comment(TIME_LIMIT)


def sync_parts(feed: Feed) -> Iterator[bytes]:
    """Under WSGI: the worker's thread waits for this process's messages, and reads the database every
    WSGI_POLL_SECONDS for the rest."""
    try:
        with broadcast.LocalWaiter(feed.scope.channels) as waiter:
            yield comment(OPENED)
            yield from feed.from_database()
            while not feed.expired():
                parts = feed.from_messages(waiter.next_batch(feed.wait_seconds(WSGI_POLL_SECONDS)))
                if waiter.take_missed() or feed.read_due(WSGI_POLL_SECONDS):
                    parts += feed.from_database()
                parts += feed.idle_parts()
                yield from parts
            yield from feed.from_database()
    except DatabaseError:
        logger.warning("support event stream ended: database unavailable", exc_info=True)
        yield comment(DATABASE_DOWN)
        return
    yield comment(TIME_LIMIT)


def stream(scope: Scope, after: int, *, asgi: bool) -> StreamingHttpResponse:
    """The events of `scope` after the id `after`, then as they come, as a streaming response."""
    feed = Feed(scope, after)
    if asgi:
        return stream_response(async_parts(feed, settings.SUPPORT["EVENTS_REDIS_URL"] or None))
    return stream_response(sync_parts(feed))
