"""A run's events for a client: read from the RunEvent rows in seq order, as Server-Sent Events that follow the run
until it finishes or pauses, or as one JSON page for pollers.

The stream polls the database (every POLL_SECONDS) rather than holding a connection open on the run: between two
polls it holds no database connection (handed back to the pool; closed without one), under ASGI and WSGI alike, so
that many idle streams cost no connections. Each event carries `id: <seq>`: a client that reconnects sends it back as
Last-Event-ID and resumes after it. A comment line every HEARTBEAT_SECONDS without events keeps proxies from closing
the stream. It ends after the status event that says the run finished or waits for approval, or after its time
limit (AGENTS__RUN_TIMEOUT + STREAM_EXTRA_SECONDS): the client reconnects, with Last-Event-ID, if it wants more. A
reconnect that already has the last event of a settled run is answered 204 (runs.py), which stops an EventSource."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from apps.agents import selectors
from apps.agents.models import FINISHED, RunEvent, RunStatus
from modules.api.events import comment, encode

POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
STREAM_EXTRA_SECONDS = 60.0
BATCH = 500
# A run that finished yet whose final status event has not been seen after this many polls (a worker that died
# between the two writes) ends the stream all the same.
FINISHED_QUIET_POLLS = 5
SETTLED = {*FINISHED, RunStatus.WAITING_FOR_APPROVAL}


def stream_seconds() -> float:
    return float(settings.AGENTS["RUN_TIMEOUT"]) + STREAM_EXTRA_SECONDS


@dataclass(frozen=True)
class Poll:
    status: str | None
    """The run's status when the poll began; None: the run is gone (its conversation was deleted)"""
    events: list[RunEvent]
    settled: bool
    """Nothing more will come until somebody acts: the last event says the run finished or waits for approval"""


def poll(run_id: int, after: int) -> Poll:
    """The events after `after`, and whether they are all the run will have for now. The status is read first:
    the engine saves a finished run's status before it writes the final events, so the final status event is what
    settles a stream, never the run's status alone."""
    status = selectors.run_status(run_id=run_id)
    events = selectors.run_events_after(run_id=run_id, after=after, limit=BATCH)
    if status is None:
        return Poll(status, events, settled=True)
    if len(events) == BATCH:
        return Poll(status, events, settled=False)
    last = events[-1] if events else selectors.run_event_last(run_id=run_id)
    settled = (
        last is not None
        and last.seq <= (events[-1].seq if events else after)
        and last.kind == "status"
        and last.data.get("status") in SETTLED
    )
    return Poll(status, events, settled=settled)


def release_connection() -> None:
    """Between two polls the stream holds no database connection, under ASGI and under WSGI alike: with a pool,
    close() hands it back; without one it is closed, and the next poll opens one. Under WSGI too, although the
    thread's persistent connection (CONN_MAX_AGE) would otherwise be kept for its next request: a stream keeps its
    thread for minutes, so every open stream would hold a connection of its own, and a few hundred of them (a page
    left open in many tabs) exhaust PostgreSQL's max_connections for the whole site. The price, without a pool, is
    a new connection per poll; with the database pool (cfg/settings/database.py) a poll borrows one. Inside a
    transaction (a test's) nothing is closed."""
    if connection.in_atomic_block:
        return
    connection.close()


class RunEventFeed:
    """The stream of one run from a seq on, one poll per step."""

    def __init__(self, run_id: int, after: int, *, asgi: bool) -> None:
        self.run_id = run_id
        self.after = after
        self.asgi = asgi
        self.done = False
        now = time.monotonic()
        self.deadline = now + stream_seconds()
        self.quiet_since = now
        self.finished_quiet_polls = 0

    def step(self) -> list[bytes]:
        """One poll: the new events encoded, or a heartbeat when it has been quiet long; sets `done`."""
        try:
            result = poll(self.run_id, self.after)
        finally:
            release_connection()
        parts = [encode(event.kind, event.data, id=event.seq) for event in result.events]
        now = time.monotonic()
        if result.events:
            self.after = result.events[-1].seq
            self.quiet_since = now
            self.finished_quiet_polls = 0
        elif result.status in FINISHED:
            self.finished_quiet_polls += 1
        if not parts and now - self.quiet_since >= HEARTBEAT_SECONDS:
            parts.append(comment("keep-alive"))
            self.quiet_since = now
        self.done = result.settled or self.finished_quiet_polls >= FINISHED_QUIET_POLLS
        if not self.done and now >= self.deadline:
            parts.append(comment("time limit: reconnect with Last-Event-ID to go on"))
            self.done = True
        return parts

    def sync_parts(self) -> Iterator[bytes]:
        """Under WSGI: the worker's thread sleeps between polls."""
        while True:
            yield from self.step()
            if self.done:
                return
            time.sleep(POLL_SECONDS)

    async def async_parts(self) -> AsyncIterator[bytes]:
        """Under ASGI: each poll runs in the request's thread, and the wait between two holds no thread."""
        step = sync_to_async(self.step, thread_sensitive=True)
        while True:
            for part in await step():
                yield part
            if self.done:
                return
            await asyncio.sleep(POLL_SECONDS)
